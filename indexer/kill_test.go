package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/inflowhq/inflow/indexer/indexertest"
	"github.com/inflowhq/inflow/pkg/chain"
	devbtc "github.com/inflowhq/inflow/pkg/devnet/bitcoin"
	devevm "github.com/inflowhq/inflow/pkg/devnet/evm"
	devsol "github.com/inflowhq/inflow/pkg/devnet/solana"
	devtron "github.com/inflowhq/inflow/pkg/devnet/tron"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
	"github.com/inflowhq/inflow/pkg/testenv"
)

// childEnv carries the indexer's arguments into a re-executed test binary,
// which then runs the real indexer command as a separate process.
const childEnv = "INFLOW_INDEXER_CHILD_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		os.Exit(run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

type child struct {
	cmd *exec.Cmd
	out *bytes.Buffer
	mu  sync.Mutex
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{out: &bytes.Buffer{}}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, "\x1f"))
	w := &lockedWriter{c: c}
	c.cmd.Stdout, c.cmd.Stderr = w, w
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

type lockedWriter struct{ c *child }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.out.Write(p)
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// TestKill9 kills the indexer process with SIGKILL at random points while
// the devnet mines (with a reorg on the way), restarts it each time, and
// checks the chain topic: no gap, duplicates only with identical ids and
// bytes, and a replay that equals the node's canonical chain.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	kb, err := broker.Start(broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	kcfg := kafka.Config{Brokers: kb.Addrs()}
	dn, err := devevm.Start(devevm.Config{FinalityLag: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer dn.Close()
	admin, _ := kafka.NewAdmin(kcfg)
	if err := kafka.EnsureTopics(context.Background(), admin, kafka.AddressesTopic(), kafka.ChainTopic(devevm.ChainID)); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	watched := common.HexToAddress("0x00000000000000000000000000000000000d0d0d")
	indexertest.Watch(t, kcfg, events.AddressRecord{Address: chain.EVMAddress(watched), ID: 77})

	// The node mines every 20ms, with a deposit in every third block and a
	// reorg once, until told to stop.
	stopMining := make(chan struct{})
	mined := make(chan struct{})
	go func() {
		defer close(mined)
		for i := 0; ; i++ {
			select {
			case <-stopMining:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if i%3 == 0 {
				dn.Send(watched, "USDT", uint256.NewInt(uint64(i+1)))
			}
			if i == 60 {
				if _, err := dn.Reorg(4, false); err != nil {
					t.Errorf("reorg: %v", err)
				}
				continue
			}
			dn.Mine(1)
		}
	}()

	killAndReplay(t, kcfg, devevm.ChainID, dn.URL(), stopMining, mined, dn.Head, dn.HeaderHash)
}

// killAndReplay runs `indexer run` on a chain and kills it with SIGKILL
// at random points while the node mines (mining is stopped through
// stopMining once the kills are done), then lets a last run catch up and
// requires the topic to replay to exactly the node's canonical chain.
func killAndReplay(t *testing.T, kcfg kafka.Config, id chain.ID, rpc string, stopMining chan struct{}, mined chan struct{},
	headOf func() uint64, hashOf func(uint64) (chain.Hash, error)) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "indexer")
	args := []string{"run", "--data", data, "--kafka-brokers", strings.Join(kcfg.Brokers, ","),
		"--chain", string(id), "--rpc", rpc, "--from", "1", "--http", "127.0.0.1:0", "--log-level", "warn"}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	r := indexertest.NewReader(t, kcfg, id.Topic())
	const kills = 8
	progressed := 0
	for i := 0; i < kills; i++ {
		before := len(r.Recs)
		c := startChild(t, args...)
		time.Sleep(time.Duration(200+rng.IntN(900)) * time.Millisecond)
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		c.cmd.Wait()
		if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("indexer run %d ended before the kill: %s", i, c.output())
		}
		r.Poll(t, 100*time.Millisecond)
		if len(r.Recs) > before {
			progressed++
		}
	}
	// Killed runs must have been streaming, not just starting up.
	if progressed < kills/2 {
		t.Fatalf("only %d of %d killed runs published anything", progressed, kills)
	}
	close(stopMining)
	<-mined
	head := headOf()

	// The last run catches up to the head and stops cleanly on SIGTERM.
	c := startChild(t, args...)
	r.Until(t, 60*time.Second, fmt.Sprintf("block %d", head), func(recs []*events.Record) bool {
		tip, _, err := indexertest.Replay(recs, r.Raw[:len(recs)])
		return err == nil && len(tip) > 0 && tip[len(tip)-1].Number == head
	})
	c.cmd.Process.Signal(syscall.SIGTERM)
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("indexer did not stop cleanly: %v\n%s", err, c.output())
	}

	tip, dups, err := indexertest.Replay(r.Recs, r.Raw)
	if err != nil {
		t.Fatal(err)
	}
	// The node's blocks from 1 to the head (a Solana node skips slots).
	want := 0
	for n := uint64(1); n <= head; n++ {
		if _, err := hashOf(n); err == nil {
			want++
		}
	}
	if len(tip) != want {
		t.Fatalf("replayed chain has %d blocks, node has %d", len(tip), want)
	}
	deposits := 0
	prev := uint64(0)
	for i, b := range tip {
		if b.Number <= prev {
			t.Fatalf("out of order: position %d holds block %d after %d", i, b.Number, prev)
		}
		prev = b.Number
		h, err := hashOf(b.Number)
		if err != nil || h != b.Hash {
			t.Fatalf("block %d: replay has %s, node has %s (%v)", b.Number, b.Hash, h, err)
		}
	}
	disconnects := 0
	for _, x := range r.Recs {
		if x.Type == events.TypeBlockDisconnected {
			disconnects++
		}
		if x.Type == events.TypeBlockConnected {
			deposits += len(x.Transfers)
		}
	}
	// Disconnections appear only if the indexer had published the orphaned
	// blocks before the reorg; either way the replay above must match.
	if deposits == 0 {
		t.Error("no deposit was matched")
	}
	t.Logf("%s: %d kills (%d mid-stream), head %d, %d records, %d duplicates, %d disconnections", id, kills, progressed, head, len(r.Recs), dups, disconnects)
}

