package history

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/analytics"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// Embedded is the analytics.Store over ledgerd's own store. It walks the
// merchant's deposits (the DM index) for each question: fine on one machine,
// and the reason ClickHouse takes over at scale.
type Embedded struct {
	// Reader returns a consistent view; the caller's snapshot or the DB.
	Reader func() store.Reader
}

var _ analytics.Store = Embedded{}

// eachDeposit calls fn for each of a merchant's deposits, in detection order
// (reversed with desc). Each DM/ row lists the deposits one ledger batch
// detected, in id order.
func eachDeposit(ctx context.Context, r store.Reader, merchant string, desc bool, fn func(*store.Deposit) error) error {
	prefix := store.MerchantIndexPrefix(merchant)
	n := 0
	dr := &store.DepositReader{R: r}
	return store.Scan(r, prefix, desc, func(k, v []byte) (bool, error) {
		ids, err := store.IndexIDs(k, v, len(prefix)+8)
		if err != nil {
			return false, err
		}
		if desc {
			slices.Reverse(ids)
		}
		for _, id := range ids {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return false, ctx.Err()
			}
			d, err := dr.Get(id)
			if err != nil {
				return false, err
			}
			if err := fn(d); err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

// DepositStats implements analytics.Store.
func (e Embedded) DepositStats(ctx context.Context, merchant string, q merchantapi.AnalyticsQuery) ([]analytics.Row, error) {
	var sums analytics.Sums
	err := eachDeposit(ctx, e.Reader(), merchant, false, func(d *store.Deposit) error {
		ms := d.DetectedAt.UnixMilli()
		if !q.Match(ms, d.Currency, string(d.Chain), d.Status) {
			return nil
		}
		key, null := q.Key(ms, d.Currency, string(d.Chain), d.Reference)
		sums.Add(key, null, d.Currency, d.Decimals, 1, d.Amount.Big())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sums.Rows(), nil
}

// Latency implements analytics.Store.
func (e Embedded) Latency(ctx context.Context, merchant string, chainID string) ([]analytics.ChainLatency, error) {
	type lists struct{ confirmed, completed []int64 }
	by := map[string]*lists{}
	err := eachDeposit(ctx, e.Reader(), merchant, false, func(d *store.Deposit) error {
		if d.Status == store.StatusOrphaned || chainID != "" && string(d.Chain) != chainID {
			return nil
		}
		l := by[string(d.Chain)]
		if l == nil {
			l = &lists{}
			by[string(d.Chain)] = l
		}
		det := d.DetectedAt.UnixMilli()
		if d.ConfirmedAt != nil {
			l.confirmed = append(l.confirmed, d.ConfirmedAt.UnixMilli()-det)
		}
		if d.CompletedAt != nil {
			l.completed = append(l.completed, d.CompletedAt.UnixMilli()-det)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]analytics.ChainLatency, 0, len(by))
	for id, l := range by {
		out = append(out, analytics.ChainLatency{ChainID: id,
			ToConfirmed: analytics.NewQuantiles(l.confirmed), ToCompleted: analytics.NewQuantiles(l.completed)})
	}
	slices.SortFunc(out, func(a, b analytics.ChainLatency) int { return strings.Compare(a.ChainID, b.ChainID) })
	return out, nil
}

// Export implements analytics.Store. The index is in nanosecond detection
// order; records of one millisecond are held back and ordered by id, so the
// order is (detectedAt, depositId) as the API shows it.
func (e Embedded) Export(ctx context.Context, merchant string, q merchantapi.ExportQuery, emit func(*analytics.Record) error) error {
	var same []*analytics.Record
	var sameMs int64
	flush := func() error {
		slices.SortFunc(same, func(a, b *analytics.Record) int { return strings.Compare(a.DepositID, b.DepositID) })
		for _, r := range same {
			if err := emit(r); err != nil {
				return err
			}
		}
		same = same[:0]
		return nil
	}
	err := eachDeposit(ctx, e.Reader(), merchant, false, func(d *store.Deposit) error {
		ms := d.DetectedAt.UnixMilli()
		if !q.Contains(ms) {
			return nil
		}
		if ms != sameMs {
			if err := flush(); err != nil {
				return err
			}
			sameMs = ms
		}
		same = append(same, RecordOf(d))
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// RecordOf is a deposit as exported.
func RecordOf(d *store.Deposit) *analytics.Record {
	v := d.View(0)
	return &analytics.Record{DepositID: v.DepositID, DepositReference: v.DepositReference, Amount: v.Amount,
		Currency: v.Currency, ChainID: v.ChainID, Address: v.Address, TxHash: v.TxHash, BlockNumber: v.BlockNumber,
		Status: v.Status, DetectedAt: events.APITime{Time: time.UnixMilli(d.DetectedAt.UnixMilli()).UTC()},
		ConfirmedAt: msPtr(v.ConfirmedAt), CompletedAt: msPtr(v.CompletedAt), OrphanedAt: msPtr(v.OrphanedAt),
		Replaces: v.Replaces}
}

// msPtr truncates a time to the millisecond, as the event stream carries it.
func msPtr(t *events.APITime) *events.APITime {
	if t == nil {
		return nil
	}
	return &events.APITime{Time: time.UnixMilli(t.UnixMilli()).UTC()}
}
