package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/inflowhq/inflow/indexer/indexertest"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	devevm "github.com/inflowhq/inflow/pkg/devnet/evm"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
	"github.com/inflowhq/inflow/pkg/testenv"
)

func evmAddr(a common.Address) chain.Address { return chain.EVMAddress(a) }

// connectedUpTo: the records read hold a connected block at or above n.
func connectedUpTo(n uint64) func([]*events.Record) bool {
	return func(recs []*events.Record) bool {
		for _, x := range recs {
			if x.Type == events.TypeBlockConnected && x.Number >= n {
				return true
			}
		}
		return false
	}
}

// brokerAndDevnet starts the embedded broker and an EVM devnet for an
// integration test (skipped with -short), both stopped when it ends.
func brokerAndDevnet(t *testing.T, finalityLag uint64) (kafka.Config, *devevm.Devnet) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test")
	}
	kb, err := broker.Start(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kb.Close)
	dn, err := devevm.Start(devevm.Config{FinalityLag: finalityLag})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dn.Close() })
	return kafka.Config{Brokers: kb.Addrs()}, dn
}

// TestDevnetPipeline drives the whole indexing pipeline on the real devnet:
// node → follower → matcher → Kafka.
func TestDevnetPipeline(t *testing.T) {
	kcfg, dn := brokerAndDevnet(t, 8)

	alice := common.HexToAddress("0xa11ce00000000000000000000000000000000001")
	bob := common.HexToAddress("0xb0b0000000000000000000000000000000000002")
	carol := common.HexToAddress("0xca201000000000000000000000000000000000c3")
	stranger := common.HexToAddress("0x5712a96e70000000000000000000000000000009")
	admin, _ := kafka.NewAdmin(kcfg)
	if err := kafka.EnsureTopics(context.Background(), admin, kafka.AddressesTopic()); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	indexertest.Watch(t, kcfg, events.AddressRecord{Address: evmAddr(alice), ID: 1}, events.AddressRecord{Address: evmAddr(bob), ID: 2})

	// Blocks exist before the indexer starts: it backfills them.
	dn.Send(alice, "USDT", uint256.NewInt(1_500_000))
	dn.Send(stranger, "USDT", uint256.NewInt(9))
	dn.Mine(1)
	dn.Mine(3)

	from := uint64(1)
	d, err := New(Config{DataDir: t.TempDir(), KafkaBrokers: kcfg.Brokers, Chains: []ChainConfig{{
		ID: devevm.ChainID, RPC: dn.WSURL(), From: &from, PollInterval: Duration(50 * time.Millisecond),
	}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	testenv.Run(t, d.Run)

	r := indexertest.NewReader(t, kcfg, devevm.ChainID.Topic())
	dn.Send(bob, "ETH", uint256.NewInt(7e18))
	dn.Send(alice, "DAI", new(uint256.Int).Mul(uint256.NewInt(3), uint256.NewInt(1e18)))
	dn.Mine(1) // block 5
	dn.Mine(10)
	r.Until(t, 20*time.Second, "block 15", connectedUpTo(15))

	// Every block is present, in order, with the node's hashes; only
	// watched recipients are carried.
	var matched []chain.Transfer
	next := uint64(1)
	for _, x := range r.Recs {
		if x.Type != events.TypeBlockConnected {
			continue
		}
		if x.Number != next {
			t.Fatalf("connected block %d, want %d", x.Number, next)
		}
		if h, _ := dn.HeaderHash(x.Number); h != x.Hash {
			t.Fatalf("block %d hash %s, node has %s", x.Number, x.Hash, h)
		}
		next++
		matched = append(matched, x.Transfers...)
	}
	if len(matched) != 3 {
		t.Fatalf("matched %d transfers, want 3: %+v", len(matched), matched)
	}
	check := func(tr chain.Transfer, to common.Address, id uint64, kind chain.Kind, value string) {
		t.Helper()
		if tr.To != evmAddr(to) || tr.AddressID != id || tr.Kind != kind || tr.Value.String() != value {
			t.Errorf("transfer %+v, want to=%s id=%d %s %s", tr, to, id, kind, value)
		}
	}
	check(matched[0], alice, 1, chain.KindERC20, "1500000")
	check(matched[1], bob, 2, chain.KindNative, "7000000000000000000")
	check(matched[2], alice, 1, chain.KindERC20, "3000000000000000000")
	if matched[0].Token != evmAddr(devevm.USDTAddress) || matched[2].Token != evmAddr(devevm.DAIAddress) {
		t.Error("token contracts not carried")
	}

	// Finalized follows the devnet's finalized tag (head − 8).
	r.Until(t, 10*time.Second, "a Finalized record", func(recs []*events.Record) bool {
		for _, x := range recs {
			if x.Type == events.TypeFinalized && x.Number >= 7 {
				return true
			}
		}
		return false
	})

	// A reorg of depth 3: three disconnections, newest first, then the new
	// branch, which re-includes the transfer from the orphaned block.
	dn.Send(bob, "USDT", uint256.NewInt(42))
	dn.Mine(1) // 16
	r.Until(t, 10*time.Second, "block 16", connectedUpTo(16))
	mark := len(r.Recs)
	if _, err := dn.Reorg(3, false); err != nil {
		t.Fatal(err)
	}
	r.Until(t, 10*time.Second, "the new branch", connectedUpTo(17))
	var tail []*events.Record
	for _, x := range r.Recs[mark:] {
		if x.Type != events.TypeFinalized {
			tail = append(tail, x)
		}
	}
	for i, want := range []uint64{16, 15, 14} {
		if tail[i].Type != events.TypeBlockDisconnected || tail[i].Number != want {
			t.Fatalf("after reorg record %d = %s, want BlockDisconnected #%d", i, tail[i], want)
		}
	}
	reincluded := 0
	for i, want := range []uint64{14, 15, 16, 17} {
		x := tail[3+i]
		if x.Type != events.TypeBlockConnected || x.Number != want {
			t.Fatalf("after reorg record %d = %s, want BlockConnected #%d", 3+i, x, want)
		}
		reincluded += len(x.Transfers)
	}
	if reincluded != 1 {
		t.Errorf("the orphaned USDT transfer was re-included %d times in the new branch, want 1", reincluded)
	}

	// A new address is matched from the next block on.
	indexertest.Watch(t, kcfg, events.AddressRecord{Address: evmAddr(carol), ID: 3})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := d.Matcher().MatchAddress(evmAddr(carol)); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("carol never watched")
		}
		time.Sleep(10 * time.Millisecond)
	}
	dn.Send(carol, "ETH", uint256.NewInt(5))
	n, _ := dn.Mine(1)
	r.Until(t, 10*time.Second, "carol's deposit", func(recs []*events.Record) bool {
		for _, x := range recs {
			if x.Type == events.TypeBlockConnected && x.Number == n {
				return len(x.Transfers) == 1 && x.Transfers[0].AddressID == 3
			}
		}
		return false
	})

	// The stream replays into exactly the node's canonical chain.
	tip, _, err := indexertest.Replay(r.Recs, r.Raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range tip {
		h, err := dn.HeaderHash(b.Number)
		if err != nil || h != b.Hash {
			t.Fatalf("block %d: stream has %s, node has %s", b.Number, b.Hash, h)
		}
	}
	if len(d.Ready().Check()) != 0 {
		t.Errorf("not ready: %v", d.Ready().Check())
	}
}

// TestDevnetNodePool: a chain given three nodes, one of them down, is
// followed where the other two agree; the down node is reported.
func TestDevnetNodePool(t *testing.T) {
	kcfg, dn := brokerAndDevnet(t, 4)
	dn.Mine(3)
	from := uint64(1)
	dead := "http://127.0.0.1:1"
	cfg := Config{DataDir: t.TempDir(), KafkaBrokers: kcfg.Brokers, Chains: []ChainConfig{{
		ID: devevm.ChainID, RPCs: []string{dn.URL(), dn.WSURL(), dead}, Quorum: 2, From: &from, PollInterval: Duration(50 * time.Millisecond),
	}}}
	if err := cfg.Validate(assetsTable(t)); err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	testenv.Run(t, d.Run)
	dn.Mine(5)
	r := indexertest.NewReader(t, kcfg, devevm.ChainID.Topic())
	r.Until(t, 20*time.Second, "block 8", connectedUpTo(8))
	gauge := func(name, node string) (float64, bool) {
		mfs, _ := d.Registry().Gather()
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				match := node == ""
				for _, l := range m.GetLabel() {
					match = match || l.GetName() == "node" && l.GetValue() == node
				}
				if match {
					return m.GetGauge().GetValue(), true
				}
			}
		}
		return 0, false
	}
	if v, ok := gauge("inflow_indexer_rpc_node_healthy", dead); !ok || v != 0 {
		t.Errorf("the down node's healthy gauge: %v %v", v, ok)
	}
	if v, ok := gauge("inflow_indexer_rpc_node_healthy", dn.URL()); !ok || v != 1 {
		t.Errorf("a live node's healthy gauge: %v %v", v, ok)
	}
	if v, ok := gauge("inflow_indexer_rpc_quorum", ""); !ok || v != 1 {
		t.Errorf("quorum gauge: %v %v", v, ok)
	}
	bad := cfg
	bad.Chains = []ChainConfig{{ID: devevm.ChainID, RPC: dn.URL(), RPCs: []string{dn.URL()}}}
	if err := bad.Validate(assetsTable(t)); err == nil {
		t.Error("rpc and rpcs together accepted")
	}
	bad.Chains = []ChainConfig{{ID: devevm.ChainID, RPCs: []string{dn.URL()}, Quorum: 2}}
	if err := bad.Validate(assetsTable(t)); err == nil {
		t.Error("a quorum of 2 over one node accepted")
	}
}

