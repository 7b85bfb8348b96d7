package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/rpc"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
	"github.com/inflowhq/inflow/pkg/merchantapi"
	"github.com/inflowhq/inflow/pkg/testenv"
)

const childEnv = "INFLOW_LEDGERD_CHILD_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		os.Exit(run(strings.Split(args, "\x1f"), io.Discard))
	}
	if spec := os.Getenv(sinkChildEnv); spec != "" {
		os.Exit(runSinkChild(spec))
	}
	os.Exit(m.Run())
}

const crashChain = chain.ID("evm-devnet") // credit depth 3, max reorg 32

// crashToken is the internal token of the ledgerd the crash test runs.
const crashToken = "crash-test-internal-token"

// genBlock is one block of the generated chain.
type genBlock struct {
	ref       chain.BlockRef
	transfers []chain.Transfer
}

// generator produces a chain stream the way the indexer would, with reorgs
// and finality, and remembers every block it ever connected.
type generator struct {
	rng       *rand.Rand
	canon     []genBlock
	ever      map[chain.Hash]genBlock
	finalized uint64
	fork      int
	pool      []chain.Address // index = address id - 1
	usdt, dai chain.Address
	spam      chain.Address
	transfers int
	txn       int
	remine    []chain.Transfer    // transfers of orphaned blocks, to re-include
	credited  map[chain.Hash]bool // blocks that ever had three confirmations
}

func (g *generator) tip() chain.BlockRef {
	if len(g.canon) == 0 {
		return chain.BlockRef{}
	}
	return g.canon[len(g.canon)-1].ref
}

func (g *generator) connect() *events.Record {
	parent := g.tip()
	n := parent.Number + 1
	h := chain.Hash(sha256.Sum256(fmt.Appendf(nil, "%x/%d/%d", parent.Hash, n, g.fork)))
	b := genBlock{ref: chain.BlockRef{Number: n, Hash: h, Parent: parent.Hash, Time: 1_800_000_000 + int64(n)}}
	// Some transactions of orphaned blocks are mined again, unchanged.
	for len(g.remine) > 0 && g.rng.IntN(3) != 0 {
		b.transfers = append(b.transfers, g.remine[0])
		g.remine = g.remine[1:]
	}
	g.remine = nil
	base := uint32(len(b.transfers)) + 1000
	for i, k := 0, g.rng.IntN(16); i < k; i++ {
		g.txn++
		t := chain.Transfer{TxHash: fmt.Appendf(nil, "tx-%d", g.txn), Value: chain.AmountFromUint64(1 + g.rng.Uint64N(1_000_000))}
		id := 1 + g.rng.IntN(len(g.pool))
		t.To, t.AddressID = g.pool[id-1], uint64(id)
		switch r := g.rng.IntN(20); {
		case r < 8:
			t.Kind, t.Token, t.Index = chain.KindERC20, g.usdt, base+uint32(i)
		case r < 12:
			t.Kind, t.Token, t.Index = chain.KindERC20, g.dai, base+uint32(i)
		case r < 18:
			t.Kind, t.Index = chain.KindNative, chain.IndexNative
		default:
			t.Kind, t.Token, t.Index = chain.KindERC20, g.spam, base+uint32(i) // not credited
		}
		b.transfers = append(b.transfers, t)
	}
	g.canon = append(g.canon, b)
	g.ever[h] = b
	if len(g.canon) >= 3 {
		// The block two below the tip has its third confirmation now, and
		// a deposit once confirmed stays so, even if a reorg later
		// shortens the chain above it.
		if g.credited == nil {
			g.credited = map[chain.Hash]bool{}
		}
		g.credited[g.canon[len(g.canon)-3].ref.Hash] = true
	}
	g.transfers += len(b.transfers)
	return &events.Record{Type: events.TypeBlockConnected, Chain: crashChain, Family: chain.FamilyEVM,
		Number: n, Hash: h, Parent: parent.Hash, Time: b.ref.Time, Transfers: b.transfers}
}

func (g *generator) step() []*events.Record {
	var out []*events.Record
	tip := g.tip().Number
	if tip > g.finalized+6 && g.rng.IntN(25) == 0 {
		depth := 1 + g.rng.IntN(min(5, int(tip-g.finalized)-1))
		for i := 0; i < depth; i++ {
			b := g.canon[len(g.canon)-1]
			g.canon = g.canon[:len(g.canon)-1]
			g.remine = append(append([]chain.Transfer(nil), b.transfers...), g.remine...)
			out = append(out, &events.Record{Type: events.TypeBlockDisconnected, Chain: crashChain, Family: chain.FamilyEVM, Number: b.ref.Number, Hash: b.ref.Hash})
		}
		g.fork++
	}
	out = append(out, g.connect())
	if t := g.tip().Number; t > 10 && g.rng.IntN(5) == 0 && t-10 > g.finalized {
		g.finalized = t - 10
		out = append(out, &events.Record{Type: events.TypeFinalized, Chain: crashChain, Family: chain.FamilyEVM, Number: g.finalized, Hash: g.canon[g.finalized-1].ref.Hash})
	}
	return out
}

