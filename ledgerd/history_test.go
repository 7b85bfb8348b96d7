package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/ledgerd/history"
	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/outbox"
	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/analytics"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/chstore"
	"github.com/inflowhq/inflow/pkg/chstore/chtest"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// sinkChildEnv makes the test binary run only the history sink: DSN and
// brokers, separated by a space.
const sinkChildEnv = "INFLOW_HISTORY_SINK_CHILD"

func runSinkChild(spec string) int {
	dsn, brokers, _ := strings.Cut(spec, " ")
	ctx := context.Background()
	db, err := chstore.Open(ctx, dsn, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sink child:", err)
		return 1
	}
	// Small batches: many inserts, so that a kill lands in the middle of one.
	sink, err := chstore.NewSink(db, chstore.SinkOptions{Kafka: kafka.Config{Brokers: strings.Split(brokers, ",")},
		BatchRows: 2000, BatchWait: 20 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sink child:", err)
		return 1
	}
	if err := sink.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sink child:", err)
		return 1
	}
	return 0
}

// TestHistoryParity builds a history of more than 100,000 deposits, with
// reorgs, through the real ledger; its events go through the outbox to
// Kafka, and a sink process, SIGKILLed at random at least ten times while it
// inserts, writes them into ClickHouse. After the last run catches up:
// ClickHouse holds each deposit once, in its final status, and every
// analytics answer and every export from ClickHouse equals the ledger's
// own, over one table of questions. Status counts are also checked against
// a model computed from the generated chain alone, so that the two stores
// cannot agree on a wrong answer.
func TestHistoryParity(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := chtest.Server(t)
	ctx := context.Background()
	dsn := srv.DSN("parity")
	chdb, err := chstore.Open(ctx, dsn, nil)
	if err == nil {
		// Merges would collapse a row inserted twice with its pair and hide
		// it; the checks below must see every row the sink inserted.
		err = chdb.Conn().Exec(ctx, "SYSTEM STOP MERGES deposit_states")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer chdb.Close()

	kb, err := broker.Start(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	kcfg := kafka.Config{Brokers: kb.Addrs()}
	admin, _ := kafka.NewAdmin(kcfg)
	if err := kafka.EnsureTopics(ctx, admin, kafka.DepositsTopic(), kafka.AddressesTopic()); err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	// The ledger, with a clock that moves 20 to 60 minutes per block, so
	// that a year of days and real latencies come out.
	pdb, err := store.OpenPebble(filepath.Join(t.TempDir(), "ledgerd"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	db := store.Wrap(pdb)
	table := assets.Default()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	led, err := ledger.New(db, table, ledger.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(db, table, registry.Options{Now: func() time.Time { return time.Unix(1_700_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	g := &generator{rng: rand.New(rand.NewPCG(seed, 5)), ever: map[chain.Hash]genBlock{}}
	g.usdt, _ = chain.ParseAddress(chain.FamilyEVM, "0x00000000000000000000000000000000000a5d70")
	g.dai, _ = chain.ParseAddress(chain.FamilyEVM, "0x00000000000000000000000000000000000da100")
	g.spam, _ = chain.ParseAddress(chain.FamilyEVM, "0x000000000000000000000000000000000000bad1")
	// Merchant A: 200 addresses, 150 bound to references; merchant B: 20.
	var merchants []string
	for mi, n := range []int{200, 20} {
		var m *store.Merchant
		if err := reg.Write(func(b *store.Batch) (err error) {
			m, _, err = reg.CreateMerchant(b, fmt.Sprintf("m%d", mi), false, "")
			return
		}); err != nil {
			t.Fatal(err)
		}
		merchants = append(merchants, m.ID)
		var addrs []chain.Address
		for i := 0; i < n; i++ {
			h := sha256.Sum256(fmt.Appendf(nil, "pool-%d-%d", mi, i))
			var a [20]byte
			copy(a[:], h[:])
			addrs = append(addrs, chain.EVMAddress(a))
		}
		g.pool = append(g.pool, addrs...)
		if err := reg.Write(func(b *store.Batch) error {
			_, err := reg.Import(b, m.ID, merchantapi.Import{Family: chain.FamilyEVM, Addresses: addrs})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n*3/4; i++ {
			req := merchantapi.BindRequest{DepositReference: fmt.Sprintf("user-%d", i), Currency: "USDT", ChainID: string(crashChain)}
			if err := reg.Write(func(b *store.Batch) error { _, err := reg.Bind(b, m.ID, req); return err }); err != nil {
				t.Fatal(err)
			}
		}
	}
	prod, err := kafka.NewProducer(kcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	relay, err := outbox.New(db, prod, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A relay that crashed after Kafka's acknowledgement and before its
	// delete: the next relay publishes the same rows again.
	repeats := 0
	drain := func() {
		if g.rng.IntN(8) == 0 {
			var recs []*kgo.Record
			err := store.Scan(db, store.OutboxPrefix(), false, func(_, v []byte) (bool, error) {
				rs, _, err := outbox.Records(db, v)
				if err != nil {
					return false, err
				}
				for _, r := range rs {
					if r.Topic == kafka.TopicDeposits {
						recs = append(recs, r)
					}
				}
				return len(recs) < 1000, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			repeats += len(recs)
		}
		for {
			n, err := relay.Flush(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}

	// The sink, in a process of its own, killed at random while the history
	// is being built and published.
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), sinkChildEnv+"="+dsn+" "+strings.Join(kcfg.Brokers, ","))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	const wantTransfers, wantKills = 115_000, 10
	cmd := start()
	t.Cleanup(func() { // a failing test must not leave a sink behind
		cmd.Process.Kill()
		cmd.Wait()
	})
	kills, midStream := 0, 0
	nextKill := time.Now().Add(time.Duration(300+g.rng.IntN(600)) * time.Millisecond)
	var offset int64
	for g.transfers < wantTransfers || midStream < wantKills {
		var in []ledger.Input
		for i := 0; i < 50 && g.transfers < wantTransfers; i++ {
			for _, r := range g.step() {
				in = append(in, ledger.Input{Record: r, Topic: crashChain.Topic(), Offset: offset})
				offset++
			}
			clock = clock.Add(time.Duration(20+g.rng.IntN(40))*time.Minute + time.Duration(g.rng.IntN(1000))*time.Millisecond)
		}
		if len(in) > 0 {
			if err := led.Apply(in); err != nil {
				t.Fatal(err)
			}
			drain()
		} else {
			time.Sleep(50 * time.Millisecond)
		}
		if time.Now().After(nextKill) {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			kills++
			// Count the kills that left the sink behind the topic: those
			// were mid-stream, with rows still to insert.
			stored, err := chdb.Offsets(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ends, err := kafka.EndOffsets(ctx, admin, kafka.TopicDeposits)
			if err != nil {
				t.Fatal(err)
			}
			for p, end := range ends {
				if stored[kafka.TopicDeposits][p] < end {
					midStream++
					break
				}
			}
			cmd = start()
			nextKill = time.Now().Add(time.Duration(300+g.rng.IntN(600)) * time.Millisecond)
		}
	}
	// A last finality mark, then the last sink run catches up.
	if tip := g.tip(); tip.Number > 10 {
		g.finalized = tip.Number - 5
		r := &events.Record{Type: events.TypeFinalized, Chain: crashChain, Family: chain.FamilyEVM, Number: g.finalized, Hash: g.canon[g.finalized-1].ref.Hash}
		clock = clock.Add(time.Hour)
		if err := led.Apply([]ledger.Input{{Record: r, Topic: crashChain.Topic(), Offset: offset}}); err != nil {
			t.Fatal(err)
		}
		drain()
	}
	ends, err := kafka.EndOffsets(ctx, admin, kafka.TopicDeposits)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		stored, err := chdb.Offsets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		done := true
		for p, end := range ends {
			if stored[kafka.TopicDeposits][p] < end {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sink did not catch up: at %v, topic ends at %v", stored[kafka.TopicDeposits], ends)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if err := ledger.Audit(db); err != nil {
		t.Fatalf("audit: %v", err)
	}

	// Each deposit once, none missing.
	emb := history.Embedded{Reader: func() store.Reader { return db }}
	total := 0
	store.Scan(db, store.DepositPrefix(), false, func(_, _ []byte) (bool, error) { total++; return true, nil })
	if total < 100_000 {
		t.Fatalf("only %d deposits generated", total)
	}
	var finalRows, distinct, raw uint64
	if err := chdb.Conn().QueryRow(ctx, "SELECT count(), uniqExact(deposit_id) FROM deposits FINAL").Scan(&finalRows, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := chdb.Conn().QueryRow(ctx, "SELECT count() FROM deposits").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if finalRows != uint64(total) || distinct != uint64(total) {
		t.Errorf("ClickHouse holds %d deposits (%d distinct); the ledger has %d", finalRows, distinct, total)
	}
	// deposit_states, summed without FINAL: each deposit nets to exactly
	// one current state, whatever the kills and the repeated events did.
	netted, notOne, repeated, err := chtest.States(ctx, chdb.Conn())
	if err != nil {
		t.Fatal(err)
	}
	if repeated != 0 {
		t.Errorf("deposit_states: %d rows inserted twice", repeated)
	}
	if netted != uint64(total) || notOne != 0 {
		t.Errorf("deposit_states: %d deposits, %d of them not netting to one state; the ledger has %d", netted, notOne, total)
	}
	if repeats == 0 {
		t.Error("no event was published twice")
	}

	// The model's status counts, from the generated chain alone.
	model := map[string]int64{}
	for _, e := range g.model(table, nil) {
		model[e.status]++
	}
	for _, st := range merchantapi.Statuses {
		var n int64
		for _, m := range merchants {
			rows, err := chdb.DepositStats(ctx, m, merchantapi.AnalyticsQuery{GroupBy: merchantapi.ByChain, Status: st})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				n += r.Count
			}
		}
		if n != model[st] {
			t.Errorf("%s deposits: ClickHouse counts %d, the model %d", st, n, model[st])
		}
	}

	// One table of questions, asked of both stores.
	mid := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	late := time.Date(2026, 9, 15, 12, 30, 0, 0, time.UTC)
	var queries []merchantapi.AnalyticsQuery
	for _, gb := range merchantapi.GroupBys {
		queries = append(queries,
			merchantapi.AnalyticsQuery{GroupBy: gb},
			merchantapi.AnalyticsQuery{GroupBy: gb, Status: "orphaned"},
			merchantapi.AnalyticsQuery{GroupBy: gb, Status: "completed", Currency: "USDT"},
			merchantapi.AnalyticsQuery{GroupBy: gb, From: mid, To: late},
			merchantapi.AnalyticsQuery{GroupBy: gb, From: late, ChainID: string(crashChain), Currency: "dai"},
			merchantapi.AnalyticsQuery{GroupBy: gb, To: mid, Status: "pending"},
			merchantapi.AnalyticsQuery{GroupBy: gb, Status: "confirmed"},
			merchantapi.AnalyticsQuery{GroupBy: gb, ChainID: "ethereum"}, // none there
		)
	}
	same := func(what string, a, b any) {
		t.Helper()
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s differs:\nledger:     %.600s\nClickHouse: %.600s", what, ja, jb)
		}
	}
	// Asked twice: with deposit_states as the sink inserted it, every
	// entered-and-left pair still in it, then after ClickHouse collapsed
	// it.
	nonEmpty := 0
	compare := func(when string) {
		t.Helper()
		for _, m := range merchants {
			for _, q := range queries {
				want, err := emb.DepositStats(ctx, m, q)
				if err != nil {
					t.Fatal(err)
				}
				got, err := chdb.DepositStats(ctx, m, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(want) > 0 {
					nonEmpty++
				}
				same(fmt.Sprintf("%s: merchant %s %+v", when, m, q), want, got)
			}
			for _, id := range []string{"", string(crashChain), "ethereum"} {
				want, err := emb.Latency(ctx, m, id)
				if err != nil {
					t.Fatal(err)
				}
				got, err := chdb.Latency(ctx, m, id)
				if err != nil {
					t.Fatal(err)
				}
				if want == nil {
					want = []analytics.ChainLatency{}
				}
				if got == nil {
					got = []analytics.ChainLatency{}
				}
				same(fmt.Sprintf("%s: latency of %s on %q", when, m, id), want, got)
			}
			for _, eq := range []merchantapi.ExportQuery{{Format: merchantapi.FormatCSV}, {Format: merchantapi.FormatNDJSON, From: mid, To: late}} {
				var wb, gb bytes.Buffer
				for _, side := range []struct {
					st  analytics.Store
					buf *bytes.Buffer
				}{{emb, &wb}, {chdb, &gb}} {
					w, err := analytics.NewWriter(side.buf, eq.Format)
					if err != nil {
						t.Fatal(err)
					}
					if err := side.st.Export(ctx, m, eq, w.Write); err != nil {
						t.Fatal(err)
					}
					w.Flush()
				}
				if !bytes.Equal(wb.Bytes(), gb.Bytes()) {
					t.Errorf("%s: export %s of %s differs (%d and %d bytes)", when, eq.Format, m, wb.Len(), gb.Len())
				}
			}
		}
	}
	compare("unmerged")
	var before uint64
	chdb.Conn().QueryRow(ctx, "SELECT count() FROM deposit_states").Scan(&before)
	if err := chdb.Conn().Exec(ctx, "SYSTEM START MERGES deposit_states"); err != nil {
		t.Fatal(err)
	}
	if err := chdb.Conn().Exec(ctx, "OPTIMIZE TABLE deposit_states FINAL"); err != nil {
		t.Fatal(err)
	}
	var after uint64
	chdb.Conn().QueryRow(ctx, "SELECT count() FROM deposit_states").Scan(&after)
	t.Logf("deposit_states: %d rows as inserted, %d after OPTIMIZE FINAL, for %d deposits", before, after, total)
	nonEmpty = 0
	compare("collapsed")
	if nonEmpty < len(queries) {
		t.Errorf("only %d of %d answers had rows; the table does not exercise the stores", nonEmpty, 2*len(queries))
	}
	t.Logf("%d deposits, %d blocks, %d forks; %d events published twice; sink killed %d times (%d mid-stream); ClickHouse raw rows %d, after FINAL %d",
		total, len(g.ever), g.fork, repeats, kills, midStream, raw, finalRows)
}
