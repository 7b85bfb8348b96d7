package merchantapi

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
)

// Group-by keys.
const (
	ByDay       = "day"
	ByCurrency  = "currency"
	ByChain     = "chain"
	ByReference = "reference"
)

// GroupBys lists the accepted groupBy values.
var GroupBys = []string{ByDay, ByCurrency, ByChain, ByReference}

// AnalyticsQuery is GET /api/v1/analytics/deposits.
type AnalyticsQuery struct {
	GroupBy  string
	From, To time.Time // detectedAt in [From, To); zero means open
	Currency string    // upper case; "" is every currency
	ChainID  string
	Status   string // "" is every status but orphaned
}

// Match reports whether a deposit passes the query's filters.
func (q AnalyticsQuery) Match(detectedMs int64, currency, chainID, status string) bool {
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
func (q AnalyticsQuery) Key(detectedMs int64, currency, chainID string, reference *string) (key string, null bool) {
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

// ParseAnalyticsQuery reads and checks GET /api/v1/analytics/deposits.
func ParseAnalyticsQuery(v url.Values, table *assets.Config) (AnalyticsQuery, error) {
	q := AnalyticsQuery{GroupBy: ByDay}
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
	if q.ChainID, err = ParseChainFilter(v, table); err != nil {
		return q, err
	}
	if s := v.Get("status"); s != "" {
		if !slices.Contains(Statuses, s) {
			return q, apierr.New(apierr.InvalidParameter, "status %q (want one of %s)", s, strings.Join(Statuses, ", "))
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
