package registry

import (
	"crypto/sha256"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

func newRegistry(t testing.TB) (*Registry, *store.DB) {
	t.Helper()
	pdb, err := store.OpenPebble("db", vfs.NewMem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := store.Wrap(pdb)
	t.Cleanup(func() { db.Close() })
	r, err := New(db, assets.Default(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r, db
}

func addresses(prefix string, n int) []chain.Address {
	out := make([]chain.Address, n)
	for i := range out {
		h := sha256.Sum256(fmt.Appendf(nil, "%s-%d", prefix, i))
		var a [20]byte
		copy(a[:], h[:])
		out[i] = chain.EVMAddress(a)
	}
	return out
}

func merchantWithPool(t testing.TB, r *Registry, name string, pool []chain.Address) string {
	t.Helper()
	var id string
	err := r.Write(func(b *store.Batch) error {
		m, _, err := r.CreateMerchant(b, name, true, "")
		if err != nil {
			return err
		}
		id = m.ID
		_, err = r.Import(b, m.ID, merchantapi.Import{Family: chain.FamilyEVM, Addresses: pool})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// countingReader counts the rows a read looks at.
type countingReader struct {
	store.Reader
	gets int
}

func (c *countingReader) Get(k []byte) ([]byte, io.Closer, error) {
	c.gets++
	return c.Reader.Get(k)
}

func (c *countingReader) NewIter(o *pebble.IterOptions) (*pebble.Iterator, error) {
	return c.Reader.NewIter(o)
}

// TestListAddressesOwnPool: a merchant's listing reads its own pool, not
// every merchant's.
func TestListAddressesOwnPool(t *testing.T) {
	r, db := newRegistry(t)
	merchantWithPool(t, r, "big", addresses("big", 2000))
	small := merchantWithPool(t, r, "small", addresses("small", 3))
	cr := &countingReader{Reader: db}
	rows, pg, err := r.ListAddresses(cr, small, "", chain.FamilyUnknown, merchantapi.Page{Page: 1, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || pg.Total != 3 {
		t.Fatalf("small's pool: %d rows, total %d", len(rows), pg.Total)
	}
	if cr.gets > 10 {
		t.Errorf("listing a pool of 3 read %d rows: other merchants' pools are read", cr.gets)
	}
}

// TestIndexPools: a store written before the per-merchant index gets it
// when the registry opens.
func TestIndexPools(t *testing.T) {
	r, db := newRegistry(t)
	m := merchantWithPool(t, r, "old", addresses("old", 5))
	// Take the store back to how an earlier version left it.
	err := db.Write(func(b *store.Batch) error {
		p := store.MerchantPoolPrefix(m)
		if err := b.DeleteRange(p, store.PrefixEnd(p), nil); err != nil {
			return err
		}
		return b.Delete(store.CounterKey(poolIndexMark), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows, _, _ := r.ListAddresses(db, m, "", chain.FamilyUnknown, merchantapi.Page{Page: 1, Limit: 100}); len(rows) != 0 {
		t.Fatalf("%d rows without the index", len(rows))
	}
	r2, err := New(db, assets.Default(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rows, _, _ := r2.ListAddresses(db, m, "", chain.FamilyUnknown, merchantapi.Page{Page: 1, Limit: 100}); len(rows) != 5 {
		t.Fatalf("%d rows after the index was built, want 5", len(rows))
	}
}

// TestAvailableQueue: binds take addresses first in, first out; an address
// back from its cooldown joins the end of the queue, after every address
// that was waiting; the queue seeks past the addresses taken.
func TestAvailableQueue(t *testing.T) {
	pdb, err := store.OpenPebble("db", vfs.NewMem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := store.Wrap(pdb)
	defer db.Close()
	clock := time.Unix(1_800_000_000, 0)
	r, err := New(db, assets.Default(), Options{Now: func() time.Time { return clock }, Cooldown: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	pool := addresses("fifo", 5)
	m := merchantWithPool(t, r, "fifo", pool)
	bind := func(ref string) string {
		t.Helper()
		req := merchantapi.BindRequest{DepositReference: ref, Currency: "USDT", ChainID: "evm-devnet"}
		resp, err := Do(r, func(b *store.Batch) (*BindResponse, error) { return r.Bind(b, m, req) })
		if err != nil {
			t.Fatal(err)
		}
		return resp.Address
	}
	if a := bind("a"); a != pool[0].Checksummed() {
		t.Fatalf("first bind took %s, want the first imported", a)
	}
	if _, err := Do(r, func(b *store.Batch) (*UnbindResponse, error) { return r.Unbind(b, m, "a", "") }); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(2 * time.Minute) // the cooldown is over
	for i, want := range []chain.Address{pool[1], pool[2], pool[3], pool[4], pool[0]} {
		if got := bind(fmt.Sprintf("r%d", i)); got != want.Checksummed() {
			t.Fatalf("bind %d took %s, want %s", i, got, want.Checksummed())
		}
	}
	q, err := store.GetAvailQueue(db, m, chain.FamilyEVM)
	if err != nil || q.Given != 6 || q.Taken != 6 {
		t.Fatalf("queue: %+v %v", q, err)
	}
	req := merchantapi.BindRequest{DepositReference: "none-left", Currency: "USDT", ChainID: "evm-devnet"}
	if _, err := Do(r, func(b *store.Batch) (*BindResponse, error) { return r.Bind(b, m, req) }); err == nil {
		t.Fatal("a bind with the pool empty")
	}
}

// BenchmarkBind binds into a pool that has had many binds: a bind costs the
// same whatever came before it (it seeks past the taken addresses' deletes
// instead of scanning them).
func BenchmarkBind(b *testing.B) {
	pdb, err := store.OpenPebble("db", vfs.NewMem(), nil)
	if err != nil {
		b.Fatal(err)
	}
	db := store.Wrap(pdb)
	defer db.Close()
	r, err := New(db, assets.Default(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	m := merchantWithPool(b, r, "bench", addresses("bench", b.N+1000))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := merchantapi.BindRequest{DepositReference: fmt.Sprintf("u%d", i), Currency: "USDT", ChainID: "evm-devnet"}
		if err := r.Write(func(bt *store.Batch) error { _, err := r.Bind(bt, m, req); return err }); err != nil {
			b.Fatal(err)
		}
	}
}
