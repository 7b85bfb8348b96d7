package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/inflowhq/inflow/deploy/local/stack"
	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/chain"
	devtron "github.com/inflowhq/inflow/pkg/devnet/tron"
)

// TestTronMerchantFlow is the merchant's path on tron-devnet through the
// all-in-one command: a USDT reference bound to a T-address (watched on
// every Tron chain), TRX and USDT deposits of exact amounts through
// pending, confirmed and completed (solidified), signed webhooks,
// balances, an unattributed deposit, a reorg to orphaned, and a bad
// T-address refused.
func TestTronMerchantFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := startInflow(t)
	devnet := &client{t: t, base: c.base}
	rc := newReceiver(t)
	var ep struct{ ID, Secret string }
	if st := c.do("POST", "/api/v1/webhooks/endpoints", map[string]any{"url": rc.srv.URL + "/hooks"}, &ep); st != 201 {
		t.Fatalf("create endpoint: %d", st)
	}
	rc.secret, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(ep.Secret, "whsec_"))
	var b struct{ Address, Protocol, ChainID, Currency string }
	if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "tron_alice", "currency": "USDT", "chainId": "tron-devnet"}, &b); st != 201 {
		t.Fatalf("bind: %d", st)
	}
	if b.Protocol != "tron" || b.ChainID != "tron-devnet" || !strings.HasPrefix(b.Address, "T") || len(b.Address) != 34 {
		t.Fatalf("bind: %+v", b)
	}
	// A bad T-address (its checksum) is refused at import and at the devnet.
	bad := b.Address[:33] + map[bool]string{true: "a", false: "b"}[!strings.HasSuffix(b.Address, "a")]
	var e struct{ Code string }
	if st := c.do("POST", "/api/v1/addresses/import", map[string]any{"protocol": "tron", "addresses": []string{bad}}, &e); st != 400 || e.Code != "INVALID_ADDRESS" {
		t.Errorf("import of %s: %d %s", bad, st, e.Code)
	}
	if st := devnet.do("POST", "/devnet/tron-devnet/transfer", map[string]any{"to": bad, "currency": "USDT", "amount": "1"}, &e); st != 400 || e.Code != "INVALID_ADDRESS" {
		t.Errorf("devnet transfer to %s: %d %s", bad, st, e.Code)
	}
	send := func(to, cur, amount string) string {
		var r struct{ TxHash string }
		if st := devnet.do("POST", "/devnet/tron-devnet/transfer", map[string]any{"to": to, "currency": cur, "amount": amount}, &r); st != 200 || len(r.TxHash) != 64 {
			t.Fatalf("transfer %s %s: %d %+v", amount, cur, st, r)
		}
		return r.TxHash
	}
	mine := func(n int) {
		if st := devnet.do("POST", "/devnet/tron-devnet/mine", map[string]any{"blocks": n}, nil); st != 200 {
			t.Fatalf("mine: %d", st)
		}
	}
	txU := send(b.Address, "USDT", "1234.567891")
	txT := send(b.Address, "TRX", "2.5")
	stranger := devtron.DevAddresses(100)[99].String()
	txS := send(stranger, "USDT", "3")
	mine(1)
	list := func(q string) depositList {
		var l depositList
		c.do("GET", "/api/v1/deposits?"+q, nil, &l)
		return l
	}
	status := func() string {
		var out []string
		for _, d := range list("depositReference=tron_alice&sortBy=amount&sortOrder=desc").Data {
			out = append(out, fmt.Sprintf("%s %s %s %s", d.Amount, d.Currency, d.Status, d.TxHash))
		}
		return strings.Join(out, ",")
	}
	deadline := time.Now().Add(10 * time.Second)
	for status() != "1234.567891 USDT pending "+txU+",2.5 TRX pending "+txT {
		if time.Now().After(deadline) {
			var all depositList
			c.do("GET", "/api/v1/deposits", nil, &all)
			t.Fatalf("pending: %q; every deposit: %+v; sent %s %s %s to %s", status(), all.Data, txU, txT, txS, b.Address)
		}
		time.Sleep(50 * time.Millisecond)
	}
	eventually(t, "the unattributed deposit", func() bool {
		for _, d := range list("chainId=tron-devnet").Data {
			if d.DepositReference == nil && d.TxHash == txS && d.Amount == "3" && d.Address == stranger {
				return true
			}
		}
		return false
	})
	mine(2) // credit depth 3
	eventually(t, "confirmed", func() bool {
		return status() == "1234.567891 USDT confirmed "+txU+",2.5 TRX confirmed "+txT
	})
	mine(19) // solidified: completed
	eventually(t, "completed", func() bool {
		return status() == "1234.567891 USDT completed "+txU+",2.5 TRX completed "+txT
	})
	balances := func() string {
		var bal struct {
			Data []struct{ Currency, Pending, Available string }
		}
		c.do("GET", "/api/v1/balances?depositReference=tron_alice", nil, &bal)
		var out []string
		for _, x := range bal.Data {
			out = append(out, x.Currency+" "+x.Pending+"/"+x.Available)
		}
		return strings.Join(out, ",")
	}
	if got := balances(); got != "TRX 0/2.5,USDT 0/1234.567891" {
		t.Errorf("balances %s", got)
	}
	for _, d := range list("depositReference=tron_alice").Data {
		id := d.DepositID
		eventually(t, "webhooks for "+id, func() bool {
			s := rc.seen(id)
			return s["deposit.pending"] && s["deposit.confirmed"] && s["deposit.completed"]
		})
	}
	// A reorg drops a new deposit: orphaned, its balance taken back.
	txO := send(b.Address, "USDT", "9")
	mine(1)
	var orphan string
	eventually(t, "the 9 USDT deposit", func() bool {
		for _, d := range list("depositReference=tron_alice&status=pending").Data {
			if d.TxHash == txO {
				orphan = d.DepositID
				return true
			}
		}
		return false
	})
	if st := devnet.do("POST", "/devnet/tron-devnet/reorg", map[string]any{"depth": 2, "dropTransactions": true}, nil); st != 200 {
		t.Fatalf("reorg: %d", st)
	}
	eventually(t, "orphaned", func() bool {
		var one struct{ Status string }
		c.do("GET", "/api/v1/deposits/"+orphan, nil, &one)
		return one.Status == "orphaned"
	})
	eventually(t, "deposit.orphaned webhook", func() bool { return rc.seen(orphan)["deposit.orphaned"] })
	if got := balances(); got != "TRX 0/2.5,USDT 0/1234.567891" {
		t.Errorf("balances after the reorg %s", got)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		t.Errorf("webhooks that failed verification: %v", rc.bad)
	}
}

