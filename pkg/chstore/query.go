package chstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/inflowhq/inflow/pkg/analytics"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

var _ analytics.Store = (*DB)(nil)

// where builds the filter shared by the deposit queries; every query is
// scoped to one merchant first.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string { return " WHERE " + strings.Join(w.conds, " AND ") }

// timeRange selects detection times in [from, to). The day bounds say the
// same in terms of the tables' keys (deposit_states' primary key, the
// partition key of deposits), so ClickHouse skips what is outside.
func (w *where) timeRange(from, to time.Time) {
	if !from.IsZero() {
		w.add("day >= toDate(?)", from.UTC().Format(time.DateOnly))
		w.add("detected_ms >= ?", from.UnixMilli())
	}
	if !to.IsZero() {
		w.add("day <= toDate(?)", to.UTC().Format(time.DateOnly))
		w.add("detected_ms < ?", to.UnixMilli())
	}
}

// DepositStats implements analytics.Store.
func (db *DB) DepositStats(ctx context.Context, merchant string, q merchantapi.AnalyticsQuery) ([]analytics.Row, error) {
	var key string
	switch q.GroupBy {
	case merchantapi.ByCurrency:
		key = "currency"
	case merchantapi.ByChain:
		key = "chain_id"
	case merchantapi.ByReference:
		key = "reference"
	default:
		key = "toString(day)"
	}
	w := &where{}
	w.add("merchant_id = ?", merchant)
	w.timeRange(q.From, q.To)
	if q.Currency != "" {
		w.add("upper(currency) = ?", strings.ToUpper(q.Currency))
	}
	if q.ChainID != "" {
		w.add("chain_id = ?", q.ChainID)
	}
	if q.Status == "" {
		w.add("status != 'orphaned'")
	} else {
		w.add("status = ?", q.Status)
	}
	nullKey := "0"
	if q.GroupBy == merchantapi.ByReference {
		nullKey = "has_reference = 0"
	}
	// Every row is a state entered (+1) or left (-1): the sums over sign
	// are the deposits as they stand, and a group whose deposits all moved
	// on sums to nothing.
	query := "SELECT " + key + " AS k, " + nullKey + " AS null_key, currency, scale, sum(sign) AS n, " +
		"sum(sign * l0), sum(sign * l1), sum(sign * l2), sum(sign * l3), sum(sign * l4), sum(sign * l5), sum(sign * l6), sum(sign * l7) " +
		"FROM deposit_states" + w.sql() + " GROUP BY k, null_key, currency, scale HAVING n != 0"
	rows, err := db.conn.Query(ctx, query, w.args...)
	if err != nil {
		return nil, fmt.Errorf("chstore: deposit stats: %w", err)
	}
	defer rows.Close()
	var sums analytics.Sums
	for rows.Next() {
		var (
			k, currency string
			null, scale uint8
			n           int64
			l           [8]int64
		)
		if err := rows.Scan(&k, &null, &currency, &scale, &n, &l[0], &l[1], &l[2], &l[3], &l[4], &l[5], &l[6], &l[7]); err != nil {
			return nil, fmt.Errorf("chstore: deposit stats: %w", err)
		}
		if n < 0 || slices.ContainsFunc(l[:], func(v int64) bool { return v < 0 }) {
			return nil, fmt.Errorf("chstore: deposit_states is inconsistent: group %q %s holds %d deposits", k, currency, n)
		}
		var u [8]uint64
		for i, v := range l {
			u[i] = uint64(v)
		}
		sums.Add(k, null == 1, currency, scale, n, joinLimbs(u))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("chstore: deposit stats: %w", err)
	}
	return sums.Rows(), nil
}

