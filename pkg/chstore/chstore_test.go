package chstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/pkg/analytics"
	"github.com/inflowhq/inflow/pkg/chstore"
	"github.com/inflowhq/inflow/pkg/chstore/chtest"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

func ev(id, merchant, dep, status, amount, currency, chainID string, ref *string, detected time.Time) *events.DepositEvent {
	d := events.Deposit{DepositID: dep, DepositReference: ref, Amount: amount, Currency: currency, ChainID: chainID,
		Address: "0xabc", TxHash: "0xdef", BlockNumber: 7, Status: status, DetectedAt: events.APITime{Time: detected}}
	at := detected.Add(time.Duration(len(status)) * time.Second)
	switch status {
	case "confirmed":
		d.ConfirmedAt = &events.APITime{Time: at}
	case "completed":
		d.ConfirmedAt = &events.APITime{Time: at}
		d.CompletedAt = &events.APITime{Time: at.Add(time.Minute)}
	case "orphaned":
		d.OrphanedAt = &events.APITime{Time: at}
	}
	return &events.DepositEvent{ID: id, Type: "deposit." + status, CreatedAt: events.APITime{Time: at}, MerchantID: merchant, Data: d}
}

// life is every event of a deposit's life up to its status, as the ledger
// sends them: pending, then confirmed, completed or orphaned.
func life(id, merchant, dep, status, amount, currency, chainID string, ref *string, detected time.Time) []*events.DepositEvent {
	steps := map[string][]string{"pending": {"pending"}, "confirmed": {"pending", "confirmed"},
		"completed": {"pending", "confirmed", "completed"}, "orphaned": {"pending", "orphaned"}}[status]
	var out []*events.DepositEvent
	for _, st := range steps {
		out = append(out, ev(id+"-"+st, merchant, dep, st, amount, currency, chainID, ref, detected))
	}
	return out
}

