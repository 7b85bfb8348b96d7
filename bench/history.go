package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/inflowhq/inflow/pkg/analytics"
	"github.com/inflowhq/inflow/pkg/chstore"
	"github.com/inflowhq/inflow/pkg/events"
)

func init() {
	register(suite{name: "history", about: "deposit events inserted into ClickHouse per second, and the analytics queries over them", run: runHistory})
}

func runHistory(args []string, progress io.Writer) ([]Result, error) {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	n := fs.Int("deposits", 1_000_000, "deposits in the history (10M for the target)")
	dsn := fs.String("dsn", "", "ClickHouse to use (default: start Debian's clickhouse-server on loopback with a temporary folder)")
	batchRows := fs.Int("batch", 50_000, "deposit events per insert")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if *dsn == "" {
		dir, err := os.MkdirTemp("", "inflow-bench-history-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		fmt.Fprintf(progress, "history: starting clickhouse-server in %s…\n", dir)
		srv, err := chstore.StartLocalServer(dir)
		if err != nil {
			return nil, err
		}
		defer srv.Stop()
		*dsn = srv.DSN("bench")
	}
	db, err := chstore.Open(ctx, *dsn, nil)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var version string
	db.Conn().QueryRow(ctx, "SELECT version()").Scan(&version)
	if err := db.Conn().Exec(ctx, "TRUNCATE TABLE deposits"); err != nil {
		return nil, err
	}
	db.Conn().Exec(ctx, "TRUNCATE TABLE deposit_events")
	sink, err := chstore.NewSink(db, chstore.SinkOptions{})
	if err != nil {
		return nil, err
	}

	// The history: one merchant with every deposit (the worst case for a
	// per-merchant query), a year of days, 5,000 references, four chains
	// and their currencies. Most deposits arrive as pending and again at
	// their final status, as the sink sees them; the table then holds the
	// older versions until ClickHouse merges them, and the queries' FINAL
	// collapses the rest.
	type cur struct{ chain, code, unit string }
	curs := []cur{{"ethereum", "USDT", "25.5"}, {"ethereum", "ETH", "0.015"}, {"tron", "USDT", "100"}, {"polygon", "USDC", "7.25"}, {"bsc", "USDT", "1.000000000000000001"}}
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	refs := make([]string, 5000)
	for i := range refs {
		refs[i] = fmt.Sprintf("user-%d", i)
	}
	fmt.Fprintf(progress, "history: inserting %d deposits…\n", *n)
	evs := make([]*events.DepositEvent, 0, *batchRows)
	eventsWritten := 0
	var insertTime time.Duration
	flush := func() error {
		t0 := time.Now()
		if err := sink.WriteEvents(ctx, evs); err != nil {
			return err
		}
		insertTime += time.Since(t0)
		eventsWritten += len(evs)
		evs = evs[:0]
		return nil
	}
	for i := 0; i < *n; i++ {
		c := curs[rng.IntN(len(curs))]
		det := start.Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
		d := events.Deposit{DepositID: fmt.Sprintf("dep_%024x", i), Amount: c.unit, Currency: c.code, ChainID: c.chain,
			Address: "0x4838b106fce9647bdf1e7877bf73ce8b0bad5f97", TxHash: fmt.Sprintf("0x%064x", i), BlockNumber: uint64(20_000_000 + i/10),
			Status: "pending", DetectedAt: events.APITime{Time: det}}
		if r := rng.IntN(10); r < 8 {
			ref := refs[rng.IntN(len(refs))]
			d.DepositReference = &ref
		}
		pending := d
		final := d
		switch r := rng.IntN(100); {
		case r < 5:
		case r < 10:
			final.Status, final.OrphanedAt = "orphaned", &events.APITime{Time: det.Add(30 * time.Second)}
		case r < 20:
			final.Status, final.ConfirmedAt = "confirmed", &events.APITime{Time: det.Add(time.Duration(10+rng.IntN(300)) * time.Second)}
		default:
			conf := det.Add(time.Duration(10+rng.IntN(300)) * time.Second)
			final.Status, final.ConfirmedAt = "completed", &events.APITime{Time: conf}
			final.CompletedAt = &events.APITime{Time: conf.Add(time.Duration(60+rng.IntN(900)) * time.Second)}
		}
		if final.Status == "pending" || rng.IntN(3) == 0 {
			evs = append(evs, &events.DepositEvent{ID: fmt.Sprintf("evt_%d_p", i), Type: events.DepositPending, CreatedAt: d.DetectedAt, MerchantID: "mer_bench", Data: pending})
		}
		if final.Status != "pending" {
			evs = append(evs, &events.DepositEvent{ID: fmt.Sprintf("evt_%d_f", i), Type: "deposit." + final.Status, CreatedAt: d.DetectedAt, MerchantID: "mer_bench", Data: final})
		}
		if len(evs) >= *batchRows {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		if (i+1)%1_000_000 == 0 {
			fmt.Fprintf(progress, "history: %d deposits in, %.0f events/s\n", i+1, float64(eventsWritten)/insertTime.Seconds())
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	rate := float64(eventsWritten) / insertTime.Seconds()

	// The floor: ClickHouse reading the merchant's rows with nothing else.
	timeQuery := func(fn func() error) (time.Duration, error) {
		var ds []time.Duration
		for r := 0; r < 3; r++ {
			t0 := time.Now()
			if err := fn(); err != nil {
				return 0, err
			}
			ds = append(ds, time.Since(t0))
		}
		slices.Sort(ds)
		return ds[1], nil // the median of three
	}
	scan, err := timeQuery(func() error {
		var c uint64
		return db.Conn().QueryRow(ctx, "SELECT count() FROM deposits WHERE merchant_id = 'mer_bench'").Scan(&c)
	})
	if err != nil {
		return nil, err
	}
	var stored uint64
	db.Conn().QueryRow(ctx, "SELECT count() FROM deposits FINAL").Scan(&stored)
	if stored != uint64(*n) {
		return nil, fmt.Errorf("ClickHouse holds %d deposits after FINAL, want %d", stored, *n)
	}
	res := []Result{
		{Name: "deposits", Value: float64(*n), Unit: "deposits"},
		{Name: "insert_events_per_s", Value: rate, Unit: "events/s"},
	}
	fmt.Fprintf(progress, "history: %d events in batches of %d into ClickHouse %s\n", eventsWritten, *batchRows, version)
	fmt.Fprintf(progress, "history: timing the analytics queries (median of three)…\n")
	type q struct {
		name string
		fn   func() error
	}
	var qs []q
	for _, gb := range analytics.GroupBys {
		qs = append(qs, q{"query_groupby_" + gb + "_ms", func() error {
			_, err := db.DepositStats(ctx, "mer_bench", analytics.Query{GroupBy: gb})
			return err
		}})
	}
	qs = append(qs,
		q{"query_groupby_day_filtered_ms", func() error {
			_, err := db.DepositStats(ctx, "mer_bench", analytics.Query{GroupBy: analytics.ByDay, Currency: "USDT", Status: "completed",
				From: start.AddDate(0, 3, 0), To: start.AddDate(0, 6, 0)})
			return err
		}},
		q{"query_latency_ms", func() error {
			_, err := db.Latency(ctx, "mer_bench", "")
			return err
		}},
	)
	for _, x := range qs {
		d, err := timeQuery(x.fn)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", x.name, err)
		}
		ms := float64(d.Microseconds()) / 1000
		met := ms <= 1000
		res = append(res, Result{Name: x.name, Value: ms, Unit: "ms", Baseline: "count() of the merchant's rows, no FINAL",
			BaselineValue: float64(scan.Microseconds()) / 1000, Ratio: ms / (float64(scan.Microseconds()) / 1000),
			Target: "<= 1000 ms", Met: &met})
	}
	// The export streams; its rate is rows per second to a discarding writer.
	t0 := time.Now()
	w, _ := analytics.NewWriter(io.Discard, analytics.FormatCSV)
	if err := db.Export(ctx, "mer_bench", analytics.ExportQuery{From: start, To: start.AddDate(0, 1, 0)}, w.Write); err != nil {
		return nil, err
	}
	w.Flush()
	fmt.Fprintf(progress, "history: exported one month, %d rows, as csv\n", w.Rows())
	res = append(res, Result{Name: "export_rows_per_s", Value: float64(w.Rows()) / time.Since(t0).Seconds(), Unit: "rows/s"})
	return res, nil
}
