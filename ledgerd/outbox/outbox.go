// Package outbox relays the rows the ledger and registry queue in Pebble to
// Kafka: deposit events to inflow.deposits (keyed by deposit id, so one
// deposit's events stay in order) and address records to inflow.addresses.
//
// The ledger queues its deposit events in binary, many to a row; the relay
// renders them to JSON (store.RenderOutbox) and stores each under E/<event
// id> for replay and webhook delivery before it publishes them. A row is
// deleted only after Kafka acknowledges it (acks=all, idempotent producer),
// so a crash between the two publishes it again: delivery is at least once,
// and every event carries a stable id for consumers to dedup on.
package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/kafka"
)

// Relay moves outbox rows to Kafka.
type Relay struct {
	db   *store.DB
	prod *kgo.Client
	log  *slog.Logger
	wake chan struct{}
	// from is the first row not yet published (nil: the start). Rows are
	// numbered in commit order and a batch is visible only after every
	// batch before it, so no row below it can appear later.
	from  []byte
	depth prometheus.Gauge
	sent  prometheus.Counter
}

// New makes a relay over an idempotent producer.
func New(db *store.DB, prod *kgo.Client, log *slog.Logger, reg prometheus.Registerer) (*Relay, error) {
	r := &Relay{db: db, prod: prod, log: log, wake: make(chan struct{}, 1),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "inflow_ledgerd_outbox_depth", Help: "Rows waiting in the outbox."}),
		sent:  prometheus.NewCounter(prometheus.CounterOpts{Name: "inflow_ledgerd_outbox_published_total", Help: "Outbox rows published."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{r.depth, r.sent} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// Wake tells the relay there is something to send.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		n, err := r.Flush(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("outbox relay: retrying", "err", err)
		}
		if n > 0 && err == nil {
			continue // there may be more
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.wake:
		case <-t.C:
		}
	}
}

// batchRecords is about how many records one flush publishes: rows are
// taken whole until it is reached.
const batchRecords = 1000

// Records renders one stored outbox row to the Kafka records it publishes,
// and the events among them to store under E/ (event id → JSON).
func Records(r store.Reader, v []byte) (recs []*kgo.Record, evs map[string][]byte, err error) {
	row, err := store.DecodeOutboxRow(v)
	if err != nil {
		return nil, nil, err
	}
	rows, err := store.RenderOutbox(r, row)
	if err != nil {
		return nil, nil, err
	}
	for _, row := range rows {
		rec := &kgo.Record{Key: row.Key, Value: row.Value, Topic: kafka.TopicDeposits}
		if row.Kind == store.OutboxAddress {
			rec.Topic = kafka.TopicAddresses
		}
		if row.EventID != "" {
			if evs == nil {
				evs = map[string][]byte{}
			}
			evs[row.EventID] = row.Value
		}
		recs = append(recs, rec)
	}
	return recs, evs, nil
}

// Flush publishes up to one batch of rows and deletes them; it returns how
// many records it published.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	var keys [][]byte
	var recs []*kgo.Record
	evs := map[string][]byte{}
	depth := 0
	err := store.ScanFrom(r.db, store.OutboxPrefix(), r.from, func(k, v []byte) (bool, error) {
		depth++
		if len(recs) >= batchRecords {
			return true, nil // keep counting for the gauge
		}
		rs, es, err := Records(r.db, v)
		if err != nil {
			return false, fmt.Errorf("outbox row %x: %w", k, err)
		}
		for id, body := range es {
			evs[id] = body
		}
		keys = append(keys, append([]byte(nil), k...))
		recs = append(recs, rs...)
		return true, nil
	})
	r.depth.Set(float64(depth))
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	// A row is visible a moment before its batch is durable: publish
	// nothing a crash could still take back.
	if err := r.db.WaitDurable(); err != nil {
		return 0, err
	}
	// The events are stored before anyone can read them from Kafka: webhook
	// delivery and replay read their bodies here.
	if len(evs) > 0 {
		err := r.db.Write(func(b *store.Batch) error {
			for id, body := range evs {
				if err := b.Set(store.EventKey(id), body, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	if err := r.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, fmt.Errorf("publish %d outbox rows: %w", len(recs), err)
	}
	// The rows are gone once this batch is durable, by the next write at
	// the latest; a crash before that publishes them again, as any crash
	// between publishing and deleting does.
	err = r.db.WriteAsync(func(b *store.Batch) error {
		for _, k := range keys {
			if err := b.Delete(k, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	r.from = store.PrefixEnd(keys[len(keys)-1])
	r.sent.Add(float64(len(recs)))
	r.depth.Set(float64(depth - len(keys)))
	return len(recs), nil
}
