package analytics

import (
	"math/big"
	"net/url"
	"testing"

	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

func TestParseUnits(t *testing.T) {
	for _, c := range []struct {
		in    string
		scale uint8
		units string
		got   uint8
		ok    bool
	}{
		{"25.5", 6, "25500000", 6, true},
		{"1", 18, "1000000000000000000", 18, true},
		{"0.000000000000000001", 6, "1", 18, true}, // more digits than the asset: its own scale, never rounded
		{"7", 0, "7", 0, true},
		{"-1", 6, "", 0, false},
		{"1.2.3", 6, "", 0, false},
		{"abc", 6, "", 0, false},
	} {
		v, sc, ok := ParseUnits(c.in, c.scale)
		if ok != c.ok || ok && (v.String() != c.units || sc != c.got) {
			t.Errorf("ParseUnits(%q, %d) = %v %d %v, want %s %d %v", c.in, c.scale, v, sc, ok, c.units, c.got, c.ok)
		}
	}
}

func TestSumsJoinScales(t *testing.T) {
	var s Sums
	s.Add("2026-01-01", false, "USDT", 6, 2, big.NewInt(25_500_000))               // 25.5 on a 6-decimal chain
	s.Add("2026-01-01", false, "USDT", 18, 1, big.NewInt(1))                       // 1e-18 on an 18-decimal chain
	s.Add("", true, "USDT", 6, 1, big.NewInt(4_000_000))                           // unattributed
	s.Add("2026-01-01", false, "ETH", 18, 1, new(big.Int).Lsh(big.NewInt(1), 200)) // beyond float precision
	rows := s.Rows()
	want := []struct {
		key  string
		null bool
		cur  string
		n    int64
		amt  string
	}{
		{"", true, "USDT", 1, "4"},
		{"2026-01-01", false, "ETH", 1, FormatUnits(new(big.Int).Lsh(big.NewInt(1), 200), 18)},
		{"2026-01-01", false, "USDT", 3, "25.500000000000000001"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows", len(rows))
	}
	for i, w := range want {
		r := rows[i]
		if (r.Key == nil) != w.null || r.Key != nil && *r.Key != w.key || r.Currency != w.cur || r.Count != w.n || r.Amount != w.amt {
			t.Errorf("row %d = %+v, want %+v", i, r, w)
		}
	}
}

func TestQuantileIndex(t *testing.T) {
	for _, c := range []struct {
		level float64
		n     int
		want  int
	}{
		// As ClickHouse 18.16 answers quantilesExact(0.5, 0.9, 0.99,
		// 1)(number) over numbers(n).
		{0.5, 1, 0}, {0.9, 1, 0}, {0.5, 2, 1}, {0.9, 2, 1}, {0.5, 3, 1}, {0.9, 3, 2},
		{0.5, 10, 5}, {0.9, 10, 9}, {0.99, 10, 9}, {0.5, 100, 50}, {0.9, 100, 90}, {0.99, 100, 99}, {1, 100, 99},
		{0.9, 1000, 900}, {0.99, 1000, 990}, {0.5, 7, 3}, {0.99, 7, 6}, {0.5, 33, 16}, {0.9, 33, 29},
		{0.5, 12345, 6172}, {0.9, 12345, 11110}, {0.99, 12345, 12221}, {1, 5, 4},
	} {
		if got := QuantileIndex(c.level, c.n); got != c.want {
			t.Errorf("QuantileIndex(%v, %d) = %d, want %d", c.level, c.n, got, c.want)
		}
	}
	q := NewQuantiles([]int64{3000, 1000, 2000})
	if q.Count != 3 || *q.P50 != 2 || *q.P99 != 3 {
		t.Errorf("quantiles %+v", q)
	}
	if q := NewQuantiles(nil); q.P50 != nil {
		t.Errorf("quantiles of nothing: %+v", q)
	}
}

func TestParseQuery(t *testing.T) {
	table := assets.Default()
	for _, c := range []struct {
		q    string
		code apierr.Code
	}{
		{"", ""},
		{"groupBy=reference&status=orphaned&currency=usdt&chainId=ethereum&from=2026-01-01&to=2026-02-01T00:00:00Z", ""},
		{"groupBy=week", apierr.InvalidParameter},
		{"status=lost", apierr.InvalidParameter},
		{"chainId=mars", apierr.UnsupportedChain},
		{"from=yesterday", apierr.InvalidParameter},
		{"from=2026-02-01&to=2026-01-01", apierr.InvalidParameter},
		{"from=2026-01-01&to=2026-01-01", apierr.InvalidParameter},
	} {
		v, _ := url.ParseQuery(c.q)
		_, err := merchantapi.ParseAnalyticsQuery(v, table)
		if c.code == "" && err != nil || c.code != "" && (err == nil || apierr.From(err).Code != c.code) {
			t.Errorf("merchantapi.ParseAnalyticsQuery(%q) = %v, want %q", c.q, err, c.code)
		}
	}
	v, _ := url.ParseQuery("format=xml")
	if _, err := merchantapi.ParseExportQuery(v); err == nil {
		t.Error("format=xml accepted")
	}
}
