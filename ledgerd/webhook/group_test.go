package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/events"
)

// TestGroupCommit: writes handed over while a batch commits go into the
// next batch together; each is durable when write returns; a write that
// fails fails alone.
func TestGroupCommit(t *testing.T) {
	db := newStore(t)
	const n = 16
	g := newGroupCommit(db, n)
	release := make(chan struct{})
	key := func(i int) []byte { return fmt.Appendf(nil, "test/%02d", i) }
	var wg sync.WaitGroup
	errs := make([]error, n+1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		// The first batch holds the committer until the others wait.
		errs[0] = g.write(func(b *store.Batch) error { <-release; return b.Set(key(0), []byte("v"), nil) })
	}()
	for g.batches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	bad := errors.New("this write fails")
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.write(func(b *store.Batch) error {
				if i == 7 {
					return bad
				}
				return b.Set(key(i), []byte("v"), nil)
			})
		}()
	}
	for len(g.in) < n {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	g.close()
	// One batch for the first write, one for the 16 gathered behind it
	// (which failed for write 7, and was then tried one write at a time).
	if got := g.batches.Load(); got != 2 {
		t.Fatalf("%d batches, want 2", got)
	}
	for i := 0; i <= n; i++ {
		ok, err := store.Has(db, key(i))
		if err != nil {
			t.Fatal(err)
		}
		if i == 7 {
			if !errors.Is(errs[i], bad) || ok {
				t.Fatalf("write 7: err %v, written %v; want its error and nothing written", errs[i], ok)
			}
			continue
		}
		if errs[i] != nil || !ok {
			t.Fatalf("write %d: err %v, written %v", i, errs[i], ok)
		}
	}
}

// TestLateRowDelivered: a delivery queued with a time before where the
// sender's rounds begin (a batch that took long to commit) is still found,
// by the next count of the whole queue.
func TestLateRowDelivered(t *testing.T) {
	defer func(d time.Duration) { countEvery = d }(countEvery)
	countEvery = 300 * time.Millisecond
	db := newStore(t)
	var mu sync.Mutex
	got := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("webhook-id")] = true
		mu.Unlock()
	}))
	defer srv.Close()
	var skew atomic.Int64
	s, err := New(db, Options{AllowLoopbackHTTP: true, Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	ep := store.Endpoint{ID: "we_1", Merchant: "m1", URL: srv.URL, Events: events.DepositEventTypes, Secret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef01234567"))}
	queue := func(id string) {
		t.Helper()
		if err := db.Write(func(b *store.Batch) error {
			if err := b.PutJSON(store.EndpointKey("m1", "we_1"), ep); err != nil {
				return err
			}
			ev := events.DepositEvent{ID: id, Type: events.DepositPending, MerchantID: "m1", Data: events.Deposit{DepositID: "dep_" + id, Amount: "1", Status: "pending"}}
			if err := b.Emit(ev); err != nil {
				return err
			}
			_, err := s.enqueue(b, &ep, &ev, "")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		s.Wake()
	}
	wait := func(id string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			ok := got[id]
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was not delivered", id)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Send(ctx) }()
	queue("evt_1")
	wait("evt_1")
	time.Sleep(100 * time.Millisecond) // rounds move on past evt_1
	skew.Store(int64(-time.Minute))
	queue("evt_late")
	skew.Store(0)
	wait("evt_late")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// TestEndpointCache: an endpoint is read from the cache until a batch
// writes an endpoint; the attempt after that reads the new one (its URL,
// its secret, or that it is gone).
func TestEndpointCache(t *testing.T) {
	db := newStore(t)
	s, err := New(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(url string) {
		t.Helper()
		ep := store.Endpoint{ID: "we_1", Merchant: "m1", URL: url}
		if err := db.Write(func(b *store.Batch) error { return b.PutJSON(store.EndpointKey("m1", "we_1"), ep) }); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want string) {
		t.Helper()
		ep, err := s.endpoint("m1", "we_1")
		if err != nil || ep.URL != want {
			t.Fatalf("endpoint: %q, %v; want %q", ep.URL, err, want)
		}
	}
	put("https://a.example/hooks")
	check("https://a.example/hooks")
	gen := db.EndpointsGen()
	// A batch that writes no endpoint leaves the cache as it is.
	if err := db.Write(func(b *store.Batch) error { return b.Set(store.EventKey("evt_1"), []byte("{}"), nil) }); err != nil {
		t.Fatal(err)
	}
	if db.EndpointsGen() != gen {
		t.Fatal("a batch without an endpoint moved the count")
	}
	check("https://a.example/hooks")
	put("https://b.example/hooks")
	check("https://b.example/hooks")
	if err := db.Write(func(b *store.Batch) error { return b.Delete(store.EndpointKey("m1", "we_1"), nil) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.endpoint("m1", "we_1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted endpoint: %v, want not found", err)
	}
	put("https://c.example/hooks")
	check("https://c.example/hooks")
	if err := db.Write(func(b *store.Batch) error {
		return b.DeleteRange(store.EndpointPrefix("m1"), store.PrefixEnd(store.EndpointPrefix("m1")), nil)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.endpoint("m1", "we_1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an endpoint deleted with its range: %v, want not found", err)
	}
}
