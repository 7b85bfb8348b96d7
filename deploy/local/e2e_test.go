package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inflowhq/inflow/deploy/local/stack"
)

// receiver is a webhook endpoint that checks signatures the way the
// Standard Webhooks specification says, independently of Inflow's signer.
type receiver struct {
	t      *testing.T
	secret []byte
	mu     sync.Mutex
	events map[string]map[string]any // id → event
	bad    []string
	fault  func(n int, w http.ResponseWriter, r *http.Request) bool // true: answered with a fault
	calls  int
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t, events: map[string]map[string]any{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	rc.calls++
	n := rc.calls
	fault := rc.fault
	rc.mu.Unlock()
	if fault != nil && fault(n, w, r) {
		return
	}
	body, _ := io.ReadAll(r.Body)
	id, ts, sigs := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	sec, _ := strconv.ParseInt(ts, 10, 64)
	mac := hmac.New(sha256.New, rc.secret)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	ok := false
	for _, s := range strings.Fields(sigs) {
		if v, found := strings.CutPrefix(s, "v1,"); found && hmac.Equal([]byte(v), []byte(want)) {
			ok = true
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !ok || id == "" || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		rc.bad = append(rc.bad, fmt.Sprintf("id=%q ts=%q sig=%q", id, ts, sigs))
		w.WriteHeader(400)
		return
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil || ev["id"] != id {
		rc.bad = append(rc.bad, "body: "+string(body))
		w.WriteHeader(400)
		return
	}
	rc.events[id] = ev
	w.WriteHeader(204)
}

// seen returns the event types received for a deposit.
func (rc *receiver) seen(depositID string) map[string]bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]bool{}
	for _, ev := range rc.events {
		if d, _ := ev["data"].(map[string]any); d["depositId"] == depositID {
			out[ev["type"].(string)] = true
		}
	}
	return out
}

type client struct {
	t    *testing.T
	base string
	key  string
}

func (c *client) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("X-API-Key", c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

type depositList struct {
	Data []struct {
		DepositID        string  `json:"depositId"`
		DepositReference *string `json:"depositReference"`
		Amount           string  `json:"amount"`
		Currency         string  `json:"currency"`
		Status           string  `json:"status"`
		Confirmations    uint64  `json:"confirmations"`
		Address          string  `json:"address"`
		TxHash           string  `json:"txHash"`
		Replaces         string  `json:"replaces"`
		TokenAccount     string  `json:"tokenAccount"`
	} `json:"data"`
}

func startStack(t *testing.T) (*stack.Stack, *client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := stack.Start(ctx, stack.Options{DataDir: t.TempDir(), HTTP: "127.0.0.1:0", RPC: "127.0.0.1:0", IndexerOps: "127.0.0.1:0",
		LedgerHTTP: "127.0.0.1:0", FinalityLag: 6, PoolSize: 10, WebhookRetry: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := s.Wait(); err != nil {
			t.Errorf("stack: %v", err)
		}
	})
	return s, &client{t: t, base: s.APIURL, key: s.DevAPIKey}
}

func eventually(t *testing.T, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHappyPathAndReorg is the merchant's path end to end on the devnet:
// bind, deposits through pending, confirmed and completed, signed webhooks,
// a reorg that orphans a deposit and restores the balance, and an
// unattributed deposit.
func TestHappyPathAndReorg(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	s, c := startStack(t)
	rc := newReceiver(t)
	var ep struct{ ID, Secret string }
	if st := c.do("POST", "/api/v1/webhooks/endpoints", map[string]any{"url": rc.srv.URL + "/hooks"}, &ep); st != 201 || !strings.HasPrefix(ep.Secret, "whsec_") {
		t.Fatalf("create endpoint: %d %+v", st, ep)
	}
	rc.secret, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(ep.Secret, "whsec_"))

	var bind struct{ Address, Protocol, ChainID string }
	if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "user_alice", "currency": "USDT", "chainId": "evm-devnet",
		"metadata": map[string]any{"userId": "alice"}}, &bind); st != 201 || bind.Protocol != "evm" {
		t.Fatalf("bind: %d %+v", st, bind)
	}
	devnet := &client{t: t, base: s.APIURL}
	if st := devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": bind.Address, "currency": "USDT", "amount": "25.5"}, nil); st != 200 {
		t.Fatalf("transfer: %d", st)
	}
	if st := devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": bind.Address, "currency": "ETH", "amount": "1.25"}, nil); st != 200 {
		t.Fatalf("transfer: %d", st)
	}
	// A deposit to a pool address bound to no one is recorded unattributed.
	stranger := s.Pool[9].Checksummed()
	devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": stranger, "currency": "DAI", "amount": "3"}, nil)
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 1}, nil)

	list := func(q string) depositList {
		var l depositList
		c.do("GET", "/api/v1/deposits?"+q, nil, &l)
		return l
	}
	statuses := func(q string) string {
		var out []string
		for _, d := range list(q).Data {
			out = append(out, fmt.Sprintf("%s %s %s", d.Amount, d.Currency, d.Status))
		}
		return strings.Join(out, ",")
	}
	eventually(t, "two pending deposits", func() bool {
		return statuses("depositReference=user_alice&sortBy=amount&sortOrder=desc") == "25.5 USDT pending,1.25 ETH pending"
	})
	l := list("depositReference=user_alice")
	for _, d := range l.Data {
		if d.Confirmations != 1 || d.Address != bind.Address || *d.DepositReference != "user_alice" {
			t.Errorf("pending deposit %+v", d)
		}
	}
	eventually(t, "the unattributed deposit", func() bool {
		for _, d := range list("currency=DAI").Data {
			if d.DepositReference == nil && d.Amount == "3" && d.Address == stranger {
				return true
			}
		}
		return false
	})
	// Credit depth 3: two more blocks confirm.
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 2}, nil)
	eventually(t, "confirmed", func() bool {
		return statuses("depositReference=user_alice&sortBy=amount&sortOrder=desc") == "25.5 USDT confirmed,1.25 ETH confirmed"
	})
	// Finality lags 6 blocks: completed, and the balance is available.
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 6}, nil)
	eventually(t, "completed", func() bool {
		return statuses("depositReference=user_alice&sortBy=amount&sortOrder=desc") == "25.5 USDT completed,1.25 ETH completed"
	})
	balances := func() string {
		var b struct {
			Data []struct{ Currency, Pending, Available string }
		}
		c.do("GET", "/api/v1/balances?depositReference=user_alice", nil, &b)
		var out []string
		for _, x := range b.Data {
			out = append(out, x.Currency+" "+x.Pending+"/"+x.Available)
		}
		return strings.Join(out, ",")
	}
	if got := balances(); got != "ETH 0/1.25,USDT 0/25.5" {
		t.Errorf("balances = %s", got)
	}
	var ref struct {
		TotalDeposits int64             `json:"totalDeposits"`
		TotalAmount   map[string]string `json:"totalAmount"`
		Addresses     []struct{ Address string }
	}
	c.do("GET", "/api/v1/deposits/references/user_alice", nil, &ref)
	if ref.TotalDeposits != 2 || ref.TotalAmount["USDT"] != "25.5" || len(ref.Addresses) != 1 || ref.Addresses[0].Address != bind.Address {
		t.Errorf("reference = %+v", ref)
	}
	for _, d := range list("depositReference=user_alice").Data {
		id := d.DepositID
		eventually(t, "webhooks for "+id, func() bool {
			s := rc.seen(id)
			return s["deposit.pending"] && s["deposit.confirmed"] && s["deposit.completed"]
		})
		var one struct{ DepositID, Status string }
		if st := c.do("GET", "/api/v1/deposits/"+id, nil, &one); st != 200 || one.Status != "completed" {
			t.Errorf("GET deposit %s: %d %+v", id, st, one)
		}
	}

	// A reorg that removes the block of a new deposit orphans it and takes
	// its pending balance back.
	devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": bind.Address, "currency": "USDT", "amount": "7"}, nil)
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 1}, nil)
	var orphanID string
	eventually(t, "the 7 USDT deposit", func() bool {
		for _, d := range list("depositReference=user_alice&status=pending").Data {
			if d.Amount == "7" {
				orphanID = d.DepositID
				return true
			}
		}
		return false
	})
	if got := balances(); got != "ETH 0/1.25,USDT 7/25.5" {
		t.Errorf("balances before the reorg = %s", got)
	}
	if st := devnet.do("POST", "/devnet/evm-devnet/reorg", map[string]any{"depth": 2, "dropTransactions": true}, nil); st != 200 {
		t.Fatalf("reorg: %d", st)
	}
	eventually(t, "the orphaned deposit", func() bool {
		var one struct{ Status string }
		c.do("GET", "/api/v1/deposits/"+orphanID, nil, &one)
		return one.Status == "orphaned"
	})
	eventually(t, "deposit.orphaned webhook", func() bool { return rc.seen(orphanID)["deposit.orphaned"] })
	if got := balances(); got != "ETH 0/1.25,USDT 0/25.5" {
		t.Errorf("balances after the reorg = %s", got)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		t.Errorf("webhooks that failed verification: %v", rc.bad)
	}
	var dl struct {
		Data []struct {
			Status   string
			Attempts []struct{ StatusCode int }
		}
	}
	c.do("GET", "/api/v1/webhooks/endpoints/"+ep.ID+"/deliveries?limit=100", nil, &dl)
	if len(dl.Data) < 7 {
		t.Errorf("delivery log has %d entries", len(dl.Data))
	}
}