// TestSinkAndQueries: the sink writes what it reads; events delivered twice
// show once; a restarted sink and a rebuilt deposit_states take every event
// once; amounts of one currency with different decimals add up exactly;
// every query sees one merchant only.
func TestSinkAndQueries(t *testing.T) {
	srv := chtest.Server(t)
	ctx := context.Background()
	db, err := chstore.Open(ctx, srv.DSN("inflow_test"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Migrations apply once: reopening finds them done.
	db2, err := chstore.Open(ctx, srv.DSN("inflow_test"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := db2.SchemaVersion(ctx); err != nil || v != 5 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	db2.Close()

	kb, err := broker.Start(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	kcfg := kafka.Config{Brokers: kb.Addrs()}
	admin, _ := kafka.NewAdmin(kcfg)
	if err := kafka.EnsureTopics(ctx, admin, kafka.DepositsTopic()); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	ref := "order-1"
	day1 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	huge := new(big.Int).Lsh(big.NewInt(1), 250) // beyond any float, within 256 bits
	var evs []*events.DepositEvent
	for _, l := range [][]*events.DepositEvent{
		life("e1", "m1", "d1", "confirmed", "25.5", "USDT", "ethereum", &ref, day1),
		life("e3", "m1", "d2", "completed", "0.000000000000000001", "USDT", "bsc", &ref, day1), // 18 decimals there
		life("e4", "m1", "d3", "orphaned", "7", "USDT", "ethereum", nil, day2),
		life("e6", "m1", "d4", "completed", huge.String(), "SPAM", "ethereum", nil, day2),
		life("e7", "m2", "d5", "completed", "1000", "USDT", "ethereum", nil, day1),
	} {
		evs = append(evs, l...)
	}
	prod, err := kafka.NewProducer(kcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	publish := func(evs []*events.DepositEvent) {
		t.Helper()
		for _, e := range evs {
			b, _ := json.Marshal(e)
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: kafka.TopicDeposits, Key: []byte(e.Data.DepositID), Value: b}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	runSink := func() {
		t.Helper()
		sink, err := chstore.NewSink(db, chstore.SinkOptions{Kafka: kcfg, BatchRows: 3, BatchWait: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- sink.Run(sctx) }()
		select {
		case <-sink.CaughtUp():
		case err := <-done:
			t.Fatal(err)
		case <-time.After(30 * time.Second):
			t.Fatal("sink did not catch up")
		}
		cancel()
		<-done
	}
	// Merges would collapse a repeated row away and hide it: stop them, so
	// that the checks see every row inserted.
	if err := db.Conn().Exec(ctx, "SYSTEM STOP MERGES deposit_states"); err != nil {
		t.Fatal(err)
	}
	// Each deposit nets to one current state, every event is in once.
	checkStates := func(when string) {
		t.Helper()
		deposits, bad, repeated, err := chtest.States(ctx, db.Conn())
		if err != nil || bad != 0 || deposits != 5 {
			t.Fatalf("%s: %d of %d deposits do not net to one state (%v)", when, bad, deposits, err)
		}
		if repeated != 0 {
			t.Fatalf("%s: %d rows of deposit_states are in twice", when, repeated)
		}
	}
	// The outbox delivers at least once: the first half again after all of
	// it, with a restart of the sink in between.
	half := len(evs) / 2
	publish(evs[:half])
	publish(evs[:half/2])
	runSink()
	var first uint64
	if err := db.Conn().QueryRow(ctx, "SELECT uniqExact(deposit_id) FROM deposit_states").Scan(&first); err != nil || first != 3 {
		t.Fatalf("deposit_states holds %d deposits after the first half, want 3 (%v)", first, err)
	}
	// With deposit_events gone for a while, every insert round fails after
	// deposit_states took its rows, and is retried until the table is back.
	if err := db.Conn().Exec(ctx, "RENAME TABLE deposit_events TO deposit_events_away"); err != nil {
		t.Fatal(err)
	}
	back := time.AfterFunc(1500*time.Millisecond, func() {
		db.Conn().Exec(context.Background(), "RENAME TABLE deposit_events_away TO deposit_events")
	})
	defer back.Stop()
	publish(evs[half:])
	publish(evs[half-2 : half+2])
	runSink()
	checkStates("after a restart, repeats and failed inserts")
	// A new deposit_states (an upgrade from schema 4) fills from the start
	// of inflow.deposits, while the other tables go on from their offsets.
	if err := db.Conn().Exec(ctx, "TRUNCATE TABLE deposit_states"); err != nil {
		t.Fatal(err)
	}
	runSink()
	checkStates("after a rebuild")

	rows, err := db.DepositStats(ctx, "m1", merchantapi.AnalyticsQuery{GroupBy: merchantapi.ByCurrency})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(render(rows))
	want := fmt.Sprint([]string{"SPAM/SPAM 1 " + huge.String(), "USDT/USDT 2 25.500000000000000001"})
	if got != want {
		t.Errorf("by currency:\n got %s\nwant %s", got, want)
	}
	rows, _ = db.DepositStats(ctx, "m1", merchantapi.AnalyticsQuery{GroupBy: merchantapi.ByReference, Currency: "usdt", Status: "orphaned"})
	if got, want := fmt.Sprint(render(rows)), "[<null>/USDT 1 7]"; got != want {
		t.Errorf("orphaned by reference: %s, want %s", got, want)
	}
	rows, _ = db.DepositStats(ctx, "m1", merchantapi.AnalyticsQuery{GroupBy: merchantapi.ByDay, From: day2})
	if got, want := fmt.Sprint(render(rows)), "[2026-03-02/SPAM 1 "+huge.String()+"]"; got != want {
		t.Errorf("by day from day 2: %s, want %s", got, want)
	}
	lat, err := db.Latency(ctx, "m1", "ethereum")
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) != 1 || lat[0].ToConfirmed.Count != 2 || *lat[0].ToConfirmed.P50 != 9 || lat[0].ToCompleted.Count != 1 || *lat[0].ToCompleted.P99 != 69 {
		b, _ := json.Marshal(lat)
		t.Errorf("latency %s", b)
	}
	var ids []string
	if err := db.Export(ctx, "m1", merchantapi.ExportQuery{}, func(r *analytics.Record) error {
		ids = append(ids, r.DepositID+"/"+r.Status)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(ids), "[d1/confirmed d2/completed d3/orphaned d4/completed]"; got != want {
		t.Errorf("export %s, want %s", got, want)
	}
	var n uint64
	if err := db.Conn().QueryRow(ctx, "SELECT count() FROM deposit_events FINAL").Scan(&n); err != nil || n != uint64(len(evs)) {
		t.Errorf("%d events after repeats, want %d (%v)", n, len(evs), err)
	}
}

func render(rows []analytics.Row) []string {
	var out []string
	for _, r := range rows {
		k := "<null>"
		if r.Key != nil {
			k = *r.Key
		}
		out = append(out, fmt.Sprintf("%s/%s %d %s", k, r.Currency, r.Count, r.Amount))
	}
	return out
}
