// Package kafka holds Inflow's Kafka plumbing on franz-go: the topic layout,
// topic creation, producers (idempotent with acks=all, and transactional for
// writers that must be fenced), consumers that start from offsets the caller
// stores itself, and the embedded broker used by `make run` and the tests.
//
// Invariants:
//   - A chain topic has exactly one partition, so a chain's records are totally
//     ordered. Its only writer is that chain's indexer, whose transactional id
//     fences any second indexer.
//   - Consumers never commit offsets to Kafka. Each stores the offset it has
//     applied in its own Pebble batch, together with the effect of the records,
//     and restarts from there: exactly-once effects over at-least-once delivery.
//   - Consumers read committed records only, so an aborted or fenced write is
//     never seen.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/inflowhq/inflow/pkg/chain"
)

// Topic names.
const (
	TopicAddresses = "inflow.addresses"
	TopicDeposits  = "inflow.deposits"
)

// ErrFenced is returned when a newer producer with the same transactional id
// has taken over: this process must stop writing.
var ErrFenced = errors.New("kafka: producer fenced by a newer instance")

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name       string
	Partitions int32
	Configs    map[string]string
}

// ChainTopic is the spec of inflow.chain.<id>: one partition, kept.
func ChainTopic(id chain.ID) TopicSpec {
	return TopicSpec{Name: id.Topic(), Partitions: 1, Configs: map[string]string{"retention.ms": "-1"}}
}

// AddressesTopic is the spec of inflow.addresses: compacted, keyed by family
// and address bytes.
func AddressesTopic() TopicSpec {
	return TopicSpec{Name: TopicAddresses, Partitions: 8, Configs: map[string]string{"cleanup.policy": "compact"}}
}

// DepositsTopic is the spec of inflow.deposits, the public event log.
func DepositsTopic() TopicSpec {
	return TopicSpec{Name: TopicDeposits, Partitions: 8, Configs: map[string]string{"retention.ms": "-1"}}
}

// EnsureTopics creates the topics that do not exist yet. Existing topics are
// left as they are.
func EnsureTopics(ctx context.Context, cl *kgo.Client, specs ...TopicSpec) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10_000
	for _, s := range specs {
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic = s.Name
		t.NumPartitions = s.Partitions
		t.ReplicationFactor = -1
		for k, v := range s.Configs {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name = k
			c.Value = kmsg.StringPtr(v)
			t.Configs = append(t.Configs, c)
		}
		req.Topics = append(req.Topics, t)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.Topic, err)
		}
	}
	return nil
}

// Config is what every client needs.
type Config struct {
	Brokers  []string
	ClientID string
}

func (c Config) base() []kgo.Opt {
	id := c.ClientID
	if id == "" {
		id = "inflow"
	}
	return []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(id),
		kgo.RetryTimeout(30 * time.Second),
	}
}

// NewAdmin returns a client for metadata and topic administration.
func NewAdmin(cfg Config) (*kgo.Client, error) {
	return kgo.NewClient(cfg.base()...)
}

// NewProducer returns an idempotent producer with acks=all.
func NewProducer(cfg Config, extra ...kgo.Opt) (*kgo.Client, error) {
	opts := append(cfg.base(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	)
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return cl, nil
}

// TxProducer writes batches of records atomically under a transactional id.
// Starting a second TxProducer with the same id fences the first: its next
// Publish returns ErrFenced.
type TxProducer struct {
	cl *kgo.Client
}

// NewTxProducer starts a transactional, idempotent, acks=all producer.
func NewTxProducer(cfg Config, txnID string, extra ...kgo.Opt) (*TxProducer, error) {
	opts := append(cfg.base(),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(60*time.Second),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
	)
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka transactional producer %s: %w", txnID, err)
	}
	return &TxProducer{cl: cl}, nil
}

// Client exposes the underlying client (for metadata calls).
func (p *TxProducer) Client() *kgo.Client { return p.cl }

// Publish writes recs in one transaction and returns once it is committed:
// every record is then durable (acks=all) and visible to read-committed
// consumers, in order. On error nothing of the batch is visible.
func (p *TxProducer) Publish(ctx context.Context, recs ...*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := p.cl.BeginTransaction(); err != nil {
		return p.classify(fmt.Errorf("begin transaction: %w", err))
	}
	if err := p.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		abortCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.cl.AbortBufferedRecords(abortCtx)
		_ = p.cl.EndTransaction(abortCtx, kgo.TryAbort)
		return p.classify(fmt.Errorf("produce: %w", err))
	}
	if err := p.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		abortCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.cl.EndTransaction(abortCtx, kgo.TryAbort)
		return p.classify(fmt.Errorf("commit transaction: %w", err))
	}
	return nil
}

func (p *TxProducer) classify(err error) error {
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) || strings.Contains(err.Error(), "fenced") {
		return fmt.Errorf("%w: %v", ErrFenced, err)
	}
	return err
}

// Close flushes nothing (every Publish is synchronous) and closes the client.
func (p *TxProducer) Close() { p.cl.Close() }

// Offsets maps topic → partition → the next offset to read.
type Offsets map[string]map[int32]int64

// NewConsumer returns a client that reads the given partitions starting at
// the given offsets; partitions of listed topics that are not in the map start
// at the beginning. It reads committed records only and never commits
// offsets: the caller stores them.
func NewConsumer(cfg Config, topics []string, from Offsets, extra ...kgo.Opt) (*kgo.Client, error) {
	opts := append(cfg.base(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.MetadataMinAge(250*time.Millisecond),
	)
	if len(from) > 0 {
		parts := map[string]map[int32]kgo.Offset{}
		for t, ps := range from {
			parts[t] = map[int32]kgo.Offset{}
			for p, o := range ps {
				parts[t][p] = kgo.NewOffset().At(o)
			}
		}
		opts = append(opts, kgo.ConsumePartitions(parts))
	}
	var rest []string
	for _, t := range topics {
		if _, ok := from[t]; !ok {
			rest = append(rest, t)
		}
	}
	if len(rest) > 0 {
		opts = append(opts, kgo.ConsumeTopics(rest...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	return cl, nil
}
