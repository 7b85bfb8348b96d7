package matcher

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/kv"
)

// Pebble key prefixes owned by the matcher. The DB may be shared with other
// owners that use other prefixes.
var (
	prefixAddr   = []byte("mA") // + family + address bytes → id (8 bytes, big-endian)
	prefixOffset = []byte("mO") // + topic + 0x00 + partition (4 bytes) → next offset (8 bytes)
	countKey     = []byte("mN") // → number of watched addresses (8 bytes)
)

// Options configures a Matcher.
type Options struct {
	// BitsPerKey is the filter's memory per watched address. Default 16.
	BitsPerKey float64
	// Capacity is the number of addresses the first filter is sized for.
	// Default: the stored set, at least 64K. Whenever the set passes
	// growAt times the filter's capacity, a filter sized for the set is
	// rebuilt in the background and swapped in.
	Capacity uint64
	Logger   *slog.Logger
	// Snapshot is a file that Close writes the filter to and the next Open
	// reads it from, instead of reading the whole set from Pebble (see
	// snapshot.go). Empty: the filter is always rebuilt.
	Snapshot string
	// Registerer receives the matcher's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Matcher is the watched address set. Match is safe for concurrent use with
// itself and with Apply.
type Matcher struct {
	db     *pebble.DB
	opts   Options
	log    *slog.Logger
	filter atomic.Pointer[filter]
	count  atomic.Int64

	writeMu sync.Mutex // serialises Apply and filter swaps

	// A rebuild in progress; all guarded by writeMu.
	building  bool
	pending   []uint64      // hashes applied while the rebuild runs
	buildDone chan struct{} // closed when the running rebuild ends
	closed    bool
	stopBuild atomic.Bool

	// FromSnapshot tells whether Open read the filter from a snapshot.
	FromSnapshot bool

	positives, matches prometheus.Counter
	size               prometheus.GaugeFunc
	filterBytes        prometheus.GaugeFunc
}

// Open loads the exact set from db and builds the filter.
func Open(db *pebble.DB, opts Options) (*Matcher, error) {
	if opts.BitsPerKey == 0 {
		opts.BitsPerKey = 16
	}
	if opts.BitsPerKey < 4 || opts.BitsPerKey > 64 {
		return nil, fmt.Errorf("matcher: bits per key %.1f outside [4, 64]", opts.BitsPerKey)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Matcher{db: db, opts: opts, log: opts.Logger}
	m.positives = prometheus.NewCounter(prometheus.CounterOpts{Name: "inflow_indexer_matcher_filter_positives_total", Help: "Lookups the filter passed to the exact set."})
	m.matches = prometheus.NewCounter(prometheus.CounterOpts{Name: "inflow_indexer_matcher_matches_total", Help: "Lookups that matched a watched address."})
	m.size = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "inflow_indexer_matcher_addresses", Help: "Watched addresses."},
		func() float64 { return float64(m.count.Load()) })
	m.filterBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "inflow_indexer_matcher_filter_bytes", Help: "Memory of the in-memory filter."},
		func() float64 { return float64(m.filter.Load().sizeBytes()) })
	if r := opts.Registerer; r != nil {
		for _, c := range []prometheus.Collector{m.positives, m.matches, m.size, m.filterBytes} {
			if err := r.Register(c); err != nil {
				return nil, fmt.Errorf("matcher: register metrics: %w", err)
			}
		}
	}
	start := time.Now()
	var n int64
	if v, closer, err := db.Get(countKey); err == nil {
		n = int64(binary.BigEndian.Uint64(v))
		closer.Close()
	} else if errors.Is(err, pebble.ErrNotFound) {
		if n, err = m.countStored(); err != nil {
			return nil, err
		}
	} else {
		return nil, err
	}
	var f *filter
	if opts.Snapshot != "" {
		var err error
		f, err = m.loadSnapshot(n)
		if err != nil && !errors.Is(err, errNoSnapshot) {
			m.log.Warn("matcher: filter snapshot not used; rebuilding from the stored set", "file", opts.Snapshot, "err", err)
		}
		// Before the set can change: a later crash must not find a
		// snapshot that looks current.
		if err := m.dropSnapshot(); err != nil {
			if f != nil {
				f.free()
			}
			return nil, fmt.Errorf("matcher: drop the filter snapshot: %w", err)
		}
	}
	m.FromSnapshot = f != nil
	if f == nil {
		capacity := max(opts.Capacity, uint64(n), minCapacity)
		it, err := m.setIter()
		if err != nil {
			return nil, err
		}
		if f, err = m.fill(newFilter(capacity, m.opts.BitsPerKey), it); err != nil {
			return nil, err
		}
	}
	m.filter.Store(f)
	m.count.Store(n)
	from := "the stored set"
	if m.FromSnapshot {
		from = "a snapshot"
	}
	m.log.Info("matcher ready", "addresses", n, "filter_bytes", f.sizeBytes(), "from", from, "took", time.Since(start))
	m.writeMu.Lock()
	m.maybeRebuild() // a snapshot may be of a filter the set has outgrown
	m.writeMu.Unlock()
	return m, nil
}