type expected struct {
	status string
	ref    string
	amount chain.Amount
	cur    string
}

// model computes, independently of the ledger, what the final state must be.
func (g *generator) model(table *assets.Config, bound map[uint64]string) map[string]expected {
	canon := map[chain.Hash]bool{}
	for _, b := range g.canon {
		canon[b.ref.Hash] = true
	}
	out := map[string]expected{}
	for h, b := range g.ever {
		for _, t := range b.transfers {
			a, ok := table.ForTransfer(crashChain, &t)
			if !ok {
				continue
			}
			e := expected{ref: bound[t.AddressID], amount: t.Value, cur: a.Currency}
			switch {
			case !canon[h]:
				e.status = "orphaned"
			case b.ref.Number <= g.finalized:
				e.status = "completed"
			case g.credited[h]:
				e.status = "confirmed"
			default:
				e.status = "pending"
			}
			out[fmt.Sprintf("%s/%d/%x", t.TxHash, t.Index, h[:])] = e
		}
	}
	return out
}

// freePort is testenv.FreePort: never the same port twice in this binary.
func freePort(t *testing.T) string { return testenv.FreePort(t) }

// TestCrashes kills ledgerd with SIGKILL at random points, at least 20
// times, while it applies a stream of more than 10,000 matched transfers with
// reorgs and finality mixed in, and checks that after the last restart the
// deposits, statuses and balances equal an independent model of the chain.
func TestCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	kb, err := broker.Start(broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	kcfg := kafka.Config{Brokers: kb.Addrs()}
	admin, _ := kafka.NewAdmin(kcfg)
	if err := kafka.EnsureTopics(context.Background(), admin, kafka.ChainTopic(crashChain)); err != nil {
		t.Fatal(err)
	}
	admin.Close()

	// The registry: 40 addresses, 30 of them bound before any block.
	data := filepath.Join(t.TempDir(), "ledgerd")
	table := assets.Default()
	g := &generator{rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3)), ever: map[chain.Hash]genBlock{}}
	g.usdt, _ = chain.ParseAddress(chain.FamilyEVM, "0x00000000000000000000000000000000000a5d70")
	g.dai, _ = chain.ParseAddress(chain.FamilyEVM, "0x00000000000000000000000000000000000da100")
	g.spam, _ = chain.ParseAddress(chain.FamilyEVM, "0x000000000000000000000000000000000000bad1")
	bound := map[uint64]string{}
	func() {
		pdb, err := store.OpenPebble(data, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer pdb.Close()
		reg, err := registry.New(store.Wrap(pdb), table, registry.Options{Now: func() time.Time { return time.Unix(1_700_000_000, 0) }})
		if err != nil {
			t.Fatal(err)
		}
		var m *store.Merchant
		if err := reg.Write(func(b *store.Batch) (err error) { m, _, err = reg.CreateMerchant(b, "crash", false, ""); return }); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 40; i++ {
			h := sha256.Sum256(fmt.Appendf(nil, "pool-%d", i))
			var a [20]byte
			copy(a[:], h[:])
			g.pool = append(g.pool, chain.EVMAddress(a))
		}
		if err := reg.Write(func(b *store.Batch) error {
			_, err := reg.Import(b, m.ID, merchantapi.Import{Family: chain.FamilyEVM, Addresses: g.pool})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 30; i++ {
			ref := fmt.Sprintf("user-%d", i)
			req := merchantapi.BindRequest{DepositReference: ref, Currency: "USDT", ChainID: string(crashChain)}
			if err := reg.Write(func(b *store.Batch) error { _, err := reg.Bind(b, m.ID, req); return err }); err != nil {
				t.Fatal(err)
			}
			bound[uint64(i+1)] = ref // bound in import order
		}
	}()

	prod, err := kafka.NewProducer(kcfg, kgo.DefaultProduceTopic(crashChain.Topic()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	publish := func(recs []*events.Record) {
		var krs []*kgo.Record
		for _, r := range recs {
			v, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			id := r.ID()
			krs = append(krs, &kgo.Record{Key: id[:], Value: v})
		}
		if err := prod.ProduceSync(context.Background(), krs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	addr := freePort(t)
	args := []string{"--data", data, "--kafka-brokers", strings.Join(kcfg.Brokers, ","), "--http", addr, "--log-level", "error"}
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, "\x1f"), "INFLOW_INTERNAL_TOKEN="+crashToken)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	// Publish the stream in chunks while killing ledgerd at random points.
	const wantTransfers, wantKills = 10_000, 20
	kills := 0
	cmd := start()
	t.Cleanup(func() { // a failing test must not leave a ledgerd behind
		cmd.Process.Kill()
		cmd.Wait()
	})
	nextKill := time.Now().Add(time.Duration(150+g.rng.IntN(500)) * time.Millisecond)
	for g.transfers < wantTransfers || kills < wantKills {
		var chunk []*events.Record
		for i := 0; i < 20 && g.transfers < wantTransfers; i++ {
			chunk = append(chunk, g.step()...)
		}
		if len(chunk) > 0 {
			publish(chunk)
		}
		time.Sleep(20 * time.Millisecond)
		if time.Now().After(nextKill) {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			kills++
			cmd = start()
			nextKill = time.Now().Add(time.Duration(150+g.rng.IntN(500)) * time.Millisecond)
		}
	}
	// One more finality mark at the end, then let the last run catch up.
	tip := g.tip()
	if tip.Number > 10 {
		g.finalized = tip.Number - 5
		publish([]*events.Record{{Type: events.TypeFinalized, Chain: crashChain, Family: chain.FamilyEVM, Number: g.finalized, Hash: g.canon[g.finalized-1].ref.Hash}})
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		var st map[string]store.ChainState
		req, _ := http.NewRequest("GET", "http://"+addr+"/internal/v1/chain-states", nil)
		req.Header.Set(rpc.HeaderToken, crashToken)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if s, ok := st[string(crashChain)]; ok && s.Tip == tip.Number && s.TipHash == tip.Hash && s.Finalized == g.finalized {
				break
			}
			if s := st[string(crashChain)]; s.Halted {
				t.Fatalf("ledger halted: %s", s.HaltReason)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger never caught up with tip %d", tip.Number)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("ledgerd did not stop cleanly: %v", err)
	}

	// Compare with the model.
	pdb, err := store.OpenPebble(data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	db := store.Wrap(pdb)
	want := g.model(table, bound)
	got := map[string]store.Deposit{}
	if err := store.ScanDeposits(db, func(d *store.Deposit) error {
		k := fmt.Sprintf("%s/%d/%x", d.TxHash, d.Index, d.BlockHash[:])
		if _, dup := got[k]; dup {
			t.Errorf("deposit %s recorded twice", k)
		}
		got[k] = *d
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mismatches := 0
	for k, e := range want {
		d, ok := got[k]
		if !ok {
			t.Errorf("deposit %s lost", k)
			mismatches++
			continue
		}
		if d.Status != e.status || d.Ref() != e.ref || d.Amount.Cmp(e.amount) != 0 || d.Currency != e.cur {
			t.Errorf("deposit %s: %s ref=%q %s %s, model says %s ref=%q %s %s", k, d.Status, d.Ref(), d.Amount, d.Currency, e.status, e.ref, e.amount, e.cur)
			mismatches++
		}
		if mismatches > 20 {
			t.FailNow()
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("deposit %s not in the model", k)
		}
	}
	// Balances from the model, against the stored rows.
	type bk struct{ ref, cur string }
	wantBal := map[bk][2]chain.Amount{}
	for _, e := range want {
		if e.ref == "" {
			continue
		}
		v := wantBal[bk{e.ref, e.cur}]
		switch e.status {
		case "pending", "confirmed":
			v[0], _ = v[0].Add(e.amount)
		case "completed":
			v[1], _ = v[1].Add(e.amount)
		}
		wantBal[bk{e.ref, e.cur}] = v
	}
	for r := range bound {
		ref := bound[r]
		a, err := store.GetAccount(db, merchantOf(t, db), ref)
		if err != nil {
			t.Fatal(err)
		}
		for _, cur := range []string{"USDT", "DAI", "ETH"} {
			bal := a.Balance(cur, crashChain)
			w := wantBal[bk{ref, cur}]
			if bal.Pending.Cmp(w[0]) != 0 || bal.Available.Cmp(w[1]) != 0 {
				t.Errorf("balance %s %s: pending=%s available=%s, model says %s %s", ref, cur, bal.Pending, bal.Available, w[0], w[1])
			}
		}
	}
	if err := ledger.Audit(db); err != nil {
		t.Errorf("audit: %v", err)
	}
	counts := map[string]int{}
	for _, e := range want {
		counts[e.status]++
	}
	t.Logf("%d kills, %d transfers generated, %d blocks, %d forks, %d deposits (%v)", kills, g.transfers, len(g.ever), g.fork, len(got), counts)
}

func merchantOf(t *testing.T, db *store.DB) string {
	var id string
	store.Scan(db, store.MerchantPrefix(), false, func(_, v []byte) (bool, error) {
		var m store.Merchant
		json.Unmarshal(v, &m)
		id = m.ID
		return false, nil
	})
	return id
}
