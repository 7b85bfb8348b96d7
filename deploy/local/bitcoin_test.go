package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/inflowhq/inflow/deploy/local/stack"
	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/chain"
	devbtc "github.com/inflowhq/inflow/pkg/devnet/bitcoin"
)

// startInflow runs the all-in-one command (bin/inflow's code) in process,
// with both local chains mining only on request, and returns its API.
func startInflow(t *testing.T, extra ...string) *client {
	t.Helper()
	needBtcd(t)
	ctx, cancel := context.WithCancel(context.Background())
	key := "sk_test_btcflowbtcflowbtcflowbtcflow"
	// Port 0, and the address read from the banner: a port picked free
	// and closed can be taken by another process before inflow binds it.
	args := append([]string{"--data", t.TempDir(), "--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--kafka-port", "0",
		"--indexer-ops", "127.0.0.1:0", "--ledger-http", "127.0.0.1:0", "--api-ops", "127.0.0.1:0",
		"--block-time", "0", "--bitcoin-block-time", "0", "--bitcoin-rpc", "127.0.0.1:0", "--traffic", "0",
		"--tron-block-time", "0", "--tron-rpc", "127.0.0.1:0", "--solana-block-time", "0", "--solana-rpc", "127.0.0.1:0",
		"--dev-api-key", key, "--log-level", "warn"}, extra...)
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &out, &errb) }()
	t.Cleanup(func() {
		cancel()
		if rc := <-done; rc != 0 {
			t.Errorf("inflow exited %d: %s", rc, errb.String())
		}
		if t.Failed() {
			t.Logf("inflow's log:\n%s", errb.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "Ctrl-C stops") {
		select {
		case rc := <-done:
			done <- rc
			t.Fatalf("inflow exited %d: %s", rc, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("inflow did not start: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := regexp.MustCompile(`merchant API +(http://[0-9.:]+)/api/v1`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no API address in the banner:\n%s", out.String())
	}
	return &client{t: t, base: m[1], key: key}
}

// TestBitcoinMerchantFlow is the merchant's path on bitcoin-regtest through
// the all-in-one command: BTC references bound to a P2WPKH and a P2TR
// address, deposits of exact amounts through pending, confirmed and
// completed, signed webhooks, balances, an unattributed deposit, a reorg to
// orphaned, one that mines the payment again (replaces), and a bad bech32
// address refused.
func TestBitcoinMerchantFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs btcd")
	}
	c := startInflow(t)
	devnet := &client{t: t, base: c.base}
	rc := newReceiver(t)
	var ep struct{ ID, Secret string }
	if st := c.do("POST", "/api/v1/webhooks/endpoints", map[string]any{"url": rc.srv.URL + "/hooks"}, &ep); st != 201 {
		t.Fatalf("create endpoint: %d", st)
	}
	rc.secret, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(ep.Secret, "whsec_"))

	type bound struct{ Address, Protocol, ChainID, Currency string }
	bind := func(ref string) bound {
		var b bound
		if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": ref, "currency": "BTC", "chainId": "bitcoin-regtest"}, &b); st != 201 {
			t.Fatalf("bind %s: %d", ref, st)
		}
		if b.Protocol != "bitcoin" || b.ChainID != "bitcoin-regtest" || b.Currency != "BTC" {
			t.Fatalf("bind %s: %+v", ref, b)
		}
		return b
	}
	alice, bob := bind("btc_alice"), bind("btc_bob")
	if !strings.HasPrefix(alice.Address, "bcrt1q") || !strings.HasPrefix(bob.Address, "bcrt1p") {
		t.Fatalf("want a P2WPKH and a P2TR address, got %s and %s", alice.Address, bob.Address)
	}

	// A bad bech32 address is refused, at import and at the devnet.
	bad := alice.Address[:len(alice.Address)-1] + map[bool]string{true: "q", false: "p"}[!strings.HasSuffix(alice.Address, "q")]
	var e struct{ Code string }
	if st := c.do("POST", "/api/v1/addresses/import", map[string]any{"protocol": "bitcoin", "addresses": []string{bad}}, &e); st != 400 || e.Code != "INVALID_ADDRESS" {
		t.Errorf("import of %s: %d %s", bad, st, e.Code)
	}
	if st := devnet.do("POST", "/devnet/bitcoin-regtest/transfer", map[string]any{"to": bad, "currency": "BTC", "amount": "1"}, &e); st != 400 || e.Code != "INVALID_ADDRESS" {
		t.Errorf("devnet transfer to %s: %d %s", bad, st, e.Code)
	}

	// Watch-only addresses derived from an extended public key.
	tpub := "tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp"
	for round, want := range []int{5, 0} {
		var res struct {
			Imported, Duplicates int
			ImportedAddresses    []string
		}
		if st := c.do("POST", "/api/v1/addresses/import", map[string]any{"protocol": "bitcoin", "descriptor": "tr(" + tpub + "/0/*)", "from": 10, "count": 5, "network": "regtest"}, &res); st != 200 {
			t.Fatalf("descriptor import: %d", st)
		}
		if res.Imported != want || res.Duplicates != 5-want || (want > 0 && !strings.HasPrefix(res.ImportedAddresses[0], "bcrt1p")) {
			t.Errorf("descriptor import %d: %+v", round, res)
		}
	}
	if st := c.do("POST", "/api/v1/addresses/import", map[string]any{"protocol": "bitcoin", "descriptor": "wpkh(tprv8ZgxMBicQKsPeDgjzdC36fs6bMjGApWDNLR9erAXMs5skhMv36j9MV5ecvfavji5khqjWaWSFhN3YcCUUdiKH6isR4Pwy3U5y5egddBr16m/0/*)", "count": 1}, &e); st != 400 || e.Code != "INVALID_ADDRESS" {
		t.Errorf("a private key: %d %s", st, e.Code)
	}

	send := func(to, amount string) string {
		var r struct{ TxHash string }
		if st := devnet.do("POST", "/devnet/bitcoin-regtest/transfer", map[string]any{"to": to, "currency": "BTC", "amount": amount}, &r); st != 200 || len(r.TxHash) != 64 {
			t.Fatalf("transfer %s to %s: %d %+v", amount, to, st, r)
		}
		return r.TxHash
	}
	mine := func(n int) {
		if st := devnet.do("POST", "/devnet/bitcoin-regtest/mine", map[string]any{"blocks": n}, nil); st != 200 {
			t.Fatalf("mine: %d", st)
		}
	}
	txA := send(alice.Address, "0.12345678")
	txB := send(bob.Address, "1.5")
	stranger := devbtc.DevAddress(7) // in the pool, bound to no one: a P2PKH address
	txS := send(stranger, "0.001")
	mine(1)

	list := func(q string) depositList {
		var l depositList
		c.do("GET", "/api/v1/deposits?"+q, nil, &l)
		return l
	}
	status := func(ref string) string {
		var out []string
		for _, d := range list("depositReference=" + ref).Data {
			out = append(out, fmt.Sprintf("%s %s %s %s", d.Amount, d.Currency, d.Status, d.TxHash))
		}
		return strings.Join(out, ",")
	}
	eventually(t, "pending deposits", func() bool {
		return status("btc_alice") == "0.12345678 BTC pending "+txA && status("btc_bob") == "1.5 BTC pending "+txB
	})
	if d := list("depositReference=btc_alice").Data[0]; d.Address != alice.Address || d.Confirmations != 1 {
		t.Errorf("alice's deposit: %+v", d)
	}
	eventually(t, "the unattributed deposit", func() bool {
		for _, d := range list("chainId=bitcoin-regtest").Data {
			if d.DepositReference == nil && d.TxHash == txS && d.Amount == "0.001" && d.Address == stranger {
				return true
			}
		}
		return false
	})
	// Credit depth 2, finality 6 blocks deep (regtest's policy).
	mine(1)
	eventually(t, "confirmed", func() bool {
		return status("btc_alice") == "0.12345678 BTC confirmed "+txA && status("btc_bob") == "1.5 BTC confirmed "+txB
	})
	mine(5)
	eventually(t, "completed", func() bool {
		return status("btc_alice") == "0.12345678 BTC completed "+txA && status("btc_bob") == "1.5 BTC completed "+txB
	})
	balances := func(ref string) string {
		var b struct {
			Data []struct{ Currency, ChainID, Pending, Available string }
		}
		c.do("GET", "/api/v1/balances?depositReference="+ref, nil, &b)
		var out []string
		for _, x := range b.Data {
			out = append(out, x.Currency+" "+x.Pending+"/"+x.Available)
		}
		return strings.Join(out, ",")
	}
	if got := balances("btc_alice"); got != "BTC 0/0.12345678" {
		t.Errorf("alice's balance %s", got)
	}
	if got := balances("btc_bob"); got != "BTC 0/1.5" {
		t.Errorf("bob's balance %s", got)
	}
	for _, ref := range []string{"btc_alice", "btc_bob"} {
		id := list("depositReference=" + ref).Data[0].DepositID
		eventually(t, "webhooks for "+id, func() bool {
			s := rc.seen(id)
			return s["deposit.pending"] && s["deposit.confirmed"] && s["deposit.completed"]
		})
	}

	// A reorg that drops the payment: orphaned, balance taken back.
	txO := send(alice.Address, "0.3")
	mine(1)
	var orphan string
	eventually(t, "the 0.3 BTC deposit", func() bool {
		for _, d := range list("depositReference=btc_alice&status=pending").Data {
			if d.TxHash == txO {
				orphan = d.DepositID
				return true
			}
		}
		return false
	})
	if got := balances("btc_alice"); got != "BTC 0.3/0.12345678" {
		t.Errorf("alice's balance before the reorg %s", got)
	}
	if st := devnet.do("POST", "/devnet/bitcoin-regtest/reorg", map[string]any{"depth": 2, "dropTransactions": true}, nil); st != 200 {
		t.Fatalf("reorg: %d", st)
	}
	eventually(t, "orphaned", func() bool {
		var one struct{ Status string }
		c.do("GET", "/api/v1/deposits/"+orphan, nil, &one)
		return one.Status == "orphaned"
	})
	eventually(t, "deposit.orphaned webhook", func() bool { return rc.seen(orphan)["deposit.orphaned"] })
	if got := balances("btc_alice"); got != "BTC 0/0.12345678" {
		t.Errorf("alice's balance after the reorg %s", got)
	}

	// A reorg that mines the payment again: a new deposit replaces the
	// orphaned one.
	txR := send(bob.Address, "0.25")
	mine(1)
	var first string
	eventually(t, "the 0.25 BTC deposit", func() bool {
		for _, d := range list("depositReference=btc_bob&status=pending").Data {
			if d.TxHash == txR {
				first = d.DepositID
				return true
			}
		}
		return false
	})
	if st := devnet.do("POST", "/devnet/bitcoin-regtest/reorg", map[string]any{"depth": 1, "dropTransactions": false}, nil); st != 200 {
		t.Fatalf("reorg: %d", st)
	}
	eventually(t, "the replacing deposit", func() bool {
		for _, d := range list("depositReference=btc_bob").Data {
			if d.TxHash == txR && d.DepositID != first && d.Replaces == first && d.Status != "orphaned" {
				return true
			}
		}
		return false
	})
	mine(7)
	eventually(t, "bob's balance with the replacing deposit", func() bool { return balances("btc_bob") == "BTC 0/1.75" })
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		t.Errorf("webhooks that failed verification: %v", rc.bad)
	}
}