func (m *Matcher) countStored() (int64, error) {
	it, err := m.setIter()
	if err != nil {
		return 0, err
	}
	defer it.Close()
	var n int64
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n, it.Error()
}

// setIter iterates over the stored addresses as of now.
func (m *Matcher) setIter() (*pebble.Iterator, error) {
	return m.db.NewIter(&pebble.IterOptions{LowerBound: prefixAddr, UpperBound: prefixEnd(prefixAddr)})
}

// fill adds every address the iterator holds to a filter no lookup can see
// yet, and closes the iterator. A rebuild being stopped returns an error.
func (m *Matcher) fill(f *filter, it *pebble.Iterator) (*filter, error) {
	defer it.Close()
	n := 0
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()[len(prefixAddr):]
		f.addPrivate(hashKey(chain.Family(k[0]), k[1:]))
		if n++; n&0xffff == 0 && m.stopBuild.Load() {
			f.free()
			return nil, errStopped
		}
	}
	if err := it.Error(); err != nil {
		f.free()
		return nil, err
	}
	return f, nil
}

var errStopped = errors.New("matcher: closed")

func prefixEnd(p []byte) []byte {
	e := append([]byte(nil), p...)
	e[len(e)-1]++
	return e
}

// hashKey hashes (family, address bytes) to 64 bits. Keys of up to 32 bytes
// (EVM, Tron and Solana addresses, common output scripts) take a wyhash-style
// pair of 64×64→128 multiplications; longer ones take xxhash. Both halves of
// the result are well mixed, as locate needs.
func hashKey(fam chain.Family, addr []byte) uint64 {
	const k0, k1, k2 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db, 0x8ebc6af09c88c6e3
	n := len(addr)
	if n == 20 { // EVM: the commonest key, three loads instead of four
		a := binary.LittleEndian.Uint64(addr)
		b := binary.LittleEndian.Uint64(addr[12:])
		c := uint64(binary.LittleEndian.Uint32(addr[8:]))
		h := mum(a^k0, b^k1^20) ^ mum(c^k2, uint64(fam)*k0)
		return mum(h^k1, h^k2)
	}
	if n > 32 || n < 8 {
		h := xxhash.Sum64(addr) ^ (uint64(fam) * 0x9e3779b97f4a7c15)
		return mum(h^k0, h^k1)
	}
	a := binary.LittleEndian.Uint64(addr)
	b := binary.LittleEndian.Uint64(addr[n-8:])
	var c, d uint64
	if n > 16 {
		c = binary.LittleEndian.Uint64(addr[8:])
		d = binary.LittleEndian.Uint64(addr[n-16:])
	}
	h := mum(a^k0, b^k1^uint64(n)) ^ mum(c^k2, d^uint64(fam)*k0)
	return mum(h^k1, h^k2)
}

func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func addrKey(dst []byte, fam chain.Family, addr []byte) []byte {
	dst = append(dst[:0], prefixAddr...)
	dst = append(dst, byte(fam))
	return append(dst, addr...)
}

// Len returns the number of watched addresses.
func (m *Matcher) Len() int64 { return m.count.Load() }

// FilterBytes returns the filter's memory.
func (m *Matcher) FilterBytes() int { return m.filter.Load().sizeBytes() }

