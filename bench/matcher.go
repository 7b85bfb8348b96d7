package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inflowhq/inflow/matcher"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kv"
)

func init() {
	register(suite{name: "matcher", about: "the watched-address set at exchange scale vs a Go map and raw memory reads", run: runMatcher})
}

func randomAddrs(n int) [][20]byte {
	out := make([][20]byte, n)
	buf := make([]byte, 20*min(n, 1<<20))
	for lo := 0; lo < n; lo += 1 << 20 {
		hi := min(lo+1<<20, n)
		rand.Read(buf[:20*(hi-lo)])
		for i := lo; i < hi; i++ {
			copy(out[i][:], buf[(i-lo)*20:])
		}
	}
	return out
}

// timeLoop runs fn(i) for i in [0, n) and returns ns per call, best of runs.
func timeLoop(n, runs int, fn func(i int)) float64 {
	best := 0.0
	for r := 0; r < runs; r++ {
		start := time.Now()
		for i := 0; i < n; i++ {
			fn(i)
		}
		ns := float64(time.Since(start).Nanoseconds()) / float64(n)
		if best == 0 || ns < best {
			best = ns
		}
	}
	return best
}

// sink receives the timed loops' results so the compiler cannot drop them.
var sink uint64

func runMatcher(args []string, progress io.Writer) ([]Result, error) {
	fs := flag.NewFlagSet("matcher", flag.ContinueOnError)
	n := fs.Int("addresses", 10_000_000, "watched addresses (100M is opt-in: about 40 GB of disk and a long load)")
	strangers := fs.Int("lookups", 2_000_000, "stranger addresses looked up")
	adds := fs.Int("adds", 1_500_000, "addresses added into the live matcher while lookups go on")
	dir := fs.String("dir", "", "where the Pebble set goes (default: a temporary folder, removed afterwards)")
	noMap := fs.Bool("no-map", false, "skip the map baseline (it needs about 50 bytes per address of memory)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "inflow-bench-matcher-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	db, err := kv.Open(*dir, nil, nil)
	if err != nil {
		return nil, err
	}
	// Sized for the set up front, as a restart would size it; growing from
	// empty would rebuild the filter at every 10% along the way.
	snapshot := filepath.Join(*dir, "inflow-matcher.filter") // where the indexer keeps it
	m, err := matcher.Open(db, matcher.Options{Capacity: uint64(*n), Snapshot: snapshot})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "matcher: generating %d watched addresses…\n", *n)
	watched := randomAddrs(*n)
	fmt.Fprintf(progress, "matcher: loading them into Pebble and the filter…\n")
	loadStart := time.Now()
	const batch = 50_000
	cs := make([]events.AddressRecord, 0, batch)
	for i := 0; i < *n; i++ {
		cs = append(cs, events.AddressRecord{Address: chain.EVMAddress(watched[i]), ID: uint64(i + 1)})
		if len(cs) == batch || i == *n-1 {
			if err := m.Apply(cs, nil); err != nil {
				return nil, err
			}
			cs = cs[:0]
			if (i+1)%(batch*40) == 0 {
				fmt.Fprintf(progress, "matcher: loaded %d/%d (%.0f/s)\n", i+1, *n, float64(i+1)/time.Since(loadStart).Seconds())
			}
		}
	}
	loadRate := float64(*n) / time.Since(loadStart).Seconds()
	// Let Pebble's compactions settle, so that they do not share the cores
	// with the lookups being timed.
	fmt.Fprintf(progress, "matcher: waiting for compactions to settle…\n")
	if err := db.Flush(); err != nil {
		return nil, err
	}
	for i := 0; i < 600 && db.Metrics().Compact.NumInProgress > 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}

	miss := randomAddrs(*strangers)
	var mp map[[20]byte]uint64
	if !*noMap {
		fmt.Fprintf(progress, "matcher: building the map baseline…\n")
		mp = make(map[[20]byte]uint64, *n)
		for i, a := range watched {
			mp[a] = uint64(i + 1)
		}
	}
	fmt.Fprintf(progress, "matcher: timing stranger lookups and the map side by side…\n")
	// The indexer looks a block's recipients up together (MatchBatch); time
	// that in blocks of 64, and single lookups too.
	const perBlock = 64
	keys := make([][]byte, len(miss))
	for i := range miss {
		keys[i] = miss[i][:]
	}
	ids := make([]uint64, perBlock)
	var missNs, singleNs, mapNs float64
	best := func(cur *float64, ns float64) {
		if *cur == 0 || ns < *cur {
			*cur = ns
		}
	}
	for round := 0; round < 3; round++ {
		best(&missNs, timeLoop(len(keys)/perBlock, 1, func(i int) {
			sink += uint64(m.MatchBatch(chain.FamilyEVM, keys[i*perBlock:(i+1)*perBlock], ids))
		})/perBlock)
		best(&singleNs, timeLoop(len(miss), 1, func(i int) {
			if id, ok := m.Match(chain.FamilyEVM, miss[i][:]); ok {
				sink += id
			}
		}))
		if mp != nil {
			ns := timeLoop(len(miss), 1, func(i int) {
				if id, ok := mp[miss[i]]; ok {
					sink += id
				}
			})
			best(&mapNs, ns)
		}
	}
	mp = nil
	runtime.GC()
	pos, falseMatches := 0, 0
	for i := range miss {
		if m.MayContain(chain.FamilyEVM, miss[i][:]) {
			pos++
		}
		if _, ok := m.Match(chain.FamilyEVM, miss[i][:]); ok {
			falseMatches++
		}
	}
	// Every watched address must match (sampled).
	for i := 0; i < *n; i += max(1, *n/100_000) {
		if id, ok := m.Match(chain.FamilyEVM, watched[i][:]); !ok || id != uint64(i+1) {
			return nil, fmt.Errorf("watched address %d does not match", i)
		}
	}
	bits := float64(m.FilterBytes()*8) / float64(*n)

	// Baseline 1: the physical limit, random reads over memory the size of
	// the filter, with the indexes precomputed.
	words := make([]uint64, m.FilterBytes()/8)
	for i := range words {
		words[i] = uint64(i)
	}
	idx := make([]uint32, len(miss))
	for i := range idx {
		var b [4]byte
		rand.Read(b[:])
		idx[i] = uint32((uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])) % uint64(len(words)))
	}
	// A plain loop, not through timeLoop's closure: the limit is the
	// memory, so nothing else may be timed with it.
	memNs := 0.0
	for r := 0; r < 3; r++ {
		var acc uint64
		start := time.Now()
		for _, j := range idx {
			acc += words[j]
		}
		ns := float64(time.Since(start).Nanoseconds()) / float64(len(idx))
		sink += acc
		if memNs == 0 || ns < memNs {
			memNs = ns
		}
	}
	words = nil

	// A sample of the set, for the restarts to check.
	type sampled struct {
		addr [20]byte
		id   uint64
	}
	var sample []sampled
	for i := 0; i < len(watched); i += 9973 {
		sample = append(sample, sampled{watched[i], uint64(i + 1)})
	}
	watched = nil
	runtime.GC()

	// Adds into the live matcher while lookups go on.
	fmt.Fprintf(progress, "matcher: adding %d addresses while lookups run…\n", *adds)
	more := randomAddrs(*adds)
	var stop atomic.Bool
	var lookups atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var k int64
		for i := 0; !stop.Load(); i++ {
			m.Match(chain.FamilyEVM, miss[i%len(miss)][:])
			k++
		}
		lookups.Add(k)
	}()
	addStart := time.Now()
	const addBatch = 10_000
	for lo := 0; lo < *adds; lo += addBatch {
		cs = cs[:0]
		for i := lo; i < min(lo+addBatch, *adds); i++ {
			cs = append(cs, events.AddressRecord{Address: chain.EVMAddress(more[i]), ID: uint64(*n + i + 1)})
		}
		if err := m.Apply(cs, nil); err != nil {
			return nil, err
		}
		// A new address matches as soon as Apply returns.
		if _, ok := m.Match(chain.FamilyEVM, more[lo][:]); !ok {
			return nil, fmt.Errorf("address added at %d does not match", lo)
		}
	}
	addSecs := time.Since(addStart).Seconds()
	stop.Store(true)
	wg.Wait()
	// Past 1.1× the set the filter is rebuilt in the background, sized for
	// the new set; once that is done, memory per address is back at 16 bits.
	m.WaitRebuild()
	bitsAfter := float64(m.FilterBytes()*8) / float64(*n+*adds)
	start := time.Now()
	if err := m.Close(); err != nil { // writes the filter snapshot
		return nil, err
	}
	snapshotWrite := time.Since(start).Seconds()
	addRate := float64(*adds) / addSecs
	concurrentLookups := float64(lookups.Load()) / addSecs

	// Restart after a clean shutdown: the filter comes from the snapshot.
	// Then a restart after a crash (the matcher not closed, so no snapshot):
	// the filter is rebuilt from the set in Pebble.
	restart := func(fromSnapshot bool) (*matcher.Matcher, float64, error) {
		if err := db.Close(); err != nil {
			return nil, 0, err
		}
		fmt.Fprintf(progress, "matcher: restarting (from a snapshot: %v)…\n", fromSnapshot)
		start := time.Now()
		if db, err = kv.Open(*dir, nil, nil); err != nil {
			return nil, 0, err
		}
		m, err := matcher.Open(db, matcher.Options{Snapshot: snapshot})
		if err != nil {
			return nil, 0, err
		}
		took := time.Since(start).Seconds()
		if m.FromSnapshot != fromSnapshot {
			return nil, 0, fmt.Errorf("restart read the snapshot: %v, want %v", m.FromSnapshot, fromSnapshot)
		}
		for i := 0; i < len(more); i += 997 {
			if _, ok := m.Match(chain.FamilyEVM, more[i][:]); !ok {
				return nil, 0, fmt.Errorf("after the restart, added address %d does not match", i)
			}
		}
		for _, w := range sample {
			if id, ok := m.Match(chain.FamilyEVM, w.addr[:]); !ok || id != w.id {
				return nil, 0, fmt.Errorf("after the restart, watched address %d does not match", w.id)
			}
		}
		return m, took, nil
	}
	m2, startup, err := restart(true)
	if err != nil {
		return nil, err
	}
	m2.WaitRebuild() // a crash: no Close
	m3, startupCrash, err := restart(false)
	if err != nil {
		return nil, err
	}
	filterMB := float64(m3.FilterBytes()) / 1e6
	if err := m3.Close(); err != nil {
		return nil, err
	}
	db.Close()

	runtime.KeepAlive(sink)
	tr := func(b bool) *bool { return &b }
	res := []Result{{Name: "addresses", Value: float64(*n), Unit: "addresses"}}
	missRes := Result{Name: "miss_ns", Value: missNs, Unit: "ns"} // in blocks of 64 (MatchBatch)
	if mapNs > 0 {
		missRes.Baseline, missRes.BaselineValue, missRes.Ratio = "map[[20]byte]uint64 lookup of the same strangers", mapNs, mapNs/missNs
		res = append(res, missRes, Result{Name: "miss_single_ns", Value: singleNs, Unit: "ns", Baseline: "map lookup", BaselineValue: mapNs, Ratio: mapNs / singleNs})
		missRes = Result{}
	}
	if missRes.Name != "" {
		res = append(res, missRes)
	}
	if mapNs > 0 {
		res = append(res, Result{Name: "miss_ratio_vs_map", Value: mapNs / missNs, Unit: "x", Target: ">= 5x", Met: tr(mapNs/missNs >= 5)})
	}
	res = append(res,
		Result{Name: "memory_read_ns", Value: memNs, Unit: "ns", Baseline: "the matcher's stranger lookup", BaselineValue: missNs, Ratio: missNs / memNs},
		Result{Name: "miss_ratio_vs_memory_read", Value: missNs / memNs, Unit: "x"},
		Result{Name: "filter_bits_per_address", Value: bits, Unit: "bits", Baseline: "map[[20]byte]uint64, about", BaselineValue: 320,
			Ratio: 320 / bits, Target: "<= 16", Met: tr(bits <= 16)},
		Result{Name: "false_positive_rate", Value: 100 * float64(pos) / float64(len(miss)), Unit: "%", Target: "<= 0.2%", Met: tr(float64(pos)/float64(len(miss)) <= 0.002)},
		Result{Name: "false_matches", Value: float64(falseMatches), Unit: "matches", Target: "0", Met: tr(falseMatches == 0)},
		Result{Name: "adds_per_s", Value: addRate, Unit: "addresses/s", Target: ">= 200000 with lookups running", Met: tr(addRate >= 200_000)},
		Result{Name: "lookups_per_s_during_adds", Value: concurrentLookups, Unit: "lookups/s"},
		Result{Name: "initial_load_per_s", Value: loadRate, Unit: "addresses/s"},
		Result{Name: "snapshot_write_s", Value: snapshotWrite, Unit: "s"},
		Result{Name: "startup_s", Value: startup, Unit: "s", Target: "<= 10 s", Met: tr(startup <= 10)},
		startupCrashResult(startupCrash, *n+*adds),
		Result{Name: "filter_bits_after_adds", Value: bitsAfter, Unit: "bits", Target: "<= 16", Met: tr(bitsAfter <= 16.01)},
		Result{Name: "filter_mb", Value: filterMB, Unit: "MB"},
	)
	return res, nil
}

// startupCrashResult is a restart after a crash, when there is no snapshot
// and the filter is rebuilt from the whole set: held to the 10 s target up
// to 12M addresses; past that it is shown, and grows with the set.
func startupCrashResult(s float64, n int) Result {
	r := Result{Name: "startup_after_crash_s", Value: s, Unit: "s"}
	if n <= 12_000_000 {
		met := s <= 10
		r.Target, r.Met = "<= 10 s", &met
	}
	return r
}