func assetsTable(t *testing.T) *assets.Config {
	t.Helper()
	return assets.Default()
}

// TestNodeDownAtStart: a chain whose node is down when the indexer starts
// waits for it, and is followed once it answers.
func TestNodeDownAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	kb, err := broker.Start(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kb.Close)
	kcfg := kafka.Config{Brokers: kb.Addrs()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there yet
	from := uint64(1)
	d, err := New(Config{DataDir: t.TempDir(), KafkaBrokers: kcfg.Brokers, Chains: []ChainConfig{{
		ID: devevm.ChainID, RPC: "ws://" + addr, From: &from, PollInterval: Duration(50 * time.Millisecond),
	}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	testenv.Run(t, d.Run)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.ready.Check()["chain:"+string(devevm.ChainID)], addr) {
		if time.Now().After(deadline) {
			t.Fatalf("readiness while the node is down: %v", d.ready.Check())
		}
		time.Sleep(50 * time.Millisecond)
	}
	dn, err := devevm.Start(devevm.Config{Addr: addr, FinalityLag: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dn.Close() })
	dn.Mine(3)
	r := indexertest.NewReader(t, kcfg, devevm.ChainID.Topic())
	r.Until(t, 30*time.Second, "block 3", connectedUpTo(3))
}

// TestResumeDeepReorg: a reorg deeper than the chain's maximum halts the
// follower, which then waits (not ready) instead of stopping; `indexer
// resume` applies that reorg once, with an audit line, and the chain goes on.
func TestResumeDeepReorg(t *testing.T) {
	kcfg, dn := brokerAndDevnet(t, 20)
	table := assets.Default()
	spec, err := table.Chain(devevm.ChainID)
	if err != nil {
		t.Fatal(err)
	}
	spec.Policy.MaxReorgDepth = 3
	dn.Mine(8)
	from := uint64(1)
	key := "adm_0123456789abcdef0123"
	var logs syncBuf
	d, err := New(Config{DataDir: t.TempDir(), KafkaBrokers: kcfg.Brokers, HTTP: "127.0.0.1:0", AdminKey: key, Table: table,
		Chains: []ChainConfig{{ID: devevm.ChainID, RPC: dn.WSURL(), From: &from, PollInterval: Duration(20 * time.Millisecond)}}},
		slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	testenv.Run(t, d.Run)
	r := indexertest.NewReader(t, kcfg, devevm.ChainID.Topic())
	r.Until(t, 20*time.Second, "block 8", connectedUpTo(8))
	ops, err := d.OpsAddr(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	os.Setenv("INFLOW_ADMIN_KEY", key)
	defer os.Unsetenv("INFLOW_ADMIN_KEY")
	resume := func() (int, string) {
		var out bytes.Buffer
		code := ResumeCommand(context.Background(), []string{"--indexer", "http://" + ops.String(), "--chain", string(devevm.ChainID), "--reason", "OPS-9 fork confirmed"}, &out, &out)
		return code, out.String()
	}
	if code, out := resume(); code != 1 || !strings.Contains(out, "CHAIN_NOT_HALTED") {
		t.Fatalf("resume of a chain that follows: %d %s", code, out)
	}
	if _, err := dn.Reorg(5, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(d.ready.Check()["chain:"+string(devevm.ChainID)], "reorg deeper than allowed") {
		if time.Now().After(deadline) {
			t.Fatalf("the chain did not halt: %v", d.ready.Check())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, out := resume(); code != 0 || !strings.Contains(out, "resumed evm-devnet") {
		t.Fatalf("resume: %d %s", code, out)
	}
	dn.Mine(1)
	r.Until(t, 20*time.Second, "the new branch", func(recs []*events.Record) bool {
		disc := 0
		for _, x := range recs {
			if x.Type == events.TypeBlockDisconnected {
				disc++
			}
		}
		last := recs[len(recs)-1]
		h, _ := dn.HeaderHash(last.Number)
		return disc == 5 && last.Type == events.TypeBlockConnected && last.Number == dn.Head() && h == last.Hash
	})
	if len(d.ready.Check()) != 0 {
		t.Errorf("not ready after the resumption: %v", d.ready.Check())
	}
	for _, want := range []string{"ALERT: chain halted; waiting for the operator", "AUDIT: chain resumed by the operator", "OPS-9 fork confirmed",
		"AUDIT: a reorg deeper than the maximum was applied"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in the log", want)
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestRescanResumes: a rescan that was running when the indexer stopped
// goes on from where it was when the indexer starts again, and its records
// carry the transfers to the addresses it keeps.
func TestRescanResumes(t *testing.T) {
	kcfg, dn := brokerAndDevnet(t, 8)
	admin, _ := kafka.NewAdmin(kcfg)
	if err := kafka.EnsureTopics(context.Background(), admin, kafka.AddressesTopic()); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	alice := common.HexToAddress("0xa11ce00000000000000000000000000000000001")
	dn.Send(alice, "USDT", uint256.NewInt(2_000_000))
	dn.Mine(1)
	dn.Mine(5)
	// alice is watched only after her block was published.
	dir := t.TempDir()
	from := uint64(1)
	cfg := Config{DataDir: dir, KafkaBrokers: kcfg.Brokers, HTTP: "127.0.0.1:0", AdminKey: "adm_0123456789abcdef0123",
		Chains: []ChainConfig{{ID: devevm.ChainID, RPC: dn.WSURL(), From: &from, PollInterval: Duration(20 * time.Millisecond)}}}
	d, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	r := indexertest.NewReader(t, kcfg, devevm.ChainID.Topic())
	r.Until(t, 20*time.Second, "block 6", connectedUpTo(6))
	cancel()
	<-done
	d.Close()
	indexertest.Watch(t, kcfg, events.AddressRecord{Address: evmAddr(alice), ID: 9})

	// A rescan stored as running, from block 1: as the indexer leaves one
	// it was stopped in.
	d, err = New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	j := &Rescan{ID: "rsc_0000000000000001", Chain: devevm.ChainID, From: 1, To: 6, All: true, State: RescanRunning, Next: 1, BlocksTotal: 6, Runs: 1,
		CreatedAt: time.Now().UTC()}
	if err := d.admin.put(j); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, d.Run)
	r.Until(t, 20*time.Second, "alice's transfer rescanned", func(recs []*events.Record) bool {
		for _, x := range recs {
			if x.Type == events.TypeBlockRescanned && x.Number == 1 && len(x.Transfers) == 1 && x.Transfers[0].AddressID == 9 {
				return true
			}
		}
		return false
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := d.admin.get(j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == RescanDone {
			if got.Runs != 2 || got.BlocksScanned != 6 || got.Transfers != 1 || got.Next != 7 {
				t.Errorf("the resumed rescan: %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rescan did not finish: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFinalityNone: a chain whose policy's finality is "none" publishes
// its blocks and no Finalized record, though its node serves a finalized
// tag.
func TestFinalityNone(t *testing.T) {
	kcfg, dn := brokerAndDevnet(t, 2)
	table, err := assets.Merge(assets.Default(), strings.NewReader(`{"chains": [{"id": "`+string(devevm.ChainID)+`", "policy": {"finality": "none"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	dn.Mine(12)
	from := uint64(1)
	d, err := New(Config{DataDir: t.TempDir(), KafkaBrokers: kcfg.Brokers, Table: table, Chains: []ChainConfig{{
		ID: devevm.ChainID, RPC: dn.URL(), From: &from, PollInterval: Duration(50 * time.Millisecond),
	}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	testenv.Run(t, d.Run)
	r := indexertest.NewReader(t, kcfg, devevm.ChainID.Topic())
	r.Until(t, 20*time.Second, "block 12", connectedUpTo(12))
	dn.Mine(3)
	r.Until(t, 20*time.Second, "block 15", connectedUpTo(15))
	time.Sleep(300 * time.Millisecond) // several polls past the finalized tag
	for _, x := range r.Recs {
		if x.Type == events.TypeFinalized {
			t.Fatalf("a chain of finality none published %s", x)
		}
	}
}

// TestAdminInputs: what an attacker (or a mistaken operator) sends the
// admin routes is answered with the API's JSON errors, and nothing of it
// is looked up or echoed whole.
func TestAdminInputs(t *testing.T) {
	from := uint64(1)
	d, err := New(Config{DataDir: t.TempDir(), KafkaBrokers: []string{"127.0.0.1:1"}, AdminKey: "adm_0123456789abcdef0123",
		Chains: []ChainConfig{{ID: devevm.ChainID, RPC: "http://127.0.0.1:1", From: &from}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	h := d.admin.handler(context.Background())
	long := strings.Repeat("A", 5000)
	for _, c := range []struct {
		method, path, key, body string
		status                  int
		code                    string
	}{
		{"GET", "/admin/v1/rescans", "", "", 401, "UNAUTHORIZED"},
		{"GET", "/admin/v1/rescans", "adm_0123456789abcdef012", "", 401, "UNAUTHORIZED"},
		{"GET", "/admin/v1/rescans", "adm_0123456789abcdef0123", "", 200, ""},
		{"GET", "/admin/v1/rescans/..%2F..%2Fetc", "adm_0123456789abcdef0123", "", 404, "RESCAN_NOT_FOUND"},
		{"GET", "/admin/v1/rescans/%00abc", "adm_0123456789abcdef0123", "", 404, "RESCAN_NOT_FOUND"},
		{"GET", "/admin/v1/rescans/" + long, "adm_0123456789abcdef0123", "", 404, "RESCAN_NOT_FOUND"},
		{"GET", "/admin/v1/rescans/rsc_0000000000000000", "adm_0123456789abcdef0123", "", 404, "RESCAN_NOT_FOUND"},
		{"DELETE", "/admin/v1/rescans/%2e%2e", "adm_0123456789abcdef0123", "", 404, "RESCAN_NOT_FOUND"},
		{"PUT", "/admin/v1/rescans", "adm_0123456789abcdef0123", "", 405, "METHOD_NOT_ALLOWED"},
		{"GET", "/admin/v1/" + long, "adm_0123456789abcdef0123", "", 404, "NOT_FOUND"},
		{"POST", "/admin/v1/chains/..%2Fevm-devnet/rescans", "adm_0123456789abcdef0123", `{}`, 400, "UNSUPPORTED_CHAIN"},
		{"POST", "/admin/v1/chains/evm-devnet/rescans", "adm_0123456789abcdef0123", `{"from":1,"extra":1}`, 400, "INVALID_JSON"},
		{"POST", "/admin/v1/chains/evm-devnet/rescans", "adm_0123456789abcdef0123", `{"from":-1}`, 400, "INVALID_JSON"},
		{"POST", "/admin/v1/chains/evm-devnet/rescans", "adm_0123456789abcdef0123", `{"from":1} {"from":2}`, 400, "INVALID_JSON"},
		{"POST", "/admin/v1/chains/nope/rescans", "adm_0123456789abcdef0123", `{"from":1,"all":true}`, 400, "CHAIN_NOT_ENABLED"},
		{"POST", "/admin/v1/chains/evm-devnet/resume", "adm_0123456789abcdef0123", `{"reason":""}`, 400, "VALIDATION_ERROR"},
		{"POST", "/admin/v1/chains/evm-devnet/resume", "adm_0123456789abcdef0123", `{"reason":"` + long + `"}`, 400, "VALIDATION_ERROR"},
	} {
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		if c.key != "" {
			req.Header.Set(HeaderAdminKey, c.key)
		}
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var e struct{ Code, Message string }
		json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != c.status || e.Code != c.code {
			t.Errorf("%s %.60s: %d %s, want %d %s (%s)", c.method, c.path, rec.Code, e.Code, c.status, c.code, rec.Body.String())
		}
		if rec.Body.Len() > 1000 {
			t.Errorf("%s %.60s: an answer of %d bytes echoes the request", c.method, c.path, rec.Body.Len())
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s %.60s: Content-Type %q", c.method, c.path, ct)
		}
	}
}
