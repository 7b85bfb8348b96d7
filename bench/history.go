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
	"github.com/inflowhq/inflow/pkg/merchantapi"
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
	for _, t := range []string{"deposits", "deposit_states", "deposit_events"} {
		if err := db.Conn().Exec(ctx, "TRUNCATE TABLE "+t); err != nil {
			return nil, err
		}
	}
	sink, err := chstore.NewSink(db, chstore.SinkOptions{})
	if err != nil {
		return nil, err
	}

	// The history: one merchant with every deposit (the worst case for a
	// per-merchant query), a year of days, 5,000 references, four chains
	// and their currencies. Each deposit sends every event of its life, as
	// the ledger does: pending, then confirmed, completed or orphaned.
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
		emit := func(status string, at time.Time) {
			d.Status = status
			evs = append(evs, &events.DepositEvent{ID: fmt.Sprintf("evt_%d_%s", i, status), Type: "deposit." + status,
				CreatedAt: events.APITime{Time: at}, MerchantID: "mer_bench", Data: d})
		}
		emit("pending", det)
		conf := det.Add(time.Duration(10_000+rng.IntN(300_000)) * time.Millisecond)
		switch r := rng.IntN(100); {
		case r < 5: // still pending
		case r < 10:
			if r < 7 {
				d.ConfirmedAt = &events.APITime{Time: conf}
				emit("confirmed", conf)
			}
			orphaned := conf.Add(30 * time.Second)
			d.OrphanedAt = &events.APITime{Time: orphaned}
			emit("orphaned", orphaned)
		case r < 20:
			d.ConfirmedAt = &events.APITime{Time: conf}
			emit("confirmed", conf)
		default:
			d.ConfirmedAt = &events.APITime{Time: conf}
			emit("confirmed", conf)
			done := conf.Add(time.Duration(60_000+rng.IntN(900_000)) * time.Millisecond)
			d.CompletedAt = &events.APITime{Time: done}
			emit("completed", done)
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
	// Let the background merges, which also drop the entered-and-left
	// pairs of deposit_states, finish before timing the queries.
	fmt.Fprintf(progress, "history: waiting for ClickHouse's merges to settle…\n")
	settle := time.Now()
	for time.Since(settle) < 10*time.Minute {
		var merging uint64
		if err := db.Conn().QueryRow(ctx, "SELECT count() FROM system.merges").Scan(&merging); err != nil {
			return nil, err
		}
		if merging == 0 {
			break
		}
		time.Sleep(time.Second)
	}
	var stateRows, net uint64
	var stored int64
	if err := db.Conn().QueryRow(ctx, "SELECT count(), sum(sign) FROM deposit_states").Scan(&stateRows, &stored); err != nil {
		return nil, err
	}
	if stored != int64(*n) {
		return nil, fmt.Errorf("deposit_states nets to %d deposits, want %d", stored, *n)
	}
	if err := db.Conn().QueryRow(ctx, "SELECT count() FROM deposits FINAL").Scan(&net); err != nil {
		return nil, err
	}
	if net != uint64(*n) {
		return nil, fmt.Errorf("ClickHouse holds %d deposits after FINAL, want %d", net, *n)
	}
	fmt.Fprintf(progress, "history: merges settled in %s; deposit_states holds %d rows for %d deposits\n",
		time.Since(settle).Round(time.Second), stateRows, *n)
	scan, err := timeQuery(func() error {
		var c uint64
		return db.Conn().QueryRow(ctx, "SELECT count() FROM deposit_states WHERE merchant_id = 'mer_bench'").Scan(&c)
	})
	if err != nil {
		return nil, err
	}
	res := []Result{
		{Name: "deposits", Value: float64(*n), Unit: "deposits"},
		{Name: "insert_events_per_s", Value: rate, Unit: "events/s"},
		{Name: "deposit_states_rows", Value: float64(stateRows), Unit: "rows"},
	}
	fmt.Fprintf(progress, "history: %d events in batches of %d into ClickHouse %s\n", eventsWritten, *batchRows, version)
	fmt.Fprintf(progress, "history: timing the analytics queries (median of three)…\n")
	type q struct {
		name string
		fn   func() error
	}
	var qs []q
	for _, gb := range merchantapi.GroupBys {
		qs = append(qs, q{"query_groupby_" + gb + "_ms", func() error {
			_, err := db.DepositStats(ctx, "mer_bench", merchantapi.AnalyticsQuery{GroupBy: gb})
			return err
		}})
	}
	qs = append(qs,
		q{"query_groupby_day_filtered_ms", func() error {
			_, err := db.DepositStats(ctx, "mer_bench", merchantapi.AnalyticsQuery{GroupBy: merchantapi.ByDay, Currency: "USDT", Status: "completed",
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
		res = append(res, Result{Name: x.name, Value: ms, Unit: "ms", Baseline: "count() of the merchant's deposit_states rows",
			BaselineValue: float64(scan.Microseconds()) / 1000, Ratio: ms / (float64(scan.Microseconds()) / 1000),
			Target: "<= 1000 ms", Met: &met})
	}
	// The export streams; its rate is rows per second to a discarding writer.
	t0 := time.Now()
	w, _ := analytics.NewWriter(io.Discard, merchantapi.FormatCSV)
	if err := db.Export(ctx, "mer_bench", merchantapi.ExportQuery{From: start, To: start.AddDate(0, 1, 0)}, w.Write); err != nil {
		return nil, err
	}
	w.Flush()
	fmt.Fprintf(progress, "history: exported one month, %d rows, as csv\n", w.Rows())
	res = append(res, Result{Name: "export_rows_per_s", Value: float64(w.Rows()) / time.Since(t0).Seconds(), Unit: "rows/s"})
	return res, nil
}
