// Package indexertest holds what the indexer's integration tests share:
// reading a chain topic back, publishing watched addresses, and checking
// that a record stream replays into a gap-free canonical chain.
package indexertest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
)

// Reader reads a chain topic from the beginning, incrementally.
type Reader struct {
	cl   *kgo.Client
	Recs []*events.Record
	Raw  [][]byte
}

// NewReader starts reading topic.
func NewReader(t testing.TB, cfg kafka.Config, topic string) *Reader {
	cl, err := kafka.NewConsumer(cfg, []string{topic}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &Reader{cl: cl}
}

// Until polls until cond holds on everything read so far, or fails the test.
func (r *Reader) Until(t testing.TB, timeout time.Duration, what string, cond func(recs []*events.Record) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond(r.Recs) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; read %d records", timeout, what, len(r.Recs))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := r.cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(kr *kgo.Record) {
			rec, err := events.Unmarshal(kr.Value)
			if err != nil {
				t.Fatalf("offset %d: %v", kr.Offset, err)
			}
			if id := rec.ID(); !bytes.Equal(kr.Key, id[:]) {
				t.Fatalf("offset %d: key %x is not the record id %s", kr.Offset, kr.Key, id)
			}
			r.Recs = append(r.Recs, rec)
			r.Raw = append(r.Raw, kr.Value)
		})
	}
}

// Poll reads whatever arrives within d.
func (r *Reader) Poll(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	r.Until(t, d+time.Second, "a poll", func([]*events.Record) bool { return time.Now().After(deadline) })
}

// Watch publishes address records to inflow.addresses.
func Watch(t testing.TB, cfg kafka.Config, recs ...events.AddressRecord) {
	t.Helper()
	p, err := kafka.NewProducer(cfg, kgo.DefaultProduceTopic(kafka.TopicAddresses))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, r := range recs {
		if err := p.ProduceSync(context.Background(), &kgo.Record{Key: r.Key(), Value: r.Value()}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// Replay applies records the way a consumer must: records seen before (same
// id) are skipped after checking they are byte-identical; a connection must
// extend the current tip; a disconnection must remove the current tip. It
// returns the resulting chain, ascending, and the number of duplicates.
func Replay(recs []*events.Record, raw [][]byte) (tip []chain.BlockRef, dups int, err error) {
	seen := map[events.ID][]byte{}
	for i, r := range recs {
		id := r.ID()
		if prev, ok := seen[id]; ok {
			if !bytes.Equal(prev, raw[i]) {
				return nil, dups, fmt.Errorf("record %d (%s) repeats id %s with different content", i, r, id)
			}
			dups++
			continue
		}
		seen[id] = raw[i]
		switch r.Type {
		case events.TypeBlockConnected:
			if len(tip) > 0 && r.Parent != tip[len(tip)-1].Hash {
				return nil, dups, fmt.Errorf("record %d: %s does not extend the tip %s", i, r, tip[len(tip)-1])
			}
			tip = append(tip, r.Block())
		case events.TypeBlockDisconnected:
			if len(tip) == 0 || tip[len(tip)-1].Hash != r.Hash || tip[len(tip)-1].Number != r.Number {
				return nil, dups, fmt.Errorf("record %d: %s is not the tip", i, r)
			}
			tip = tip[:len(tip)-1]
		}
	}
	return tip, dups, nil
}
