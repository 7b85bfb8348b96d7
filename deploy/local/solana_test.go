package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"

	"github.com/inflowhq/inflow/deploy/local/stack"
	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/chain"
	devsol "github.com/inflowhq/inflow/pkg/devnet/solana"
)

// TestSolanaMerchantFlow is the merchant's path on solana-localnet through
// the all-in-one command: a USDT reference bound to an owner address, SOL
// and USDT deposits (the USDT into the owner's associated token account,
// created on first use) of exact amounts through pending, confirmed and
// completed (finalized), signed webhooks, balances, an unattributed
// deposit, a reorg to orphaned, and a malformed base58 address refused.
func TestSolanaMerchantFlow(t *testing.T) {
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
	if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "sol_alice", "currency": "USDT", "chainId": "solana-localnet"}, &b); st != 201 {
		t.Fatalf("bind: %d", st)
	}
	owner, err := sol.PublicKeyFromBase58(b.Address)
	if b.Protocol != "solana" || b.ChainID != "solana-localnet" || err != nil {
		t.Fatalf("bind: %+v (%v)", b, err)
	}
	// Malformed base58 (a 0, which base58 has not; a short key) is refused
	// at import and at the devnet.
	var e struct{ Code string }
	for _, bad := range []string{"0" + b.Address[1:], b.Address[:20]} {
		if st := c.do("POST", "/api/v1/addresses/import", map[string]any{"protocol": "solana", "addresses": []string{bad}}, &e); st != 400 || e.Code != "INVALID_ADDRESS" {
			t.Errorf("import of %s: %d %s", bad, st, e.Code)
		}
		if st := devnet.do("POST", "/devnet/solana-localnet/transfer", map[string]any{"to": bad, "currency": "USDT", "amount": "1"}, &e); st != 400 || e.Code != "INVALID_ADDRESS" {
			t.Errorf("devnet transfer to %s: %d %s", bad, st, e.Code)
		}
	}
	send := func(to, cur, amount string) string {
		var r struct{ TxHash string }
		if st := devnet.do("POST", "/devnet/solana-localnet/transfer", map[string]any{"to": to, "currency": cur, "amount": amount}, &r); st != 200 {
			t.Fatalf("transfer %s %s: %d %+v", amount, cur, st, r)
		}
		if _, err := sol.SignatureFromBase58(r.TxHash); err != nil {
			t.Fatalf("the txHash %q is not a signature: %v", r.TxHash, err)
		}
		return r.TxHash
	}
	mine := func(n int) {
		if st := devnet.do("POST", "/devnet/solana-localnet/mine", map[string]any{"blocks": n}, nil); st != 200 {
			t.Fatalf("mine: %d", st)
		}
	}
	mine(1)
	txU := send(b.Address, "USDT", "1234.567891")
	txS := send(b.Address, "SOL", "2.5")
	stranger := devsol.DevAddresses(100)[99].String()
	txX := send(stranger, "USDT", "3")
	mine(1)
	list := func(q string) depositList {
		var l depositList
		c.do("GET", "/api/v1/deposits?"+q, nil, &l)
		return l
	}
	status := func() string {
		var out []string
		for _, d := range list("depositReference=sol_alice&sortBy=amount&sortOrder=desc").Data {
			out = append(out, fmt.Sprintf("%s %s %s %s", d.Amount, d.Currency, d.Status, d.TxHash))
		}
		return strings.Join(out, ",")
	}
	eventually(t, "pending", func() bool { return status() == "1234.567891 USDT pending "+txU+",2.5 SOL pending "+txS })
	ata := devsol.ATA(owner, devsol.USDTMint, sol.TokenProgramID).String()
	for _, d := range list("depositReference=sol_alice").Data {
		want := ""
		if d.Currency == "USDT" {
			want = ata
		}
		if d.Address != b.Address || d.TokenAccount != want {
			t.Errorf("%s deposit: address %s, token account %q; want the owner %s and %q", d.Currency, d.Address, d.TokenAccount, b.Address, want)
		}
	}
	eventually(t, "the unattributed deposit", func() bool {
		for _, d := range list("chainId=solana-localnet").Data {
			if d.DepositReference == nil && d.TxHash == txX && d.Amount == "3" && d.Address == stranger {
				return true
			}
		}
		return false
	})
	mine(3) // credit depth 4
	eventually(t, "confirmed", func() bool { return status() == "1234.567891 USDT confirmed "+txU+",2.5 SOL confirmed "+txS })
	mine(devsol.FinalityLag) // finalized: completed
	eventually(t, "completed", func() bool { return status() == "1234.567891 USDT completed "+txU+",2.5 SOL completed "+txS })
	balances := func() string {
		var bal struct {
			Data []struct{ Currency, Pending, Available string }
		}
		c.do("GET", "/api/v1/balances?depositReference=sol_alice", nil, &bal)
		var out []string
		for _, x := range bal.Data {
			out = append(out, x.Currency+" "+x.Pending+"/"+x.Available)
		}
		return strings.Join(out, ",")
	}
	if got := balances(); got != "SOL 0/2.5,USDT 0/1234.567891" {
		t.Errorf("balances %s", got)
	}
	for _, d := range list("depositReference=sol_alice").Data {
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
		for _, d := range list("depositReference=sol_alice&status=pending").Data {
			if d.TxHash == txO {
				orphan = d.DepositID
				return true
			}
		}
		return false
	})
	if st := devnet.do("POST", "/devnet/solana-localnet/reorg", map[string]any{"depth": 2, "dropTransactions": true}, nil); st != 200 {
		t.Fatalf("reorg: %d", st)
	}
	eventually(t, "orphaned", func() bool {
		var one struct{ Status string }
		c.do("GET", "/api/v1/deposits/"+orphan, nil, &one)
		return one.Status == "orphaned"
	})
	eventually(t, "deposit.orphaned webhook", func() bool { return rc.seen(orphan)["deposit.orphaned"] })
	if got := balances(); got != "SOL 0/2.5,USDT 0/1234.567891" {
		t.Errorf("balances after the reorg %s", got)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		t.Errorf("webhooks that failed verification: %v", rc.bad)
	}
}

