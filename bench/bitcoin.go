package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/inflowhq/inflow/indexer/bitcoin/btcbench"
)

func init() {
	register(suite{name: "bitcoin", about: "Bitcoin output extraction on the real fixture blocks, read raw, vs btcjson's decoding of verbose JSON", run: runBitcoin})
}

func runBitcoin(args []string, progress io.Writer) ([]Result, error) {
	fs := flag.NewFlagSet("bitcoin", flag.ContinueOnError)
	dir := fixturesFlag(fs)
	if err := parseFixtures(fs, args, dir); err != nil {
		return nil, err
	}
	c, err := btcbench.Load(filepath.Join(*dir, "bitcoin", "mainnet"))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "bitcoin: %d blocks, %.2f MB serialized (%.2f MB as getblock 0 answers, %.2f MB as getblock 2 JSON), %d outputs per pass\n",
		len(c.Blocks), float64(c.Bytes)/1e6, float64(c.RPC)/1e6, float64(c.Verbose)/1e6, c.Outputs)
	fmt.Fprintln(progress, "bitcoin: measuring inflow (raw)…")
	in := c.Measure(c.Inflow)
	fmt.Fprintln(progress, "bitcoin: measuring btcjson (verbose)…")
	base := c.Measure(c.Btcjson)
	met := in.MBps >= 10*base.MBps
	return []Result{
		{Name: "bitcoin_mb_per_s", Value: in.MBps, Unit: "MB/s", Baseline: "btcd btcjson.GetBlockVerboseTxResult of getblock 2, same rule",
			BaselineValue: base.MBps, Ratio: in.MBps / base.MBps, Target: ">= 10x baseline", Met: &met},
		{Name: "bitcoin_outputs_per_s", Value: in.OutputsPerSec, Unit: "outputs/s", Baseline: "btcjson verbose + same rule",
			BaselineValue: base.OutputsPerSec, Ratio: in.OutputsPerSec / base.OutputsPerSec},
		{Name: "bitcoin_us_per_block", Value: in.NsPerBlock / 1e3, Unit: "µs/block", Baseline: "btcjson verbose",
			BaselineValue: base.NsPerBlock / 1e3, Ratio: base.NsPerBlock / in.NsPerBlock},
	}, nil
}