// Match reports whether (fam, addr) is watched, and its address id.
//
// A stranger costs one hash and one cache-line read; nothing on that path
// writes shared memory (callers count lookups themselves, per block).
func (m *Matcher) Match(fam chain.Family, addr []byte) (uint64, bool) {
	if !m.filter.Load().mayContain(hashKey(fam, addr)) {
		return 0, false
	}
	var ex exactReader
	defer ex.close()
	return m.exact(&ex, fam, addr)
}

// batchChunk is how many lookups MatchBatch overlaps: enough independent
// cache misses in flight to cover memory latency, few enough to stay in
// registers and L1.
const batchChunk = 32

// MatchBatch looks up many addresses of one family at once, the way the
// indexer checks a block's recipients: ids[i] is the address id of addrs[i],
// or 0. It returns the number of matches.
//
// A single lookup is bound by one memory miss that the CPU cannot overlap
// with the next, because a lookup is too long for its reorder window. The
// batch first hashes a chunk of keys, then touches each key's cache line with
// independent loads (so the misses overlap), then tests the lines, which are
// in cache by then.
func (m *Matcher) MatchBatch(fam chain.Family, addrs [][]byte, ids []uint64) int {
	f := m.filter.Load()
	words := f.words
	var pos [batchChunk]uint64
	var base [batchChunk]uint64
	matched := 0
	var touched uint64
	var ex exactReader
	defer ex.close()
	ids = ids[:len(addrs)]
	for start := 0; start < len(addrs); start += batchChunk {
		ks := addrs[start:min(start+batchChunk, len(addrs))]
		out := ids[start : start+len(ks)]
		for i, k := range ks {
			base[i], pos[i] = f.locate(hashKey(fam, k))
		}
		for i := range ks {
			touched += atomic.LoadUint64(&words[base[i]])
		}
		for i, k := range ks {
			out[i] = 0
			if !f.mayContainAt(base[i], pos[i]) {
				continue
			}
			if id, ok := m.exact(&ex, fam, k); ok {
				out[i] = id
				matched++
			}
		}
	}
	touchSink.Add(touched & 1) // keeps the touching loads; one write per batch
	return matched
}

var touchSink atomic.Uint64

// exactReader reads the Pebble set for one lookup call. Its iterator is
// made on the first filter positive and serves the rest of the batch.
//
// A point Get would be simpler, but Pebble's Get skips the bloom filters of
// the bottom level (they are large, and most Gets are for keys that exist),
// and nearly all of the set lives in the bottom level; a filter positive is
// almost always a stranger, so each Get would read and decompress a data
// block. An iterator with UseL6Filters answers a stranger from the table's
// filter instead.
type exactReader struct {
	it *pebble.Iterator
}

func (e *exactReader) close() {
	if e.it != nil {
		e.it.Close()
		e.it = nil
	}
}

// exact confirms a filter positive against the Pebble set.
func (m *Matcher) exact(e *exactReader, fam chain.Family, addr []byte) (uint64, bool) {
	m.positives.Inc()
	if e.it == nil {
		it, err := m.db.NewIter(&pebble.IterOptions{UseL6Filters: true})
		if err != nil {
			m.log.Error("matcher: exact set read failed", "err", err)
			return 0, false
		}
		e.it = it
	}
	var buf [64]byte
	key := addrKey(buf[:0], fam, addr)
	if !e.it.SeekPrefixGE(key) || !bytes.Equal(e.it.Key(), key) {
		if err := e.it.Error(); err != nil {
			m.log.Error("matcher: exact set read failed", "err", err)
		}
		return 0, false
	}
	v := e.it.Value()
	if len(v) != 8 {
		return 0, false
	}
	m.matches.Inc()
	return binary.BigEndian.Uint64(v), true
}

// MatchAddress is Match for a chain.Address.
func (m *Matcher) MatchAddress(a chain.Address) (uint64, bool) {
	if a.IsZero() {
		return 0, false
	}
	return m.Match(a.Family(), []byte(a.Raw()))
}

// MayContain reports what the filter alone says; for measurements only.
func (m *Matcher) MayContain(fam chain.Family, addr []byte) bool {
	return m.filter.Load().mayContain(hashKey(fam, addr))
}

