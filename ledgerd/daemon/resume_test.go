package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
	"github.com/inflowhq/inflow/pkg/testenv"
)

// TestResumeHaltedChain: a reorg deeper than the chain's maximum halts it
// in the ledger; the operator resumes it through the admin route, with a
// reason; the held records are then applied (the reorg with them), the
// chain goes on, and the state keeps the audit record.
func TestResumeHaltedChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and ledgerd")
	}
	kb, err := broker.Start(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kb.Close)
	const id = chain.ID("evm-devnet") // maximum reorg depth 32
	cfg := DefaultConfig()
	cfg.DataDir, cfg.KafkaBrokers, cfg.HTTP, cfg.Chains = t.TempDir(), kb.Addrs(), "127.0.0.1:0", []chain.ID{id}
	cfg.InternalToken, cfg.AdminKey = "a-token-long-enough-for-ledgerd", "an-admin-key-long-enough"
	d, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := testenv.Run(t, d.Run)
	addr, err := d.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String()
	prod, err := kafka.NewProducer(kafka.Config{Brokers: kb.Addrs()}, kgo.DefaultProduceTopic(id.Topic()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	hash := func(fork byte, n uint64) chain.Hash {
		return chain.Hash(sha256.Sum256(binary.BigEndian.AppendUint64([]byte{fork}, n)))
	}
	var chainOf = map[uint64]chain.Hash{0: {}}
	publish := func(recs ...*events.Record) {
		t.Helper()
		var krs []*kgo.Record
		for _, r := range recs {
			v, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			rid := r.ID()
			krs = append(krs, &kgo.Record{Key: rid[:], Value: v})
		}
		if err := prod.ProduceSync(context.Background(), krs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	connect := func(fork byte, from, to uint64) {
		for n := from; n <= to; n++ {
			h := hash(fork, n)
			publish(&events.Record{Type: events.TypeBlockConnected, Chain: id, Family: chain.FamilyEVM, Number: n, Hash: h, Parent: chainOf[n-1], Time: int64(n)})
			chainOf[n] = h
		}
	}
	state := func() *store.ChainState {
		st, err := store.GetChainState(d.DB, id)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	wait := func(what string, ok func(*store.ChainState) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok(state()) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, state())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	connect(1, 1, 40)
	wait("tip 40", func(st *store.ChainState) bool { return st.Tip == 40 })
	// A reorg of 35 blocks, deeper than the maximum of 32, then the new
	// branch: the ledger halts at the disconnections and holds the rest.
	for n := uint64(40); n > 5; n-- {
		publish(&events.Record{Type: events.TypeBlockDisconnected, Chain: id, Family: chain.FamilyEVM, Number: n, Hash: chainOf[n]})
	}
	connect(2, 6, 45)
	wait("the halt", func(st *store.ChainState) bool { return st.Halted })
	if st := state(); !strings.Contains(st.HaltReason, "exceeds the maximum of 32") {
		t.Fatalf("halted at %+v", st)
	}
	call := func(chainID, body string, out any) int {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/internal/v1/admin/chains/"+chainID+"/resume", strings.NewReader(body))
		req.Header.Set("X-Inflow-Internal-Token", cfg.InternalToken)
		req.Header.Set("X-Inflow-Admin-Key", cfg.AdminKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if out != nil {
			json.Unmarshal(b, out)
		}
		return resp.StatusCode
	}
	var e struct{ Code, Message string }
	if st := call(string(id), `{"reason": ""}`, &e); st != 400 {
		t.Errorf("a resume without a reason: %d %+v", st, e)
	}
	if st := call("ethereum", `{"reason": "x"}`, &e); st != 400 || e.Code != "UNSUPPORTED_CHAIN" {
		t.Errorf("a resume of a chain ledgerd does not consume: %d %+v", st, e)
	}
	var res struct {
		Resumed, AcceptReorg bool
		HaltReason           string
		Resumes              []struct{ Reason, By string }
	}
	if st := call(string(id), `{"reason": "OPS-7: the fork is real"}`, &res); st != 200 || !res.Resumed || !res.AcceptReorg ||
		len(res.Resumes) != 1 || res.Resumes[0].Reason != "OPS-7: the fork is real" {
		t.Fatalf("resume: %d %+v", st, res)
	}
	wait("the new branch", func(st *store.ChainState) bool { return st.Tip == 45 && st.TipHash == chainOf[45] && !st.Halted })
	if st := state(); st.AcceptReorg || len(st.Resumes) != 1 || !strings.Contains(st.Resumes[0].By, "admin API") {
		t.Errorf("after the reorg: %+v", st)
	}
	if st := call(string(id), `{"reason": "again"}`, &e); st != 409 || e.Code != "CHAIN_NOT_HALTED" {
		t.Errorf("a resume of a chain that is not halted: %d %+v", st, e)
	}
	connect(2, 46, 47)
	wait("tip 47", func(st *store.ChainState) bool { return st.Tip == 47 })
}
