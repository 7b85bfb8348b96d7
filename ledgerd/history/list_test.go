package history_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/inflowhq/inflow/ledgerd/history"
	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// world is a ledger with a random history on two EVM chains: references
// bound and unbound, deposits in three currencies, reorgs that orphan some,
// and confirmations and finality that move the rest along.
type world struct {
	db       *store.DB
	reg      *registry.Registry
	led      *ledger.Ledger
	indexer  *history.Indexer
	merchant string
	refs     []string
}

type chainGen struct {
	id     chain.ID
	blocks []chain.BlockRef
	tokens map[string]chain.Address // currency → contract ("" for the native coin)
	fork   int
}

func newWorld(t *testing.T, seed uint64) *world {
	t.Helper()
	pdb, err := store.OpenPebble("db", vfs.NewMem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := store.Wrap(pdb)
	t.Cleanup(func() { db.Close() })
	table := assets.Default()
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { return clock }
	w := &world{db: db}
	if w.reg, err = registry.New(db, table, registry.Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	if w.led, err = ledger.New(db, table, ledger.Options{Now: func() time.Time { clock = clock.Add(time.Second); return clock }}); err != nil {
		t.Fatal(err)
	}
	if w.indexer, err = history.NewIndexer(db, nil, nil); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	var pool []chain.Address
	for i := 0; i < 14; i++ {
		h := sha256.Sum256(fmt.Appendf(nil, "world-%d", i))
		pool = append(pool, chain.EVMAddress([20]byte(h[:20])))
	}
	err = w.reg.Write(func(b *store.Batch) error {
		m, _, err := w.reg.CreateMerchant(b, "world", true, "")
		if err != nil {
			return err
		}
		w.merchant = m.ID
		_, err = w.reg.Import(b, m.ID, merchantapi.Import{Family: chain.FamilyEVM, Addresses: pool})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 9; i++ {
		ref := fmt.Sprintf("user-%d", i)
		w.refs = append(w.refs, ref)
		req := merchantapi.BindRequest{DepositReference: ref, Currency: "USDT", ChainID: "evm-devnet"}
		if err := w.reg.Write(func(b *store.Batch) error { _, err := w.reg.Bind(b, w.merchant, req); return err }); err != nil {
			t.Fatal(err)
		}
	}
	parse := func(s string) chain.Address { a, _ := chain.ParseAddress(chain.FamilyEVM, s); return a }
	chains := []*chainGen{
		{id: "evm-devnet", tokens: map[string]chain.Address{"ETH": {}, "USDT": parse("0x00000000000000000000000000000000000a5d70"), "DAI": parse("0x00000000000000000000000000000000000da100")}},
		{id: "ethereum", tokens: map[string]chain.Address{"ETH": {}, "USDT": parse("0xdAC17F958D2ee523a2206206994597C13D831ec7")}},
	}
	currencies := map[chain.ID][]string{"evm-devnet": {"ETH", "USDT", "DAI"}, "ethereum": {"ETH", "USDT"}}
	var in []ledger.Input
	offset := int64(0)
	flush := func() {
		if len(in) == 0 {
			return
		}
		if err := w.led.Apply(in); err != nil {
			t.Fatal(err)
		}
		in = nil
		if rng.IntN(3) > 0 {
			if _, err := w.indexer.Step(context.Background(), 1+rng.IntN(3)); err != nil {
				t.Fatal(err)
			}
		}
	}
	push := func(r *events.Record) {
		offset++
		in = append(in, ledger.Input{Record: r, Topic: r.Chain.Topic(), Offset: offset})
		if rng.IntN(3) == 0 {
			flush()
		}
	}
	tx := 0
	connect := func(c *chainGen) {
		n := uint64(len(c.blocks) + 1)
		var parent chain.Hash
		if len(c.blocks) > 0 {
			parent = c.blocks[len(c.blocks)-1].Hash
		}
		ref := chain.BlockRef{Number: n, Parent: parent, Time: clock.Unix(), Hash: chain.Hash(sha256.Sum256(fmt.Appendf(nil, "%s/%d/%x/%d", c.id, n, parent, c.fork)))}
		r := &events.Record{Type: events.TypeBlockConnected, Chain: c.id, Family: chain.FamilyEVM, Number: n, Hash: ref.Hash, Parent: parent, Time: ref.Time}
		for i := 0; i < rng.IntN(7); i++ {
			tx++
			cur := currencies[c.id][rng.IntN(len(currencies[c.id]))]
			tr := chain.Transfer{TxHash: fmt.Appendf(nil, "tx-%d", tx), To: pool[rng.IntN(len(pool))], Value: chain.AmountFromUint64(uint64(1 + rng.IntN(1_000_000))),
				Kind: chain.KindNative, Index: chain.IndexNative}
			if tok := c.tokens[cur]; !tok.IsZero() {
				tr.Kind, tr.Index, tr.Token = chain.KindERC20, uint32(i), tok
			}
			r.Transfers = append(r.Transfers, tr)
		}
		c.blocks = append(c.blocks, ref)
		push(r)
	}
	for step := 0; step < 220; step++ {
		c := chains[rng.IntN(len(chains))]
		switch roll := rng.IntN(40); {
		case roll == 0 && len(c.blocks) > 8:
			// A reorg of one or two blocks.
			c.fork++
			for d := 0; d < 1+rng.IntN(2); d++ {
				b := c.blocks[len(c.blocks)-1]
				push(&events.Record{Type: events.TypeBlockDisconnected, Chain: c.id, Family: chain.FamilyEVM, Number: b.Number, Hash: b.Hash})
				c.blocks = c.blocks[:len(c.blocks)-1]
			}
		case roll == 1 && len(c.blocks) > 12:
			f := c.blocks[len(c.blocks)-10]
			push(&events.Record{Type: events.TypeFinalized, Chain: c.id, Family: chain.FamilyEVM, Number: f.Number, Hash: f.Hash})
		case roll == 2:
			ref := w.refs[rng.IntN(len(w.refs))]
			w.reg.Write(func(b *store.Batch) error { _, err := w.reg.Unbind(b, w.merchant, ref, ""); return err })
			req := merchantapi.BindRequest{DepositReference: ref + "-again", Currency: "DAI", ChainID: "evm-devnet"}
			if err := w.reg.Write(func(b *store.Batch) error { _, err := w.reg.Bind(b, w.merchant, req); return err }); err == nil {
				w.refs = append(w.refs, req.DepositReference)
			}
		default:
			connect(c)
		}
	}
	flush()
	if err := ledger.Audit(db); err != nil {
		t.Fatal(err)
	}
	return w
}

func ids(ds []events.Deposit) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.DepositID + "/" + d.Status
	}
	return out
}

// TestListingMatchesFullScan: every filter, order, page and limit of the
// indexed listing gives exactly what reading every deposit gives, with the
// listing indexer part of the way behind; paging by cursor gives the whole
// listing once.
func TestListingMatchesFullScan(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			w := newWorld(t, seed)
			rng := rand.New(rand.NewPCG(seed, 99))
			var queued int
			store.Scan(w.db, store.ListQueuePrefix(), false, func(_, _ []byte) (bool, error) { queued++; return true, nil })
			t.Logf("%d batches still queued for the listing indexer", queued)
			refs := append([]string{"no-such-ref"}, w.refs...)
			queries := 0
			for i := 0; i < 400; i++ {
				f := history.Filter{SortBy: "detectedAt", Desc: rng.IntN(2) == 0}
				if rng.IntN(2) == 0 {
					ref := refs[rng.IntN(len(refs))]
					f.Reference = &ref
				}
				f.Status = []string{"", "", "pending", "confirmed", "completed", "orphaned"}[rng.IntN(6)]
				f.Currency = []string{"", "", "USDT", "usdt", "ETH", "DAI", "DOGE"}[rng.IntN(7)]
				f.ChainID = []string{"", "", "evm-devnet", "ethereum"}[rng.IntN(4)]
				limit := 1 + rng.IntN(12)
				want, wpg, err := history.ListSorted(w.db, w.merchant, f, merchantapi.Page{Page: 1, Limit: 100_000})
				if err != nil {
					t.Fatal(err)
				}
				for page := 1; page <= wpg.Total/limit+2; page++ {
					queries++
					p := merchantapi.Page{Page: page, Limit: limit}
					got, pg, err := history.Deposits(w.db, w.merchant, f, p, "")
					if err != nil {
						t.Fatal(err)
					}
					lo, hi := min((page-1)*limit, len(want)), min(page*limit, len(want))
					if fmt.Sprint(ids(got)) != fmt.Sprint(ids(want[lo:hi])) || pg.Total != wpg.Total || pg.TotalPages != (wpg.Total+limit-1)/limit || pg.HasMore != (hi < len(want)) {
						t.Fatalf("%+v ref=%v page %d limit %d:\n got %v (total %d, more %v)\nwant %v (total %d)", f, f.Reference, page, limit, ids(got), pg.Total, pg.HasMore, ids(want[lo:hi]), wpg.Total)
					}
					for j := range got {
						if g, w := jsonOf(got[j]), jsonOf(want[lo+j]); g != w {
							t.Fatalf("deposit %d of the page differs:\n%s\n%s", j, g, w)
						}
					}
				}
				// By cursor, from the first page to the last.
				var all []events.Deposit
				cur := ""
				for n := 0; ; n++ {
					got, pg, err := history.Deposits(w.db, w.merchant, f, merchantapi.Page{Page: 1, Limit: limit}, cur)
					if err != nil {
						t.Fatal(err)
					}
					all = append(all, got...)
					if pg.NextCursor == "" || n > len(want) {
						break
					}
					cur = pg.NextCursor
				}
				if fmt.Sprint(ids(all)) != fmt.Sprint(ids(want)) {
					t.Fatalf("%+v by cursor, %d at a time:\n got %v\nwant %v", f, limit, ids(all), ids(want))
				}
			}
			t.Logf("%d pages compared", queries)
		})
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestListingsMigrated: a store written before the listings (accounts of
// version 2, no totals, listings or queue) gets them when the ledger
// opens, and then lists as the full scan does.
func TestListingsMigrated(t *testing.T) {
	w := newWorld(t, 5)
	// Back to how an earlier version left the store.
	err := w.db.Write(func(b *store.Batch) error {
		for _, p := range [][]byte{store.MerchantTotalsPrefix(), store.ListQueuePrefix(), store.ListOpenPrefix(w.merchant),
			store.ListOrphanedPrefix(w.merchant), store.CounterKey("listing-v1")} {
			if err := b.DeleteRange(p, store.PrefixEnd(p), nil); err != nil {
				return err
			}
		}
		for _, ref := range append(w.refs, "") {
			p := store.ListRefPrefix(w.merchant, ref)
			if err := b.DeleteRange(p, store.PrefixEnd(p), nil); err != nil {
				return err
			}
		}
		return store.ScanAccounts(b, w.merchant, func(ref string, a *store.Account) error {
			for i := range a.Balances {
				a.Balances[i].Counts = [4]int64{}
			}
			return b.Set(store.AccountKey(w.merchant, ref), a.AppendEncode(nil), nil)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ledger.Audit(w.db); err == nil {
		t.Fatal("the audit passes a store without its listings")
	}
	if _, err := ledger.New(w.db, assets.Default(), ledger.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := ledger.Audit(w.db); err != nil {
		t.Fatalf("after the migration: %v", err)
	}
	if _, err := w.indexer.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, ref := range w.refs {
		for _, status := range []string{"", "pending", "completed"} {
			f := history.Filter{SortBy: "detectedAt", Reference: &ref, Status: status, Desc: true}
			want, _, _ := history.ListSorted(w.db, w.merchant, f, merchantapi.Page{Page: 1, Limit: 100})
			got, _, err := history.Deposits(w.db, w.merchant, f, merchantapi.Page{Page: 1, Limit: 100}, "")
			if err != nil || fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) {
				t.Fatalf("%s %s after the migration: %v %v, want %v", ref, status, ids(got), err, ids(want))
			}
		}
	}
}

// TestReferenceListing: pages, searches and cursors of the reference
// listing give what a scan of every reference gives.
func TestReferenceListing(t *testing.T) {
	pdb, err := store.OpenPebble("db", vfs.NewMem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := store.Wrap(pdb)
	defer db.Close()
	table := assets.Default()
	reg, err := registry.New(db, table, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var merchant string
	words := []string{"alice", "Bob", "carol", "Zürich", "ÉCOLE", "sol", "x", "ali", "li"}
	rng := rand.New(rand.NewPCG(3, 4))
	var names []string
	var pool []chain.Address
	for i := 0; i < 300; i++ {
		h := sha256.Sum256(fmt.Appendf(nil, "refs-%d", i))
		pool = append(pool, chain.EVMAddress([20]byte(h[:20])))
		names = append(names, fmt.Sprintf("%s_%d%s", words[rng.IntN(len(words))], rng.IntN(1000), words[rng.IntN(len(words))]))
	}
	err = reg.Write(func(b *store.Batch) error {
		m, _, err := reg.CreateMerchant(b, "refs", true, "")
		if err != nil {
			return err
		}
		merchant = m.ID
		if _, err := reg.Import(b, m.ID, merchantapi.Import{Family: chain.FamilyEVM, Addresses: pool}); err != nil {
			return err
		}
		for _, n := range names {
			if _, err := reg.Bind(b, m.ID, merchantapi.BindRequest{DepositReference: n, Currency: "USDT", ChainID: "evm-devnet"}); err != nil &&
				!strings.Contains(err.Error(), "already exists") {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, search := range []string{"", "a", "li", "ali", "ALICE", "zür", "zürich_", "école", "_1", "sol_", "nothing", "b_5"} {
		var want []string
		for _, n := range names {
			if strings.Contains(strings.ToLower(n), strings.ToLower(search)) {
				want = append(want, n)
			}
		}
		for _, limit := range []int{1, 7, 100} {
			for page := 1; page <= len(want)/limit+2; page++ {
				got, pg, err := history.ListReferences(db, table, merchant, merchantapi.Page{Page: page, Limit: limit}, search, "")
				if err != nil {
					t.Fatal(err)
				}
				lo, hi := min((page-1)*limit, len(want)), min(page*limit, len(want))
				var gotNames []string
				for _, g := range got {
					gotNames = append(gotNames, g.DepositReference)
				}
				if fmt.Sprint(gotNames) != fmt.Sprint(want[lo:hi]) || pg.Total != len(want) || pg.HasMore != (hi < len(want)) {
					t.Fatalf("search %q page %d limit %d: %v (total %d), want %v (total %d)", search, page, limit, gotNames, pg.Total, want[lo:hi], len(want))
				}
			}
			var all []string
			cur := ""
			for n := 0; n <= len(want); n++ {
				got, pg, err := history.ListReferences(db, table, merchant, merchantapi.Page{Page: 1, Limit: limit}, search, cur)
				if err != nil {
					t.Fatal(err)
				}
				for _, g := range got {
					all = append(all, g.DepositReference)
				}
				if cur = pg.NextCursor; cur == "" {
					break
				}
			}
			if fmt.Sprint(all) != fmt.Sprint(want) {
				t.Fatalf("search %q by cursor of %d: %v, want %v", search, limit, all, want)
			}
		}
	}
	if _, _, err := history.ListReferences(db, table, merchant, merchantapi.Page{Page: 1, Limit: 5}, "ali", "bm90LWEtY3Vyc29y"); err == nil {
		t.Error("a made-up cursor was taken")
	}
}
