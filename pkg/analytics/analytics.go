// Package analytics defines the merchant's history questions and their
// answers: deposit totals grouped by day, currency, chain or reference,
// detection-to-confirmation latency per chain, and the deposit export. Two
// stores answer them, ledgerd's own (embedded) and ClickHouse, and they must
// give the same answers to the same questions; the pieces both share live
// here, so that neither can round, order or count differently:
//
//   - amounts are summed exactly, in base units per (group, currency,
//     scale), and turned into one decimal string per currency by Sums;
//   - quantiles are nearest-rank on the sorted values, index
//     floor(level × n), which is ClickHouse's quantileExact;
//   - times are Unix milliseconds, as in the API;
//   - the export is ordered by (detectedAt, depositId).
//
// Every question is asked for one merchant: no answer mixes merchants.
package analytics

import (
	"context"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// Store answers the history questions of one merchant.
type Store interface {
	DepositStats(ctx context.Context, merchant string, q Query) ([]Row, error)
	Latency(ctx context.Context, merchant string, chainID string) ([]ChainLatency, error)
	// Export calls emit for each deposit detected in [q.From, q.To), in
	// (detectedAt, depositId) order, without holding them all in memory.
	Export(ctx context.Context, merchant string, q ExportQuery, emit func(*Record) error) error
}

// Group-by keys.
const (
	ByDay       = "day"
	ByCurrency  = "currency"
	ByChain     = "chain"
	ByReference = "reference"
)

// GroupBys lists the accepted groupBy values.
var GroupBys = []string{ByDay, ByCurrency, ByChain, ByReference}

// Query is GET /api/v1/analytics/deposits.
type Query struct {
	GroupBy  string
	From, To time.Time // detectedAt in [From, To); zero means open
	Currency string    // upper case; "" is every currency
	ChainID  string
	Status   string // "" is every status but orphaned
}

// Match reports whether a deposit passes the query's filters.
func (q Query) Match(detectedMs int64, currency, chainID, status string) bool {
	if !inRange(detectedMs, q.From, q.To) {
		return false
	}
	if q.Currency != "" && !strings.EqualFold(currency, q.Currency) {
		return false
	}
	if q.ChainID != "" && chainID != q.ChainID {
		return false
	}
	if q.Status == "" {
		return status != "orphaned"
	}
	return status == q.Status
}

func inRange(ms int64, from, to time.Time) bool {
	if !from.IsZero() && ms < from.UnixMilli() {
		return false
	}
	return to.IsZero() || ms < to.UnixMilli()
}

// Key is the group of a deposit under q.GroupBy; null is the unattributed
// reference.
func (q Query) Key(detectedMs int64, currency, chainID string, reference *string) (key string, null bool) {
	switch q.GroupBy {
	case ByCurrency:
		return currency, false
	case ByChain:
		return chainID, false
	case ByReference:
		if reference == nil {
			return "", true
		}
		return *reference, false
	}
	return time.UnixMilli(detectedMs).UTC().Format(time.DateOnly), false
}

// ParseQuery reads and checks GET /api/v1/analytics/deposits.
func ParseQuery(v url.Values, table *assets.Config) (Query, error) {
	q := Query{GroupBy: ByDay}
	if s := v.Get("groupBy"); s != "" {
		if !slices.Contains(GroupBys, s) {
			return q, apierr.New(apierr.InvalidParameter, "groupBy %q (want one of %s)", s, strings.Join(GroupBys, ", "))
		}
		q.GroupBy = s
	}
	var err error
	if q.From, q.To, err = parseRange(v); err != nil {
		return q, err
	}
	if s := v.Get("currency"); s != "" {
		if len(s) > 16 {
			return q, apierr.New(apierr.UnsupportedCurrency, "unknown currency %q", s)
		}
		q.Currency = strings.ToUpper(s)
	}
	if q.ChainID, err = merchantapi.ParseChainFilter(v, table); err != nil {
		return q, err
	}
	if s := v.Get("status"); s != "" {
		if !slices.Contains(merchantapi.Statuses, s) {
			return q, apierr.New(apierr.InvalidParameter, "status %q (want one of %s)", s, strings.Join(merchantapi.Statuses, ", "))
		}
		q.Status = s
	}
	return q, nil
}

// parseRange reads from and to: RFC 3339 times or dates (midnight UTC).
func parseRange(v url.Values) (from, to time.Time, err error) {
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		t, perr := time.Parse(time.RFC3339Nano, s)
		if perr != nil {
			t, perr = time.Parse(time.DateOnly, s)
		}
		if perr != nil {
			return from, to, apierr.New(apierr.InvalidParameter, "%s %q is not an RFC 3339 time or a date (2006-01-02)", p.name, s)
		}
		*p.dst = t.UTC()
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, apierr.New(apierr.InvalidParameter, "from (%s) must be before to (%s)", v.Get("from"), v.Get("to"))
	}
	return from, to, nil
}

