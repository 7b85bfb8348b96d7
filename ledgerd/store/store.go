package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/inflowhq/inflow/pkg/kv"
)

// DB is ledgerd's database with its writer lock and its commit pipeline.
type DB struct {
	*pebble.DB
	mu sync.Mutex
	// pool is the log of pool keys (A/, I/, H/) committed, for the ledger's
	// cache of pool entries; guarded by mu.
	pool poolLog
	// counters holds every counter as the last batch handed to Pebble left
	// it, so that a batch prepared while that one commits continues from
	// it; guarded by mu.
	counters map[string]uint64
	// deferCommits makes a background commit wait until something waits
	// for it (DeferCommits); guarded by mu.
	deferCommits bool
	// durable is called after each background commit (NotifyDurable).
	durable func()
	// endpoints counts the committed batches that wrote webhook endpoints
	// (EndpointsGen).
	endpoints atomic.Uint64

	cmu sync.Mutex
	// last is the last batch handed to Pebble, committing or committed;
	// guarded by cmu. Batches are committed one at a time, in order, so when
	// it is durable so is every batch before it. A failed commit stays here
	// and fails every later write: the state on disk is then unknown.
	last *commit
}

// commit is one batch handed to Pebble.
type commit struct {
	done  chan struct{} // closed when the commit has ended
	err   error         // set before done is closed
	start chan struct{} // with DeferCommits: closed by the first wait
	once  sync.Once
}

// poolLogSize is how many pool key changes are remembered. A reader that
// falls further behind is told to drop everything it cached.
const poolLogSize = 4096

type poolLog struct {
	gen  uint64   // changes committed so far
	keys []string // the last len(keys) of them, oldest first
}

// PoolChanges returns the pool keys (A/, I/ and H/) committed since gen, and
// the generation now. complete is false if the log no longer reaches back to
// gen. Call it inside Write.
func (b *Batch) PoolChanges(gen uint64) (keys []string, now uint64, complete bool) {
	l := &b.db.pool
	if l.gen-gen > uint64(len(l.keys)) {
		return nil, l.gen, false
	}
	return l.keys[uint64(len(l.keys))-(l.gen-gen):], l.gen, true
}

func isPoolKey(k []byte) bool {
	return len(k) >= 2 && k[1] == '/' && (k[0] == 'A' || k[0] == 'I' || k[0] == 'H')
}

func isEndpointKey(k []byte) bool { return bytes.HasPrefix(k, []byte(pEndpoint)) }

// Set writes key in the batch.
func (b *Batch) Set(key, value []byte, o *pebble.WriteOptions) error {
	if isPoolKey(key) {
		b.pool = append(b.pool, string(key))
	}
	b.endpoints = b.endpoints || isEndpointKey(key)
	return b.Batch.Set(key, value, o)
}

// Delete deletes key in the batch.
func (b *Batch) Delete(key []byte, o *pebble.WriteOptions) error {
	if isPoolKey(key) {
		b.pool = append(b.pool, string(key))
	}
	b.endpoints = b.endpoints || isEndpointKey(key)
	return b.Batch.Delete(key, o)
}

// DeleteRange deletes [start, end) in the batch.
func (b *Batch) DeleteRange(start, end []byte, o *pebble.WriteOptions) error {
	w := []byte(pEndpoint)
	b.endpoints = b.endpoints || (bytes.Compare(start, PrefixEnd(w)) < 0 && bytes.Compare(end, w) > 0)
	return b.Batch.DeleteRange(start, end, o)
}

// EndpointsGen counts the committed batches that wrote a webhook endpoint.
// A cache of endpoints keeps, with each entry, the count read before the
// entry was read from the DB, and uses it only while the count is the
// same: the count moves after such a batch is committed, so an entry read
// before that batch has an older count.
func (d *DB) EndpointsGen() uint64 { return d.endpoints.Load() }

// Wrap takes an open Pebble DB.
func Wrap(db *pebble.DB) *DB { return &DB{DB: db} }

