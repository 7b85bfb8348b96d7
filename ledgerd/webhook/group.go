package webhook

import (
	"sync/atomic"

	"github.com/inflowhq/inflow/ledgerd/store"
)

// groupCommit writes the delivery workers' bookkeeping in shared synced
// batches: one committer takes every write handed to it while the last
// batch was committing, and commits them together. A worker's write is
// durable when write returns nil, as with store.DB.Write.
type groupCommit struct {
	db   *store.DB
	in   chan groupWrite
	done chan struct{}
	// batches counts the batches committed (a test reads it).
	batches atomic.Int64
}

type groupWrite struct {
	fn  func(b *store.Batch) error
	err chan error
}

// maxGroup bounds one batch; with the default 16 workers it is never hit.
const maxGroup = 256

func newGroupCommit(db *store.DB, workers int) *groupCommit {
	g := &groupCommit{db: db, in: make(chan groupWrite, workers), done: make(chan struct{})}
	go g.run()
	return g
}

// write hands fn to the committer and waits for its batch to be durable.
// Call it only before close.
func (g *groupCommit) write(fn func(b *store.Batch) error) error {
	w := groupWrite{fn: fn, err: make(chan error, 1)}
	g.in <- w
	return <-w.err
}

// close stops the committer once every write handed to it is committed.
func (g *groupCommit) close() {
	close(g.in)
	<-g.done
}

func (g *groupCommit) run() {
	defer close(g.done)
	group := make([]groupWrite, 0, maxGroup)
	for w := range g.in {
		group = append(group[:0], w)
	gather:
		for len(group) < maxGroup {
			select {
			case w, ok := <-g.in:
				if !ok {
					break gather
				}
				group = append(group, w)
			default:
				break gather
			}
		}
		g.batches.Add(1)
		err := g.db.Write(func(b *store.Batch) error {
			for _, w := range group {
				if err := w.fn(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil && len(group) > 1 {
			// One write's failure is not the others': each is tried alone.
			for _, w := range group {
				w.err <- g.db.Write(w.fn)
			}
			continue
		}
		for _, w := range group {
			w.err <- err
		}
	}
}
