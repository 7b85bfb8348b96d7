package follow

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/kv"
)

// recipientChain is a RecipientFetcher over a fakeChain: it asks want about
// each block's recipients (as a client reads them without extracting the
// block) and counts the blocks it had to extract.
type recipientChain struct {
	*fakeChain
	mu        sync.Mutex
	extracted map[uint64]bool
}

func (c *recipientChain) FetchBlockFor(ctx context.Context, n uint64, want func([][]byte) bool) (*chain.Block, error) {
	b, err := c.FetchBlock(ctx, n)
	if err != nil {
		return b, err
	}
	var addrs [][]byte
	for _, t := range b.Transfers {
		addrs = append(addrs, []byte(t.To.Raw()))
	}
	if !want(addrs) {
		return &chain.Block{Ref: b.Ref}, nil
	}
	c.mu.Lock()
	c.extracted[n] = true
	c.mu.Unlock()
	return b, nil
}

// TestRescanRecipients: a rescan through a RecipientFetcher publishes what
// one through FetchBlock does, with and without Keep, and extracts only the
// blocks holding a recipient it keeps.
func TestRescanRecipients(t *testing.T) {
	fc := newFakeChain()
	tr := func(to byte, v uint64) chain.Transfer {
		return chain.Transfer{TxHash: []byte{to, byte(v)}, Kind: chain.KindNative, Index: chain.IndexNative, From: addr(9), To: addr(to), Value: chain.AmountFromUint64(v)}
	}
	fc.mine(1, 0, []chain.Transfer{tr(1, 1), tr(3, 2)}) // 1: watched 1, stranger 3
	fc.mine(1, 0, []chain.Transfer{tr(3, 3)})           // 2: a stranger only
	fc.mine(1, 0, nil)                                  // 3: nothing
	fc.mine(1, 0, []chain.Transfer{tr(2, 4)})           // 4: watched 2
	fc.mine(1, 0, []chain.Transfer{tr(4, 5), tr(1, 6)}) // 5: a stranger, watched 1
	watch := watchSet{addr(1): 101, addr(2): 102}
	for _, keep := range []func(uint64) bool{nil, func(id uint64) bool { return id == 102 }} {
		run := func(src BlockFetcher) (*memPublisher, RescanProgress) {
			db, err := kv.Open("db", vfs.NewMem(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			pub := &memPublisher{}
			p, err := Rescan(context.Background(), RescanConfig{Chain: "evm-devnet", Family: chain.FamilyEVM, From: 1, To: 5, Keep: keep, Fetchers: 2}, src, watch, pub, db)
			if err != nil {
				t.Fatal(err)
			}
			return pub, p
		}
		plain, pp := run(fc)
		rc := &recipientChain{fakeChain: fc, extracted: map[uint64]bool{}}
		got, gp := run(rc)
		if !reflect.DeepEqual(plain.recs, got.recs) || pp != gp {
			t.Fatalf("keep %v: through recipients %d records %+v, through FetchBlock %d %+v", keep != nil, len(got.recs), gp, len(plain.recs), pp)
		}
		want := map[uint64]bool{1: true, 4: true, 5: true}
		if keep != nil {
			want = map[uint64]bool{4: true}
		}
		if !reflect.DeepEqual(rc.extracted, want) || len(got.recs) != len(want) {
			t.Fatalf("keep %v: extracted %v, want %v; %d records", keep != nil, rc.extracted, want, len(got.recs))
		}
	}
}

// TestPoolFetchBlockFor: a pool reads a block for some recipients through
// a node that can (RecipientFetcher), and through FetchBlock from one that
// cannot.
func TestPoolFetchBlockFor(t *testing.T) {
	fc := newFakeChain()
	fc.mine(1, 0, []chain.Transfer{{TxHash: []byte{1}, Kind: chain.KindNative, Index: chain.IndexNative, From: addr(9), To: addr(1), Value: chain.AmountFromUint64(1)}})
	none := func([][]byte) bool { return false }
	rc := &recipientChain{fakeChain: fc, extracted: map[uint64]bool{}}
	for _, c := range []struct {
		src       Source
		transfers int
	}{{rc, 0}, {fc, 1}} {
		p, err := NewPool("test-chain", []PoolNode{{Name: "only", Source: c.src}}, PoolConfig{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := p.FetchBlockFor(context.Background(), 1, none)
		if err != nil || b.Ref.Number != 1 || len(b.Transfers) != c.transfers {
			t.Fatalf("%T: %+v, %v; want %d transfers", c.src, b, err, c.transfers)
		}
	}
}