// Apply stores a batch of address changes, and optionally the next offsets of
// the inflow.addresses partitions they came from, in one synced Pebble batch.
func (m *Matcher) Apply(changes []events.AddressRecord, offsets map[int32]int64) error {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	if m.closed {
		return errStopped
	}
	f := m.filter.Load()
	b := m.db.NewIndexedBatch() // reads see this batch's own writes
	defer b.Close()
	var key []byte
	added := int64(0)
	for _, c := range changes {
		fam, raw := c.Address.Family(), []byte(c.Address.Raw())
		key = addrKey(key, fam, raw)
		h := hashKey(fam, raw)
		// The filter has no false negatives: if it says no, the key is new
		// and Pebble need not be asked (nearly every add takes this path).
		exists := false
		if f.mayContain(h) {
			_, closer, err := b.Get(key)
			exists = err == nil
			if exists {
				closer.Close()
			} else if !errors.Is(err, pebble.ErrNotFound) {
				return fmt.Errorf("matcher: read %s: %w", c.Address, err)
			}
		}
		if c.Removed {
			if exists {
				added--
			}
			if err := b.Delete(key, nil); err != nil {
				return err
			}
			continue
		}
		if !exists {
			added++
		}
		// The filter learns the key before Pebble does: never a false miss.
		// A rebuild running from an older snapshot learns it at the swap.
		f.add(h)
		if m.building {
			m.pending = append(m.pending, h)
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], c.ID)
		if err := b.Set(key, v[:], nil); err != nil {
			return err
		}
	}
	for p, o := range offsets {
		if err := b.Set(kv.OffsetKey(prefixOffset, kafka.TopicAddresses, p), kv.OffsetValue(o), nil); err != nil {
			return err
		}
	}
	n := m.count.Load() + added
	if err := b.Set(countKey, binary.BigEndian.AppendUint64(nil, uint64(n)), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("matcher: commit %d changes: %w", len(changes), err)
	}
	m.count.Store(n)
	m.maybeRebuild()
	return nil
}

// Filter sizing. The filter is built for the set as it is, at BitsPerKey
// bits per address, and rebuilt when the set passes growAt times that: so
// the memory per watched address stays between BitsPerKey/growAt and
// BitsPerKey (14.5 to 16 bits by default), and the false-positive rate
// between about 0.09% and 0.15%.
const (
	growAt      = 1.1
	minCapacity = 1 << 16
)

// maybeRebuild starts a background rebuild if the set has outgrown the
// filter and none runs. Called with writeMu held.
func (m *Matcher) maybeRebuild() {
	f := m.filter.Load()
	n := uint64(max(m.count.Load(), 0))
	if m.building || m.closed || float64(n) <= float64(f.cap)*growAt {
		return
	}
	// The snapshot is taken under writeMu: every change committed so far is
	// in it, and every later one is recorded in pending.
	it, err := m.setIter()
	if err != nil {
		m.log.Error("matcher: filter rebuild not started", "err", err)
		return
	}
	m.building, m.pending = true, nil
	done := make(chan struct{})
	m.buildDone = done
	go func() {
		defer close(done)
		start := time.Now()
		nf, err := m.fill(newFilter(n, m.opts.BitsPerKey), it)
		m.writeMu.Lock()
		defer m.writeMu.Unlock()
		pending := m.pending
		m.building, m.pending = false, nil
		if err != nil {
			if !errors.Is(err, errStopped) {
				m.log.Error("matcher: filter rebuild failed; the next change retries", "err", err)
			}
			return
		}
		for _, h := range pending {
			nf.addPrivate(h)
		}
		old := m.filter.Swap(nf)
		old.free()
		m.log.Info("matcher filter rebuilt", "addresses", m.count.Load(), "filter_bytes", nf.sizeBytes(), "took", time.Since(start))
		m.maybeRebuild()
	}()
}

// WaitRebuild waits until no filter rebuild is in progress (one may chain
// into the next if the set outgrew the new filter meanwhile).
func (m *Matcher) WaitRebuild() {
	for {
		m.writeMu.Lock()
		building, done := m.building, m.buildDone
		m.writeMu.Unlock()
		if !building {
			return
		}
		<-done
	}
}

