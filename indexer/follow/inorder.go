package follow

import (
	"context"
	"errors"
	"sync"

	"github.com/inflowhq/inflow/pkg/chain"
)

// FetchInOrder fetches blocks [from, to] with workers parallel fetches and
// calls each with every block in block order: nil for a number the chain
// has no block at (ErrSkipped), or the fetch's error, after which each
// decides (its error, or any, ends the fetch). prepare, if not nil, runs
// on each block in the fetching goroutine (the matcher's filter, say).
// Fetched blocks wait in a ring of 4×workers slots, so memory stays
// bounded however long the range. The operator's rescan and `indexer scan`
// read ranges with it.
func FetchInOrder(ctx context.Context, src BlockFetcher, from, to uint64, workers int, prepare func(*chain.Block),
	each func(n uint64, b *chain.Block, err error) error) error {
	if to < from {
		return nil
	}
	workers = max(workers, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		b   *chain.Block
		err error
	}
	window := uint64(workers * 4)
	slots := make([]chan result, window)
	for i := range slots {
		slots[i] = make(chan result, 1)
	}
	sem := make(chan struct{}, window)
	jobs := make(chan uint64)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range jobs {
				b, err := src.FetchBlock(ctx, n)
				if errors.Is(err, ErrSkipped) {
					b, err = nil, nil
				}
				if b != nil && prepare != nil {
					prepare(b)
				}
				select {
				case slots[(n-from)%window] <- result{b, err}:
				case <-ctx.Done():
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		for n := from; ; n++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- n:
			case <-ctx.Done():
				return
			}
			if n == to {
				return
			}
		}
	}()
	for n := from; ; n++ {
		var r result
		select {
		case r = <-slots[(n-from)%window]:
		case <-ctx.Done():
			return ctx.Err()
		}
		<-sem
		if err := each(n, r.b, r.err); err != nil {
			return err
		}
		if n == to {
			return nil
		}
	}
}