// Row is one group of GET /api/v1/analytics/deposits: the deposits of one
// key in one currency. Amount is a decimal string in currency units.
type Row struct {
	Key      *string `json:"key"`
	Currency string  `json:"currency"`
	Count    int64   `json:"count"`
	Amount   string  `json:"amount"`
}

// Sums adds deposits up exactly. A currency can have different decimals on
// different chains (USDT has 6 on Ethereum, 18 on BNB Chain), so amounts are
// kept per scale and joined only when the rows are written.
type Sums struct {
	groups map[sumKey]*sumGroup
}

type sumKey struct {
	key      string
	null     bool
	currency string
}

type sumGroup struct {
	count int64
	units map[uint8]*big.Int // scale → base units
}

// Add counts n deposits of units base units at scale decimals.
func (s *Sums) Add(key string, null bool, currency string, scale uint8, n int64, units *big.Int) {
	if s.groups == nil {
		s.groups = map[sumKey]*sumGroup{}
	}
	k := sumKey{key, null, currency}
	g := s.groups[k]
	if g == nil {
		g = &sumGroup{units: map[uint8]*big.Int{}}
		s.groups[k] = g
	}
	g.count += n
	if u := g.units[scale]; u != nil {
		u.Add(u, units)
	} else {
		g.units[scale] = new(big.Int).Set(units)
	}
}

var ten = big.NewInt(10)

// Rows returns the groups ordered by key (the unattributed one first), then
// currency.
func (s *Sums) Rows() []Row {
	out := make([]Row, 0, len(s.groups))
	keys := make([]sumKey, 0, len(s.groups))
	for k := range s.groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b sumKey) int {
		if a.null != b.null {
			if a.null {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.currency, b.currency)
	})
	for _, k := range keys {
		g := s.groups[k]
		r := Row{Currency: k.currency, Count: g.count, Amount: joinScales(g.units)}
		if !k.null {
			key := k.key
			r.Key = &key
		}
		out = append(out, r)
	}
	return out
}

func joinScales(units map[uint8]*big.Int) string {
	var top uint8
	for sc := range units {
		top = max(top, sc)
	}
	total := new(big.Int)
	for sc, u := range units {
		v := new(big.Int).Set(u)
		v.Mul(v, new(big.Int).Exp(ten, big.NewInt(int64(top-sc)), nil))
		total.Add(total, v)
	}
	return FormatUnits(total, top)
}

// FormatUnits writes base units at a scale as a decimal string without
// trailing zeros: 1500000 at 6 is "1.5".
func FormatUnits(v *big.Int, scale uint8) string { return chain.FormatDecimal(v.String(), scale) }

