package follow

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
)

// ErrRecordsLost is a publisher's finding that its topic ends before the
// records it had published and had acknowledged: the brokers lost them (a
// broker that was killed before it wrote them, an unclean leader election).
// Publishing on would leave a gap; the follower reads the topic's last block
// back and publishes again from there (TopicTail).
var ErrRecordsLost = errors.New("follow: the chain topic lost records the brokers had acknowledged")

// TopicTail is a Publisher that can read its topic back.
type TopicTail interface {
	// LastBlock returns the topic's last record that moves its tip (a
	// BlockConnected or BlockDisconnected), nil if it holds none.
	LastBlock(ctx context.Context, id chain.ID) (*events.Record, error)
}

// KafkaPublisher publishes records to their chain topic, each batch in one
// Kafka transaction: a batch is visible whole or not at all, and a second
// indexer with the same transactional id fences this one (ErrFenced).
//
// With Cfg set it also guards against records lost by the brokers: each
// batch, written and not yet committed, is checked against the log (its
// offsets, and this publisher's last record read back), and aborted with
// ErrRecordsLost if records before it are gone; LastBlock reads the topic
// back.
type KafkaPublisher struct {
	P   *kafka.TxProducer
	Cfg kafka.Config

	mu   sync.Mutex
	ends map[string]int64   // topic → the least its log end can be
	last map[string]lastRec // topic → this publisher's last committed record
	// suspect: a batch failed since the last one committed (its records
	// may sit in the log, aborted); the next is read back in full.
	suspect bool
}

// lastRec is where a publisher's last committed record is, and its key.
type lastRec struct {
	offset int64
	key    string
}

// Publish encodes recs and returns once the transaction is committed.
func (k *KafkaPublisher) Publish(ctx context.Context, recs []*events.Record) error {
	if len(recs) == 0 {
		return nil
	}
	out := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		v, err := r.Marshal()
		if err != nil {
			return err
		}
		id := r.ID()
		out[i] = &kgo.Record{Topic: r.Chain.Topic(), Key: id[:], Value: v}
	}
	topic := out[0].Topic
	k.mu.Lock()
	want, known := k.ends[topic]
	prev, havePrev := k.last[topic]
	suspect := k.suspect
	k.mu.Unlock()
	var check func(context.Context) error
	if known && len(k.Cfg.Brokers) > 0 {
		// Written but not committed yet, the batch is checked against the
		// log: the records before it must all be there. Its first record
		// lies at or past the end the last batch left, and this
		// publisher's last record is still where it was. If not, the
		// brokers lost records: the batch is aborted, never visible, and
		// the follower publishes again from the topic's last block.
		check = func(ctx context.Context) error {
			if out[0].Offset < want {
				return fmt.Errorf("%w: %s takes this batch at offset %d, below %d where this indexer's last batch ended", ErrRecordsLost, topic, out[0].Offset, want)
			}
			if !havePrev {
				return nil
			}
			// The batch right after this publisher's last one, past its
			// commit marker alone, with no failed batch since: nothing was
			// written in between, so nothing before it can be gone (a loss
			// would have put it lower). Otherwise the last record is read
			// back.
			if out[0].Offset == prev.offset+2 && !suspect {
				return nil
			}
			r, ok, err := kafka.RecordAt(ctx, k.P.Client(), topic, 0, prev.offset)
			if err != nil {
				return fmt.Errorf("read back %s at %d: %w", topic, prev.offset, err)
			}
			if !ok || string(r.Key) != prev.key {
				return fmt.Errorf("%w: %s no longer holds this indexer's last record at offset %d", ErrRecordsLost, topic, prev.offset)
			}
			return nil
		}
	}
	if err := k.P.PublishChecked(ctx, check, out...); err != nil {
		k.mu.Lock()
		k.suspect = true
		k.mu.Unlock()
		return err
	}
	lastOut := out[len(out)-1]
	k.mu.Lock()
	if k.ends == nil {
		k.ends, k.last = map[string]int64{}, map[string]lastRec{}
	}
	k.ends[topic] = max(k.ends[topic], lastOut.Offset+1)
	k.last[topic] = lastRec{lastOut.Offset, string(lastOut.Key)}
	k.suspect = false
	k.mu.Unlock()
	return nil
}

// LastBlock reads the chain topic's last BlockConnected or
// BlockDisconnected back, reading the log's tail and further back while it
// holds neither. From then on Publish checks the log against its end.
func (k *KafkaPublisher) LastBlock(ctx context.Context, id chain.ID) (*events.Record, error) {
	if len(k.Cfg.Brokers) == 0 {
		return nil, errors.New("follow: the publisher has no brokers to read its topic from")
	}
	topic := id.Topic()
	ends, err := kafka.LogEnds(ctx, k.P.Client(), topic)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, nil // nothing published yet
	}
	if err != nil {
		return nil, fmt.Errorf("read the end of %s: %w", topic, err)
	}
	end := ends[0]
	k.mu.Lock()
	if k.ends == nil {
		k.ends, k.last = map[string]int64{}, map[string]lastRec{}
	}
	k.ends[topic] = end
	delete(k.last, topic) // the next batch starts a new run of checks
	k.mu.Unlock()
	for back := int64(256); end > 0; back *= 8 {
		from := max(0, end-back)
		last, err := lastTipRecord(ctx, k.Cfg, topic, from, end)
		if err != nil || last != nil || from == 0 {
			return last, err
		}
	}
	return nil, nil
}

// lastTipRecord reads the committed records of topic's one partition in
// [from, end) and returns the last one that moves the tip.
func lastTipRecord(ctx context.Context, cfg kafka.Config, topic string, from, end int64) (*events.Record, error) {
	cl, err := kafka.NewConsumer(cfg, []string{topic}, kafka.Offsets{topic: {0: from}})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var last *events.Record
	got := false
	for {
		// The committed records come in order; the tail of a log holds a
		// commit marker (never delivered), and a transaction still open (a
		// rescan's) holds back what follows it: a quiet second after the
		// first answer means the readable part has been read.
		wait := 10 * time.Second
		if got {
			wait = time.Second
		}
		pctx, cancel := context.WithTimeout(ctx, wait)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("read %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		n, done := 0, false
		var derr error
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if r.Offset >= end {
				done = true
				return
			}
			rec, err := events.Unmarshal(r.Value)
			if err != nil {
				derr = fmt.Errorf("%s offset %d: %w", topic, r.Offset, err)
				return
			}
			if rec.Type == events.TypeBlockConnected || rec.Type == events.TypeBlockDisconnected {
				last = rec
			}
			if r.Offset >= end-2 {
				done = true // the last record (and its commit marker)
			}
		})
		if derr != nil {
			return nil, derr
		}
		if done || n == 0 {
			// Nothing at all in 10 s: the range holds no committed record
			// (aborted batches only); the caller reads further back.
			return last, nil
		}
		got = true
	}
}
