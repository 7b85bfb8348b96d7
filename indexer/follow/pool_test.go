package follow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/kv"
)

// faultyNode is a node of a Pool test: a chain, and a fault.
type faultyNode struct {
	mu    sync.Mutex
	c     *fakeChain
	fault string // "", "stall", "error", "stale"
	stale uint64 // the head a stale node keeps serving
}

func (n *faultyNode) set(fault string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fault = fault
	if fault == "stale" {
		n.stale, _ = n.c.Head(context.Background())
	}
}

func (n *faultyNode) get() (string, uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fault, n.stale
}

func (n *faultyNode) Head(ctx context.Context) (uint64, error) {
	switch fault, stale := n.get(); fault {
	case "stall":
		<-ctx.Done()
		return 0, ctx.Err()
	case "error":
		return 0, errors.New("503 service unavailable")
	case "stale":
		return stale, nil
	}
	return n.c.Head(ctx)
}

func (n *faultyNode) FetchBlock(ctx context.Context, num uint64) (*chain.Block, error) {
	switch fault, stale := n.get(); fault {
	case "stall":
		<-ctx.Done()
		return nil, ctx.Err()
	case "error":
		return nil, errors.New("503 service unavailable")
	case "stale":
		if num > stale {
			return nil, ErrNotFound
		}
	}
	return n.c.FetchBlock(ctx, num)
}

// threeNodes: two honest nodes on one chain, and a third on a copy of it
// that can fork away.
func threeNodes(t *testing.T, reg prometheus.Registerer) (*Pool, *fakeChain, *fakeChain, []*faultyNode) {
	t.Helper()
	honest, other := newFakeChain(), newFakeChain()
	honest.mine(10, 0, nil)
	other.mine(10, 0, nil)
	nodes := []*faultyNode{{c: honest}, {c: honest}, {c: other}}
	var pn []PoolNode
	for i, n := range nodes {
		pn = append(pn, PoolNode{Name: fmt.Sprintf("node-%c", 'a'+i), Source: n})
	}
	p, err := NewPool("test-chain", pn, PoolConfig{MaxLag: 3, Timeout: 50 * time.Millisecond, Rest: time.Hour}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	return p, honest, other, nodes
}

func TestPoolQuorumHead(t *testing.T) {
	ctx := context.Background()
	for _, fault := range []string{"stall", "error", "stale", "fork"} {
		t.Run(fault, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			p, honest, other, nodes := threeNodes(t, reg)
			if h, err := p.Head(ctx); err != nil || h != 10 {
				t.Fatalf("head %d, %v", h, err)
			}
			switch fault {
			case "fork":
				// The third node reorganises onto a longer branch of its own.
				other.reorg(3)
				other.mine(12, 0, nil) // head 19, its own from 8 on
			default:
				nodes[2].set(fault)
			}
			honest.mine(5, 0, nil) // the honest head: 15
			if fault == "stale" {
				other.mine(5, 0, nil)
			}
			h, err := p.Head(ctx)
			if err != nil || h != 15 {
				t.Fatalf("with a %s node the head is %d, %v; want 15, the honest nodes'", fault, h, err)
			}
			if v := testutil.ToFloat64(p.m.healthy.WithLabelValues("node-c")); v != 0 {
				t.Errorf("the %s node is healthy (%v)", fault, v)
			}
			if v := testutil.ToFloat64(p.m.healthy.WithLabelValues("node-a")); v != 1 {
				t.Errorf("an honest node is not healthy")
			}
			st := p.Status()
			if st[2].Healthy || st[2].Reason == "" {
				t.Errorf("status of the %s node: %+v", fault, st[2])
			}
			// Blocks come from the honest nodes.
			b, err := p.FetchBlock(ctx, 12)
			want, _ := honest.FetchBlock(ctx, 12)
			if err != nil || b.Ref.Hash != want.Ref.Hash {
				t.Fatalf("block 12: %v, %v", b, err)
			}
			// With one honest node gone as well there is no quorum: the
			// head does not move on one node's word.
			nodes[1].set("error")
			honest.mine(1, 0, nil)
			if h, err := p.Head(ctx); !errors.Is(err, ErrNoQuorum) {
				t.Fatalf("one healthy node of three: head %d, %v; want ErrNoQuorum", h, err)
			}
			if v := testutil.ToFloat64(p.m.quorum); v != 0 {
				t.Errorf("quorum gauge %v without a quorum", v)
			}
		})
	}
}

// TestPoolFollower: a follower over three nodes, one of which stalls,
// forks onto a longer branch, or lags, publishes exactly the honest chain,
// and its followed head never goes past the honest head.
func TestPoolFollower(t *testing.T) {
	for _, fault := range []string{"stall", "fork", "stale"} {
		t.Run(fault, func(t *testing.T) {
			p, honest, other, nodes := threeNodes(t, nil)
			db, err := kv.Open("db", vfs.NewMem(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			from := uint64(1)
			pub := &memPublisher{}
			f, err := New(Config{Chain: "test-chain", Family: chain.FamilyEVM, From: &from, WindowSize: 32, MaxReorgDepth: 8, MaxBatch: 4, Fetchers: 2},
				p, watchSet{}, pub, db, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.load(); err != nil {
				t.Fatal(err)
			}
			run := func() {
				for i := 0; i < 40; i++ {
					if progressed, err := f.step(context.Background()); err != nil || !progressed {
						return
					}
				}
			}
			run()
			switch fault {
			case "fork":
				other.reorg(4)
				other.mine(20, 0, nil)
			default:
				nodes[2].set(fault)
			}
			for round := 0; round < 5; round++ {
				honest.mine(2, 0, nil)
				if fault == "stale" {
					other.mine(2, 0, nil)
				}
				run()
				head, _ := honest.Head(context.Background())
				if tip, _ := f.Checkpoint(); tip.Number > head {
					t.Fatalf("the followed head %d is past the honest head %d", tip.Number, head)
				}
			}
			head, _ := honest.Head(context.Background())
			tip, _ := f.Checkpoint()
			if tip.Number != head {
				t.Errorf("followed %d, the honest head is %d", tip.Number, head)
			}
			for _, r := range pub.recs {
				want, err := honest.FetchBlock(context.Background(), r.Number)
				if err != nil || want.Ref.Hash != r.Hash || r.Type != 1 {
					t.Fatalf("published %s, not the honest chain's block", r)
				}
			}
			if st := p.Status(); st[2].Healthy || !strings.Contains(st[2].Reason, map[string]string{"stall": "error", "fork": "another fork", "stale": "lagging"}[fault]) {
				t.Errorf("the %s node: %+v", fault, st[2])
			}
		})
	}
}

// TestPoolOneNode: a pool of one node is that node.
func TestPoolOneNode(t *testing.T) {
	c := newFakeChain()
	c.mine(4, 0, nil)
	p, err := NewPool("test-chain", []PoolNode{{Name: "only", Source: c}}, PoolConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := p.Head(context.Background()); err != nil || h != 4 {
		t.Fatalf("head %d, %v", h, err)
	}
	if _, err := NewPool("test-chain", []PoolNode{{Name: "only", Source: c}}, PoolConfig{Quorum: 2}, nil, nil); err == nil {
		t.Error("a quorum of 2 over one node accepted")
	}
}
