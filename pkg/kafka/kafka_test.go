package kafka

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
	"github.com/inflowhq/inflow/pkg/testenv"
)

// brokerWithTopic starts an embedded broker, stopped when the test ends,
// with a one-partition topic.
func brokerWithTopic(t *testing.T, topic string) Config {
	t.Helper()
	b, cfg := startWithTopics(t, broker.Options{}, TopicSpec{Name: topic, Partitions: 1})
	t.Cleanup(b.Close)
	return cfg
}

// startWithTopics starts an embedded broker with o (the caller stops it)
// and creates the topics.
func startWithTopics(t *testing.T, o broker.Options, specs ...TopicSpec) (*broker.Broker, Config) {
	t.Helper()
	b, err := broker.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Brokers: b.Addrs()}
	admin, err := NewAdmin(cfg)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	defer admin.Close()
	if err := EnsureTopics(context.Background(), admin, specs...); err != nil {
		b.Close()
		t.Fatal(err)
	}
	return b, cfg
}

func readAll(t *testing.T, cfg Config, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := NewConsumer(cfg, []string{topic}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records from %s", len(out), want, topic)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// TestEmbeddedPersists writes through a transactional producer, restarts the
// broker on the same data directory, and reads the records back in order.
func TestEmbeddedPersists(t *testing.T) {
	dir := t.TempDir()
	spec := ChainTopic(chain.ID("evm-devnet"))
	b, cfg := startWithTopics(t, broker.Options{DataDir: dir}, spec, AddressesTopic())
	port := b.Port()
	ctx := context.Background()
	admin, err := NewAdmin(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureTopics(ctx, admin, spec); err != nil { // idempotent
		t.Fatal(err)
	}
	admin.Close()
	p, err := NewTxProducer(cfg, "test-writer")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := p.Publish(ctx, &kgo.Record{Topic: spec.Name, Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	b.Close()

	b, err = broker.Start(broker.Options{DataDir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	recs := readAll(t, cfg, spec.Name, 5)
	last := int64(-1)
	for i, r := range recs {
		// Offsets increase but skip the transaction markers between batches.
		if string(r.Value) != fmt.Sprint(i) || r.Offset <= last {
			t.Errorf("record %d = %q at offset %d (previous %d)", i, r.Value, r.Offset, last)
		}
		last = r.Offset
	}
}

// TestFencing: a second producer with the same transactional id fences the
// first, whose writes then fail and never become visible.
func TestFencing(t *testing.T) {
	cfg := brokerWithTopic(t, "t")
	ctx := context.Background()
	first, err := NewTxProducer(cfg, "indexer-x")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := first.Publish(ctx, &kgo.Record{Topic: "t", Value: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	second, err := NewTxProducer(cfg, "indexer-x")
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := second.Publish(ctx, &kgo.Record{Topic: "t", Value: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	err = first.Publish(ctx, &kgo.Record{Topic: "t", Value: []byte("stale")})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("fenced producer's publish: err = %v, want ErrFenced", err)
	}
	if err := second.Publish(ctx, &kgo.Record{Topic: "t", Value: []byte("c")}); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, cfg, "t", 3)
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Value))
	}
	if fmt.Sprint(got) != "[a b c]" {
		t.Errorf("visible records = %v, want [a b c]", got)
	}
}

// TestPublishChecked: a failing check aborts its batch, which no
// read-committed reader ever sees; RecordAt reads a record back at its
// offset (committed, or in a transaction still open), reports an offset
// past the log's end, and an aborted record as none.
func TestPublishChecked(t *testing.T) {
	cfg := brokerWithTopic(t, "t")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := NewTxProducer(cfg, "indexer-checked")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	first := []*kgo.Record{{Topic: "t", Key: []byte("k1"), Value: []byte("a")}, {Topic: "t", Key: []byte("k2"), Value: []byte("b")}}
	if err := p.Publish(ctx, first...); err != nil {
		t.Fatal(err)
	}
	r, ok, err := RecordAt(ctx, p.Client(), "t", 0, first[1].Offset)
	if err != nil || !ok || string(r.Key) != "k2" {
		t.Fatalf("RecordAt(%d): %v %v %v, want k2", first[1].Offset, r, ok, err)
	}
	if _, ok, err := RecordAt(ctx, p.Client(), "t", 0, first[1].Offset+100); err != nil || ok {
		t.Fatalf("RecordAt past the end: ok %v, err %v; want nothing there", ok, err)
	}
	var seenOffset int64 = -1
	bad := errors.New("the log lost records")
	aborted := &kgo.Record{Topic: "t", Key: []byte("k3"), Value: []byte("aborted")}
	err = p.PublishChecked(ctx, func(ctx context.Context) error {
		return bad
	}, aborted)
	if !errors.Is(err, bad) {
		t.Fatalf("PublishChecked with a failing check: %v, want its error", err)
	}
	// An aborted transaction's record is in the log, and reads as none: a
	// commit a broker lost the marker of reads as the loss it is.
	if aborted.Offset <= first[1].Offset {
		t.Fatalf("the aborted record at offset %d", aborted.Offset)
	}
	if r, ok, err := RecordAt(ctx, p.Client(), "t", 0, aborted.Offset); err != nil || ok {
		t.Fatalf("RecordAt(%d), an aborted record: %v %v %v; want none", aborted.Offset, r, ok, err)
	}
	var checked []*kgo.Record
	err = p.PublishChecked(ctx, func(ctx context.Context) error {
		r, ok, err := RecordAt(ctx, p.Client(), "t", 0, checked[0].Offset)
		if err != nil || !ok || string(r.Key) != "k4" {
			return fmt.Errorf("the batch's own record read back uncommitted: %v %v %v", r, ok, err)
		}
		seenOffset = r.Offset
		return nil
	}, func() *kgo.Record {
		r := &kgo.Record{Topic: "t", Key: []byte("k4"), Value: []byte("c")}
		checked = append(checked, r)
		return r
	}())
	if err != nil {
		t.Fatal(err)
	}
	if seenOffset <= first[1].Offset {
		t.Fatalf("the checked batch at offset %d, not after %d", seenOffset, first[1].Offset)
	}
	recs := readAll(t, cfg, "t", 3)
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Value))
	}
	if fmt.Sprint(got) != "[a b c]" {
		t.Errorf("visible records = %v, want [a b c] (the aborted batch never)", got)
	}
}

// TestPublishAfterBrokerCrash: the broker crashes inside a transaction and
// comes back on its disk. Its recovery aborts the open transaction and bumps
// the producer's epoch, so the commit and then the abort fail, which leaves
// kgo's client inside a transaction: every BeginTransaction after that is
// refused ("already in a transaction"), and a chain published through it
// stalls for good. The producer takes a new client instead, and publishes.
func TestPublishAfterBrokerCrash(t *testing.T) {
	dir := t.TempDir()
	b, cfg := startWithTopics(t, broker.Options{DataDir: filepath.Join(dir, "1"), SyncWrites: true}, TopicSpec{Name: "t", Partitions: 1})
	port := b.Port()
	p, err := NewTxProducer(cfg, "indexer-x", kgo.RetryTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if err := p.Publish(ctx, &kgo.Record{Topic: "t", Value: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	var after *broker.Broker
	crash := func(context.Context) error {
		image := testenv.CopyDir(t, filepath.Join(dir, "1"), filepath.Join(dir, "2"))
		b.Close()
		var err error
		if after, err = broker.Start(broker.Options{DataDir: image, SyncWrites: true, Port: port}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(after.Close)
		return nil
	}
	if err := p.PublishChecked(ctx, crash, &kgo.Record{Topic: "t", Value: []byte("b")}); err == nil {
		t.Fatal("the transaction the broker crashed in committed")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := p.Publish(ctx, &kgo.Record{Topic: "t", Value: []byte("c")})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publishing after the crash: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var got []string
	for _, r := range readAll(t, cfg, "t", 2) {
		got = append(got, string(r.Value))
	}
	if fmt.Sprint(got) != "[a c]" {
		t.Errorf("visible records = %v, want [a c]", got)
	}
}
