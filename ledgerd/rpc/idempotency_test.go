package rpc

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/ledgerd/webhook"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// syncFS calls after on every sync of a file, once the sync has returned:
// the moment a crash can leave exactly what is on disk then.
type syncFS struct {
	vfs.FS
	after func()
}

type syncFile struct {
	vfs.File
	after func()
}

func (f syncFile) Sync() error { err := f.File.Sync(); f.after(); return err }
func (f syncFile) SyncData() error {
	err := f.File.SyncData()
	f.after()
	return err
}
func (f syncFile) SyncTo(n int64) (bool, error) {
	full, err := f.File.SyncTo(n)
	f.after()
	return full, err
}

func (s syncFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := s.FS.Create(name, c)
	return syncFile{f, s.after}, err
}

func (s syncFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := s.FS.ReuseForWrite(oldname, newname, c)
	return syncFile{f, s.after}, err
}

func (s syncFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := s.FS.OpenReadWrite(name, c, opts...)
	return syncFile{f, s.after}, err
}

// TestIdempotencyCrash crashes ledgerd's store at every sync while
// idempotent binds run, and checks each crash: a reference that was bound
// has the idempotency record of the request that bound it, so a retry after
// the crash replays the answer instead of binding a second address.
func TestIdempotencyCrash(t *testing.T) {
	mem := vfs.NewCrashableMem()
	var mu sync.Mutex
	var crashes []*vfs.MemFS
	recording := false
	fs := syncFS{FS: mem, after: func() {
		mu.Lock()
		rec := recording
		mu.Unlock()
		if rec {
			c := mem.CrashClone(vfs.CrashCloneCfg{})
			mu.Lock()
			crashes = append(crashes, c)
			mu.Unlock()
		}
	}}
	pdb, err := store.OpenPebble("ledger", fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := store.Wrap(pdb)
	table := assets.Default()
	reg, err := registry.New(db, table, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := webhook.New(db, webhook.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(db, reg, hooks, table, Options{Token: "idempotency-test-token"})
	if err != nil {
		t.Fatal(err)
	}
	var merchant string
	var pool []chain.Address
	for i := 0; i < 10; i++ {
		var a [20]byte
		a[0], a[19] = 1, byte(i+1)
		pool = append(pool, chain.EVMAddress(a))
	}
	err = db.Write(func(b *store.Batch) error {
		m, _, err := reg.CreateMerchant(b, "shop", true, "")
		if err != nil {
			return err
		}
		merchant = m.ID
		_, err = reg.Import(b, m.ID, merchantapi.Import{Family: chain.FamilyEVM, Addresses: pool})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	bind := func(i int) int {
		body := fmt.Sprintf(`{"depositReference":"user-%d","currency":"USDT","chainId":"evm-devnet"}`, i)
		req := httptest.NewRequest("POST", "/internal/v1/deposits/references", strings.NewReader(body))
		req.Header.Set(HeaderToken, "idempotency-test-token")
		req.Header.Set(HeaderMerchant, merchant)
		req.Header.Set("Idempotency-Key", fmt.Sprintf("key-%d", i))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	mu.Lock()
	recording = true
	mu.Unlock()
	const n = 5
	for i := 0; i < n; i++ {
		if st := bind(i); st != http.StatusCreated {
			t.Fatalf("bind %d: %d", i, st)
		}
	}
	mu.Lock()
	recording = false
	got := crashes
	mu.Unlock()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if len(got) < n {
		t.Fatalf("only %d syncs during %d binds", len(got), n)
	}
	for ci, c := range got {
		pdb, err := store.OpenPebble("ledger", c, nil)
		if err != nil {
			t.Fatalf("crash %d: %v", ci, err)
		}
		db := store.Wrap(pdb)
		for i := 0; i < n; i++ {
			ref := fmt.Sprintf("user-%d", i)
			_, refErr := registry.GetReference(db, merchant, ref)
			ok, err := store.Has(db, store.IdempotencyKey(merchant, fmt.Sprintf("key-%d", i)))
			if err != nil {
				t.Fatal(err)
			}
			if refErr == nil && !ok {
				t.Errorf("crash %d of %d: %s is bound but the request's idempotency record is lost: a retry would bind again", ci, len(got), ref)
			}
			if refErr != nil && ok {
				t.Errorf("crash %d: the idempotency record of %s survived without its binding", ci, ref)
			}
		}
		db.Close()
	}
	t.Logf("%d crash points checked", len(got))
}

// TestIdempotencyExpiry: records expire after IdempotencyTTL and are swept
// with their count; the lock map holds no key once its requests are done.
func TestIdempotencyExpiry(t *testing.T) {
	pdb, err := store.OpenPebble("ledger", vfs.NewMem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := store.Wrap(pdb)
	defer db.Close()
	table := assets.Default()
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { return clock }
	reg, _ := registry.New(db, table, registry.Options{Now: now})
	hooks, _ := webhook.New(db, webhook.Options{})
	srv, err := New(db, reg, hooks, table, Options{Token: "idempotency-test-token", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var merchant string
	db.Write(func(b *store.Batch) error {
		m, _, err := reg.CreateMerchant(b, "shop", true, "")
		merchant = m.ID
		return err
	})
	h := srv.Handler()
	post := func(key, url string) (int, string) {
		req := httptest.NewRequest("POST", "/internal/v1/webhooks/endpoints", strings.NewReader(`{"url":"`+url+`"}`))
		req.Header.Set(HeaderToken, "idempotency-test-token")
		req.Header.Set(HeaderMerchant, merchant)
		req.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Header().Get("Idempotent-Replayed")
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); post("k", "https://example.com/a") }()
	}
	wg.Wait()
	if n := srv.locks.held(); n != 0 {
		t.Errorf("%d keys still hold a lock after their requests", n)
	}
	eps, _ := registry.EndpointsOf(db, merchant)
	if len(eps) != 1 {
		t.Fatalf("8 concurrent requests with one key made %d endpoints", len(eps))
	}
	if st, replayed := post("k", "https://example.com/a"); st != 201 || replayed != "true" {
		t.Fatalf("within 24 h: %d replayed=%q", st, replayed)
	}
	clock = clock.Add(IdempotencyTTL + time.Minute)
	if n, err := srv.SweepIdempotency(); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if ok, _ := store.Has(db, store.IdempotencyKey(merchant, "k")); ok {
		t.Error("an expired record survived the sweep")
	}
	if c, _ := counter(db, store.MerchantCountKey(merchant, idemCount)); c != 0 {
		t.Errorf("count after the sweep: %d", c)
	}
	if st, replayed := post("k", "https://example.com/b"); st != 201 || replayed != "" {
		t.Errorf("the same key after it expired: %d replayed=%q, want a new request", st, replayed)
	}
}