// OpenPebble opens ledgerd's Pebble database at dir (fs nil for the real
// filesystem), tuned for the ledger's writes:
//
//   - values of 256 bytes and more are kept apart from their keys
//     (kv.SeparateValues): the outbox rows and the block and merchant index
//     rows, each listing up to a block's or a batch's deposits, are written
//     once and should not be rewritten by every compaction; deposits and
//     accounts are smaller and stay in the tables;
//   - level 0 is compacted less often, more tables at a time
//     (kv.WriteHeavy).
//
// In the ledger bench at blocks of 1000 deposits, the two together took
// the ledger from 0.39x to about 0.5x of raw Pebble writes.
func OpenPebble(dir string, fs vfs.FS, log *slog.Logger) (*pebble.DB, error) {
	return kv.Open(dir, fs, log, kv.SeparateValues(256), kv.WriteHeavy())
}

// Batch is one write transaction. A batch of Write is indexed and reads
// its own writes; a batch of WriteAsync cannot be read.
type Batch struct {
	*pebble.Batch
	db        *DB
	pool      []string          // pool keys written
	counters  map[string]uint64 // counters moved by Next
	endpoints bool              // a webhook endpoint was written
}

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = pebble.ErrNotFound

// Write runs fn with a fresh indexed batch under the writer lock and
// commits it synced if fn returns nil: when Write returns nil, the batch is
// durable. Nothing is written if fn fails. fn reads the DB with every
// earlier batch in it: Write first waits for the last batch of WriteAsync.
func (d *DB) Write(fn func(b *Batch) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.wait(); err != nil {
		return err
	}
	return d.write(d.NewIndexedBatch(), fn, false)
}

// WriteAsync runs fn with a fresh batch that cannot be read, under the
// writer lock, and if fn returns nil hands the batch to Pebble to commit,
// synced, in the background. It returns once the batch before it has been
// committed and is durable (an error if that commit failed), so that at
// most one batch commits in the background: its writer prepares the next
// batch while the last one goes into Pebble's log and memtable. That
// batch is durable once the next Write or WriteAsync returns, or when
// WaitDurable does.
//
// fn may run while the last batch is not yet in Pebble, and its reads of
// the DB then miss that batch's writes. It calls Batch.WaitCommitted
// before it reads anything that batch may have written, or it knows those
// writes some other way (the ledger keeps what it writes in memory).
// Counters (Batch.Next) continue from the last batch either way.
func (d *DB) WriteAsync(fn func(b *Batch) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.write(d.NewBatch(), fn, true)
}

func (d *DB) write(pb *pebble.Batch, fn func(b *Batch) error, async bool) error {
	b := &Batch{Batch: pb, db: d}
	if err := fn(b); err != nil {
		pb.Close()
		// The caller may read the DB again to recover (the ledger reloads
		// its state): it must find the last batch there.
		return errors.Join(err, d.wait())
	}
	if err := d.wait(); err != nil {
		pb.Close()
		return err
	}
	// From here on, the batch is the DB's next state for every batch
	// prepared after it.
	l := &d.pool
	for _, k := range b.pool {
		l.gen++
		if len(l.keys) == poolLogSize {
			l.keys = append(l.keys[:0], l.keys[poolLogSize/2:]...)
		}
		l.keys = append(l.keys, k)
	}
	for name, n := range b.counters {
		if d.counters == nil {
			d.counters = map[string]uint64{}
		}
		d.counters[name] = n
	}
	c := &commit{done: make(chan struct{})}
	if async && d.deferCommits {
		c.start = make(chan struct{})
	}
	d.cmu.Lock()
	d.last = c
	d.cmu.Unlock()
	run := func() {
		if c.start != nil {
			<-c.start
		}
		if err := pb.Commit(pebble.Sync); err != nil {
			c.err = fmt.Errorf("store: commit: %w", err)
		}
		if b.endpoints {
			// After the commit: see EndpointsGen. (After a failed
			// commit too: what is on disk is then unknown.)
			d.endpoints.Add(1)
		}
		pb.Close()
		close(c.done)
		if async && c.err == nil && d.durable != nil {
			d.durable()
		}
	}
	if !async {
		run()
		return c.err
	}
	go run()
	return nil
}

// wait waits for the last batch handed to Pebble to be committed and
// durable, and returns the error of its commit.
func (d *DB) wait() error {
	d.cmu.Lock()
	c := d.last
	d.cmu.Unlock()
	if c == nil {
		return nil
	}
	if c.start != nil {
		c.once.Do(func() { close(c.start) })
	}
	<-c.done
	return c.err
}