// Close stops a filter rebuild in progress and waits for it, so that the
// Pebble DB can be closed, and writes the filter snapshot if there is one.
// Lookups still work on the current filter; changes are refused.
func (m *Matcher) Close() error {
	m.writeMu.Lock()
	if m.closed {
		m.writeMu.Unlock()
		return nil
	}
	m.closed = true
	done := m.buildDone
	m.writeMu.Unlock()
	m.stopBuild.Store(true)
	if done != nil {
		<-done
	}
	if m.opts.Snapshot == "" {
		return nil
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	start := time.Now()
	f, n := m.filter.Load(), m.count.Load()
	if err := m.writeSnapshot(f, n); err != nil {
		return fmt.Errorf("matcher: write the filter snapshot: %w", err)
	}
	m.log.Info("matcher filter snapshot written", "file", m.opts.Snapshot, "addresses", n, "bytes", f.sizeBytes(), "took", time.Since(start))
	return nil
}

// Offsets returns the stored next offsets of inflow.addresses.
func (m *Matcher) Offsets() (map[int32]int64, error) {
	all, err := kv.Offsets(m.db, prefixOffset, kafka.TopicAddresses)
	if err != nil {
		return nil, err
	}
	if all[kafka.TopicAddresses] == nil {
		return map[int32]int64{}, nil
	}
	return all[kafka.TopicAddresses], nil
}

// Follow consumes inflow.addresses from the stored offsets and applies every
// change until ctx ends. caughtUp, if not nil, is closed once the matcher has
// applied everything the topic held when Follow started.
func (m *Matcher) Follow(ctx context.Context, cfg kafka.Config, caughtUp chan<- struct{}) error {
	stored, err := m.Offsets()
	if err != nil {
		return fmt.Errorf("matcher: read offsets: %w", err)
	}
	cl, err := kafka.NewConsumer(cfg, []string{kafka.TopicAddresses}, kafka.Offsets{kafka.TopicAddresses: stored})
	if err != nil {
		return err
	}
	defer cl.Close()
	if len(stored) == 0 {
		// Start every partition at the beginning; ConsumeTopics did that.
		m.log.Info("matcher: consuming inflow.addresses from the beginning")
	}
	var end map[int32]int64
	for {
		end, err = kafka.EndOffsets(ctx, cl, kafka.TopicAddresses)
		if err == nil {
			break
		}
		m.log.Warn("matcher: waiting for inflow.addresses", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	next := map[int32]int64{}
	for p, o := range stored {
		next[p] = o
	}
	reached := func() bool {
		for p, e := range end {
			if next[p] < e {
				return false
			}
		}
		return true
	}
	signalled := false
	signal := func() {
		if !signalled && reached() {
			signalled = true
			if caughtUp != nil {
				close(caughtUp)
			}
			m.log.Info("matcher caught up with inflow.addresses", "addresses", m.Len())
		}
	}
	signal()
	for {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if !signalled {
			// Transaction markers can keep next below the end offsets even
			// when every record is applied; a poll that stays idle means
			// there is nothing left to read either.
			pollCtx, cancel = context.WithTimeout(ctx, 2*time.Second)
		}
		fs := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if pollCtx.Err() != nil && fs.NumRecords() == 0 {
			if !signalled {
				end = nil
				signal()
			}
			continue
		}
		var firstErr error
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if firstErr != nil {
			m.log.Warn("matcher: fetch error", "err", firstErr)
			continue
		}
		var changes []events.AddressRecord
		offsets := map[int32]int64{}
		fs.EachRecord(func(r *kafka.Record) {
			offsets[r.Partition] = r.Offset + 1
			c, err := events.ParseAddressRecord(r.Key, r.Value)
			if err != nil {
				// A corrupt record is logged and skipped, never half-applied.
				m.log.Error("matcher: skipping corrupt address record", "partition", r.Partition, "offset", r.Offset, "err", err)
				return
			}
			changes = append(changes, c)
		})
		if len(offsets) == 0 {
			continue
		}
		if err := m.Apply(changes, offsets); err != nil {
			return err
		}
		for p, o := range offsets {
			next[p] = o
		}
		signal()
	}
}
