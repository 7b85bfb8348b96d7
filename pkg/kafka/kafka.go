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
	"sync/atomic"
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
// Publish returns ErrFenced. Publish is not safe for concurrent use.
type TxProducer struct {
	opts []kgo.Opt
	cl   atomic.Pointer[kgo.Client]
	// stuck: the client is left inside a transaction it could not end (an
	// abort that failed, typically because the broker restarted and bumped
	// the producer's epoch, which then fails every request of that
	// transaction). kgo refuses every later BeginTransaction on such a
	// client, so the next Publish starts a new one, whose InitProducerID
	// takes the current epoch and fences anything of the old one.
	stuck bool
}

// NewTxProducer starts a transactional, idempotent, acks=all producer.
func NewTxProducer(cfg Config, txnID string, extra ...kgo.Opt) (*TxProducer, error) {
	opts := append(cfg.base(),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(60*time.Second),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
	)
	opts = append(opts, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka transactional producer %s: %w", txnID, err)
	}
	p := &TxProducer{opts: opts}
	p.cl.Store(cl)
	return p, nil
}

// Client exposes the underlying client (for metadata calls). It changes
// when a stuck client is replaced: ask for it each time.
func (p *TxProducer) Client() *kgo.Client { return p.cl.Load() }

// Publish writes recs in one transaction and returns once it is committed:
// every record is then durable (acks=all) and visible to read-committed
// consumers, in order. On error nothing of the batch is visible.
func (p *TxProducer) Publish(ctx context.Context, recs ...*kgo.Record) error {
	return p.PublishChecked(ctx, nil, recs...)
}