// startSolanaStack is the in-process stack with solana-localnet, making
// blocks on request.
func startSolanaStack(t *testing.T) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := stack.Start(ctx, stack.Options{DataDir: t.TempDir(), HTTP: "127.0.0.1:0", RPC: "127.0.0.1:0", IndexerOps: "127.0.0.1:0",
		LedgerHTTP: "127.0.0.1:0", FinalityLag: 6, PoolSize: 12, Solana: true, Logger: testLogger(t)})
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

func solanaLedgerAt(t *testing.T, s *stack.Stack) {
	t.Helper()
	eventually(t, "the ledger at the node's tip", func() bool {
		st, err := store.GetChainState(s.Ledger.DB, devsol.ChainID)
		if err != nil {
			return false
		}
		h, _ := s.Solana.BlockHash(s.Solana.Head())
		return st.Tip == s.Solana.Head() && st.TipHash == h
	})
}

// TestSolanaReorgsAndFailures pays two references in SOL, USDT (to the
// associated account, to another token account of the owner, through the
// router's CPI) and USDF (Token-2022, credited net of its 1% fee) while
// the devnet forks at random depths above finalized, with failed transfers
// among them, then requires the money invariants: every transfer in the
// node's chain credited once with what the owner received, none outside
// it, none for a failed one (a failing program, or a SOL payment below
// rent exemption to a wallet the reorgs left empty), balances the sums
// (ledger.Audit); then a fork deeper than the maximum (24) halts the chain
// and changes nothing.
func TestSolanaReorgsAndFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	s := startSolanaStack(t)
	c := &client{t: t, base: s.APIURL, key: s.DevAPIKey}
	refs := map[string]string{}
	for _, ref := range []string{"s_one", "s_two"} {
		var b struct{ Address string }
		if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": ref, "currency": "USDT", "chainId": "solana-localnet"}, &b); st != 201 {
			t.Fatalf("bind: %d", st)
		}
		refs[ref] = b.Address
	}
	type pay struct{ id, ref, cur, amount string }
	var pays, failed []pay
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 5))
	names := []string{"s_one", "s_two"}
	reorgs, refused := 0, 0
	s.Solana.Mine(devsol.FinalityLag + 8) // blocks above finalized to fork
	for round := 0; round < 14; round++ {
		for k := 1 + rng.IntN(3); k > 0; k-- {
			ref := names[rng.IntN(2)]
			units := uint64(1 + rng.IntN(1_000_000_000))
			var id, cur, amount string
			var err error
			switch rng.IntN(6) {
			case 0, 1:
				cur, amount = "SOL", chain.AmountFromUint64(units).Decimal(9)
				id, err = s.Solana.Transfer(refs[ref], cur, amount)
			case 2:
				cur, amount = "USDT", chain.AmountFromUint64(units).Decimal(6)
				id, err = s.Solana.Transfer(refs[ref], cur, amount)
			case 3:
				cur, amount = "USDT", chain.AmountFromUint64(units).Decimal(6)
				id, _, err = s.Solana.TransferToTokenAccount(refs[ref], units)
			case 4:
				cur, amount = "USDT", chain.AmountFromUint64(units).Decimal(6)
				id, err = s.Solana.TokenViaRouter(refs[ref], units)
			case 5:
				fee := min((units*devsol.USDFFeeBps+9999)/10000, devsol.USDFMaxFee)
				cur, amount = "USDF", chain.AmountFromUint64(units-fee).Decimal(6)
				id, err = s.Solana.TransferWithFee(refs[ref], units)
			}
			if errors.Is(err, devsol.ErrPreflight) {
				// Refused before it was taken: a SOL payment below rent
				// exemption to a wallet the reorgs have left empty.
				refused++
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			pays = append(pays, pay{id, ref, cur, amount})
		}
		if rng.IntN(3) == 0 {
			id, err := s.Solana.TransferFailing(refs[names[rng.IntN(2)]], 1+uint64(rng.IntN(1000)))
			if err != nil {
				t.Fatal(err)
			}
			failed = append(failed, pay{id: id})
		}
		s.Solana.Mine(1 + rng.IntN(2))
		if rng.IntN(3) == 0 || round%5 == 4 {
			solanaLedgerAt(t, s)
			if _, err := s.Solana.Reorg(1+rng.IntN(6), rng.IntN(2) == 0); err != nil {
				t.Fatal(err)
			}
			reorgs++
		}
	}
	s.Solana.Mine(devsol.FinalityLag + 1)
	solanaLedgerAt(t, s)
	eventually(t, "every deposit completed or orphaned", func() bool {
		open := 0
		store.ScanDeposits(s.Ledger.DB, func(d *store.Deposit) error {
			if d.Chain == devsol.ChainID && (d.Status == store.StatusPending || d.Status == store.StatusConfirmed) {
				open++
			}
			return nil
		})
		return open == 0
	})
	credited := map[string][]*store.Deposit{}
	orphaned := 0
	store.ScanDeposits(s.Ledger.DB, func(d *store.Deposit) error {
		if d.Chain != devsol.ChainID {
			return nil
		}
		if d.Status == store.StatusOrphaned {
			orphaned++
			return nil
		}
		k := chain.FormatHash(chain.FamilySolana, d.TxHash)
		credited[k] = append(credited[k], d)
		return nil
	})
	rentFailed := 0
	for _, p := range pays {
		_, mined, txFailed := s.Solana.TxStatus(p.id)
		ds := credited[p.id]
		switch {
		case mined && txFailed:
			// In the chain as failed: a SOL payment below rent exemption
			// whose preflight passed, to a wallet whose earlier SOL a
			// reorg then took back.
			rentFailed++
			if len(ds) != 0 {
				t.Errorf("%s %s failed in the chain is credited", p.cur, p.id)
			}
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
		if _, mined, txFailed := s.Solana.TxStatus(f.id); mined && !txFailed {
			t.Errorf("failing transfer %s succeeded in the chain", f.id)
		}
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
	t.Logf("%d payments (%d of them failed in the chain for rent, %d more refused by preflight), %d failing transfers, %d reorgs, %d orphaned deposits", len(pays), rentFailed, refused, len(failed), reorgs, orphaned)
	if orphaned == 0 {
		t.Error("no deposit was orphaned: the test did not exercise reorgs")
	}
	// Deeper than the maximum (24 blocks): the chain halts, nothing is
	// reversed.
	before := depositsOf(t, s)
	if _, err := s.Solana.Reorg(25, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the chain halted", func() bool {
		return strings.Contains(s.Indexer.Ready().Check()["chain:solana-localnet"], "reorg")
	})
	time.Sleep(300 * time.Millisecond)
	if after := depositsOf(t, s); after != before {
		t.Errorf("a halted chain changed deposits")
	}
}

// testLogger writes the stack's warnings to the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
