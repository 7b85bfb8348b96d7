package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/inflowhq/inflow/deploy/local/stack"
	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

func init() {
	register(suite{name: "pipeline", about: "devnet → indexer → Kafka → ledger → webhook on loopback: transfers/s and block-to-webhook latency", run: runPipeline})
}

func runPipeline(args []string, progress io.Writer) ([]Result, error) {
	for i, a := range args {
		if a == "--replay" || a == "-replay" {
			return runPipelineReplay(append(append([]string(nil), args[:i]...), args[i+1:]...), progress)
		}
	}
	fs := flag.NewFlagSet("pipeline", flag.ContinueOnError)
	blocks := fs.Int("blocks", 150, "blocks to mine")
	perBlock := fs.Int("transfers", 20, "matched transfers per block")
	interval := fs.Duration("interval", 100*time.Millisecond, "time between blocks")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "inflow-bench-pipeline-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	// The webhook receiver records when each deposit.pending arrives.
	var mu sync.Mutex
	arrived := map[string]time.Time{} // tx hash → arrival
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		var ev struct {
			Type string
			Data struct{ TxHash string }
		}
		json.NewDecoder(r.Body).Decode(&ev)
		if ev.Type == "deposit.pending" {
			mu.Lock()
			if _, ok := arrived[ev.Data.TxHash]; !ok {
				arrived[ev.Data.TxHash] = now
			}
			mu.Unlock()
		}
		w.WriteHeader(204)
	})}
	go hs.Serve(ln)
	defer hs.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{DataDir: dir, HTTP: "127.0.0.1:0", RPC: "127.0.0.1:0", IndexerOps: "127.0.0.1:0",
		LedgerHTTP: "127.0.0.1:0", FinalityLag: 64, PoolSize: 200})
	if err != nil {
		return nil, err
	}
	defer s.Wait()
	defer cancel()
	reg := s.Ledger.Reg
	if err := reg.Write(func(b *store.Batch) error {
		_, err := reg.CreateEndpoint(b, s.MerchantID, "http://"+ln.Addr().String()+"/hooks", []string{"deposit.pending"})
		return err
	}); err != nil {
		return nil, err
	}
	var addrs []string
	for i := 0; i < 100; i++ {
		req := merchantapi.BindRequest{DepositReference: "user-" + strconv.Itoa(i), Currency: "USDT", ChainID: "evm-devnet"}
		b, err := registry.Do(reg, func(b *store.Batch) (*registry.BindResponse, error) { return reg.Bind(b, s.MerchantID, req) })
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, b.Address)
	}
	// Let the indexer's matcher learn the pool before the first block.
	time.Sleep(2 * time.Second)

	fmt.Fprintf(progress, "pipeline: %d blocks of %d transfers, one every %s…\n", *blocks, *perBlock, *interval)
	mined := map[string]time.Time{} // tx hash → block available
	start := time.Now()
	next := start
	for b := 0; b < *blocks; b++ {
		var txs []string
		for j := 0; j < *perBlock; j++ {
			h, err := s.Devnet.Transfer(addrs[(b**perBlock+j)%len(addrs)], "USDT", chain.AmountFromUint64(uint64(1000+j)).Decimal(6))
			if err != nil {
				return nil, err
			}
			txs = append(txs, h)
		}
		if _, err := s.Devnet.Mine(1); err != nil {
			return nil, err
		}
		t0 := time.Now() // the block is available from the node from here on
		for _, h := range txs {
			mined[h] = t0
		}
		next = next.Add(*interval)
		time.Sleep(time.Until(next))
	}
	want := *blocks * *perBlock
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		got := len(arrived)
		mu.Unlock()
		if got >= want {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of %d deposit.pending webhooks arrived", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var lat []float64
	var last time.Time
	for h, t0 := range mined {
		at, ok := arrived[h]
		if !ok {
			return nil, fmt.Errorf("no webhook for %s", h)
		}
		lat = append(lat, float64(at.Sub(t0).Microseconds())/1000)
		if at.After(last) {
			last = at
		}
	}
	sort.Float64s(lat)
	pct := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	rate := float64(want) / last.Sub(start).Seconds()
	p99 := pct(0.99)
	met := p99 <= 250
	return []Result{
		{Name: "transfers_per_s", Value: rate, Unit: "transfers/s"},
		{Name: "latency_p50_ms", Value: pct(0.50), Unit: "ms"},
		{Name: "latency_p99_ms", Value: p99, Unit: "ms", Target: "<= 250 ms", Met: &met},
		{Name: "latency_max_ms", Value: lat[len(lat)-1], Unit: "ms"},
		{Name: "deposits", Value: float64(want), Unit: "deposits"},
	}, nil
}
