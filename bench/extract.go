package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/inflowhq/inflow/indexer/evm/evmbench"
)

func init() {
	register(suite{name: "extract", about: "EVM transfer extraction on the real fixture blocks vs go-ethereum's JSON decoding", run: runExtract})
}

func runExtract(args []string, progress io.Writer) ([]Result, error) {
	fs := flag.NewFlagSet("extract", flag.ContinueOnError)
	dir := fixturesFlag(fs)
	if err := parseFixtures(fs, args, dir); err != nil {
		return nil, err
	}
	c, err := evmbench.Load(filepath.Join(*dir, "evm"))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "extract: %d blocks, %.1f MB, %d transfers per pass (%d blocks go-ethereum cannot decode left out)\n",
		len(c.Blocks), float64(c.Bytes)/1e6, c.Transfers, len(c.Skipped))
	fmt.Fprintln(progress, "extract: measuring inflow…")
	in := c.Measure(c.Inflow)
	fmt.Fprintln(progress, "extract: measuring go-ethereum…")
	geth := c.Measure(c.Geth)
	met := in.MBps >= 4*geth.MBps
	return []Result{
		{Name: "extract_mb_per_s", Value: in.MBps, Unit: "MB/s", Baseline: "go-ethereum types.Header/Transaction/Receipt JSON decoding",
			BaselineValue: geth.MBps, Ratio: in.MBps / geth.MBps, Target: ">= 4x baseline", Met: &met},
		{Name: "extract_transfers_per_s", Value: in.TransfersPerSec, Unit: "transfers/s", Baseline: "go-ethereum decoding + same rules",
			BaselineValue: geth.TransfersPerSec, Ratio: in.TransfersPerSec / geth.TransfersPerSec},
		{Name: "extract_us_per_block", Value: in.NsPerBlock / 1e3, Unit: "µs/block", Baseline: "go-ethereum",
			BaselineValue: geth.NsPerBlock / 1e3, Ratio: geth.NsPerBlock / in.NsPerBlock},
	}, nil
}