// Latency implements analytics.Store.
//
// Completed is the one state no deposit leaves, so its rows are only ever
// +1 and carry both latencies: quantileExact reads them as they are. The
// deposits confirmed now are netted per latency value first (a -1 row
// repeats the +1 row it cancels) and expanded back to one value per deposit.
// Pending deposits only name their chain. The status leads the table's key,
// so each part reads its own status.
func (db *DB) Latency(ctx context.Context, merchant string, chainID string) ([]analytics.ChainLatency, error) {
	part := func(status string) *where {
		w := &where{}
		w.add("merchant_id = ?", merchant)
		w.add("status = '" + status + "'")
		if chainID != "" {
			w.add("chain_id = ?", chainID)
		}
		return w
	}
	done, confirmed, pending := part("completed"), part("confirmed"), part("pending")
	levels := "0.5, 0.9, 0.99"
	query := "SELECT chain_id, countIf(has_conf), quantilesExactIf(" + levels + ")(conf, has_conf = 1), " +
		"countIf(has_comp), quantilesExactIf(" + levels + ")(comp, has_comp = 1) FROM (" +
		"SELECT chain_id, toUInt8(1) AS has_conf, confirmed_ms - detected_ms AS conf, toUInt8(1) AS has_comp, completed_ms - detected_ms AS comp " +
		"FROM deposit_states" + done.sql() +
		" UNION ALL SELECT chain_id, toUInt8(1), conf, toUInt8(0), toInt64(0) FROM (SELECT chain_id, confirmed_ms - detected_ms AS conf, sum(sign) AS n " +
		"FROM deposit_states" + confirmed.sql() + " GROUP BY chain_id, conf HAVING n > 0) ARRAY JOIN range(toUInt64(n)) AS copy" +
		" UNION ALL SELECT chain_id, toUInt8(0), toInt64(0), toUInt8(0), toInt64(0) FROM (SELECT chain_id, sum(sign) AS n " +
		"FROM deposit_states" + pending.sql() + " GROUP BY chain_id HAVING n > 0)" +
		") GROUP BY chain_id ORDER BY chain_id"
	args := append(append(done.args, confirmed.args...), pending.args...)
	rows, err := db.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("chstore: latency: %w", err)
	}
	defer rows.Close()
	var out []analytics.ChainLatency
	for rows.Next() {
		var (
			id         string
			nc, nd     uint64
			conf, comp []int64
		)
		if err := rows.Scan(&id, &nc, &conf, &nd, &comp); err != nil {
			return nil, fmt.Errorf("chstore: latency: %w", err)
		}
		out = append(out, analytics.ChainLatency{ChainID: id, ToConfirmed: quantiles(nc, conf), ToCompleted: quantiles(nd, comp)})
	}
	return out, rows.Err()
}

func quantiles(n uint64, vs []int64) analytics.Quantiles {
	q := analytics.Quantiles{Count: int64(n)}
	if n == 0 || len(vs) != len(analytics.Levels) {
		return q
	}
	s := make([]float64, len(vs))
	for i, v := range vs {
		s[i] = analytics.Seconds(v)
	}
	q.P50, q.P90, q.P99 = &s[0], &s[1], &s[2]
	return q
}

// Export implements analytics.Store: rows are read as ClickHouse streams
// them, one block at a time.
func (db *DB) Export(ctx context.Context, merchant string, q merchantapi.ExportQuery, emit func(*analytics.Record) error) error {
	w := &where{}
	w.add("merchant_id = ?", merchant)
	w.timeRange(q.From, q.To)
	query := "SELECT deposit_id, has_reference, reference, amount, currency, chain_id, address, tx_hash, block_number, " +
		"toString(status), detected_ms, confirmed_ms, completed_ms, orphaned_ms, replaces FROM deposits FINAL" +
		w.sql() + " ORDER BY detected_ms, deposit_id"
	rows, err := db.conn.Query(ctx, query, w.args...)
	if err != nil {
		return fmt.Errorf("chstore: export: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r                       analytics.Record
			hasRef                  uint8
			ref                     string
			det, conf, comp, orphan int64
		)
		if err := rows.Scan(&r.DepositID, &hasRef, &ref, &r.Amount, &r.Currency, &r.ChainID, &r.Address, &r.TxHash,
			&r.BlockNumber, &r.Status, &det, &conf, &comp, &orphan, &r.Replaces); err != nil {
			return fmt.Errorf("chstore: export: %w", err)
		}
		if hasRef == 1 {
			r.DepositReference = &ref
		}
		r.DetectedAt = events.APITime{Time: time.UnixMilli(det).UTC()}
		r.ConfirmedAt, r.CompletedAt, r.OrphanedAt = analytics.MsTime(conf), analytics.MsTime(comp), analytics.MsTime(orphan)
		if err := emit(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}
