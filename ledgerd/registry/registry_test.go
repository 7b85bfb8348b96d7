package registry

import (
	"crypto/sha256"
	"fmt"
	"io"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

func newRegistry(t *testing.T) (*Registry, *store.DB) {
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

func merchantWithPool(t *testing.T, r *Registry, name string, pool []chain.Address) string {
	t.Helper()
	var id string
	err := r.Write(func(b *store.Batch) error {
		m, _, err := r.CreateMerchant(b, name, true, "")
		if err != nil {
			return err
		}
		id = m.ID
		_, err = r.Import(b, m.ID, chain.FamilyEVM, pool)
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
