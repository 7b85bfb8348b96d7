package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kv"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

func init() {
	register(suite{name: "ledger", about: "deposits applied per second with synced batches vs raw Pebble synced writes of the same batch sizes", run: runLedger})
}

func runLedger(args []string, progress io.Writer) ([]Result, error) {
	fs := flag.NewFlagSet("ledger", flag.ContinueOnError)
	sizes := fs.String("batch-sizes", "1,10,100,1000", "deposits per applied block (one synced batch each)")
	total := fs.Int("deposits", 0, "deposits per batch size (default 2000 per deposit of a batch, at least 20000 and at most 1000000)")
	rounds := fs.Int("rounds", 10, "rounds per batch size, each side taking its turn in every round")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var res []Result
	for _, s := range strings.Split(*sizes, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || k < 1 {
			return nil, fmt.Errorf("bad batch size %q", s)
		}
		n := *total
		if n <= 0 {
			// Long enough at every size for a round to hold several
			// flushes: one slow fsync or compaction moves a short run.
			n = min(max(2000*k, 20_000), 1_000_000)
		}
		blocks := max(1, n/k)
		led, raw, err := ledgerRun(k, blocks, max(1, min(*rounds, blocks)), progress)
		if err != nil {
			return nil, err
		}
		res = append(res, Result{Name: fmt.Sprintf("wal_bytes_per_deposit_batch_%d", k), Value: led.walBytes, Unit: "bytes",
			Baseline: "raw Pebble writes", BaselineValue: raw.walBytes, Ratio: led.walBytes / raw.walBytes})
		res = append(res, Result{Name: fmt.Sprintf("table_bytes_per_deposit_batch_%d", k), Value: led.tableBytes, Unit: "bytes",
			Baseline: "raw Pebble writes", BaselineValue: raw.tableBytes, Ratio: led.tableBytes / raw.tableBytes})
		met := led.rate >= raw.rate/2
		res = append(res, Result{Name: fmt.Sprintf("deposits_per_s_batch_%d", k), Value: led.rate, Unit: "deposits/s",
			Baseline: fmt.Sprintf("raw Pebble synced batches of %d writes", k), BaselineValue: raw.rate, Ratio: led.rate / raw.rate,
			Target: ">= 0.5x baseline", Met: &met})
	}
	return res, nil
}

// side is one side's figures: deposits (or writes) per second, the bytes
// each put in Pebble's write-ahead log, and the bytes its flushes and
// compactions wrote.
type side struct{ rate, walBytes, tableBytes float64 }

// tableBytes is what db's flushes and compactions have written, to tables
// and to blob files (values kept apart from their keys).
func tableBytes(db *pebble.DB) uint64 {
	t := db.Metrics().Total()
	return t.TableBytesFlushed + t.TableBytesCompacted + t.BlobBytesFlushed + t.BlobBytesCompacted
}

