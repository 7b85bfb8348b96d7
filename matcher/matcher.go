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
	// Capacity is the number of addresses the first filter is sized for; it
	// grows by doubling. Default: twice the stored set, at least 1M.
	Capacity uint64
	Logger   *slog.Logger
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

	writeMu sync.Mutex // serialises Apply and filter growth

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
	capacity := opts.Capacity
	if capacity == 0 {
		capacity = 1 << 20
	}
	capacity = max(capacity, uint64(n)*2)
	f, err := m.build(capacity)
	if err != nil {
		return nil, err
	}
	m.filter.Store(f)
	m.count.Store(n)
	m.log.Info("matcher ready", "addresses", n, "filter_bytes", f.sizeBytes(), "took", time.Since(start))
	return m, nil
}

func (m *Matcher) countStored() (int64, error) {
	it, err := m.db.NewIter(&pebble.IterOptions{LowerBound: prefixAddr, UpperBound: prefixEnd(prefixAddr)})
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

// build makes a filter of the given capacity holding every stored address.
func (m *Matcher) build(capacity uint64) (*filter, error) {
	f := newFilter(capacity, m.opts.BitsPerKey)
	it, err := m.db.NewIter(&pebble.IterOptions{LowerBound: prefixAddr, UpperBound: prefixEnd(prefixAddr)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()[len(prefixAddr):]
		f.add(hashKey(chain.Family(k[0]), k[1:]))
	}
	return f, it.Error()
}

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
	return m.exact(fam, addr)
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
	var pos [batchChunk]uint64
	var base [batchChunk]uint64
	matched := 0
	var touched uint64
	for start := 0; start < len(addrs); start += batchChunk {
		n := min(batchChunk, len(addrs)-start)
		for i := 0; i < n; i++ {
			h := hashKey(fam, addrs[start+i])
			base[i], pos[i] = f.locate(h)
		}
		for i := 0; i < n; i++ {
			touched += atomic.LoadUint64(&f.words[base[i]])
		}
		for i := 0; i < n; i++ {
			ids[start+i] = 0
			if !f.mayContainAt(base[i], pos[i]) {
				continue
			}
			if id, ok := m.exact(fam, addrs[start+i]); ok {
				ids[start+i] = id
				matched++
			}
		}
	}
	touchSink.Add(touched & 1) // keeps the touching loads; one write per batch
	return matched
}

var touchSink atomic.Uint64

// exact confirms a filter positive against the Pebble set.
func (m *Matcher) exact(fam chain.Family, addr []byte) (uint64, bool) {
	m.positives.Inc()
	var buf [64]byte
	v, closer, err := m.db.Get(addrKey(buf[:0], fam, addr))
	if err != nil {
		if !errors.Is(err, pebble.ErrNotFound) {
			m.log.Error("matcher: exact set read failed", "err", err)
		}
		return 0, false
	}
	defer closer.Close()
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
		f.add(h)
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], c.ID)
		if err := b.Set(key, v[:], nil); err != nil {
			return err
		}
	}
	for p, o := range offsets {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(o))
		if err := b.Set(offsetKey(kafka.TopicAddresses, p), v[:], nil); err != nil {
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
	if uint64(n) > f.cap {
		if err := m.grow(uint64(n)); err != nil {
			return err
		}
	}
	return nil
}

// grow rebuilds the filter at twice the needed capacity and swaps it in.
func (m *Matcher) grow(n uint64) error {
	start := time.Now()
	f, err := m.build(n * 2)
	if err != nil {
		return fmt.Errorf("matcher: grow filter: %w", err)
	}
	old := m.filter.Swap(f)
	old.free()
	m.log.Info("matcher filter grown", "addresses", n, "filter_bytes", f.sizeBytes(), "took", time.Since(start))
	return nil
}

func offsetKey(topic string, partition int32) []byte {
	k := append(append([]byte(nil), prefixOffset...), topic...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uint32(partition))
}

// Offsets returns the stored next offsets of inflow.addresses.
func (m *Matcher) Offsets() (map[int32]int64, error) {
	lo := append(append([]byte(nil), prefixOffset...), kafka.TopicAddresses...)
	lo = append(lo, 0)
	it, err := m.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := map[int32]int64{}
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) != len(lo)+4 || !bytes.HasPrefix(k, lo) {
			continue
		}
		out[int32(binary.BigEndian.Uint32(k[len(lo):]))] = int64(binary.BigEndian.Uint64(it.Value()))
	}
	return out, it.Error()
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