// startTronStack is the in-process stack with tron-devnet, mining on
// request.
func startTronStack(t *testing.T) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := stack.Start(ctx, stack.Options{DataDir: t.TempDir(), HTTP: "127.0.0.1:0", RPC: "127.0.0.1:0", IndexerOps: "127.0.0.1:0",
		LedgerHTTP: "127.0.0.1:0", FinalityLag: 6, PoolSize: 12, Tron: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := s.Wait(); err != nil {
			t.Errorf("stack: %v", err)
		}
	})
	return s
}

func tronLedgerAt(t *testing.T, s *stack.Stack) {
	t.Helper()
	eventually(t, "the ledger at the node's tip", func() bool {
		st, err := store.GetChainState(s.Ledger.DB, devtron.ChainID)
		if err != nil {
			return false
		}
		id, _ := s.Tron.BlockID(s.Tron.Head())
		return st.Tip == s.Tron.Head() && st.TipHash == id
	})
}

// TestTronReorgsAndFailures pays two references in TRX, USDT and BTT
// (TRC10) while the devnet reorganises at random depths (1 to 18, never
// solidified blocks), with failed USDT transfers (REVERT, OUT_OF_ENERGY)
// among them, then requires the money invariants: every transfer in the
// node's chain credited once with its amount, none outside it, none for a
// failed one, balances the sums (ledger.Audit); then a reorg of 19 (beyond
// the maximum of 18) halts the chain and changes nothing.
func TestTronReorgsAndFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	s := startTronStack(t)
	c := &client{t: t, base: s.APIURL, key: s.DevAPIKey}
	refs := map[string]string{}
	for _, ref := range []string{"t_one", "t_two"} {
		var b struct{ Address string }
		if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": ref, "currency": "USDT", "chainId": "tron-devnet"}, &b); st != 201 {
			t.Fatalf("bind: %d", st)
		}
		refs[ref] = b.Address
	}
	type pay struct{ id, ref, cur, amount string }
	var pays, failed []pay
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 5))
	names := []string{"t_one", "t_two"}
	reorgs := 0
	s.Tron.Mine(20)
	for round := 0; round < 14; round++ {
		for k := 1 + rng.IntN(3); k > 0; k-- {
			ref := names[rng.IntN(2)]
			cur := []string{"TRX", "USDT", "BTT"}[rng.IntN(3)]
			amount := fmt.Sprintf("%d.%06d", rng.IntN(1000), rng.IntN(1_000_000))
			id, err := s.Tron.Transfer(refs[ref], cur, amount)
			if err != nil {
				t.Fatal(err)
			}
			pays = append(pays, pay{id, ref, cur, strings.TrimRight(strings.TrimRight(amount, "0"), ".")})
		}
		if rng.IntN(3) == 0 {
			id, err := s.Tron.TransferFailing(refs[names[rng.IntN(2)]], rng.IntN(2) == 0)
			if err != nil {
				t.Fatal(err)
			}
			failed = append(failed, pay{id: id})
		}
		s.Tron.Mine(1 + rng.IntN(2))
		if rng.IntN(3) == 0 || round%5 == 4 {
			tronLedgerAt(t, s)
			if _, err := s.Tron.Reorg(1+rng.IntN(8), rng.IntN(2) == 0); err != nil {
				t.Fatal(err)
			}
			reorgs++
		}
	}
	s.Tron.Mine(devtron.SolidityLag + 1)
	tronLedgerAt(t, s)
	eventually(t, "every deposit completed or orphaned", func() bool {
		open := 0
		store.ScanDeposits(s.Ledger.DB, func(d *store.Deposit) error {
			if d.Chain == devtron.ChainID && (d.Status == store.StatusPending || d.Status == store.StatusConfirmed) {
				open++
			}
			return nil
		})
		return open == 0
	})
	credited := map[string][]*store.Deposit{}
	orphaned := 0
	store.ScanDeposits(s.Ledger.DB, func(d *store.Deposit) error {
		if d.Chain != devtron.ChainID {
			return nil
		}
		if d.Status == store.StatusOrphaned {
			orphaned++
			return nil
		}
		k := chain.FormatHash(chain.FamilyTron, d.TxHash)
		credited[k] = append(credited[k], d)
		return nil
	})
	for _, p := range pays {
		_, mined := s.Tron.TxBlock(p.id)
		ds := credited[p.id]
		switch {
		case mined && len(ds) != 1:
			t.Errorf("%s %s in the chain credited %d times", p.cur, p.id, len(ds))
		case !mined && len(ds) != 0:
			t.Errorf("%s %s not in the chain is credited", p.cur, p.id)
		case mined:
			d := ds[0]
			if d.Ref() != p.ref || d.Currency != p.cur || d.Amount.Decimal(d.Decimals) != p.amount {
				t.Errorf("%s credited as %s %s to %q, want %s %s to %q", p.id, d.Amount.Decimal(d.Decimals), d.Currency, d.Ref(), p.amount, p.cur, p.ref)
			}
		}
		delete(credited, p.id)
	}
	for _, f := range failed {
		if len(credited[f.id]) != 0 {
			t.Errorf("failed transfer %s credited", f.id)
		}
		delete(credited, f.id)
	}
	if len(credited) != 0 {
		t.Errorf("deposits no payment made: %v", credited)
	}
	if err := ledger.Audit(s.Ledger.DB); err != nil {
		t.Errorf("audit: %v", err)
	}
	t.Logf("%d payments, %d failed, %d reorgs, %d orphaned deposits", len(pays), len(failed), reorgs, orphaned)
	if orphaned == 0 {
		t.Error("no deposit was orphaned: the test did not exercise reorgs")
	}
	// Beyond the maximum (18): the chain halts, nothing is reversed.
	before := depositsOf(t, s)
	if _, err := s.Tron.Reorg(devtron.SolidityLag, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the chain halted", func() bool {
		return strings.Contains(s.Indexer.Ready().Check()["chain:tron-devnet"], "reorg")
	})
	time.Sleep(300 * time.Millisecond)
	if after := depositsOf(t, s); after != before {
		t.Errorf("a halted chain changed deposits")
	}
}