// ledgerRun applies blocks of k deposits through the ledger and writes the
// same number of synced batches of k raw keys, each side on a fresh
// database of its own. The sides take turns, round by round, so that both
// meet the same moments of the machine (fsync latency here drifts by 2× over
// a minute). Each turn ends when its database has no flush or compaction
// left running, and that wait is counted in its time: a side pays for the
// background work its writes cause, and the other side's turn starts on a
// quiet machine.
func ledgerRun(k, blocks, rounds int, progress io.Writer) (led, raw side, err error) {
	dir, err := os.MkdirTemp("", "inflow-bench-ledger-")
	if err != nil {
		return led, raw, err
	}
	defer os.RemoveAll(dir)
	pdb, err := store.OpenPebble(dir+"/ledger", nil, nil)
	if err != nil {
		return led, raw, err
	}
	db := store.Wrap(pdb)
	defer db.Close()
	rdb, err := kv.Open(dir+"/raw", nil, nil)
	if err != nil {
		return led, raw, err
	}
	defer rdb.Close()
	table := assets.Default()
	reg, err := registry.New(db, table, registry.Options{Now: func() time.Time { return time.Unix(1_700_000_000, 0) }})
	if err != nil {
		return led, raw, err
	}
	var m *store.Merchant
	if err := reg.Write(func(b *store.Batch) (err error) { m, _, err = reg.CreateMerchant(b, "bench", false, ""); return }); err != nil {
		return led, raw, err
	}
	pool := make([]chain.Address, 1000)
	for i := range pool {
		h := sha256.Sum256([]byte("bench-" + strconv.Itoa(i)))
		var a [20]byte
		copy(a[:], h[:])
		pool[i] = chain.EVMAddress(a)
	}
	if err := reg.Write(func(b *store.Batch) error {
		_, err := reg.Import(b, m.ID, merchantapi.Import{Family: chain.FamilyEVM, Addresses: pool})
		return err
	}); err != nil {
		return led, raw, err
	}
	for i := 0; i < 800; i++ {
		req := merchantapi.BindRequest{DepositReference: "u" + strconv.Itoa(i), Currency: "USDT", ChainID: "evm-devnet"}
		if err := reg.Write(func(b *store.Batch) error { _, err := reg.Bind(b, m.ID, req); return err }); err != nil {
			return led, raw, err
		}
	}
	lg, err := ledger.New(db, table, ledger.Options{})
	if err != nil {
		return led, raw, err
	}
	usdt, _ := chain.ParseAddress(chain.FamilyEVM, "0x00000000000000000000000000000000000a5d70")
	recs := make([]*events.Record, blocks)
	var parent chain.Hash
	for b := range recs {
		n := uint64(b + 1)
		h := chain.Hash(sha256.Sum256(fmt.Appendf(nil, "%d", n)))
		r := &events.Record{Type: events.TypeBlockConnected, Chain: "evm-devnet", Family: chain.FamilyEVM, Number: n, Hash: h, Parent: parent, Time: 1_800_000_000 + int64(n)}
		for i := 0; i < k; i++ {
			id := (b*k + i) % len(pool)
			r.Transfers = append(r.Transfers, chain.Transfer{TxHash: fmt.Appendf(nil, "tx-%d-%d", n, i), Index: uint32(i), Kind: chain.KindERC20,
				Token: usdt, To: pool[id], AddressID: uint64(id + 1), Value: chain.AmountFromUint64(uint64(1000 + i))})
		}
		recs[b], parent = r, h
	}
	// A raw value is 600 bytes, about one deposit row, that compress to
	// about half, as the values of RocksDB's db_bench do: 300 random bytes
	// twice, taken from a different place for every write. (Zeros compress
	// to almost nothing; the rates measured the same either way.)
	noise := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{}).Read(noise)
	writeRaw := func(db *pebble.DB, from, to int) error {
		val := make([]byte, 600)
		for b := from; b < to; b++ {
			batch := db.NewBatch()
			for i := 0; i < k; i++ {
				off := ((b*k + i) * 300) % (len(noise) - 300)
				copy(val[:300], noise[off:])
				copy(val[300:], val[:300])
				batch.Set(fmt.Appendf(nil, "x/%08d/%06d", b, i), val, nil)
			}
			if err := batch.Commit(pebble.Sync); err != nil {
				return err
			}
			batch.Close()
		}
		return quiet(db)
	}
	fmt.Fprintf(progress, "ledger: %d blocks of %d deposits, in %d rounds…\n", blocks, k, rounds)
	if err := quiet(pdb); err != nil {
		return led, raw, err
	}
	lwal0, rwal0 := pdb.Metrics().WAL.BytesIn, rdb.Metrics().WAL.BytesIn
	ltab0, rtab0 := tableBytes(pdb), tableBytes(rdb)
	var ledTime, rawTime time.Duration
	for r := 0; r < rounds; r++ {
		from, to := blocks*r/rounds, blocks*(r+1)/rounds
		start := time.Now()
		for i := from; i < to; i++ {
			// As ledgerd does: each block's batch commits while the next
			// one is prepared.
			if err := lg.Submit([]ledger.Input{{Record: recs[i], Topic: "inflow.chain.evm-devnet", Offset: int64(i)}}); err != nil {
				return led, raw, err
			}
		}
		if err := db.WaitDurable(); err != nil {
			return led, raw, err
		}
		applied := time.Since(start)
		if err := quiet(pdb); err != nil {
			return led, raw, err
		}
		lt := time.Since(start)
		start = time.Now()
		if err := writeRaw(rdb, from, to); err != nil {
			return led, raw, err
		}
		rt := time.Since(start)
		ledTime, rawTime = ledTime+lt, rawTime+rt
		n := float64((to - from) * k)
		fmt.Fprintf(progress, "  round %d: ledger %.0f deposits/s (%.0f%% of it waiting for flushes and compactions), raw %.0f writes/s, %.2fx\n", r+1,
			n/lt.Seconds(), 100*(lt-applied).Seconds()/lt.Seconds(), n/rt.Seconds(), rt.Seconds()/lt.Seconds())
	}
	led.rate = float64(blocks*k) / ledTime.Seconds()
	led.walBytes = float64(pdb.Metrics().WAL.BytesIn-lwal0) / float64(blocks*k)
	raw.rate = float64(blocks*k) / rawTime.Seconds()
	raw.walBytes = float64(rdb.Metrics().WAL.BytesIn-rwal0) / float64(blocks*k)
	led.tableBytes = float64(tableBytes(pdb)-ltab0) / float64(blocks*k)
	raw.tableBytes = float64(tableBytes(rdb)-rtab0) / float64(blocks*k)
	if err := ledger.Audit(db); err != nil {
		return led, raw, fmt.Errorf("audit after the run: %w", err)
	}
	return led, raw, nil
}

// quiet waits until db has no flush or compaction running.
func quiet(db *pebble.DB) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		m := db.Metrics()
		if m.Compact.NumInProgress == 0 && m.Flush.NumInProgress == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("compactions still running after 5 minutes")
		}
		time.Sleep(time.Millisecond)
	}
}
