package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/inflowhq/inflow/pkg/kv"
)

// DB is ledgerd's database with its writer lock.
type DB struct {
	*pebble.DB
	mu sync.Mutex
	// pool is the log of pool keys (A/, I/, H/) committed, for the ledger's
	// cache of pool entries; guarded by mu.
	pool poolLog
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

// Set writes key in the batch.
func (b *Batch) Set(key, value []byte, o *pebble.WriteOptions) error {
	if isPoolKey(key) {
		b.pool = append(b.pool, string(key))
	}
	return b.Batch.Set(key, value, o)
}

// Delete deletes key in the batch.
func (b *Batch) Delete(key []byte, o *pebble.WriteOptions) error {
	if isPoolKey(key) {
		b.pool = append(b.pool, string(key))
	}
	return b.Batch.Delete(key, o)
}

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

// Batch is one write transaction: an indexed batch that reads its own writes.
type Batch struct {
	*pebble.Batch
	db       *DB
	pool     []string          // pool keys written
	counters map[string]uint64 // counters moved by Next
}

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = pebble.ErrNotFound

// Write runs fn with a fresh batch under the writer lock and commits it
// synced if fn returns nil. Nothing is written if fn fails.
func (d *DB) Write(fn func(b *Batch) error) error {
	return d.write(d.NewIndexedBatch(), fn)
}

// WriteUnindexed is Write with a batch that cannot be read: fn reads the
// committed state from the DB instead, which nobody else changes while fn
// runs. It is for the ledger, which keeps what it writes in memory and pays
// for no index of its batch.
func (d *DB) WriteUnindexed(fn func(b *Batch) error) error {
	return d.write(d.NewBatch(), fn)
}

func (d *DB) write(pb *pebble.Batch, fn func(b *Batch) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := &Batch{Batch: pb, db: d}
	defer b.Close()
	if err := fn(b); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	l := &d.pool
	for _, k := range b.pool {
		l.gen++
		if len(l.keys) == poolLogSize {
			l.keys = append(l.keys[:0], l.keys[poolLogSize/2:]...)
		}
		l.keys = append(l.keys, k)
	}
	return nil
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
	k := Key("Q/", name)
	n, ok := b.counters[name]
	if !ok {
		// An unindexed batch cannot read itself, so the counters it moved
		// are remembered; the rest are read from the DB, which nobody
		// else writes while b is open.
		var r Reader = b
		if !b.Indexed() {
			r = b.db
		}
		if v, err := GetRaw(r, k); err == nil && len(v) == 8 {
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
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: PrefixEnd(prefix)})
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

// Key joins parts into a key: strings and byte slices are written as they
// are, numbers big-endian (uint64: 8 bytes, uint32: 4 bytes, int64 as
// uint64 with the sign bit flipped so negative sorts first). A Sep part
// writes the 0x00 separator.
func Key(parts ...any) []byte {
	k := make([]byte, 0, 64)
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			k = append(k, v...)
		case []byte:
			k = append(k, v...)
		case uint64:
			k = binary.BigEndian.AppendUint64(k, v)
		case uint32:
			k = binary.BigEndian.AppendUint32(k, v)
		case int64:
			k = binary.BigEndian.AppendUint64(k, uint64(v)^(1<<63))
		case sep:
			k = append(k, 0)
		case byte:
			k = append(k, v)
		default:
			panic(fmt.Sprintf("store: key part of type %T", p))
		}
	}
	return k
}

type sep struct{}

// Sep is the 0x00 separator in Key.
var Sep = sep{}

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
