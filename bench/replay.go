package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/inflowhq/inflow/indexer/bitcoin"
	idaemon "github.com/inflowhq/inflow/indexer/daemon"
	"github.com/inflowhq/inflow/indexer/evm"
	"github.com/inflowhq/inflow/indexer/evm/evmbench"
	"github.com/inflowhq/inflow/indexer/solana/solbench"
	"github.com/inflowhq/inflow/indexer/tron/tronbench"
	ldaemon "github.com/inflowhq/inflow/ledgerd/daemon"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// runPipelineReplay is `bench pipeline --replay`: the whole stack (indexer,
// Kafka, ledgerd with its outbox and webhooks) following replay nodes of
// mainnet blocks that serve as fast as they can, instead of devnets that
// share the cores: every family at once (ethereum's recorded mainnet
// blocks, bitcoin's, and mainnet-shaped Tron and Solana blocks).
func runPipelineReplay(args []string, progress io.Writer) ([]Result, error) {
	fs := flag.NewFlagSet("pipeline --replay", flag.ContinueOnError)
	dir := fixturesFlag(fs)
	blocks := fs.Uint64("blocks", 1500, "blocks of the throughput run")
	watchEvery := fs.Int("watch-every", 4, "watch every n-th recipient of the recorded blocks (1: all)")
	latBlocks := fs.Uint64("latency-blocks", 200, "blocks of the latency run, at a tenth of the measured load")
	btcBlocks := fs.Uint64("bitcoin-blocks", 160, "Bitcoin blocks of the throughput run (the recorded ones are up to 1.3 MB)")
	tronBlocks := fs.Uint64("tron-blocks", 300, "Tron blocks of the throughput run (about 350 transactions each)")
	solBlocks := fs.Uint64("solana-blocks", 150, "Solana blocks of the throughput run (about 1,500 transactions each)")
	if err := parseFixtures(fs, args, dir); err != nil {
		return nil, err
	}
	c, err := evmbench.Load(filepath.Join(*dir, "evm"))
	if err != nil {
		return nil, err
	}
	node, err := startReplayNode(c, 0)
	if err != nil {
		return nil, err
	}
	defer node.Close()
	btc, err := startBTCReplay(filepath.Join(*dir, "bitcoin", "mainnet"))
	if err != nil {
		return nil, err
	}
	defer btc.Close()
	fmt.Fprintln(progress, "pipeline --replay: making the Tron and Solana blocks…")
	trx, err := tronbench.StartReplay(20, 350)
	if err != nil {
		return nil, err
	}
	defer trx.Close()
	sl, err := solbench.StartReplay(4, 1500, nil)
	if err != nil {
		return nil, err
	}
	defer sl.Close()
	// The Solana blocks are the local node's, its USDT mint the localnet's.
	const id, btcID, tronID, solID = chain.ID("ethereum"), chain.ID("bitcoin"), chain.ID("tron"), chain.ID("solana-localnet")
	table := assets.Default()

	// The recipients the merchant watches: every n-th one of the recorded
	// blocks' transfers of assets Inflow credits.
	seen := map[chain.Address]bool{}
	var watch []chain.Address
	k := 0
	for _, b := range c.Blocks {
		var x evm.Extractor
		got, err := x.Extract(b.Block, b.Receipts)
		if err != nil {
			return nil, err
		}
		for i := range got.Transfers {
			t := &got.Transfers[i]
			if _, ok := table.ForTransfer(id, t); !ok || seen[t.To] {
				continue
			}
			seen[t.To] = true
			if k++; k%*watchEvery == 0 {
				watch = append(watch, t.To)
			}
		}
	}

	var btcWatch []chain.Address
	k = 0
	for i, raw := range btc.raws {
		hx, _ := json.Marshal(hex.EncodeToString(raw))
		got, err := bitcoin.DecodeRawResult(hx, uint64(i))
		if err != nil {
			return nil, err
		}
		for _, t := range got.Transfers {
			if _, ok := chain.BitcoinAddressText([]byte(t.To.Raw()), chain.NetworkMainnet); !ok || seen[t.To] {
				continue
			}
			seen[t.To] = true
			if k++; k%*watchEvery == 0 {
				btcWatch = append(btcWatch, t.To)
			}
		}
	}

	everyNth := func(lists [][]chain.Address) []chain.Address {
		var out []chain.Address
		k := 0
		for _, l := range lists {
			for _, a := range l {
				if seen[a] {
					continue
				}
				seen[a] = true
				if k++; k%*watchEvery == 0 {
					out = append(out, a)
				}
			}
		}
		return out
	}
	tronWatch, solWatch := everyNth(trx.Recipients), everyNth(sl.Recipients)

	tmp, err := os.MkdirTemp("", "inflow-bench-replay-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	kb, err := broker.Start(broker.Options{})
	if err != nil {
		return nil, err
	}
	defer kb.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The webhook receiver: when each deposit.pending arrives, by block.
	var mu sync.Mutex
	arrivals := map[string]time.Time{} // deposit id → first arrival
	blockOf := map[string]uint64{}
	var last time.Time
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		var ev struct {
			Type string
			Data struct {
				DepositID   string
				BlockNumber uint64
			}
		}
		json.NewDecoder(r.Body).Decode(&ev)
		if ev.Type == "deposit.pending" {
			mu.Lock()
			if _, ok := arrivals[ev.Data.DepositID]; !ok {
				arrivals[ev.Data.DepositID], blockOf[ev.Data.DepositID] = now, ev.Data.BlockNumber
				last = now
			}
			mu.Unlock()
		}
		w.WriteHeader(204)
	})}
	go hs.Serve(ln)
	defer hs.Close()

	lreg := prometheus.NewRegistry()
	led, err := ldaemon.New(ldaemon.Config{DataDir: filepath.Join(tmp, "ledgerd"), KafkaBrokers: kb.Addrs(), HTTP: "127.0.0.1:0", Chains: []chain.ID{id, btcID, tronID, solID},
		InternalToken: "it_" + randHex(16), AllowLoopbackWebhooks: true, Table: table}, quiet, lreg)
	if err != nil {
		return nil, err
	}
	defer led.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() { defer wg.Done(); led.Run(ctx) }()
	reg := led.Reg
	var merchant string
	if err := reg.Write(func(b *store.Batch) error {
		m, _, err := reg.CreateMerchant(b, "bench", false, "sk_test_"+randHex(16))
		if err != nil {
			return err
		}
		merchant = m.ID
		_, err = reg.CreateEndpoint(b, merchant, "http://"+ln.Addr().String()+"/hooks", []string{"deposit.pending"})
		return err
	}); err != nil {
		return nil, err
	}
	for lo := 0; lo < len(watch); lo += merchantapi.MaxImport {
		part := watch[lo:min(lo+merchantapi.MaxImport, len(watch))]
		if err := reg.Write(func(b *store.Batch) error {
			_, err := reg.Import(b, merchant, merchantapi.Import{Family: chain.FamilyEVM, Addresses: part})
			return err
		}); err != nil {
			return nil, err
		}
	}
	for lo := 0; lo < len(btcWatch); lo += merchantapi.MaxImport {
		part := btcWatch[lo:min(lo+merchantapi.MaxImport, len(btcWatch))]
		if err := reg.Write(func(b *store.Batch) error {
			_, err := reg.Import(b, merchant, merchantapi.Import{Family: chain.FamilyBitcoin, Addresses: part, Network: chain.NetworkMainnet})
			return err
		}); err != nil {
			return nil, err
		}
	}
	for _, fam := range []struct {
		f     chain.Family
		addrs []chain.Address
	}{{chain.FamilyTron, tronWatch}, {chain.FamilySolana, solWatch}} {
		for lo := 0; lo < len(fam.addrs); lo += merchantapi.MaxImport {
			part := fam.addrs[lo:min(lo+merchantapi.MaxImport, len(fam.addrs))]
			if err := reg.Write(func(b *store.Batch) error {
				_, err := reg.Import(b, merchant, merchantapi.Import{Family: fam.f, Addresses: part})
				return err
			}); err != nil {
				return nil, err
			}
		}
	}
	watched := len(watch) + len(btcWatch) + len(tronWatch) + len(solWatch)
	from := uint64(1)
	ireg := prometheus.NewRegistry()
	idx, err := idaemon.New(idaemon.Config{DataDir: filepath.Join(tmp, "indexer"), KafkaBrokers: kb.Addrs(), Table: table,
		Chains: []idaemon.ChainConfig{{ID: id, RPC: node.url, From: &from, Fetchers: 16, PollInterval: idaemon.Duration(10 * time.Millisecond)},
			{ID: btcID, RPC: btc.url, From: &from, Fetchers: 8, PollInterval: idaemon.Duration(10 * time.Millisecond)},
			{ID: tronID, RPC: "grpc://" + trx.Addr, From: &from, Fetchers: 8, PollInterval: idaemon.Duration(10 * time.Millisecond)},
			{ID: solID, RPC: sl.URL, From: &from, Fetchers: 8, PollInterval: idaemon.Duration(10 * time.Millisecond)}}}, quiet, ireg)
	if err != nil {
		return nil, err
	}
	defer idx.Close()
	wg.Add(1)
	go func() { defer wg.Done(); idx.Run(ctx) }()
	// The matcher learns the pool (through ledgerd's outbox) before the
	// first block exists.
	for deadline := time.Now().Add(60 * time.Second); idx.Matcher().Len() < int64(watched); {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the indexer's matcher has %d of %d addresses", idx.Matcher().Len(), watched)
		}
		time.Sleep(20 * time.Millisecond)
	}
	gauge := func(reg *prometheus.Registry, name string, chainLabel ...string) float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == name {
				v := 0.0
				for _, m := range mf.GetMetric() {
					if len(chainLabel) > 0 && !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == "chain" && l.GetValue() == chainLabel[0] }) {
						continue
					}
					if m.GetGauge() != nil {
						v += m.GetGauge().GetValue()
					}
					if m.GetCounter() != nil {
						v += m.GetCounter().GetValue()
					}
				}
				return v
			}
		}
		return 0
	}
	scannedTotal := node.transfersIn(1, *blocks) + btc.transfersIn(1, *btcBlocks) + cycleSum(trx.Tips, 1, *tronBlocks) + cycleSum(sl.Tips, 1, *solBlocks)
	fmt.Fprintf(progress, "pipeline --replay: %d recorded EVM and %d Bitcoin mainnet blocks, %d Tron and %d Solana mainnet-shaped ones, %d of their recipients watched; %d ethereum, %d bitcoin, %d tron and %d solana blocks (%d transfers) at once…\n",
		len(c.Blocks), len(btc.raws), trx.Blocks(), sl.Blocks(), watched, *blocks, *btcBlocks, *tronBlocks, *solBlocks, scannedTotal)

	// Throughput: every block is there at once; the stack reads them as
	// fast as it can.
	t0 := time.Now()
	node.head.Store(*blocks)
	btc.head.Store(*btcBlocks)
	trx.Head.Store(*tronBlocks)
	sl.Head.Store(*solBlocks)
	tops := map[chain.ID]uint64{id: *blocks, btcID: *btcBlocks, tronID: *tronBlocks, solID: *solBlocks}
	var scanned time.Duration
	for deadline := time.Now().Add(10 * time.Minute); ; {
		all, carried := true, true
		for cid, top := range tops {
			if gauge(ireg, "inflow_indexer_follow_checkpoint_block", string(cid)) < float64(top) {
				all = false
			}
			if st, err := store.GetChainState(led.DB, cid); err != nil || st.Tip < top {
				carried = false
			}
		}
		if scanned == 0 && all {
			scanned = time.Since(t0)
		}
		if carried && scanned != 0 {
			made := gauge(lreg, "inflow_ledgerd_ledger_deposits_total")
			mu.Lock()
			n := len(arrivals)
			mu.Unlock()
			if float64(n) >= made {
				break
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the pipeline did not carry %d blocks in 10 minutes", *blocks)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	deposits, e2e := len(arrivals), last.Sub(t0)
	mu.Unlock()
	scanRate := float64(scannedTotal) / scanned.Seconds()
	depRate := float64(deposits) / e2e.Seconds()
	fmt.Fprintf(progress, "pipeline --replay: scanned in %s (%.0f transfers/s); %d deposits delivered in %s (%.0f/s)\n",
		scanned.Round(time.Millisecond), scanRate, deposits, e2e.Round(time.Millisecond), depRate)

	// Latency at a tenth of that load: blocks appear one by one.
	perBlock := float64(gauge(lreg, "inflow_ledgerd_ledger_deposits_total", string(id))) / float64(*blocks)
	if perBlock == 0 {
		perBlock = float64(deposits) / float64(*blocks+*btcBlocks)
	}
	interval := time.Duration(float64(time.Second) * perBlock / (depRate / 10))
	fmt.Fprintf(progress, "pipeline --replay: latency at a tenth of the load: a block (about %.0f deposits) every %s, %d blocks…\n", perBlock, interval.Round(time.Millisecond), *latBlocks)
	avail := map[uint64]time.Time{}
	next := time.Now()
	for n := *blocks + 1; n <= *blocks+*latBlocks; n++ {
		avail[n] = time.Now()
		node.head.Store(n)
		next = next.Add(interval)
		time.Sleep(time.Until(next))
	}
	time.Sleep(3 * time.Second)
	mu.Lock()
	var lat []float64
	for dep, at := range arrivals {
		if t, ok := avail[blockOf[dep]]; ok {
			lat = append(lat, float64(at.Sub(t).Microseconds())/1000)
		}
	}
	mu.Unlock()
	if len(lat) == 0 {
		return nil, fmt.Errorf("no deposit of the latency run arrived")
	}
	sort.Float64s(lat)
	pct := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	metScan, metDep, metLat := scanRate >= 30_000, depRate >= 3_000, pct(0.99) <= 250
	return []Result{
		{Name: "replay_scanned_transfers_per_s", Value: scanRate, Unit: "transfers/s", Target: ">= 30k", Met: &metScan},
		{Name: "replay_deposits_end_to_end_per_s", Value: depRate, Unit: "deposits/s", Target: ">= 3k with their webhooks", Met: &metDep},
		{Name: "replay_block_to_webhook_p50_ms", Value: pct(0.5), Unit: "ms"},
		{Name: "replay_block_to_webhook_p99_ms", Value: pct(0.99), Unit: "ms", Target: "<= 250 ms at a tenth of the load", Met: &metLat},
		{Name: "replay_deposits", Value: float64(deposits), Unit: "deposits"},
		{Name: "replay_latency_samples", Value: float64(len(lat)), Unit: "deposits"},
	}, nil
}
