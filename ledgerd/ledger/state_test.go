package ledger_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/inflowhq/inflow/ledgerd/history"
	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// allEvents renders every outbox row's events, in order.
func (e *env) allEvents() []events.DepositEvent {
	var out []events.DepositEvent
	err := store.Scan(e.db, store.OutboxPrefix(), false, func(_, v []byte) (bool, error) {
		row, err := store.DecodeOutboxRow(v)
		if err != nil {
			return false, err
		}
		rows, err := store.RenderOutbox(e.db, row)
		if err != nil {
			return false, err
		}
		for _, r := range rows {
			if r.Kind != store.OutboxEvent {
				continue
			}
			var ev events.DepositEvent
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				return false, err
			}
			out = append(out, ev)
		}
		return true, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) block(n uint64, parent chain.Hash, fork int, k int) *events.Record {
	h := chain.Hash([32]byte{byte(n), byte(n >> 8), byte(fork)})
	usdtAddr, _ := chain.ParseAddress(chain.FamilyEVM, usdt)
	r := &events.Record{Type: events.TypeBlockConnected, Chain: testChain, Family: chain.FamilyEVM, Number: n, Hash: h, Parent: parent, Time: 1_800_000_000 + int64(n)}
	for i := 0; i < k; i++ {
		r.Transfers = append(r.Transfers, chain.Transfer{TxHash: fmt.Appendf(nil, "tx-%d-%d", n, i), Index: uint32(i), Kind: chain.KindERC20,
			Token: usdtAddr, To: alias("A"), Value: chain.AmountFromUint64(uint64(1 + i))})
	}
	return r
}

// More events in one Apply than one outbox row holds: every one is queued,
// in order, and a restarted ledger (its memory state rebuilt from Pebble)
// carries on from the same state.
func TestManyEventsInOneApply(t *testing.T) {
	e := newEnv(t)
	var recs []*events.Record
	var parent chain.Hash
	for n := uint64(1); n <= 4; n++ {
		r := e.block(n, parent, 0, 700)
		recs, parent = append(recs, r), r.Hash
	}
	if err := e.apply(recs...); err != nil {
		t.Fatal(err)
	}
	evs := e.allEvents()
	// 2800 pending, then blocks 1 and 2 confirmed (credit depth 3) as the
	// tip reaches 3 and 4.
	want := map[string]int{"deposit.pending": 2800, "deposit.confirmed": 1400}
	got := map[string]int{}
	seen := map[string]bool{}
	for _, ev := range evs {
		got[ev.Type]++
		if seen[ev.ID] {
			t.Fatalf("event %s queued twice", ev.ID)
		}
		seen[ev.ID] = true
		if ev.Type == "deposit.confirmed" && !seen[store.EventID(ev.Data.DepositID, "pending")] {
			t.Fatalf("deposit %s confirmed before its pending event", ev.Data.DepositID)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if err := ledger.Audit(e.db); err != nil {
		t.Fatal(err)
	}

	// A new Ledger over the same store starts with nothing in memory: it
	// reloads the open deposits and confirms block 3 at tip 5.
	var err error
	e.led, err = ledger.New(e.db, e.tbl, ledger.Options{Now: func() time.Time { return e.clock }})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.apply(e.block(5, parent, 0, 0)); err != nil {
		t.Fatal(err)
	}
	got = map[string]int{}
	for _, ev := range e.allEvents() {
		got[ev.Type]++
	}
	if want := (map[string]int{"deposit.pending": 2800, "deposit.confirmed": 2100}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after a restart: events %v, want %v", got, want)
	}
	if err := ledger.Audit(e.db); err != nil {
		t.Fatal(err)
	}
}

// A block orphaned and then connected again: its transfers are credited
// again as new deposits that replace the orphaned ones, which stay orphaned.
// The block comes back in a later Apply, in the same one, or in the Apply
// right after the one that connected and orphaned it; each also runs on a
// twin that submits each batch while the last one commits (withTwin).
func TestBlockConnectedAgain(t *testing.T) {
	for _, split := range []string{"steps", "oneApply", "nextApply"} {
		t.Run(split, func(t *testing.T) { blockConnectedAgain(t, split) })
	}
}

func blockConnectedAgain(t *testing.T, split string) {
	e := newEnv(t)
	e.withTwin("twin")
	b1 := e.block(1, chain.Hash{}, 0, 2)
	b2 := e.block(2, b1.Hash, 0, 2)
	b2x := e.block(2, b1.Hash, 1, 0)
	disc := func(r *events.Record) *events.Record {
		return &events.Record{Type: events.TypeBlockDisconnected, Chain: testChain, Family: chain.FamilyEVM, Number: r.Number, Hash: r.Hash}
	}
	steps := map[string][][]*events.Record{
		"steps":     {{b1, b2}, {disc(b2), b2x}, {disc(b2x)}, {b2}},
		"oneApply":  {{b1, b2, disc(b2), b2x, disc(b2x), b2}},
		"nextApply": {{b1}, {b2, disc(b2)}, {b2}},
	}[split]
	for _, step := range steps {
		if err := e.apply(step...); err != nil {
			t.Fatal(err)
		}
		if err := ledger.Audit(e.db); err != nil {
			t.Fatal(err)
		}
	}
	e.checkTwin()
	for i := uint32(0); i < 2; i++ {
		first := ledger.DepositID(testChain, b2.Number, b2.Transfers[i].TxHash, i, b2.Hash)
		old, err := store.GetDeposit(e.db, first)
		if err != nil {
			t.Fatal(err)
		}
		if old.Status != store.StatusOrphaned {
			t.Fatalf("first deposit of transfer %d is %s, want orphaned", i, old.Status)
		}
		var again *store.Deposit
		if err := store.ScanDeposits(e.db, func(d *store.Deposit) error {
			if d.Replaces == first {
				again = d
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if again == nil || again.Status != store.StatusPending || again.BlockHash != b2.Hash || again.ID == first {
			t.Fatalf("transfer %d connected again: %+v", i, again)
		}
	}
	a, err := store.GetAccount(e.db, e.merch, "")
	if err != nil {
		t.Fatal(err)
	}
	bal := a.Balance("USDT", testChain)
	if want := chain.AmountFromUint64(1 + 2 + 1 + 2); bal.Pending.Cmp(want) != 0 {
		t.Fatalf("pending balance %s, want %s", bal.Pending, want)
	}
}

// Balance rows (B/) and totals rows (RS/) of earlier versions, in both the
// JSON and the binary form they were written in, become one account row per
// reference when a ledger opens the store, and deposits add to them.
func TestAccountsMigrated(t *testing.T) {
	e := newEnv(t)
	key := func(parts ...string) []byte { return []byte(strings.Join(parts, "\x00")) }
	binBalance := func(pending, available uint64) []byte {
		p, a := chain.AmountFromUint64(pending).Bytes32(), chain.AmountFromUint64(available).Bytes32()
		return append(append([]byte{1}, p[:]...), a[:]...)
	}
	jsonBalance, err := json.Marshal(store.Balance{Pending: chain.AmountFromUint64(5), Available: chain.AmountFromUint64(7)})
	if err != nil {
		t.Fatal(err)
	}
	last := time.Unix(1_600_000_000, 0).UTC()
	jsonStats, err := json.Marshal(store.RefStats{Deposits: 4, LastDepositAt: last})
	if err != nil {
		t.Fatal(err)
	}
	binStats := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte{1}, 2), uint64(last.UnixNano()))
	err = e.db.Write(func(b *store.Batch) error {
		for k, v := range map[string][]byte{
			string(store.OldBalancePrefix()) + string(key(e.merch, "alice", "USDT", testChain)): binBalance(3_000_000, 1_000_000),
			string(store.OldBalancePrefix()) + string(key(e.merch, "alice", "ETH", testChain)):  jsonBalance,
			string(store.OldBalancePrefix()) + string(key(e.merch, "", "USDT", testChain)):      binBalance(9, 0),
			string(store.OldRefStatsPrefix()) + string(key(e.merch, "alice")):                   jsonStats,
			string(store.OldRefStatsPrefix()) + string(key(e.merch, "")):                        binStats,
		} {
			if err := b.Set([]byte(k), v, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.led, err = ledger.New(e.db, e.tbl, ledger.Options{Now: func() time.Time { return e.clock }}); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]byte{store.OldBalancePrefix(), store.OldRefStatsPrefix()} {
		if err := store.Scan(e.db, p, false, func(k, _ []byte) (bool, error) { return false, fmt.Errorf("row %q left", k) }); err != nil {
			t.Fatal(err)
		}
	}
	alice, err := store.GetAccount(e.db, e.merch, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(alice.Deposits, alice.LastDepositAt, alice.Balances); got != fmt.Sprint(4, last, []store.AccountBalance{
		{Currency: "ETH", Chain: testChain, Balance: store.Balance{Pending: chain.AmountFromUint64(5), Available: chain.AmountFromUint64(7)}},
		{Currency: "USDT", Chain: testChain, Balance: store.Balance{Pending: chain.AmountFromUint64(3_000_000), Available: chain.AmountFromUint64(1_000_000)}},
	}) {
		t.Fatalf("alice's account: %s", got)
	}
	none, err := store.GetAccount(e.db, e.merch, "")
	if err != nil {
		t.Fatal(err)
	}
	if b := none.Balance("USDT", testChain); none.Deposits != 2 || b.Pending.Cmp(chain.AmountFromUint64(9)) != 0 {
		t.Fatalf("unattributed account: %d deposits, %+v", none.Deposits, none.Balances)
	}

	// The registry reads the account, and a deposit to alice adds to it.
	if _, err := e.bind(merchantapi.BindRequest{DepositReference: "alice", Currency: "USDT", ChainID: testChain}); err != nil {
		t.Fatal(err)
	}
	e.clock = e.clock.Add(time.Hour)
	r := e.block(1, chain.Hash{}, 0, 1)
	r.Time = e.clock.Unix()
	if err := e.apply(r); err != nil {
		t.Fatal(err)
	}
	ref := "alice"
	bals, err := history.Balances(e.db, e.tbl, e.merch, &ref, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(bals); got != "[{alice ETH 0.000000000000000005 0.000000000000000007 0.000000000000000012} {alice USDT 3.000001 1 4.000001}]" {
		t.Fatalf("balances %s", got)
	}
	if alice, err = store.GetAccount(e.db, e.merch, "alice"); err != nil || alice.Deposits != 5 || !alice.LastDepositAt.Equal(e.clock) {
		t.Fatalf("alice's totals after a deposit: %d, %s, %v", alice.Deposits, alice.LastDepositAt, err)
	}
}

// TestOpenSetBounded: on a chain whose finality records stop, the open
// deposits in memory stay within the bound (a quarter over it at most, plus
// the blocks of the reorg window) over 1,500 blocks, and through a restart;
// when finality comes back every deposit completes, and the ledger's
// invariants hold.
func TestOpenSetBounded(t *testing.T) {
	e := newEnv(t)
	const bound, perBlock = 300, 4
	var err error
	if e.led, err = ledger.New(e.db, e.tbl, ledger.Options{Now: func() time.Time { return e.clock }, MaxOpenDeposits: bound}); err != nil {
		t.Fatal(err)
	}
	floor := (4 + 3 + 2) * perBlock // the reorg window and the pending blocks cannot leave
	var parent chain.Hash
	var last *events.Record
	peak := 0
	for n := uint64(1); n <= 1500; n++ {
		r := e.block(n, parent, 0, perBlock)
		if err := e.apply(r); err != nil {
			t.Fatal(err)
		}
		parent, last = r.Hash, r
		open, _ := e.led.OpenInMemory(testChain)
		peak = max(peak, open)
		if open > bound+bound/4+floor {
			t.Fatalf("block %d: %d open deposits in memory, bound %d", n, open, bound)
		}
		if n == 800 {
			// A restart loads the open set within the bound too.
			if e.led, err = ledger.New(e.db, e.tbl, ledger.Options{Now: func() time.Time { return e.clock }, MaxOpenDeposits: bound}); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("peak of open deposits in memory: %d (bound %d) over %d open", peak, bound, 1500*perBlock)
	if err := e.apply(&events.Record{Type: events.TypeFinalized, Chain: testChain, Family: chain.FamilyEVM, Number: last.Number, Hash: last.Hash}); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, ev := range e.allEvents() {
		got[ev.Type]++
	}
	if want := (map[string]int{"deposit.pending": 6000, "deposit.confirmed": 6000, "deposit.completed": 6000}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if open, _ := e.led.OpenInMemory(testChain); open != 0 {
		t.Errorf("%d open deposits in memory after finality", open)
	}
	if err := ledger.Audit(e.db); err != nil {
		t.Fatal(err)
	}
}