// PublishChecked is Publish with check run after the records are written
// and before the transaction commits: if it fails, the transaction is
// aborted (none of the records is ever visible) and its error returned.
func (p *TxProducer) PublishChecked(ctx context.Context, check func(context.Context) error, recs ...*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if p.stuck {
		cl, err := kgo.NewClient(p.opts...)
		if err != nil {
			return fmt.Errorf("kafka transactional producer: a new client: %w", err)
		}
		p.cl.Swap(cl).Close()
		p.stuck = false
	}
	cl := p.cl.Load()
	if err := cl.BeginTransaction(); err != nil {
		p.stuck = true
		return p.classify(fmt.Errorf("begin transaction: %w", err))
	}
	abort := func() {
		abortCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = cl.AbortBufferedRecords(abortCtx)
		if err := cl.EndTransaction(abortCtx, kgo.TryAbort); err != nil {
			p.stuck = true
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		abort()
		return p.classify(fmt.Errorf("produce: %w", err))
	}
	if check != nil {
		if err := check(ctx); err != nil {
			abort()
			return err
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		abort()
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
func (p *TxProducer) Close() { p.cl.Load().Close() }

// Offsets maps topic → partition → the next offset to read.
type Offsets map[string]map[int32]int64

// NewConsumer returns a client that reads every partition of the given topics,
// each from its offset in from, or from the beginning where from has none. It
// reads committed records only and never commits offsets: the caller stores
// them with the effects of the records.
func NewConsumer(cfg Config, topics []string, from Offsets, extra ...kgo.Opt) (*kgo.Client, error) {
	admin, err := NewAdmin(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	parts := map[string]map[int32]kgo.Offset{}
	for _, t := range topics {
		n, err := partitionCount(ctx, admin, t)
		if err != nil {
			admin.Close()
			return nil, err
		}
		parts[t] = map[int32]kgo.Offset{}
		for p := int32(0); p < n; p++ {
			if o, ok := from[t][p]; ok {
				parts[t][p] = kgo.NewOffset().At(o)
			} else {
				parts[t][p] = kgo.NewOffset().AtStart()
			}
		}
	}
	admin.Close()
	opts := append(cfg.base(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.ConsumePartitions(parts),
	)
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	return cl, nil
}

func partitionCount(ctx context.Context, cl *kgo.Client, topic string) (int32, error) {
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	for {
		mresp, err := meta.RequestWith(ctx, cl)
		if err != nil {
			return 0, fmt.Errorf("metadata of %s: %w", topic, err)
		}
		if len(mresp.Topics) == 1 {
			t := mresp.Topics[0]
			err := kerr.ErrorForCode(t.ErrorCode)
			if err == nil && len(t.Partitions) > 0 {
				return int32(len(t.Partitions)), nil
			}
			if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) && !errors.Is(err, kerr.LeaderNotAvailable) {
				return 0, fmt.Errorf("metadata of %s: %w", topic, err)
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("topic %s does not exist: %w", topic, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// EndOffsets returns, per partition of topic, the offset after the last
// committed record (the last stable offset): a reader that has reached it
// has seen everything written so far.
func EndOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	return endOffsets(ctx, cl, topic, 1)
}

// LogEnds returns, per partition of topic, the offset after its last record,
// committed or not (the high watermark). It never moves back, unless the
// brokers lost records they had acknowledged.
func LogEnds(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	return endOffsets(ctx, cl, topic, 0)
}

// metadataOf asks the brokers for one topic's metadata.
func metadataOf(ctx context.Context, cl *kgo.Client, topic string) (*kmsg.MetadataResponseTopic, error) {
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(mresp.Topics) != 1 {
		return nil, fmt.Errorf("metadata of %s: %d topics in answer", topic, len(mresp.Topics))
	}
	if err := kerr.ErrorForCode(mresp.Topics[0].ErrorCode); err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	return &mresp.Topics[0], nil
}

func endOffsets(ctx context.Context, cl *kgo.Client, topic string, isolation int8) (map[int32]int64, error) {
	mtopic, err := metadataOf(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = isolation // 1: read committed
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	for _, p := range mtopic.Partitions {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition = p.Partition
		lp.Timestamp = -1 // latest
		lp.CurrentLeaderEpoch = -1
		lt.Partitions = append(lt.Partitions, lp)
	}
	req.Topics = append(req.Topics, lt)
	// Sharded by kgo to each partition's leader.
	shards := cl.RequestSharded(ctx, req)
	out := map[int32]int64{}
	for _, sh := range shards {
		if sh.Err != nil {
			return nil, fmt.Errorf("list offsets of %s: %w", topic, sh.Err)
		}
		resp := sh.Resp.(*kmsg.ListOffsetsResponse)
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, p.Partition, err)
				}
				out[p.Partition] = p.Offset
			}
		}
	}
	return out, nil
}

// RecordAt reads the record at offset of topic's partition from the
// partition's leader; ok is false if the log holds no record there (it
// ends before it, a control record sits there, or the record's
// transaction was aborted). A record below the partition's last stable
// offset is read committed, so that a transaction a broker turned to
// aborted (a commit it acknowledged and lost the marker of) reads as no
// record; one at or past it (behind a transaction still open, such as the
// caller's own) is read as it is, committed or not.
func RecordAt(ctx context.Context, cl *kgo.Client, topic string, partition int32, offset int64) (*kgo.Record, bool, error) {
	mtopic, err := metadataOf(ctx, cl, topic)
	if err != nil {
		return nil, false, err
	}
	leader := int32(-1)
	for _, pt := range mtopic.Partitions {
		if pt.Partition == partition {
			leader = pt.Leader
		}
	}
	if leader < 0 {
		return nil, false, fmt.Errorf("metadata of %s: no leader for partition %d", topic, partition)
	}
	r, ok, stable, err := fetchAt(ctx, cl, leader, mtopic.TopicID, topic, partition, offset, true)
	if err != nil || offset < stable {
		return r, ok, err
	}
	r, ok, _, err = fetchAt(ctx, cl, leader, mtopic.TopicID, topic, partition, offset, false)
	return r, ok, err
}

// fetchAt fetches from offset, read committed or not, and returns the
// record at offset and the partition's last stable offset.
func fetchAt(ctx context.Context, cl *kgo.Client, leader int32, topicID [16]byte, topic string, partition int32, offset int64, committed bool) (*kgo.Record, bool, int64, error) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 1<<20
	iso := kgo.ReadUncommitted()
	if committed {
		req.IsolationLevel, iso = 1, kgo.ReadCommitted()
	}
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, topicID // newer fetch versions name topics by id
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch, fp.LogStartOffset = partition, offset, 1<<20, -1, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
	if err != nil {
		return nil, false, 0, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, offset, err)
	}
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			rp := &resp.Topics[i].Partitions[j]
			if rp.Partition != partition {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				if errors.Is(err, kerr.OffsetOutOfRange) {
					return nil, false, offset + 1, nil // nothing there, certainly
				}
				return nil, false, 0, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, offset, err)
			}
			fetched, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: topic, Partition: partition, Offset: offset,
				IsolationLevel: iso}, rp, kgo.DefaultDecompressor(), nil)
			if fetched.Err != nil {
				return nil, false, 0, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, offset, fetched.Err)
			}
			for _, r := range fetched.Records {
				if r.Offset == offset {
					return r, true, rp.LastStableOffset, nil
				}
			}
			return nil, false, rp.LastStableOffset, nil
		}
	}
	return nil, false, 0, nil
}

// Record is a Kafka record, re-exported so that consumers need not import kgo.
type Record = kgo.Record

// WaitEnsureTopics creates the topics, retrying every 2 s while the brokers
// are unreachable, until ctx ends.
func WaitEnsureTopics(ctx context.Context, cfg Config, log interface{ Warn(string, ...any) }, specs ...TopicSpec) error {
	admin, err := NewAdmin(cfg)
	if err != nil {
		return err
	}
	defer admin.Close()
	for {
		err := EnsureTopics(ctx, admin, specs...)
		if err == nil {
			return nil
		}
		log.Warn("waiting for Kafka", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
