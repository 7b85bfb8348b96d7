package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
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

const testChain = "test-evm"

var usdt = "0x00000000000000000000000000000000000a5d70"

func testAssets(t testing.TB) *assets.Config {
	c, err := assets.Merge(assets.Default(), strings.NewReader(`{"chains": [{"id": "test-evm", "family": "evm",
		"policy": {"credit_depth": 3, "finality": "tag", "max_reorg_depth": 4},
		"assets": [{"currency": "ETH", "decimals": 18}, {"currency": "USDT", "contract": "`+usdt+`", "decimals": 6}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func alias(name string) chain.Address {
	h := sha256.Sum256([]byte("addr-" + name))
	var a [20]byte
	copy(a[:], h[:])
	return chain.EVMAddress(a)
}

// env is one scenario's ledger, registry and synthetic chain.
type env struct {
	t       *testing.T
	fs      vfs.FS
	db      *store.DB
	led     *ledger.Ledger
	maxOpen int // Options.MaxOpenDeposits of led
	reg     *registry.Registry
	tbl     *assets.Config
	clock   time.Time
	chain   []chain.BlockRef // the ledger-side canonical chain the test builds
	fork    int
	offset  int64
	merch   string
	outSeen uint64
	names   map[string]string // address → alias
	log     []*events.Record  // every record applied, for redelivery
	twin    *env              // a copy fed the same changes (withTwin)
	logs    *bytes.Buffer     // the ledger's info lines since the last "logs"
}

func newEnv(t *testing.T) *env { return newEnvOn(t, vfs.NewMem(), "db") }

// newEnvOn makes a scenario's ledger on a fresh database at dir in fs: a
// merchant and three pool addresses (A, B, C).
func newEnvOn(t *testing.T, fs vfs.FS, dir string) *env {
	pdb, err := store.OpenPebble(dir, fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, fs: fs, db: store.Wrap(pdb), tbl: testAssets(t), clock: time.Unix(1_700_000_000, 0).UTC(), names: map[string]string{}, logs: &bytes.Buffer{}}
	t.Cleanup(func() { e.db.Close() })
	now := func() time.Time { return e.clock }
	e.led, err = ledger.New(e.db, e.tbl, ledger.Options{Now: now, Logger: e.logger()})
	if err != nil {
		t.Fatal(err)
	}
	if e.reg, err = registry.New(e.db, e.tbl, registry.Options{Now: now, Cooldown: 30 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	var m *store.Merchant
	if err := e.reg.Write(func(b *store.Batch) (err error) { m, _, err = e.reg.CreateMerchant(b, "shop", false, ""); return }); err != nil {
		t.Fatal(err)
	}
	e.merch = m.ID
	var addrs []chain.Address
	for _, n := range []string{"A", "B", "C"} {
		addrs = append(addrs, alias(n))
		e.names[alias(n).Checksummed()] = n
	}
	if err := e.reg.Write(func(b *store.Batch) error {
		_, err := e.reg.Import(b, m.ID, merchantapi.Import{Family: chain.FamilyEVM, Addresses: addrs})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

// withTwin opens a copy of e's database as it is now, dir in the same
// filesystem, with a ledger that submits its batches (Ledger.Submit) where
// e's applies them, commits each batch only once the next one has been
// prepared (store.DB.DeferCommits), and caches one row at a time, so that
// it reads from Pebble nearly everything it does not hold for the last
// batch. It shares e's clock. e then does every change to both, and
// checkTwin compares them.
func (e *env) withTwin(dir string) {
	t := e.t
	if err := e.db.Checkpoint(dir); err != nil {
		t.Fatal(err)
	}
	pdb, err := store.OpenPebble(dir, e.fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	tw := &env{t: t, fs: e.fs, db: store.Wrap(pdb), tbl: e.tbl, merch: e.merch, names: e.names}
	t.Cleanup(func() { tw.db.Close() })
	tw.db.DeferCommits()
	now := func() time.Time { return e.clock }
	if tw.led, err = ledger.New(tw.db, tw.tbl, ledger.Options{Now: now, CacheRows: 1}); err != nil {
		t.Fatal(err)
	}
	if tw.reg, err = registry.New(tw.db, tw.tbl, registry.Options{Now: now, Cooldown: 30 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	e.twin = tw
}

// checkTwin waits for the twin's last batch and checks that its database
// holds exactly what e's does.
func (e *env) checkTwin() {
	t := e.t
	if err := e.twin.db.WaitDurable(); err != nil {
		t.Fatal(err)
	}
	if diff := diffDB(e.db, e.twin.db); diff != "" {
		t.Errorf("submitting batches while the last one commits left a different database than applying them:\n%s", diff)
	}
}

// diffDB describes the first difference between two databases' contents.
func diffDB(a, b store.Reader) string {
	ia, err := a.NewIter(nil)
	if err != nil {
		return err.Error()
	}
	defer ia.Close()
	ib, err := b.NewIter(nil)
	if err != nil {
		return err.Error()
	}
	defer ib.Close()
	va, vb := ia.First(), ib.First()
	for ; va && vb; va, vb = ia.Next(), ib.Next() {
		if string(ia.Key()) != string(ib.Key()) {
			return fmt.Sprintf("key %q where the other has %q", ia.Key(), ib.Key())
		}
		if string(ia.Value()) != string(ib.Value()) {
			return fmt.Sprintf("key %q: %q, the other %q", ia.Key(), ia.Value(), ib.Value())
		}
	}
	switch {
	case va:
		return fmt.Sprintf("key %q only in the first", ia.Key())
	case vb:
		return fmt.Sprintf("key %q only in the second", ib.Key())
	}
	return ""
}

func (e *env) apply(recs ...*events.Record) error {
	e.log = append(e.log, recs...)
	var in []ledger.Input
	for _, r := range recs {
		in = append(in, ledger.Input{Record: r, Topic: "inflow.chain." + testChain, Offset: e.offset})
		e.offset++
	}
	err := e.led.Apply(in)
	if e.twin != nil {
		if terr := e.twin.led.Submit(in); (terr == nil) != (err == nil) {
			e.t.Errorf("Apply: %v; the twin's Submit: %v", err, terr)
		}
	}
	return err
}

// onBoth makes a registry change in e and in its twin, which must answer
// alike.
func onBoth[T any](e *env, what string, fn func(*registry.Registry) (T, error)) (T, error) {
	r, err := fn(e.reg)
	if e.twin != nil {
		tr, terr := fn(e.twin.reg)
		if fmt.Sprint(r, err) != fmt.Sprint(tr, terr) {
			e.t.Errorf("%s: %v, %v; the twin: %v, %v", what, r, err, tr, terr)
		}
	}
	return r, err
}

// bind binds a reference in e and its twin.
func (e *env) bind(req merchantapi.BindRequest) (*registry.BindResponse, error) {
	return onBoth(e, "bind", func(reg *registry.Registry) (*registry.BindResponse, error) {
		return registry.Do(reg, func(b *store.Batch) (*registry.BindResponse, error) { return reg.Bind(b, e.merch, req) })
	})
}

// unbind unbinds a reference in e and its twin.
func (e *env) unbind(ref, chainID string) (*registry.UnbindResponse, error) {
	return onBoth(e, "unbind", func(reg *registry.Registry) (*registry.UnbindResponse, error) {
		return registry.Do(reg, func(b *store.Batch) (*registry.UnbindResponse, error) { return reg.Unbind(b, e.merch, ref, chainID) })
	})
}

// logger writes the ledger's info lines to e.logs, without their time.
func (e *env) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
}

func (e *env) blockHash(n uint64, parent chain.Hash) chain.Hash {
	return chain.Hash(sha256.Sum256(fmt.Appendf(nil, "%x/%d/%d", parent, n, e.fork)))
}

// Each scenario also runs on a twin that submits its batches while the last
// one commits, and must leave exactly the same database.
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		e := newEnv(t)
		e.withTwin("twin")
		defer e.checkTwin()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			arg := func(k, def string) string {
				for _, a := range d.CmdArgs {
					if a.Key == k && len(a.Vals) > 0 {
						return a.Vals[0]
					}
				}
				return def
			}
			out := e.run(d, arg)
			if err := ledger.Audit(e.db); err != nil {
				out += "\nAUDIT FAILED: " + err.Error()
			}
			return out
		})
	})
}

func (e *env) run(d *datadriven.TestData, arg func(string, string) string) string {
	t := e.t
	switch d.Cmd {
	case "logs":
		// The ledger's info lines since the last "logs".
		out := strings.ReplaceAll(strings.TrimSpace(e.logs.String()), e.merch, "<merchant>")
		e.logs.Reset()
		return out
	case "tick":
		dur, _ := time.ParseDuration(arg("d", "1s"))
		e.clock = e.clock.Add(dur)
		return e.clock.Format(time.TimeOnly)
	case "bind":
		r, err := e.bind(merchantapi.BindRequest{DepositReference: arg("ref", ""), Currency: arg("currency", "USDT"), ChainID: arg("chain", testChain)})
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("%s bound to %s on %s", r.DepositReference, e.names[r.Address], r.ChainID)
	case "unbind":
		r, err := e.unbind(arg("ref", ""), arg("chain", ""))
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("unbound %d", r.UnboundAddresses)
	case "block":
		var parent chain.Hash
		n := uint64(1)
		if len(e.chain) > 0 {
			parent = e.chain[len(e.chain)-1].Hash
			n = e.chain[len(e.chain)-1].Number + 1
		}
		// skip=N: the N numbers before this block have none (Solana's
		// skipped slots).
		skip, _ := strconv.ParseUint(arg("skip", "0"), 10, 64)
		n += skip
		ref := chain.BlockRef{Number: n, Parent: parent, Time: e.clock.Unix()}
		ref.Hash = e.blockHash(n, parent)
		rec := &events.Record{Type: events.TypeBlockConnected, Chain: testChain, Family: chain.FamilyEVM, Number: n, Hash: ref.Hash, Parent: parent, Time: ref.Time}
		rec.Transfers = transfers(d.Input, n)
		recs := []*events.Record{rec}
		if arg("rescan", "") != "" {
			// The same block rescanned in the same batch: nothing more.
			again := *rec
			again.Type = events.TypeBlockRescanned
			recs = append(recs, &again)
		}
		if err := e.apply(recs...); err != nil {
			return "error: " + err.Error()
		}
		e.chain = append(e.chain, ref)
		return fmt.Sprintf("block %d\n%s", n, e.newEvents())
	case "rescan":
		// An operator's rescan found these transfers in block n (default
		// the tip); stale=1 names a block of another branch at n.
		n, _ := strconv.ParseUint(arg("n", "0"), 10, 64)
		var ref chain.BlockRef
		for _, b := range e.chain {
			if b.Number == n || (n == 0 && b.Number > ref.Number) {
				ref = b
			}
		}
		if ref.Number == 0 {
			ref = chain.BlockRef{Number: n, Time: e.clock.Unix()}
		}
		if arg("stale", "") != "" || ref.Hash.IsZero() {
			ref.Hash = chain.Hash(sha256.Sum256(fmt.Appendf(nil, "stale/%d", ref.Number)))
		}
		rec := &events.Record{Type: events.TypeBlockRescanned, Chain: testChain, Family: chain.FamilyEVM, Number: ref.Number, Hash: ref.Hash, Parent: ref.Parent, Time: ref.Time}
		rec.Transfers = transfers(d.Input, ref.Number)
		if err := e.apply(rec); err != nil {
			return "error: " + err.Error()
		}
		out := e.newEvents()
		if out == "" {
			out = "nothing credited"
		}
		return out
	case "reorg":
		depth, _ := strconv.Atoi(arg("depth", "1"))
		var recs []*events.Record
		for i := 0; i < depth && len(e.chain) > 0; i++ {
			b := e.chain[len(e.chain)-1-i]
			recs = append(recs, &events.Record{Type: events.TypeBlockDisconnected, Chain: testChain, Family: chain.FamilyEVM, Number: b.Number, Hash: b.Hash})
		}
		if err := e.apply(recs...); err != nil {
			return "error: " + err.Error()
		}
		st, _ := store.GetChainState(e.db, testChain)
		if !st.Halted {
			e.chain = e.chain[:len(e.chain)-depth]
			e.fork++
		}
		return strings.TrimPrefix(e.newEvents()+"\n"+e.state(), "\n")
	case "resume":
		// The operator resumes the chain; the daemon then seeks the topic
		// to the stored offset: the held records come again.
		resume := func(x *env, submit bool) (store.ChainState, error) {
			st, err := x.led.Resume(testChain, arg("reason", "checked"), "test")
			if err != nil {
				return st, err
			}
			offs, err := store.Offsets(x.db, []string{"inflow.chain." + testChain})
			if err != nil {
				t.Fatal(err)
			}
			next := offs["inflow.chain."+testChain][0]
			var in []ledger.Input
			for i := next; i < int64(len(e.log)); i++ {
				in = append(in, ledger.Input{Record: e.log[i], Topic: "inflow.chain." + testChain, Offset: i})
			}
			if submit {
				return st, x.led.Submit(in)
			}
			return st, x.led.Apply(in)
		}
		st, err := resume(e, false)
		if e.twin != nil {
			if _, terr := resume(e.twin, true); (terr == nil) != (err == nil) {
				t.Errorf("resume: %v; the twin's: %v", err, terr)
			}
		}
		if err != nil {
			return "error: " + err.Error()
		}
		after, _ := store.GetChainState(e.db, testChain)
		if !after.Halted {
			// The harness's chain follows the ledger's: the reorg happened.
			var kept []chain.BlockRef
			for _, b := range e.chain {
				if b.Number <= after.Tip {
					kept = append(kept, b)
				}
			}
			if len(kept) < len(e.chain) {
				e.chain, e.fork = kept, e.fork+1
			}
		}
		last := st.Resumes[len(st.Resumes)-1]
		return strings.TrimPrefix(fmt.Sprintf("resumed (accept reorg %v; audit: %q by %s)\n%s\n%s", st.AcceptReorg, last.HaltReason, last.By, e.newEvents(), e.state()), "\n")
	case "redeliver":
		// Deliver every record applied so far again, as a restarted indexer
		// or a replayed topic would: nothing may change.
		before := e.deposits()
		if err := e.apply(append([]*events.Record(nil), e.log...)...); err != nil {
			return "error: " + err.Error()
		}
		if ev := e.newEvents(); ev != "" {
			return "redelivery emitted events:\n" + ev
		}
		if after := e.deposits(); after != before {
			return "redelivery changed deposits:\n" + after
		}
		return "no change"
	case "finalize":
		n, _ := strconv.ParseUint(arg("n", "0"), 10, 64)
		var h chain.Hash
		for _, b := range e.chain {
			if b.Number == n {
				h = b.Hash
			}
		}
		if err := e.apply(&events.Record{Type: events.TypeFinalized, Chain: testChain, Family: chain.FamilyEVM, Number: n, Hash: h}); err != nil {
			return "error: " + err.Error()
		}
		return e.newEvents()
	case "limit":
		// A ledger whose open deposits in memory are bounded (the twin's
		// are not: both must write the same database).
		e.maxOpen, _ = strconv.Atoi(arg("max-open", "0"))
		e.reopen()
		return "ok"
	case "memory":
		n, spilled := e.led.OpenInMemory(testChain)
		return fmt.Sprintf("open in memory %d, spilled up to #%d", n, spilled)
	case "restart":
		// A new ledger over the same database: its state in memory is
		// loaded again from Pebble. (The twin, whose last batch may still
		// be waiting to commit, goes on.)
		e.reopen()
		return "restarted"
	case "deposits":
		return e.deposits()
	case "balances":
		bals, err := history.Balances(e.db, e.tbl, e.merch, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, b := range bals {
			out = append(out, fmt.Sprintf("%s %s pending=%s available=%s", b.DepositReference, b.Currency, b.Pending, b.Available))
		}
		return strings.Join(out, "\n")
	case "state":
		return e.state()
	}
	t.Fatalf("unknown command %s", d.Cmd)
	return ""
}

// transfers reads a block's transfers, a line each: to=ALIAS value=V
// [token=USDT|ALIAS] [tx=ID] [maturity=N].
func transfers(input string, n uint64) []chain.Transfer {
	var out []chain.Transfer
	for i, line := range strings.Split(strings.TrimSpace(input), "\n") {
		if line == "" {
			continue
		}
		f := map[string]string{}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		val, _ := chain.ParseAmount(f["value"])
		tr := chain.Transfer{TxHash: []byte("tx-" + f["tx"]), To: alias(f["to"]), Value: val, Kind: chain.KindNative, Index: chain.IndexNative}
		if tok := f["token"]; tok != "" {
			tr.Kind, tr.Index = chain.KindERC20, uint32(i)
			if tok == "USDT" {
				tr.Token, _ = chain.ParseAddress(chain.FamilyEVM, usdt)
			} else {
				tr.Token = alias(tok)
			}
		}
		if f["tx"] == "" {
			tr.TxHash = fmt.Appendf(nil, "tx-%d-%d", n, i)
		}
		if m := f["maturity"]; m != "" {
			v, _ := strconv.ParseUint(m, 10, 32)
			tr.Maturity = uint32(v)
		}
		out = append(out, tr)
	}
	return out
}

// reopen makes a new ledger over e's database (its state in memory is
// loaded again from Pebble), with e's bound of open deposits in memory.
func (e *env) reopen() {
	l, err := ledger.New(e.db, e.tbl, ledger.Options{Now: func() time.Time { return e.clock }, Logger: e.logger(), MaxOpenDeposits: e.maxOpen})
	if err != nil {
		e.t.Fatal(err)
	}
	e.led = l
}

func (e *env) state() string {
	st, _ := store.GetChainState(e.db, testChain)
	s := fmt.Sprintf("tip=%d finalized=%d", st.Tip, st.Finalized)
	if st.Halted {
		s += " HALTED: " + st.HaltReason
	}
	return s
}

func (e *env) newEvents() string {
	var out []string
	store.Scan(e.db, store.OutboxPrefix(), false, func(k, v []byte) (bool, error) {
		seq := uint64(0)
		for _, c := range k[2:] {
			seq = seq<<8 | uint64(c)
		}
		if seq <= e.outSeen {
			return true, nil
		}
		e.outSeen = seq
		row, err := store.DecodeOutboxRow(v)
		if err != nil {
			e.t.Fatal(err)
		}
		rows, err := store.RenderOutbox(e.db, row)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, row := range rows {
			if row.Kind != store.OutboxEvent {
				continue
			}
			var ev events.DepositEvent
			if err := json.Unmarshal(row.Value, &ev); err != nil {
				e.t.Fatal(err)
			}
			ref := "-"
			if ev.Data.DepositReference != nil {
				ref = *ev.Data.DepositReference
			}
			line := fmt.Sprintf("%s %s %s %s %s conf=%d", ev.Type, shortID(ev.Data.DepositID), ref, ev.Data.Amount, ev.Data.Currency, ev.Data.Confirmations)
			if ev.Data.AfterUnbind {
				line += " afterUnbind"
			}
			out = append(out, line)
		}
		return true, nil
	})
	return strings.Join(out, "\n")
}

func (e *env) deposits() string {
	var ds []store.Deposit
	if err := store.ScanDeposits(e.db, func(d *store.Deposit) error {
		ds = append(ds, *d)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	sort.Slice(ds, func(i, j int) bool {
		if ds[i].BlockNumber != ds[j].BlockNumber {
			return ds[i].BlockNumber < ds[j].BlockNumber
		}
		return ds[i].ID < ds[j].ID
	})
	var out []string
	for _, d := range ds {
		s := fmt.Sprintf("#%d %s %s %s %s ref=%s", d.BlockNumber, shortID(d.ID), d.Status, d.Amount.Decimal(d.Decimals), d.Currency, strOr(d.Reference))
		if d.Replaces != "" {
			s += " replaces=" + shortID(d.Replaces)
		}
		if d.AfterUnbind {
			s += " afterUnbind"
		}
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

// shortID is dep_ and the last four hex digits of a deposit id: those name
// the transfer, where the first half of the id names the block.
func shortID(id string) string { return "dep_" + id[len(id)-4:] }

func strOr(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}
