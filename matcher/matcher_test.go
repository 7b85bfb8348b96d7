package matcher

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
	"github.com/inflowhq/inflow/pkg/kv"
)

func openMem(t testing.TB, fs vfs.FS) *pebble.DB {
	t.Helper()
	db, err := kv.Open("db", fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func parseLine(t *testing.T, line string) (chain.Address, []string) {
	f := strings.Fields(line)
	fam, err := chain.ParseFamily(f[0])
	if err != nil {
		t.Fatal(err)
	}
	a, err := chain.ParseAddress(fam, f[1])
	if err != nil {
		t.Fatal(err)
	}
	return a, f[2:]
}

func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		fs := vfs.NewMem()
		db := openMem(t, fs)
		m, err := Open(db, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { db.Close() }()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			lines := strings.Split(strings.TrimSpace(d.Input), "\n")
			switch d.Cmd {
			case "add", "remove":
				var cs []events.AddressRecord
				for _, l := range lines {
					a, rest := parseLine(t, l)
					c := events.AddressRecord{Address: a, Removed: d.Cmd == "remove"}
					if !c.Removed {
						c.ID, _ = strconv.ParseUint(rest[0], 10, 64)
					}
					cs = append(cs, c)
				}
				if err := m.Apply(cs, nil); err != nil {
					return "error: " + err.Error()
				}
				return fmt.Sprintf("len=%d", m.Len())
			case "match":
				var out []string
				for _, l := range lines {
					a, _ := parseLine(t, l)
					id, ok := m.MatchAddress(a)
					res := "miss"
					if ok {
						res = strconv.FormatUint(id, 10)
					}
					out = append(out, fmt.Sprintf("%s %s: %s", a.Family(), a, res))
				}
				return strings.Join(out, "\n")
			case "restart":
				db.Close()
				db = openMem(t, fs)
				if m, err = Open(db, Options{}); err != nil {
					t.Fatal(err)
				}
				return fmt.Sprintf("len=%d", m.Len())
			}
			t.Fatalf("unknown command %s", d.Cmd)
			return ""
		})
	})
}

func randomAddrs(n int) [][20]byte {
	out := make([][20]byte, n)
	buf := make([]byte, 20*n)
	rand.Read(buf)
	for i := range out {
		copy(out[i][:], buf[i*20:])
	}
	return out
}

// TestFilterProperties: at 16 bits per address the filter passes at most
// 0.2% of strangers, and no stranger ever matches.
func TestFilterProperties(t *testing.T) {
	const n = 200_000
	db := openMem(t, vfs.NewMem())
	defer db.Close()
	m, err := Open(db, Options{Capacity: n})
	if err != nil {
		t.Fatal(err)
	}
	watched := randomAddrs(n)
	cs := make([]events.AddressRecord, n)
	for i, a := range watched {
		cs[i] = events.AddressRecord{Address: chain.EVMAddress(a), ID: uint64(i + 1)}
	}
	if err := m.Apply(cs, nil); err != nil {
		t.Fatal(err)
	}
	for i, a := range watched {
		if id, ok := m.Match(chain.FamilyEVM, a[:]); !ok || id != uint64(i+1) {
			t.Fatalf("watched address %d: id=%d ok=%v", i, id, ok)
		}
	}
	strangers := randomAddrs(1_000_000)
	pos, matched := 0, 0
	for _, a := range strangers {
		if m.MayContain(chain.FamilyEVM, a[:]) {
			pos++
		}
		if _, ok := m.Match(chain.FamilyEVM, a[:]); ok {
			matched++
		}
	}
	fpr := float64(pos) / float64(len(strangers))
	bitsPer := float64(m.FilterBytes()*8) / n
	t.Logf("filter: %.1f bits/address, false-positive rate %.4f%%", bitsPer, 100*fpr)
	if fpr > 0.002 {
		t.Errorf("false-positive rate %.4f%% > 0.2%%", 100*fpr)
	}
	if matched != 0 {
		t.Errorf("%d strangers matched", matched)
	}
	if bitsPer > 16.5 {
		t.Errorf("filter uses %.1f bits per address", bitsPer)
	}
}

