package follow

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
)

// KafkaPublisher publishes records to their chain topic, each batch in one
// Kafka transaction: a batch is visible whole or not at all, and a second
// indexer with the same transactional id fences this one (ErrFenced).
type KafkaPublisher struct {
	P *kafka.TxProducer
}

// Publish encodes recs and returns once the transaction is committed.
func (k KafkaPublisher) Publish(ctx context.Context, recs []*events.Record) error {
	out := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		v, err := r.Marshal()
		if err != nil {
			return err
		}
		id := r.ID()
		out[i] = &kgo.Record{Topic: r.Chain.Topic(), Key: id[:], Value: v}
	}
	return k.P.Publish(ctx, out...)
}
