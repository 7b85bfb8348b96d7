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
	"slices"
	"strings"
	"time"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// Store answers the history questions of one merchant.
type Store interface {
	DepositStats(ctx context.Context, merchant string, q merchantapi.AnalyticsQuery) ([]Row, error)
	Latency(ctx context.Context, merchant string, chainID string) ([]ChainLatency, error)
	// Export calls emit for each deposit detected in [q.From, q.To), in
	// (detectedAt, depositId) order, without holding them all in memory.
	Export(ctx context.Context, merchant string, q merchantapi.ExportQuery, emit func(*Record) error) error
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
	units chain.Sum
}

// Add counts n deposits of units base units at scale decimals.
func (s *Sums) Add(key string, null bool, currency string, scale uint8, n int64, units *big.Int) {
	if s.groups == nil {
		s.groups = map[sumKey]*sumGroup{}
	}
	k := sumKey{key, null, currency}
	g := s.groups[k]
	if g == nil {
		g = &sumGroup{}
		s.groups[k] = g
	}
	g.count += n
	g.units.Add(units, scale)
}

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
		r := Row{Currency: k.currency, Count: g.count, Amount: g.units.Decimal()}
		if !k.null {
			key := k.key
			r.Key = &key
		}
		out = append(out, r)
	}
	return out
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
