// Package btcbench measures Bitcoin output extraction over the real fixture
// blocks, side by side with its baseline. Inflow reads each block as the
// indexer does: the `getblock <hash> 0` answer (the block's hex in a JSON
// string), decoded with btcd's wire. The baseline is what a naive indexer
// does: the same block's `getblock <hash> 2` JSON decoded into btcd's
// btcjson.GetBlockVerboseTxResult, then the same rule (one transfer per
// output, OP_RETURN and empty scripts left out). Both sides make the same
// transfers; MB/s is over the serialized block bytes, so the two figures
// compare the same work.
package btcbench

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil/v2"

	"github.com/inflowhq/inflow/indexer/bitcoin"
	"github.com/inflowhq/inflow/indexer/bitcoin/fixturerpc"
	"github.com/inflowhq/inflow/pkg/chain"
)

// Corpus is the fixture blocks in both forms.
type Corpus struct {
	Blocks  []*fixturerpc.Block
	raws    [][]byte // getblock <hash> 0 answers
	Bytes   int64    // serialized block bytes per pass
	RPC     int64    // getblock <hash> 0 answer bytes per pass
	Verbose int64    // getblock <hash> 2 answer bytes per pass
	Outputs int      // transfers per pass, the same on both sides
}

// Load reads the blocks under dir (fixtures/bitcoin/mainnet) and checks the
// two sides agree on every one.
func Load(dir string) (*Corpus, error) {
	blocks, err := fixturerpc.Load(dir)
	if err != nil {
		return nil, err
	}
	c := &Corpus{Blocks: blocks}
	for _, b := range blocks {
		raw, _ := json.Marshal(hex.EncodeToString(b.Raw))
		got, err := bitcoin.DecodeRawResult(raw, b.Height)
		if err != nil {
			return nil, fmt.Errorf("%d: %w", b.Height, err)
		}
		n, err := Baseline(b.Verbose)
		if err != nil {
			return nil, fmt.Errorf("%d: baseline: %w", b.Height, err)
		}
		if n != len(got.Transfers) {
			return nil, fmt.Errorf("%d: inflow finds %d outputs, the baseline %d", b.Height, len(got.Transfers), n)
		}
		c.raws = append(c.raws, raw)
		c.Bytes += int64(len(b.Raw))
		c.RPC += int64(len(raw))
		c.Verbose += int64(len(b.Verbose))
		c.Outputs += n
	}
	return c, nil
}

// Baseline decodes a verbose block with btcjson and applies the rule,
// returning the number of transfers.
func Baseline(verbose []byte) (int, error) {
	var v btcjson.GetBlockVerboseTxResult
	if err := json.Unmarshal(verbose, &v); err != nil {
		return 0, err
	}
	out := make([]chain.Transfer, 0, len(v.Tx)*2)
	for i, tx := range v.Tx {
		id, err := chain.ParseHash(tx.Txid)
		if err != nil {
			return 0, err
		}
		var maturity uint32
		if i == 0 && len(tx.Vin) == 1 && tx.Vin[0].IsCoinBase() {
			maturity = chain.CoinbaseMaturity
		}
		for _, o := range tx.Vout {
			script, err := hex.DecodeString(o.ScriptPubKey.Hex)
			if err != nil {
				return 0, err
			}
			if len(script) == 0 || script[0] == 0x6a {
				continue
			}
			amt, err := btcutil.NewAmount(o.Value)
			if err != nil {
				return 0, err
			}
			to, err := chain.NewAddress(chain.FamilyBitcoin, script)
			if err != nil {
				continue
			}
			out = append(out, chain.Transfer{TxHash: id[:], Index: o.N, Kind: chain.KindNative, To: to,
				Value: chain.AmountFromUint64(uint64(amt)), Maturity: maturity})
		}
	}
	return len(out), nil
}

// Inflow runs the indexer's raw path over the corpus b.N times.
func (c *Corpus) Inflow(b *testing.B) {
	b.SetBytes(c.Bytes)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for j, raw := range c.raws {
			if _, err := bitcoin.DecodeRawResult(raw, c.Blocks[j].Height); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// Btcjson runs the baseline over the corpus b.N times.
func (c *Corpus) Btcjson(b *testing.B) {
	b.SetBytes(c.Bytes)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, blk := range c.Blocks {
			if _, err := Baseline(blk.Verbose); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// Result is one side's figures.
type Result struct {
	MBps, OutputsPerSec, NsPerBlock float64
}

// Measure runs a side with testing.Benchmark and returns its figures.
func (c *Corpus) Measure(side func(*testing.B)) Result {
	r := testing.Benchmark(side)
	secs := r.T.Seconds()
	return Result{
		MBps:          float64(c.Bytes) * float64(r.N) / secs / 1e6,
		OutputsPerSec: float64(c.Outputs) * float64(r.N) / secs,
		NsPerBlock:    float64(r.T.Nanoseconds()) / float64(r.N) / float64(len(c.Blocks)),
	}
}