// ParseUnits reads a decimal string into base units at the given scale, or
// at its own number of fractional digits if that is larger. It never rounds.
func ParseUnits(s string, scale uint8) (*big.Int, uint8, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > int(scale) {
		if len(frac) > 255 {
			return nil, 0, false
		}
		scale = uint8(len(frac))
	}
	v, ok := new(big.Int).SetString(whole+frac+strings.Repeat("0", int(scale)-len(frac)), 10)
	if !ok || v.Sign() < 0 {
		return nil, 0, false
	}
	return v, scale, true
}

// Quantile levels reported by Latency.
var Levels = []float64{0.5, 0.9, 0.99}

// Quantiles summarises one latency, in seconds.
type Quantiles struct {
	Count int64    `json:"count"`
	P50   *float64 `json:"p50"`
	P90   *float64 `json:"p90"`
	P99   *float64 `json:"p99"`
}

// NewQuantiles computes the quantiles of millisecond values (sorted here).
func NewQuantiles(ms []int64) Quantiles {
	q := Quantiles{Count: int64(len(ms))}
	if len(ms) == 0 {
		return q
	}
	slices.Sort(ms)
	at := func(level float64) *float64 {
		v := Seconds(ms[QuantileIndex(level, len(ms))])
		return &v
	}
	q.P50, q.P90, q.P99 = at(0.5), at(0.9), at(0.99)
	return q
}

// QuantileIndex is the index of a quantile in n sorted values, the way
// ClickHouse's quantileExact picks it.
func QuantileIndex(level float64, n int) int {
	if level >= 1 {
		return n - 1
	}
	return min(int(level*float64(n)), n-1)
}

// Seconds turns milliseconds into seconds.
func Seconds(ms int64) float64 { return float64(ms) / 1000 }

// ChainLatency is one chain of GET /api/v1/analytics/latency: seconds from
// detection to confirmed and to completed, over deposits that are not
// orphaned.
type ChainLatency struct {
	ChainID     string    `json:"chainId"`
	ToConfirmed Quantiles `json:"detectedToConfirmed"`
	ToCompleted Quantiles `json:"detectedToCompleted"`
}

// ExportQuery is GET /api/v1/deposits/export.
type ExportQuery struct {
	Format   string // csv or ndjson
	From, To time.Time
}

// Export formats.
const (
	FormatCSV    = "csv"
	FormatNDJSON = "ndjson"
)

// ParseExportQuery reads and checks GET /api/v1/deposits/export.
func ParseExportQuery(v url.Values) (ExportQuery, error) {
	q := ExportQuery{Format: FormatCSV}
	if s := v.Get("format"); s != "" {
		if s != FormatCSV && s != FormatNDJSON {
			return q, apierr.New(apierr.InvalidParameter, "format %q (want csv or ndjson)", s)
		}
		q.Format = s
	}
	var err error
	q.From, q.To, err = parseRange(v)
	return q, err
}

// Contains reports whether a detection time is in the export's range.
func (q ExportQuery) Contains(detectedMs int64) bool { return inRange(detectedMs, q.From, q.To) }

// Record is one exported deposit: the deposit object as of its latest
// status, without the confirmations, which change with every block.
type Record struct {
	DepositID        string          `json:"depositId"`
	DepositReference *string         `json:"depositReference"`
	Amount           string          `json:"amount"`
	Currency         string          `json:"currency"`
	ChainID          string          `json:"chainId"`
	Address          string          `json:"address"`
	TxHash           string          `json:"txHash"`
	BlockNumber      uint64          `json:"blockNumber"`
	Status           string          `json:"status"`
	DetectedAt       events.APITime  `json:"detectedAt"`
	ConfirmedAt      *events.APITime `json:"confirmedAt"`
	CompletedAt      *events.APITime `json:"completedAt"`
	OrphanedAt       *events.APITime `json:"orphanedAt"`
	Replaces         string          `json:"replaces,omitempty"`
}

// MsTime is a millisecond time as an API time; 0 is none.
func MsTime(ms int64) *events.APITime {
	if ms == 0 {
		return nil
	}
	return &events.APITime{Time: time.UnixMilli(ms).UTC()}
}
