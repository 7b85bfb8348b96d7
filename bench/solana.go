package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/inflowhq/inflow/indexer/solana/solbench"
)

func init() {
	register(suite{name: "solana", about: "Solana deposit extraction on mainnet-sized blocks (getBlock base64) vs solana-go's rpc.GetBlockResult decoding", run: runSolana})
}

// mainnetSolanaBlocksPerSec is Solana's block rate: a slot every 400 ms.
const mainnetSolanaBlocksPerSec = 2.5

func runSolana(args []string, progress io.Writer) ([]Result, error) {
	fs := flag.NewFlagSet("solana", flag.ContinueOnError)
	blocks := fs.Int("blocks", 6, "blocks per pass")
	txs := fs.Int("txs", 1500, "transactions per block")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "solana: making %d blocks of %d signed transactions on the local node…\n", *blocks, *txs)
	c, err := solbench.Build(*blocks, *txs, 7, progress)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "solana: %d blocks, %d transactions (%d transfers), %.1f MB base64, %.1f MB json per pass\n",
		len(c.Blocks), c.Txs, c.Transfers, float64(c.Base64Size)/1e6, float64(c.JSONSize)/1e6)
	// One core, as the target says.
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	fmt.Fprintln(progress, "solana: measuring inflow (base64)…")
	in := c.Measure(solbench.Inflow(c), c.Base64Size)
	fmt.Fprintln(progress, "solana: measuring inflow (json)…")
	js := c.Measure(solbench.InflowJSON(c), c.JSONSize)
	fmt.Fprintln(progress, "solana: measuring solana-go's rpc.GetBlockResult…")
	base := c.Measure(solbench.Baseline, c.Base64Size)
	ratio := in.TxPerSec / base.TxPerSec
	met := ratio >= 4
	rate := in.BlocksPerSec / mainnetSolanaBlocksPerSec
	metRate := rate >= 20
	return []Result{
		{Name: "solana_tx_per_s", Value: in.TxPerSec, Unit: "tx/s", Baseline: "solana-go rpc.GetBlockResult (jsoniter, as its client) + GetTransaction, same rules",
			BaselineValue: base.TxPerSec, Ratio: ratio, Target: ">= 4x baseline", Met: &met},
		{Name: "solana_mb_per_s", Value: in.MBps, Unit: "MB/s", Baseline: "solana-go on the same base64 bytes", BaselineValue: base.MBps, Ratio: in.MBps / base.MBps},
		{Name: "solana_blocks_per_s_one_core", Value: in.BlocksPerSec, Unit: "blocks/s", Baseline: "Solana mainnet's block rate (2.5/s)",
			BaselineValue: mainnetSolanaBlocksPerSec, Ratio: rate, Target: ">= 20x mainnet", Met: &metRate},
		{Name: "solana_json_encoding_tx_per_s", Value: js.TxPerSec, Unit: "tx/s", Baseline: "inflow on base64 (the encoding chosen)",
			BaselineValue: in.TxPerSec, Ratio: js.TxPerSec / in.TxPerSec},
	}, nil
}
