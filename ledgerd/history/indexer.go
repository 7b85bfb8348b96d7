package history

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/chain"
)

// Indexer builds the listings of a reference's deposits (LR/) and of an
// asset's (LA/) from the queue of detection rows the ledger writes with
// each batch (LQ/), off the ledger's write path: a reference's listing row
// per batch costs about a row per deposit, which the ledger's synced
// batches should not pay.
//
// Each queue row is replaced by its listing rows in one batch, so a
// snapshot holds, for every detection row, either its queue row or its
// listing rows; a listing reads both (the queue being its unindexed tail),
// and is exact however far behind the indexer is. Detection rows and the
// reference and asset of a deposit never change, so indexing a row twice
// (after a crash) writes the same rows again.
type Indexer struct {
	db   *store.DB
	log  *slog.Logger
	wake chan struct{}

	queued  prometheus.Gauge
	indexed prometheus.Counter
}

// NewIndexer makes the indexer over ledgerd's store.
func NewIndexer(db *store.DB, log *slog.Logger, reg prometheus.Registerer) (*Indexer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	x := &Indexer{db: db, log: log, wake: make(chan struct{}, 1),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{Name: "inflow_ledgerd_history_index_queue_rows",
			Help: "Batches of detected deposits not yet in the reference and asset listings."}),
		indexed: prometheus.NewCounter(prometheus.CounterOpts{Name: "inflow_ledgerd_history_indexed_rows_total",
			Help: "Detection rows indexed into the reference and asset listings."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{x.queued, x.indexed} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return x, nil
}

// Wake tells the indexer there may be rows queued.
func (x *Indexer) Wake() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// Run indexes until ctx ends.
func (x *Indexer) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		n, err := x.Step(ctx, 256)
		if err != nil && ctx.Err() == nil {
			x.log.Warn("listing indexer: retrying", "err", err)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-x.wake:
		case <-t.C:
		}
	}
}

// CatchUp indexes everything queued, and returns how many queue rows it
// indexed.
func (x *Indexer) CatchUp(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := x.Step(ctx, 256)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

type listingRow struct {
	key []byte
	ids []string
}

// Step indexes up to max queue rows and returns how many it did. The rows
// are read and built outside the store's writer lock; the write that
// replaces the queue rows with them is short.
func (x *Indexer) Step(ctx context.Context, max int) (int, error) {
	type queued struct {
		key  []byte
		rows [][]byte
	}
	var todo []queued
	depth := 0
	err := store.ScanListQueue(x.db, func(k, v []byte) (bool, error) {
		depth++
		if len(todo) >= max {
			return depth < 100_000, nil // count on, for the gauge, up to a point
		}
		rows, err := store.QueuedRows(v)
		if err != nil {
			return false, err
		}
		cp := make([][]byte, len(rows))
		for i, r := range rows {
			cp[i] = append([]byte(nil), r...)
		}
		todo = append(todo, queued{append([]byte(nil), k...), cp})
		return true, nil
	})
	x.queued.Set(float64(depth))
	if err != nil || len(todo) == 0 {
		return 0, err
	}
	dr := &store.DepositReader{R: x.db}
	var out []listingRow
	for _, q := range todo {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		for _, dm := range q.rows {
			rows, err := listingRowsOf(x.db, dr, dm)
			if err != nil {
				return 0, err
			}
			out = append(out, rows...)
		}
	}
	err = x.db.Write(func(b *store.Batch) error {
		for _, q := range todo {
			if err := b.Delete(q.key, nil); err != nil {
				return err
			}
		}
		if err := b.SetListQueueIndexed(store.ListQueueSeq(todo[len(todo)-1].key)); err != nil {
			return err
		}
		for _, r := range out {
			if err := b.Set(r.key, store.AppendIDs(nil, r.ids), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	x.indexed.Add(float64(len(todo)))
	x.queued.Set(float64(depth - len(todo)))
	return len(todo), nil
}

type assetKey struct {
	chain    chain.ID
	currency string
}

// listingRowsOf makes the reference and asset listing rows of one detection
// row: one per reference (attributed deposits only) and one per asset,
// each listing its ids in order under the row's detection time.
func listingRowsOf(r store.Reader, dr *store.DepositReader, dm []byte) ([]listingRow, error) {
	merchant, detected, _, ok := store.MerchantIndexOf(dm)
	if !ok {
		return nil, fmt.Errorf("listing indexer: detection row key %q", dm)
	}
	v, err := store.GetRaw(r, dm)
	if err != nil {
		return nil, fmt.Errorf("listing indexer: detection row: %w", err)
	}
	ids, err := store.IndexIDs(dm, v, len(store.MerchantIndexPrefix(merchant))+store.MerchantIndexFixed)
	if err != nil {
		return nil, err
	}
	byRef := map[string][]string{}
	byAsset := map[assetKey][]string{}
	for _, id := range ids {
		d, err := dr.Get(id)
		if err != nil {
			return nil, fmt.Errorf("listing indexer: deposit %s: %w", id, err)
		}
		if d.Reference != nil {
			byRef[*d.Reference] = append(byRef[*d.Reference], id)
		}
		ak := assetKey{d.Chain, d.Currency}
		byAsset[ak] = append(byAsset[ak], id)
	}
	var out []listingRow
	for ref, ids := range byRef {
		slices.Sort(ids)
		out = append(out, listingRow{store.ListRefKey(merchant, ref, detected, ids[0]), ids})
	}
	for ak, ids := range byAsset {
		slices.Sort(ids)
		out = append(out, listingRow{store.ListAssetKey(merchant, ak.chain, ak.currency, detected, ids[0]), ids})
	}
	return out, nil
}