// WaitDurable waits until every batch handed to Pebble so far is committed
// and durable. It returns the error of a failed commit: after one, the
// state on disk is unknown and every write fails.
//
// A batch is visible to readers once it is in Pebble's memtable, a moment
// before its log is synced (Pebble's own order, for every synced commit). A
// reader that acts on what it read where the act cannot be taken back (the
// outbox relay, which publishes) calls WaitDurable after reading and before
// acting: what it read is then durable.
func (d *DB) WaitDurable() error { return d.wait() }

// WaitCommitted waits until the last batch handed to Pebble before this one
// is in the DB, so that fn of WriteAsync can read what it wrote.
func (b *Batch) WaitCommitted() error { return b.db.wait() }

// NotifyDurable has fn called after each batch of WriteAsync is durable
// (ledgerd wakes its outbox relay with it). Set it before the first write.
func (d *DB) NotifyDurable(fn func()) { d.durable = fn }

// DeferCommits makes each batch of WriteAsync start to commit only when
// something waits for it, so that every batch is prepared while the one
// before it is not yet in the DB at all. Tests use it to show that the
// writer reads nothing that batch wrote.
func (d *DB) DeferCommits() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deferCommits = true
}

// Close waits for the last batch to be durable, then closes the DB.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return errors.Join(d.wait(), d.DB.Close())
}

// Reader is what reads need: the DB, a batch or a snapshot.
type Reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

// GetJSON reads a JSON record; ErrNotFound if missing.
func GetJSON(r Reader, key []byte, v any) error {
	b, closer, err := r.Get(key)
	if err != nil {
		return err
	}
	defer closer.Close()
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("store: decode %q: %w", printable(key), err)
	}
	return nil
}

// GetRaw reads a value, copied.
func GetRaw(r Reader, key []byte) ([]byte, error) {
	b, closer, err := r.Get(key)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte(nil), b...), nil
}

// Has reports whether key exists.
func Has(r Reader, key []byte) (bool, error) {
	_, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	closer.Close()
	return true, nil
}

// PutJSON writes a JSON record.
func (b *Batch) PutJSON(key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Set(key, data, nil)
}

// Next increments and returns counter name.
func (b *Batch) Next(name string) (uint64, error) {
	k := CounterKey(name)
	n, ok := b.counters[name]
	if !ok {
		n, ok = b.db.counters[name]
	}
	if !ok {
		// An unindexed batch cannot read itself, so the counters it moved
		// are remembered, and so are those of the batches before it (one
		// of them may not be in the DB yet); a counter no batch has moved
		// since the DB was opened is read from it.
		if v, err := GetRaw(b.db, k); err == nil && len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		} else if err != nil && !errors.Is(err, pebble.ErrNotFound) {
			return 0, err
		}
	}
	n++
	if b.counters == nil {
		b.counters = map[string]uint64{}
	}
	b.counters[name] = n
	return n, b.Set(k, binary.BigEndian.AppendUint64(nil, n), nil)
}

// Scan calls fn for every key with prefix, in order (reverse if desc), until
// fn returns false.
func Scan(r Reader, prefix []byte, desc bool, fn func(k, v []byte) (bool, error)) error {
	return scan(r, prefix, prefix, desc, fn)
}

// ScanFrom is Scan over the keys with prefix from key from on, ascending. A
// queue whose head is deleted as it is consumed reads from where it knows
// its live rows begin: the iterator then does not step over the deleted
// rows' tombstones, every one of them on every read until a compaction
// drops them.
func ScanFrom(r Reader, prefix, from []byte, fn func(k, v []byte) (bool, error)) error {
	if bytes.Compare(from, prefix) < 0 {
		from = prefix
	}
	return scan(r, prefix, from, false, fn)
}

func scan(r Reader, prefix, lower []byte, desc bool, fn func(k, v []byte) (bool, error)) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: PrefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	valid := it.First()
	if desc {
		valid = it.Last()
	}
	for valid {
		more, err := fn(it.Key(), it.Value())
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if desc {
			valid = it.Prev()
		} else {
			valid = it.Next()
		}
	}
	return it.Error()
}

// PrefixEnd is the first key after every key with prefix.
func PrefixEnd(p []byte) []byte {
	e := append([]byte(nil), p...)
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] < 0xff {
			e[i]++
			return e[:i+1]
		}
	}
	return nil
}

func printable(k []byte) string {
	out := make([]byte, 0, len(k))
	for _, c := range k {
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
		} else {
			out = append(out, '.')
		}
	}
	return string(out)
}