// TestKill9Bitcoin is TestKill9 on bitcoin-regtest: a real btcd mining
// every 30ms, a P2WPKH deposit in every third block (and a coinbase to the
// watched address), a real reorg on the way.
func TestKill9Bitcoin(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	if _, err := devbtc.FindBtcd(); err != nil {
		testenv.Missing(t, "btcd", "make build builds it into bin/")
	}
	kb, err := broker.Start(broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	kcfg := kafka.Config{Brokers: kb.Addrs()}
	dn, err := devbtc.Start(devbtc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer dn.Close()
	admin, _ := kafka.NewAdmin(kcfg)
	if err := kafka.EnsureTopics(context.Background(), admin, kafka.AddressesTopic(), kafka.ChainTopic(devbtc.ChainID)); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	watchedAddr := devbtc.DevAddress(0)
	script, err := devbtc.ParseAddress(watchedAddr)
	if err != nil {
		t.Fatal(err)
	}
	indexertest.Watch(t, kcfg, events.AddressRecord{Address: chain.MustAddress(chain.FamilyBitcoin, script), ID: 78})
	stopMining := make(chan struct{})
	mined := make(chan struct{})
	go func() {
		defer close(mined)
		for i := 0; ; i++ {
			select {
			case <-stopMining:
				return
			case <-time.After(30 * time.Millisecond):
			}
			switch {
			case i == 40:
				if _, err := dn.Reorg(3, false); err != nil {
					t.Errorf("reorg: %v", err)
				}
				continue
			case i == 20:
				if _, _, err := dn.MineTo(script); err != nil {
					t.Errorf("coinbase: %v", err)
				}
				continue
			case i%3 == 0:
				if _, err := dn.Transfer(watchedAddr, "BTC", fmt.Sprintf("0.%04d", i+1)); err != nil {
					t.Errorf("transfer: %v", err)
				}
			}
			if _, err := dn.Mine(1); err != nil {
				t.Errorf("mine: %v", err)
			}
		}
	}()
	killAndReplay(t, kcfg, devbtc.ChainID, dn.URL(), stopMining, mined, dn.Head, dn.BlockHash)
}

// TestKill9Tron is TestKill9 on the Tron devnet: blocks every 20ms over
// gRPC, a USDT (TRC20) or TRX deposit in every third, a failed one now and
// then, a reorg on the way.
func TestKill9Tron(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	kb, err := broker.Start(broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	kcfg := kafka.Config{Brokers: kb.Addrs()}
	dn, err := devtron.Start(devtron.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer dn.Close()
	admin, _ := kafka.NewAdmin(kcfg)
	if err := kafka.EnsureTopics(context.Background(), admin, kafka.AddressesTopic(), kafka.ChainTopic(devtron.ChainID)); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	watched := devtron.DevAddresses(1)[0]
	indexertest.Watch(t, kcfg, events.AddressRecord{Address: watched, ID: 79})
	stopMining := make(chan struct{})
	mined := make(chan struct{})
	go func() {
		defer close(mined)
		for i := 0; ; i++ {
			select {
			case <-stopMining:
				return
			case <-time.After(20 * time.Millisecond):
			}
			switch {
			case i == 60:
				if _, err := dn.Reorg(4, false); err != nil {
					t.Errorf("reorg: %v", err)
				}
				continue
			case i%9 == 0:
				dn.TransferFailing(watched.String(), i%2 == 0)
			case i%3 == 0:
				cur := "USDT"
				if i%2 == 0 {
					cur = "TRX"
				}
				if _, err := dn.Transfer(watched.String(), cur, fmt.Sprint(i+1)); err != nil {
					t.Errorf("transfer: %v", err)
				}
			}
			dn.Mine(1)
		}
	}()
	killAndReplay(t, kcfg, devtron.ChainID, dn.URL(), stopMining, mined, dn.Head, dn.BlockID)
}

// TestKill9Solana is TestKill9 on the Solana devnet: a block every 20ms
// with skipped slots, SOL, USDT (into the owner's associated token
// account) and inner (router) deposits, failed transfers, a fork on the
// way.
func TestKill9Solana(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	kb, err := broker.Start(broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	kcfg := kafka.Config{Brokers: kb.Addrs()}
	dn, err := devsol.Start(devsol.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer dn.Close()
	admin, _ := kafka.NewAdmin(kcfg)
	if err := kafka.EnsureTopics(context.Background(), admin, kafka.AddressesTopic(), kafka.ChainTopic(devsol.ChainID)); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	watched := devsol.DevAddresses(1)[0]
	indexertest.Watch(t, kcfg, events.AddressRecord{Address: watched, ID: 83})
	stopMining := make(chan struct{})
	mined := make(chan struct{})
	go func() {
		defer close(mined)
		for i := 0; ; i++ {
			select {
			case <-stopMining:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var err error
			switch {
			case i == 60:
				if _, err := dn.Reorg(4, false); err != nil {
					t.Errorf("reorg: %v", err)
				}
				continue
			case i%9 == 0:
				_, err = dn.TransferFailing(watched.String(), 10)
			case i%7 == 0:
				_, err = dn.TransferViaRouter(watched.String(), uint64(i+1))
			case i%3 == 0:
				cur := "USDT"
				if i%2 == 0 {
					cur = "SOL"
				}
				_, err = dn.Transfer(watched.String(), cur, fmt.Sprint(i+1))
			}
			if err != nil {
				t.Errorf("transfer: %v", err)
			}
			dn.Mine(1)
		}
	}()
	killAndReplay(t, kcfg, devsol.ChainID, dn.URL(), stopMining, mined, dn.Head, func(n uint64) (chain.Hash, error) {
		h, ok := dn.BlockHash(n)
		if !ok {
			return chain.Hash{}, fmt.Errorf("no block at slot %d", n)
		}
		return h, nil
	})
}
