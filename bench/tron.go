package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/inflowhq/inflow/indexer/tron/tronbench"
)

func init() {
	register(suite{name: "tron", about: "Tron transfer extraction on mainnet-shaped blocks (gRPC protobuf) vs the HTTP API's JSON with encoding/json", run: runTron})
}

// mainnetBlocksPerSec is Tron's block rate: one every 3 seconds.
const mainnetBlocksPerSec = 1.0 / 3

func runTron(args []string, progress io.Writer) ([]Result, error) {
	fs := flag.NewFlagSet("tron", flag.ContinueOnError)
	blocks := fs.Int("blocks", 20, "blocks per pass")
	txs := fs.Int("txs", 350, "transactions per block")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	c, err := tronbench.Build(*blocks, *txs, 7)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "tron: %d blocks of %d transactions (%d transfers), %.1f MB of gRPC protobuf, %.1f MB of HTTP JSON per pass\n",
		len(c.Blocks), *txs, c.Transfers, float64(c.ProtoSize)/1e6, float64(c.JSONSize)/1e6)
	// One core, as the target says.
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	fmt.Fprintln(progress, "tron: measuring inflow (gRPC protobuf)…")
	in := c.Measure(tronbench.Inflow, c.ProtoSize)
	fmt.Fprintln(progress, "tron: measuring the HTTP API's JSON…")
	base := c.Measure(tronbench.Baseline, c.JSONSize)
	met := in.TransfersPerSec >= base.TransfersPerSec
	rate := in.BlocksPerSec / mainnetBlocksPerSec
	metRate := rate >= 100
	return []Result{
		{Name: "tron_transfers_per_s", Value: in.TransfersPerSec, Unit: "transfers/s", Baseline: "HTTP getblockbynum + gettransactioninfobyblocknum JSON, encoding/json, same rules",
			BaselineValue: base.TransfersPerSec, Ratio: in.TransfersPerSec / base.TransfersPerSec, Target: ">= baseline", Met: &met},
		{Name: "tron_mb_per_s", Value: in.MBps, Unit: "MB/s", Baseline: "HTTP JSON (its own bytes)", BaselineValue: base.MBps, Ratio: in.MBps / base.MBps},
		{Name: "tron_blocks_per_s_one_core", Value: in.BlocksPerSec, Unit: "blocks/s", Baseline: "Tron mainnet's block rate (1 per 3 s)",
			BaselineValue: mainnetBlocksPerSec, Ratio: rate, Target: ">= 100x mainnet", Met: &metRate},
	}, nil
}