// TestGrowth: adding past the capacity rebuilds a larger filter and loses
// nothing, while lookups run concurrently.
func TestGrowth(t *testing.T) {
	db := openMem(t, vfs.NewMem())
	defer db.Close()
	m, err := Open(db, Options{Capacity: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	before := m.FilterBytes()
	addrs := randomAddrs(150_000)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				m.Match(chain.FamilyEVM, addrs[0][:])
			}
		}
	}()
	for lo := 0; lo < len(addrs); lo += 1000 {
		var cs []events.AddressRecord
		for i := lo; i < lo+1000; i++ {
			cs = append(cs, events.AddressRecord{Address: chain.EVMAddress(addrs[i]), ID: uint64(i + 1)})
		}
		if err := m.Apply(cs, nil); err != nil {
			t.Fatal(err)
		}
		// Everything added so far matches right away.
		for i := 0; i < lo+1000; i += 997 {
			if _, ok := m.Match(chain.FamilyEVM, addrs[i][:]); !ok {
				t.Fatalf("address %d lost after adding %d", i, lo+1000)
			}
		}
	}
	close(stop)
	wg.Wait()
	m.WaitRebuild()
	if m.FilterBytes() <= before {
		t.Errorf("filter did not grow: %d bytes", m.FilterBytes())
	}
	// Reopened, the filter is sized for the set: 16 bits per address.
	m2, err := Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b := m2.FilterBytes(); b != newFilter(uint64(len(addrs)), 16).sizeBytes() {
		t.Errorf("reopened filter is %d bytes", b)
	}
	for i := range addrs {
		if _, ok := m2.Match(chain.FamilyEVM, addrs[i][:]); !ok {
			t.Fatalf("address %d lost after reopening", i)
		}
	}
}

// TestRebuildKeepsMemory: past the minimum, each rebuild sizes the filter for
// the set, so memory per address stays within [16/growAt, 16] bits and every
// address added while a rebuild runs still matches after the swap.
func TestRebuildKeepsMemory(t *testing.T) {
	db := openMem(t, vfs.NewMem())
	defer db.Close()
	m, err := Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addrs := randomAddrs(400_000)
	rebuilds := 0
	last := m.FilterBytes()
	for lo := 0; lo < len(addrs); lo += 5000 {
		var cs []events.AddressRecord
		for i := lo; i < lo+5000; i++ {
			cs = append(cs, events.AddressRecord{Address: chain.EVMAddress(addrs[i]), ID: uint64(i + 1)})
		}
		if err := m.Apply(cs, nil); err != nil {
			t.Fatal(err)
		}
		if lo%20000 == 0 {
			m.WaitRebuild()
		}
		if b := m.FilterBytes(); b != last {
			rebuilds++
			last = b
			// Adds may outrun a rebuild for a while (the next one then
			// starts at once), so only the upper bound holds throughout.
			if n := lo + 5000; n > minCapacity {
				bits := float64(b*8) / float64(n)
				if bits > 16.01 {
					t.Errorf("after a rebuild at %d addresses: %.2f bits per address", n, bits)
				}
			}
		}
	}
	m.WaitRebuild()
	if rebuilds < 5 {
		t.Errorf("only %d rebuilds while growing to %d", rebuilds, len(addrs))
	}
	if bits := float64(m.FilterBytes()*8) / float64(len(addrs)); bits > 16.01 || bits < 16/growAt-0.01 {
		t.Errorf("%.2f bits per address at the end", bits)
	}
	for i := range addrs {
		if _, ok := m.Match(chain.FamilyEVM, addrs[i][:]); !ok {
			t.Fatalf("address %d lost", i)
		}
	}
}

