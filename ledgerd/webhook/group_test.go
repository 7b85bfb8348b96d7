package webhook

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/inflowhq/inflow/ledgerd/store"
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
