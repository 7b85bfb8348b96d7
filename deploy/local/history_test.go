package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/inflowhq/inflow/deploy/local/stack"
	"github.com/inflowhq/inflow/pkg/analytics"
	"github.com/inflowhq/inflow/pkg/chstore"
	"github.com/inflowhq/inflow/pkg/chstore/chtest"
)

// TestClickHouseHistory runs the stack as `inflow --clickhouse-dsn` does:
// ledgerd runs the sink and apid answers analytics and exports from
// ClickHouse. After deposits in two currencies, one of them orphaned by a
// reorg and one unattributed, the analytics totals equal GET
// /api/v1/deposits summed by hand, and the export holds every deposit.
func TestClickHouseHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := chtest.Server(t)
	dsn := srv.DSN("inflow")
	ctx, cancel := context.WithCancel(context.Background())
	s, err := stack.Start(ctx, stack.Options{DataDir: t.TempDir(), HTTP: "127.0.0.1:0", RPC: "127.0.0.1:0", IndexerOps: "127.0.0.1:0",
		LedgerHTTP: "127.0.0.1:0", FinalityLag: 6, PoolSize: 10, WebhookRetry: 50 * time.Millisecond, ClickHouseDSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := s.Wait(); err != nil {
			t.Errorf("stack: %v", err)
		}
	})
	c := &client{t: t, base: s.APIURL, key: s.DevAPIKey}
	devnet := &client{t: t, base: s.APIURL}

	var bind struct{ Address string }
	if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "user_bob", "currency": "USDT", "chainId": "evm-devnet"}, &bind); st != 201 {
		t.Fatalf("bind: %d", st)
	}
	for _, tr := range []struct{ cur, amt string }{{"USDT", "25.5"}, {"USDT", "0.000001"}, {"ETH", "1.25"}, {"DAI", "3.333333333333333333"}} {
		if st := devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": bind.Address, "currency": tr.cur, "amount": tr.amt}, nil); st != 200 {
			t.Fatalf("transfer: %d", st)
		}
	}
	stranger := s.Pool[9].Checksummed()
	devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": stranger, "currency": "USDT", "amount": "4"}, nil)
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 8}, nil)
	// Then one more, orphaned by a reorg.
	devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": bind.Address, "currency": "USDT", "amount": "7"}, nil)
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 1}, nil)
	eventually(t, "the 7 USDT deposit", func() bool {
		var l depositList
		c.do("GET", "/api/v1/deposits?status=pending&currency=USDT", nil, &l)
		return len(l.Data) == 1 && l.Data[0].Amount == "7"
	})
	devnet.do("POST", "/devnet/evm-devnet/reorg", map[string]any{"depth": 2, "dropTransactions": true}, nil)
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 2}, nil)
	eventually(t, "the orphaned deposit", func() bool {
		var l depositList
		c.do("GET", "/api/v1/deposits?status=orphaned", nil, &l)
		return len(l.Data) == 1
	})

	// Sum GET /api/v1/deposits by hand, per currency, leaving out orphaned.
	var all depositList
	c.do("GET", "/api/v1/deposits?limit=100", nil, &all)
	if len(all.Data) != 6 {
		t.Fatalf("%d deposits listed, want 6", len(all.Data))
	}
	byHand := map[string]*big.Rat{}
	counts := map[string]int64{}
	for _, d := range all.Data {
		if d.Status == "orphaned" {
			continue
		}
		v, ok := new(big.Rat).SetString(d.Amount)
		if !ok {
			t.Fatalf("amount %q", d.Amount)
		}
		if byHand[d.Currency] == nil {
			byHand[d.Currency] = new(big.Rat)
		}
		byHand[d.Currency].Add(byHand[d.Currency], v)
		counts[d.Currency]++
	}
	// The sink writes in the background: wait until ClickHouse has all six.
	db, err := chstore.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eventually(t, "six deposits in ClickHouse, the orphaned one as orphaned", func() bool {
		var n, orphaned uint64
		db.Conn().QueryRow(context.Background(), "SELECT count(), countIf(status = 'orphaned') FROM deposits FINAL").Scan(&n, &orphaned)
		return n == 6 && orphaned == 1
	})
	var stats struct{ Data []analytics.Row }
	if st := c.do("GET", "/api/v1/analytics/deposits?groupBy=currency", nil, &stats); st != 200 {
		t.Fatalf("analytics: %d", st)
	}
	if len(stats.Data) != len(byHand) {
		t.Errorf("analytics has %d currencies, the listing %d: %+v", len(stats.Data), len(byHand), stats.Data)
	}
	for _, r := range stats.Data {
		v, _ := new(big.Rat).SetString(r.Amount)
		if want := byHand[r.Currency]; want == nil || v.Cmp(want) != 0 || r.Count != counts[r.Currency] {
			t.Errorf("%s: analytics %d %s, by hand %d %v", r.Currency, r.Count, r.Amount, counts[r.Currency], want)
		}
	}
	// By reference: the unattributed USDT 4 has a null key.
	c.do("GET", "/api/v1/analytics/deposits?groupBy=reference&currency=usdt", nil, &stats)
	got := []string{}
	for _, r := range stats.Data {
		k := "null"
		if r.Key != nil {
			k = *r.Key
		}
		got = append(got, fmt.Sprintf("%s %d %s", k, r.Count, r.Amount))
	}
	if strings.Join(got, ",") != "null 1 4,user_bob 2 25.500001" {
		t.Errorf("USDT by reference: %v", got)
	}
	var lat struct{ Data []analytics.ChainLatency }
	if st := c.do("GET", "/api/v1/analytics/latency?chainId=evm-devnet", nil, &lat); st != 200 || len(lat.Data) != 1 || lat.Data[0].ToCompleted.Count != 5 || lat.Data[0].ToCompleted.P50 == nil {
		t.Errorf("latency: %+v", lat)
	}
	// The export streams every deposit, orphaned included.
	req, _ := http.NewRequest("GET", s.APIURL+"/api/v1/deposits/export?format=ndjson", nil)
	req.Header.Set("X-API-Key", s.DevAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("export content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	ids := map[string]string{}
	for sc.Scan() {
		var r analytics.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		ids[r.DepositID] = r.Status
	}
	for _, d := range all.Data {
		if ids[d.DepositID] != d.Status {
			t.Errorf("export has %s as %q, the listing as %q", d.DepositID, ids[d.DepositID], d.Status)
		}
	}
	if len(ids) != len(all.Data) {
		t.Errorf("export has %d deposits, the listing %d", len(ids), len(all.Data))
	}
	// Bad input is refused before any query.
	if st := c.do("GET", "/api/v1/analytics/deposits?groupBy=week", nil, nil); st != 400 {
		t.Errorf("groupBy=week: %d", st)
	}
	if st := c.do("GET", "/api/v1/deposits/export?format=xml", nil, nil); st != 400 {
		t.Errorf("format=xml: %d", st)
	}
	if st := c.do("GET", "/api/v1/analytics/deposits?from=2026-02-01&to=2026-01-01", nil, nil); st != 400 {
		t.Errorf("from after to: %d", st)
	}
}

// TestEmbeddedHistory: without ClickHouse the same endpoints answer through
// apid from ledgerd's own store, the export streaming through the forward.
func TestEmbeddedHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	s, c := startStack(t)
	devnet := &client{t: t, base: s.APIURL}
	var bind struct{ Address string }
	if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "user_eve", "currency": "USDT", "chainId": "evm-devnet"}, &bind); st != 201 {
		t.Fatalf("bind: %d", st)
	}
	devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": bind.Address, "currency": "USDT", "amount": "25.5"}, nil)
	devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": bind.Address, "currency": "USDT", "amount": "0.5"}, nil)
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 1}, nil)
	var stats struct{ Data []analytics.Row }
	eventually(t, "two USDT deposits in the analytics", func() bool {
		c.do("GET", "/api/v1/analytics/deposits?groupBy=reference", nil, &stats)
		return len(stats.Data) == 1 && stats.Data[0].Count == 2
	})
	if r := stats.Data[0]; r.Key == nil || *r.Key != "user_eve" || r.Currency != "USDT" || r.Amount != "26" {
		t.Errorf("analytics row %+v", r)
	}
	var lat struct{ Data []analytics.ChainLatency }
	if st := c.do("GET", "/api/v1/analytics/latency", nil, &lat); st != 200 || len(lat.Data) != 1 || lat.Data[0].ChainID != "evm-devnet" {
		t.Errorf("latency: %d %+v", st, lat)
	}
	req, _ := http.NewRequest("GET", s.APIURL+"/api/v1/deposits/export?format=csv", nil)
	req.Header.Set("X-API-Key", s.DevAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if resp.StatusCode != 200 || len(lines) != 3 || lines[0] != strings.Join(analytics.CSVHeader, ",") || !strings.Contains(resp.Header.Get("Content-Disposition"), "deposits.csv") {
		t.Errorf("export: %d %q %v", resp.StatusCode, resp.Header.Get("Content-Disposition"), lines)
	}
	if st := c.do("GET", "/api/v1/analytics/latency?chainId=mars", nil, nil); st != 400 {
		t.Errorf("unknown chain: %d", st)
	}
}