// TestFollow consumes inflow.addresses from an embedded broker, stores the
// offsets with the changes, and resumes after a restart without re-reading.
func TestFollow(t *testing.T) {
	b, err := broker.Start(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := kafka.Config{Brokers: b.Addrs()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, _ := kafka.NewAdmin(cfg)
	defer admin.Close()
	if err := kafka.EnsureTopics(ctx, admin, kafka.AddressesTopic()); err != nil {
		t.Fatal(err)
	}
	prod, err := kafka.NewProducer(cfg, kgo.DefaultProduceTopic(kafka.TopicAddresses))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	addrs := randomAddrs(300)
	produce := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := events.AddressRecord{Address: chain.EVMAddress(addrs[i]), ID: uint64(i + 1)}
			if err := prod.ProduceSync(ctx, &kgo.Record{Key: r.Key(), Value: r.Value()}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(0, 200)

	fs := vfs.NewMem()
	db := openMem(t, fs)
	m, err := Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithCancel(ctx)
	caught := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- m.Follow(fctx, cfg, caught) }()
	select {
	case <-caught:
	case <-ctx.Done():
		t.Fatal("matcher never caught up")
	}
	if m.Len() != 200 {
		t.Fatalf("caught up with %d addresses, want 200", m.Len())
	}
	// A new address is matched as soon as its record is consumed.
	produce(200, 201)
	waitMatch(t, m, addrs[200], 201)
	fcancel()
	<-done
	offs, _ := m.Offsets()
	total := int64(0)
	for _, o := range offs {
		total += o
	}
	if total != 201 {
		t.Errorf("stored offsets sum to %d, want 201", total)
	}
	db.Close()

	// Restart: resume from the stored offsets, then take the rest.
	db = openMem(t, fs)
	defer db.Close()
	m, err = Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	produce(201, 300)
	// Remove one address through a tombstone.
	gone := events.AddressRecord{Address: chain.EVMAddress(addrs[5]), Removed: true}
	if err := prod.ProduceSync(ctx, &kgo.Record{Key: gone.Key(), Value: gone.Value()}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	caught = make(chan struct{})
	go func() { done <- m.Follow(ctx, cfg, caught) }()
	<-caught
	waitMatch(t, m, addrs[299], 300)
	deadline := time.Now().Add(10 * time.Second)
	for m.Len() != 299 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if m.Len() != 299 {
		t.Fatalf("len = %d, want 299", m.Len())
	}
	if _, ok := m.Match(chain.FamilyEVM, addrs[5][:]); ok {
		t.Error("removed address still matches")
	}
	for i := 0; i < 300; i++ {
		if i == 5 {
			continue
		}
		if id, ok := m.Match(chain.FamilyEVM, addrs[i][:]); !ok || id != uint64(i+1) {
			t.Fatalf("address %d: %d %v", i, id, ok)
		}
	}
}

func waitMatch(t *testing.T, m *Matcher, a [20]byte, id uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if got, ok := m.Match(chain.FamilyEVM, a[:]); ok && got == id {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("address %x never matched", a)
}

func BenchmarkMatchStranger(b *testing.B) {
	db := openMem(b, vfs.NewMem())
	defer db.Close()
	m, _ := Open(db, Options{Capacity: 1 << 20})
	watched := randomAddrs(100_000)
	cs := make([]events.AddressRecord, len(watched))
	for i, a := range watched {
		cs[i] = events.AddressRecord{Address: chain.EVMAddress(a), ID: uint64(i + 1)}
	}
	m.Apply(cs, nil)
	strangers := randomAddrs(1 << 16)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := &strangers[i&(1<<16-1)]
		m.Match(chain.FamilyEVM, a[:])
	}
	_ = binary.BigEndian
}

// TestCountPersists: the stored count survives restarts and ignores repeats
// within one batch.
func TestCountPersists(t *testing.T) {
	fs := vfs.NewMem()
	db := openMem(t, fs)
	m, _ := Open(db, Options{})
	a := randomAddrs(3)
	cs := []events.AddressRecord{{Address: chain.EVMAddress(a[0]), ID: 1}, {Address: chain.EVMAddress(a[0]), ID: 1}, {Address: chain.EVMAddress(a[1]), ID: 2}}
	if err := m.Apply(cs, nil); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 2 {
		t.Fatalf("len = %d, want 2", m.Len())
	}
	m.Apply([]events.AddressRecord{{Address: chain.EVMAddress(a[1]), Removed: true}, {Address: chain.EVMAddress(a[2]), Removed: true}}, nil)
	db.Close()
	db = openMem(t, fs)
	defer db.Close()
	m, _ = Open(db, Options{})
	if m.Len() != 1 {
		t.Fatalf("len after restart = %d, want 1", m.Len())
	}
}

// TestMatchBatch: the batch answers exactly what single lookups answer.
func TestMatchBatch(t *testing.T) {
	db := openMem(t, vfs.NewMem())
	defer db.Close()
	m, _ := Open(db, Options{Capacity: 20_000})
	watched := randomAddrs(10_000)
	cs := make([]events.AddressRecord, len(watched))
	for i, a := range watched {
		cs[i] = events.AddressRecord{Address: chain.EVMAddress(a), ID: uint64(i + 1)}
	}
	m.Apply(cs, nil)
	mixed := append(randomAddrs(5_000), watched[:3_000]...)
	addrs := make([][]byte, len(mixed))
	for i := range mixed {
		addrs[i] = mixed[i][:]
	}
	for _, size := range []int{1, 7, 32, 33, len(addrs)} {
		ids := make([]uint64, size)
		for lo := 0; lo+size <= len(addrs); lo += size {
			n := m.MatchBatch(chain.FamilyEVM, addrs[lo:lo+size], ids)
			got := 0
			for i, id := range ids {
				want, ok := m.Match(chain.FamilyEVM, addrs[lo+i])
				if id != want || ok != (id != 0) {
					t.Fatalf("batch of %d, item %d: %d, single lookup %d %v", size, lo+i, id, want, ok)
				}
				if ok {
					got++
				}
			}
			if n != got {
				t.Fatalf("batch reported %d matches, %d found", n, got)
			}
		}
	}
}

func BenchmarkMatchBatch(b *testing.B) {
	db := openMem(b, vfs.NewMem())
	defer db.Close()
	m, _ := Open(db, Options{Capacity: 1 << 20})
	watched := randomAddrs(1 << 20)
	cs := make([]events.AddressRecord, len(watched))
	for i, a := range watched {
		cs[i] = events.AddressRecord{Address: chain.EVMAddress(a), ID: uint64(i + 1)}
	}
	m.Apply(cs, nil)
	strangers := randomAddrs(1 << 16)
	keys := make([][]byte, len(strangers))
	for i := range strangers {
		keys[i] = strangers[i][:]
	}
	ids := make([]uint64, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := (i * 64) & (1<<16 - 1)
		m.MatchBatch(chain.FamilyEVM, keys[j:j+64], ids)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/lookup")
}

// TestSnapshot: a clean close writes the filter, and the next open reads it
// instead of the stored set; every address still matches. A snapshot is
// used once: after a crash (no close) the filter is rebuilt, even with an
// old snapshot file of the same count put back, and a damaged file is
// rebuilt from too.
func TestSnapshot(t *testing.T) {
	db := openMem(t, vfs.NewMem())
	defer db.Close()
	path := filepath.Join(t.TempDir(), "filter")
	addrs := randomAddrs(60_000)
	change := func(m *Matcher, lo, hi int, removed bool) {
		t.Helper()
		var cs []events.AddressRecord
		for i := lo; i < hi; i++ {
			cs = append(cs, events.AddressRecord{Address: chain.EVMAddress(addrs[i]), ID: uint64(i + 1), Removed: removed})
		}
		if err := m.Apply(cs, nil); err != nil {
			t.Fatal(err)
		}
	}
	// open checks that exactly addrs[from:to] match.
	open := func(wantSnapshot bool, from, to int) *Matcher {
		t.Helper()
		m, err := Open(db, Options{Snapshot: path})
		if err != nil {
			t.Fatal(err)
		}
		if m.FromSnapshot != wantSnapshot {
			t.Fatalf("opened from a snapshot: %v, want %v", m.FromSnapshot, wantSnapshot)
		}
		for i := range addrs {
			id, ok := m.Match(chain.FamilyEVM, addrs[i][:])
			if want := i >= from && i < to; ok != want || (ok && id != uint64(i+1)) {
				t.Fatalf("address %d: %d, %v; want a match: %v", i, id, ok, want)
			}
		}
		strangers, pos := randomAddrs(100_000), 0
		for _, a := range strangers {
			if m.MayContain(chain.FamilyEVM, a[:]) {
				pos++
			}
			if _, ok := m.Match(chain.FamilyEVM, a[:]); ok {
				t.Fatalf("a stranger matched")
			}
		}
		if pos > 300 {
			t.Fatalf("%d of 100000 strangers pass the filter", pos)
		}
		return m
	}

	m := open(false, 0, 0)
	change(m, 0, 50_000, false)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply([]events.AddressRecord{{Address: chain.EVMAddress(addrs[59_999]), ID: 1}}, nil); err == nil {
		t.Fatal("a change after Close was taken")
	}
	kept, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	m = open(true, 0, 50_000)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the snapshot file is still there after it was read: %v", err)
	}
	// 5000 in, 5000 out: the same count as the snapshot kept above. Then a
	// crash, no Close, and the old snapshot put back: it is not used, since
	// it lacks the addresses added since.
	change(m, 50_000, 55_000, false)
	change(m, 0, 5_000, true)
	if err := os.WriteFile(path, kept, 0o644); err != nil {
		t.Fatal(err)
	}
	m = open(false, 5_000, 55_000)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// A damaged snapshot is not used either.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m = open(false, 5_000, 55_000)
	change(m, 55_000, 60_000, false)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = open(true, 5_000, 60_000)
	m.Close()
}
