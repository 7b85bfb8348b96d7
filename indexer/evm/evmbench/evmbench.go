// Package evmbench measures EVM transfer extraction over the real fixture
// blocks, side by side with its baseline: go-ethereum's own JSON decoding of
// the same block and receipts into types.Header, types.Transaction and
// types.Receipt, followed by the same transfer rules over the decoded values.
//
// Both sides run over the same corpus: the fixture blocks that go-ethereum can
// decode (it rejects chain-specific transaction types such as Arbitrum's
// 0x6a). The baseline does no signature recovery; it is decoding only.
package evmbench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/inflowhq/inflow/indexer/evm"
	"github.com/inflowhq/inflow/indexer/evm/fixturerpc"
)

// Corpus is the set of blocks both sides can read.
type Corpus struct {
	Blocks    []*fixturerpc.Block
	Bytes     int64 // block + receipts JSON per pass
	Transfers int   // transfers per pass (the same count on both sides)
	Skipped   []string
}

// Load reads every EVM fixture under dir (the fixtures' evm folder) and keeps
// the blocks both extractors agree on.
func Load(dir string) (*Corpus, error) {
	c := &Corpus{}
	for _, name := range []string{"ethereum", "polygon", "arbitrum"} {
		blocks, err := fixturerpc.Load(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		for _, b := range blocks {
			n, err := Baseline(b.Block, b.Receipts)
			if err != nil {
				c.Skipped = append(c.Skipped, fmt.Sprintf("%s/%d: %v", name, b.Number, err))
				continue
			}
			var x evm.Extractor
			got, err := x.Extract(b.Block, b.Receipts)
			if err != nil {
				return nil, fmt.Errorf("%s/%d: %w", name, b.Number, err)
			}
			if len(got.Transfers) != n {
				return nil, fmt.Errorf("%s/%d: inflow finds %d transfers, baseline %d", name, b.Number, len(got.Transfers), n)
			}
			c.Blocks = append(c.Blocks, b)
			c.Bytes += int64(len(b.Block) + len(b.Receipts))
			c.Transfers += n
		}
	}
	return c, nil
}

var transferTopic = common.HexToHash("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")

type gethBlock struct {
	Transactions []*types.Transaction `json:"transactions"`
}

// Baseline decodes with go-ethereum's types and applies the transfer rules,
// returning the number of transfers.
func Baseline(block, receipts []byte) (int, error) {
	var h types.Header
	if err := json.Unmarshal(block, &h); err != nil {
		return 0, fmt.Errorf("header: %w", err)
	}
	var body gethBlock
	if err := json.Unmarshal(block, &body); err != nil {
		return 0, fmt.Errorf("transactions: %w", err)
	}
	var rs []*types.Receipt
	if err := json.Unmarshal(receipts, &rs); err != nil {
		return 0, fmt.Errorf("receipts: %w", err)
	}
	if len(rs) != len(body.Transactions) {
		return 0, fmt.Errorf("%d receipts for %d transactions", len(rs), len(body.Transactions))
	}
	n := 0
	for i, tx := range body.Transactions {
		r := rs[i]
		ok := r.Status == types.ReceiptStatusSuccessful || len(r.PostState) > 0
		if tx.To() != nil && tx.Value().Sign() > 0 && ok {
			n++
		}
		for _, l := range r.Logs {
			if len(l.Topics) == 3 && l.Topics[0] == transferTopic && len(l.Data) == 32 && !l.Removed {
				n++
			}
		}
	}
	return n, nil
}

// Inflow runs the Inflow extractor over the corpus b.N times.
func (c *Corpus) Inflow(b *testing.B) {
	var x evm.Extractor
	b.SetBytes(c.Bytes)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, blk := range c.Blocks {
			if _, err := x.Extract(blk.Block, blk.Receipts); err != nil {
				b.Fatal(err)
			}
		}
	}
	c.report(b)
}

// Geth runs the go-ethereum baseline over the corpus b.N times.
func (c *Corpus) Geth(b *testing.B) {
	b.SetBytes(c.Bytes)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, blk := range c.Blocks {
			if _, err := Baseline(blk.Block, blk.Receipts); err != nil {
				b.Fatal(err)
			}
		}
	}
	c.report(b)
}

func (c *Corpus) report(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(c.Transfers)*float64(b.N)/s, "transfers/s")
	}
}

// Result is one side's figures.
type Result struct {
	MBps, TransfersPerSec, NsPerBlock float64
}

// Measure runs a side with testing.Benchmark and returns its figures.
func (c *Corpus) Measure(side func(*testing.B)) Result {
	r := testing.Benchmark(side)
	secs := r.T.Seconds()
	return Result{
		MBps:            float64(c.Bytes) * float64(r.N) / secs / 1e6,
		TransfersPerSec: float64(c.Transfers) * float64(r.N) / secs,
		NsPerBlock:      float64(r.T.Nanoseconds()) / float64(r.N) / float64(len(c.Blocks)),
	}
}

// EthclientLoop reads blocks 0, 1, … from url with a plain go-ethereum
// ethclient loop of BlockByNumber + BlockReceipts, the numbers skip names
// left out, until it has read count blocks, and returns blocks per second:
// the baseline of `bench backfill`.
func EthclientLoop(ctx context.Context, url string, count int, skip func(n uint64) bool) (float64, error) {
	ec, err := ethclient.Dial(url)
	if err != nil {
		return 0, err
	}
	defer ec.Close()
	start := time.Now()
	read := 0
	for n := uint64(0); read < count; n++ {
		if skip != nil && skip(n) {
			continue
		}
		read++
		if _, err := ec.BlockByNumber(ctx, new(big.Int).SetUint64(n)); err != nil {
			return 0, fmt.Errorf("ethclient block %d: %w", n, err)
		}
		if _, err := ec.BlockReceipts(ctx, rpc.BlockNumberOrHashWithNumber(rpc.BlockNumber(n))); err != nil {
			return 0, fmt.Errorf("ethclient receipts %d: %w", n, err)
		}
	}
	return float64(count) / time.Since(start).Seconds(), nil
}
