package solana

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/inflowhq/inflow/indexer/follow"
	"github.com/inflowhq/inflow/indexer/indexertest"
	"github.com/inflowhq/inflow/pkg/chain"
	devsol "github.com/inflowhq/inflow/pkg/devnet/solana"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kv"
)

type noneWatched struct{}

func (noneWatched) MatchBatch(chain.Family, [][]byte, []uint64) int { return 0 }

type memLog struct {
	mu   sync.Mutex
	recs []*events.Record
}

func (m *memLog) Publish(_ context.Context, recs []*events.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, recs...)
	return nil
}

// chain is the blocks the log leaves connected, by slot, applied as a
// consumer applies them (indexertest.Replay).
func (m *memLog) chain(t *testing.T) map[uint64]chain.Hash {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	raw := make([][]byte, len(m.recs))
	for i, r := range m.recs {
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		raw[i] = b
	}
	tip, _, err := indexertest.Replay(m.recs, raw)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]chain.Hash{}
	for _, b := range tip {
		out[b.Number] = b.Hash
	}
	return out
}

// TestFollowAcrossChangedSkips: the client's list of skipped slots (read
// with getBlocks while backfilling) was read before a reorg, and the new
// fork fills a slot the list says is empty; one of the follower's batches
// ends on that slot. The follower passes it over, then meets its block as
// the next block's parent: the reorg walk finds the tip canonical, and the
// slots after the tip are read again. (Before, the follower went on from
// past the slot, met the same parent, and never moved again: the soak's
// Solana transfers stopped being credited.)
func TestFollowAcrossChangedSkips(t *testing.T) {
	d, err := devsol.Start(devsol.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	if _, err := d.Mine(60); err != nil {
		t.Fatal(err)
	}
	// A reorg of the head leaves its slot a skipped on the new fork.
	a := d.Head()
	if _, err := d.Reorg(1, false); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.BlockHash(a); ok {
		t.Fatalf("slot %d, the replaced head, has a block on the new fork", a)
	}
	if _, err := d.Mine(20); err != nil {
		t.Fatal(err)
	}
	from := a - 15
	c := mustDial(t, ClientOptions{URL: d.URL()})
	// Far enough below the head, the client reads the skip list from
	// `from` on: it says a is empty.
	if _, err := c.Head(ctx); err != nil {
		t.Fatal(err)
	}
	c.skipped(ctx, from)
	c.mu.Lock()
	listed := c.skips[a]
	c.mu.Unlock()
	if !listed {
		t.Fatalf("the skip list read from slot %d does not name slot %d", from, a)
	}
	// A deeper reorg, from a block between from and a above the finalized
	// slot, with a block left between it and a: the new fork fills a.
	var blocks []uint64
	for s := max(from, d.Finalized()+1); s < a; s++ {
		if _, ok := d.BlockHash(s); ok {
			blocks = append(blocks, s)
		}
	}
	if len(blocks) < 3 {
		t.Fatalf("only %d blocks between %d and %d", len(blocks), from, a)
	}
	first := blocks[len(blocks)-3]
	depth := 0
	for s := first; s <= d.Head(); s++ {
		if _, ok := d.BlockHash(s); ok {
			depth++
		}
	}
	if _, err := d.Reorg(depth, false); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.BlockHash(a); !ok {
		t.Fatalf("slot %d has no block on the fork from %d either", a, first)
	}
	// The head moves on: slot a is again far below it, where the list
	// (still fresh) is asked instead of the node.
	if _, err := d.Mine(40); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Head(ctx); err != nil {
		t.Fatal(err)
	}
	if !c.skipped(ctx, a) {
		t.Fatal("the skip list was not kept: the case this test builds does not arise")
	}

	db, err := kv.Open("db", vfs.NewMem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pub := &memLog{}
	f, err := follow.New(follow.Config{Chain: "solana-localnet", Family: chain.FamilySolana, From: &from,
		MaxBatch: int(a - from + 1), Fetchers: 4, WindowSize: 64, MaxReorgDepth: 32, PollInterval: 20 * time.Millisecond},
		c, noneWatched{}, pub, db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(rctx) }()
	head := d.Head()
	deadline := time.Now().Add(15 * time.Second)
	for {
		tip, _ := f.Checkpoint()
		if tip.Number == head {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("the follower stopped at slot %d (the head is %d, the slot passed over %d)", tip.Number, head, a)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil && err != context.Canceled {
		t.Fatal(err)
	}
	// The log leaves exactly the devnet's blocks from `from` to the head.
	got := pub.chain(t)
	for s := from; s <= head; s++ {
		want, ok := d.BlockHash(s)
		if h, have := got[s]; ok != have || ok && h != want {
			t.Errorf("slot %d: the log has %x (%v), the devnet %x (%v)", s, h, have, want, ok)
		}
	}
	if _, ok := got[a]; !ok {
		t.Errorf("slot %d's block is not in the log", a)
	}
}
