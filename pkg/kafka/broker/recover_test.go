package broker_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
	"github.com/inflowhq/inflow/pkg/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A crash is a copy of the data directory taken while the broker runs: with
// SyncWrites every acknowledged batch is on disk, and nothing a clean stop
// writes (the snapshots) is.

// TestCrashAbortedStaysAborted: a transaction open at a crash is aborted, and
// stays aborted after the next crash, when the same producer id has
// committed a later transaction since. Without the ABORT marker Start writes,
// kfake's second replay pairs the later COMMIT with the open transaction's
// data and "b" comes back as committed.
func TestCrashAbortedStaysAborted(t *testing.T) {
	dir, second := crashInTransaction(t)

	b := start(t, second)
	if got := b.Recovered().Aborted; len(got) != 1 {
		t.Fatalf("aborted at the first restart: %v, want the one open transaction", got)
	}
	if got := committed(t, b); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after the first crash: %q, want [a]", got)
	}
	produce(t, b, "c", true)
	third := testenv.CopyDir(t, second, filepath.Join(dir, "3"))
	b.Close()

	b = start(t, third)
	if got := b.Recovered().Aborted; len(got) != 0 {
		t.Fatalf("aborted at the second restart: %v, want none", got)
	}
	if got := committed(t, b); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("after the second crash: %q, want [a c] (the aborted b must not come back)", got)
	}
	b.Close()
}

// TestIndexShortByOne: a crash between a batch's write and its index entry's
// leaves the index one short, and kfake appends every later entry after the
// gap: each is read back, at the next replay, as the entry of the batch
// before its own. Then the open transaction's "b" takes the flag of the
// committed "c" and comes back committed, and the open "d" is read as
// outside any transaction: both visible. Start rewrites the index from the
// batches (the flag is each batch's own transactional attribute).
func TestIndexShortByOne(t *testing.T) {
	dir, second := crashInTransaction(t)

	idx, err := filepath.Glob(filepath.Join(second, "partitions", "t-0", "*.idx"))
	if err != nil || len(idx) != 1 {
		t.Fatalf("index files: %v %v", idx, err)
	}
	raw, err := os.ReadFile(idx[0])
	if err != nil || len(raw) != 3*15 {
		t.Fatalf("index: %d bytes (want three entries: a, its commit, b), %v", len(raw), err)
	}
	if err := os.WriteFile(idx[0], raw[:len(raw)-15], 0o644); err != nil {
		t.Fatal(err)
	}

	b := start(t, second)
	if got := b.Recovered().IndexesRepaired; got != 1 {
		t.Fatalf("indexes repaired: %d, want 1", got)
	}
	produce(t, b, "c", true)
	produce(t, b, "d", false)
	third := testenv.CopyDir(t, second, filepath.Join(dir, "3"))
	b.Close()

	b = start(t, third)
	if got := b.Recovered().IndexesRepaired; got != 0 {
		t.Fatalf("indexes repaired at the second restart: %d, want 0", got)
	}
	if got := committed(t, b); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("after the second crash: %q, want [a c] (b and d never committed)", got)
	}
	b.Close()
}

// crashInTransaction: a broker commits "a", then crashes inside a
// transaction writing "b". It returns the test's folder and the crash image.
func crashInTransaction(t *testing.T) (dir, image string) {
	t.Helper()
	dir = t.TempDir()
	first := filepath.Join(dir, "1")
	b := start(t, first)
	produce(t, b, "a", true)
	produce(t, b, "b", false)
	image = testenv.CopyDir(t, first, filepath.Join(dir, "2"))
	b.Close()
	return dir, image
}

func start(t *testing.T, dir string) *broker.Broker {
	t.Helper()
	b, err := broker.Start(broker.Options{DataDir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	admin, err := kafka.NewAdmin(kafka.Config{Brokers: b.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := kafka.EnsureTopics(context.Background(), admin, kafka.TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	return b
}

// produce writes v in a transaction of the producer "p", committed or left
// open (the client is closed without ending it, as a crash would).
func produce(t *testing.T, b *broker.Broker, v string, commit bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.TransactionalID("p"), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte(v)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if commit {
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
}

// committed reads the topic's committed records: every one up to the end
// of the log, then a second of nothing more.
func committed(t *testing.T, b *broker.Broker) []string {
	t.Helper()
	cl, err := kafka.NewConsumer(kafka.Config{Brokers: b.Addrs()}, []string{"t"}, kafka.Offsets{"t": {0: 0}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		if fs.NumRecords() == 0 {
			return got
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
}