// startBitcoinStack is the in-process stack with bitcoin-regtest, both
// chains mining only on request.
func startBitcoinStack(t *testing.T) *stack.Stack {
	t.Helper()
	needBtcd(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := stack.Start(ctx, stack.Options{DataDir: t.TempDir(), HTTP: "127.0.0.1:0", RPC: "127.0.0.1:0", IndexerOps: "127.0.0.1:0",
		LedgerHTTP: "127.0.0.1:0", FinalityLag: 6, PoolSize: 12, WebhookRetry: 50 * time.Millisecond,
		Bitcoin: true, BitcoinRPC: "127.0.0.1:0"})
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

// ledgerAt waits until the ledger's bitcoin-regtest tip is the node's.
func ledgerAt(t *testing.T, s *stack.Stack) {
	t.Helper()
	eventually(t, "the ledger at the node's tip", func() bool {
		st, err := store.GetChainState(s.Ledger.DB, devbtc.ChainID)
		if err != nil {
			return false
		}
		h, _ := s.Bitcoin.BlockHash(s.Bitcoin.Head())
		return st.Tip == s.Bitcoin.Head() && st.TipHash == h
	})
}

// TestBitcoinRandomReorgs pays three references (alone and several in one
// transaction) while a real btcd reorganises at random depths from 1 to 6,
// dropping or re-mining the orphaned payments, and then requires the money
// invariants: every payment the node's chain holds is credited exactly
// once, with its amount and reference; none that it does not hold is left
// credited; every balance is the sum of its deposits (ledger.Audit).
func TestBitcoinRandomReorgs(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs btcd")
	}
	s := startBitcoinStack(t)
	c := &client{t: t, base: s.APIURL, key: s.DevAPIKey}
	refs := []string{"r_p2wpkh", "r_p2tr", "r_p2sh"}
	scripts := map[string][]byte{}
	for _, ref := range refs {
		var b struct{ Address string }
		if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": ref, "currency": "BTC", "chainId": "bitcoin-regtest"}, &b); st != 201 {
			t.Fatalf("bind: %d", st)
		}
		sc, err := devbtc.ParseAddress(b.Address)
		if err != nil {
			t.Fatal(err)
		}
		scripts[ref] = sc
	}
	type payment struct {
		txid string
		vout uint32
		ref  string
		sats int64
	}
	var pays []payment
	rng := rand.New(rand.NewPCG(testSeed(t), 11))
	reorgs := 0
	for round := 0; round < 14; round++ {
		for k := 1 + rng.IntN(2); k > 0; k-- {
			n := 1 + rng.IntN(2)
			var outs []devbtc.Output
			var used []string
			for j := 0; j < n; j++ {
				ref := refs[rng.IntN(len(refs))]
				outs = append(outs, devbtc.Output{Script: scripts[ref], Value: int64(10_000 + rng.IntN(1_000_000))})
				used = append(used, ref)
			}
			txid, err := s.Bitcoin.Send(outs...)
			if err != nil {
				t.Fatal(err)
			}
			for j, o := range outs {
				pays = append(pays, payment{txid, uint32(j), used[j], o.Value})
			}
		}
		if _, err := s.Bitcoin.Mine(1 + rng.IntN(2)); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(3) == 0 || round%5 == 4 {
			ledgerAt(t, s) // so that the reorg orphans what the ledger credited
			if _, err := s.Bitcoin.Reorg(1+rng.IntN(6), rng.IntN(2) == 0); err != nil {
				t.Fatal(err)
			}
			reorgs++
		}
	}
	if _, err := s.Bitcoin.Mine(8); err != nil { // everything final
		t.Fatal(err)
	}
	ledgerAt(t, s)
	eventually(t, "no open deposit", func() bool {
		var l depositList
		c.do("GET", "/api/v1/deposits?chainId=bitcoin-regtest&status=pending", nil, &l)
		var l2 depositList
		c.do("GET", "/api/v1/deposits?chainId=bitcoin-regtest&status=confirmed", nil, &l2)
		return len(l.Data) == 0 && len(l2.Data) == 0
	})

	credited := map[string][]*store.Deposit{}
	orphaned := 0
	err := store.ScanDeposits(s.Ledger.DB, func(d *store.Deposit) error {
		if d.Chain != devbtc.ChainID {
			return nil
		}
		k := fmt.Sprintf("%s:%d", chain.FormatHash(chain.FamilyBitcoin, d.TxHash), d.Index)
		if d.Status == store.StatusOrphaned {
			orphaned++
			return nil
		}
		if d.Status != store.StatusCompleted {
			t.Errorf("deposit %s is %s after finality", d.ID, d.Status)
		}
		credited[k] = append(credited[k], d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	inChain := 0
	for _, p := range pays {
		k := fmt.Sprintf("%s:%d", p.txid, p.vout)
		_, mined := s.Bitcoin.TxHeight(p.txid)
		ds := credited[k]
		switch {
		case mined && len(ds) != 1:
			t.Errorf("payment %s in the chain is credited %d times", k, len(ds))
		case !mined && len(ds) != 0:
			t.Errorf("payment %s not in the chain is credited", k)
		case mined:
			inChain++
			d := ds[0]
			if d.Amount.String() != fmt.Sprint(p.sats) || d.Ref() != p.ref {
				t.Errorf("payment %s credited as %s to %q, want %d to %q", k, d.Amount, d.Ref(), p.sats, p.ref)
			}
			if h, _ := s.Bitcoin.TxHeight(p.txid); d.BlockNumber != h {
				t.Errorf("payment %s credited in block %d, mined in %d", k, d.BlockNumber, h)
			}
			sums[p.ref] += p.sats
		}
		delete(credited, k)
	}
	for k, ds := range credited {
		if len(ds) > 0 && ds[0].Maturity == 0 {
			t.Errorf("a deposit %s that no payment made", k)
		}
	}
	if err := ledger.Audit(s.Ledger.DB); err != nil {
		t.Errorf("audit: %v", err)
	}
	for _, ref := range refs {
		var b struct {
			Data []struct{ Available, Pending string }
		}
		c.do("GET", "/api/v1/balances?depositReference="+ref, nil, &b)
		want := chain.AmountFromUint64(uint64(sums[ref])).Decimal(8)
		got := "0"
		if len(b.Data) == 1 {
			got = b.Data[0].Available
		}
		if got != want || len(b.Data) == 1 && b.Data[0].Pending != "0" {
			t.Errorf("%s: balance %+v, want %s available", ref, b.Data, want)
		}
	}
	t.Logf("%d payments, %d in the chain, %d reorgs, %d orphaned deposits", len(pays), inChain, reorgs, orphaned)
	if reorgs == 0 || orphaned == 0 {
		t.Errorf("%d reorgs orphaned %d deposits: the test did not exercise reorgs", reorgs, orphaned)
	}
}

// TestCoinbaseMaturityAndHalt: a coinbase paying a bound address stays
// pending until it has 100 confirmations (past the credit depth and the
// finality depth), then completes; a reorg deeper than the maximum (6)
// halts the chain and reverses nothing.
func TestCoinbaseMaturityAndHalt(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs btcd")
	}
	s := startBitcoinStack(t)
	c := &client{t: t, base: s.APIURL, key: s.DevAPIKey}
	var b struct{ Address string }
	if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "miner", "currency": "BTC", "chainId": "bitcoin-regtest"}, &b); st != 201 {
		t.Fatalf("bind: %d", st)
	}
	script, _ := devbtc.ParseAddress(b.Address)
	// An ordinary payment first (the coinbase's own block holds no other
	// transaction): it completes at the finality depth, long before the
	// coinbase.
	pay, err := s.Bitcoin.Transfer(b.Address, "BTC", "0.01")
	if err != nil {
		t.Fatal(err)
	}
	s.Bitcoin.Mine(1)
	head, cb, err := s.Bitcoin.MineTo(script)
	if err != nil {
		t.Fatal(err)
	}
	one := func(tx string) (string, uint64, string) {
		var l depositList
		c.do("GET", "/api/v1/deposits?depositReference=miner", nil, &l)
		for _, d := range l.Data {
			if d.TxHash == tx {
				return d.Status, d.Confirmations, d.Amount
			}
		}
		return "", 0, ""
	}
	eventually(t, "the coinbase deposit", func() bool { st, _, _ := one(cb); return st == "pending" })
	if _, _, amt := one(cb); amt != chain.AmountFromUint64(uint64((50*100_000_000)>>(head/150))).Decimal(8) {
		t.Errorf("coinbase of %s BTC at height %d", amt, head) // the reward halves every 150 blocks on regtest
	}
	s.Bitcoin.Mine(10)
	ledgerAt(t, s)
	eventually(t, "the payment completed", func() bool { st, _, _ := one(pay); return st == "completed" })
	if st, conf, _ := one(cb); st != "pending" || conf != 11 {
		t.Fatalf("coinbase at 11 confirmations: %s (%d confirmations), want pending", st, conf)
	}
	s.Bitcoin.Mine(88)
	ledgerAt(t, s)
	if st, conf, _ := one(cb); st != "pending" || conf != 99 {
		t.Fatalf("coinbase at 99 confirmations: %s (%d), want pending", st, conf)
	}
	s.Bitcoin.Mine(1)
	eventually(t, "the coinbase completed at 100 confirmations", func() bool { st, conf, _ := one(cb); return st == "completed" && conf == 100 })

	// A reorg of 7 blocks, beyond the maximum of 6: the chain halts.
	before := depositsOf(t, s)
	if _, err := s.Bitcoin.Reorg(7, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the chain halted", func() bool {
		return strings.Contains(s.Indexer.Ready().Check()["chain:bitcoin-regtest"], "reorg")
	})
	time.Sleep(300 * time.Millisecond)
	if after := depositsOf(t, s); after != before {
		t.Errorf("a halted chain changed deposits:\n%s\nwas\n%s", after, before)
	}
	if err := ledger.Audit(s.Ledger.DB); err != nil {
		t.Errorf("audit: %v", err)
	}
}

func depositsOf(t *testing.T, s *stack.Stack) string {
	var out []string
	store.ScanDeposits(s.Ledger.DB, func(d *store.Deposit) error {
		out = append(out, d.ID+" "+d.Status)
		return nil
	})
	return strings.Join(out, "\n")
}
