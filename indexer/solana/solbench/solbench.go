// Package solbench measures Solana deposit extraction over mainnet-sized
// blocks, side by side with its baseline.
//
// The blocks are made by the local node (pkg/devnet/solana) from real,
// ed25519-signed transactions in mainnet's mix: about two thirds votes
// (one per validator, TowerSync-sized), router swaps whose payouts are
// inner SPL transferChecked and System transfers (CPI), USDT transfers
// creating associated token accounts (with the ATA program's inner
// instructions), and SOL transfers; each with the meta a node writes.
// They are read as getBlock answers them (transactionDetails full,
// rewards false), in the base64 encoding the indexer uses and in json.
//
// Inflow reads each block with indexer/solana's extractor (reconciling
// the watched owners as well). The baseline is solana-go's own decoding
// of the same getBlock result into rpc.GetBlockResult (with the JSON
// library its client uses), each transaction decoded with
// GetTransaction, then the same rules. Both sides find the same transfers.
package solbench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	jsoniter "github.com/json-iterator/go"

	"github.com/inflowhq/inflow/indexer/solana"
	devsol "github.com/inflowhq/inflow/pkg/devnet/solana"
)

// Block is one block as getBlock returns it, in both encodings.
type Block struct {
	Slot      uint64
	Base64    []byte // the result's JSON, transactions base64
	JSON      []byte // the same block, transactions json
	Transfers int
	Txs       int
}

// Corpus is the blocks and what is watched in them.
type Corpus struct {
	Blocks     []*Block
	Base64Size int64
	JSONSize   int64
	Transfers  int
	Txs        int
	Watched    map[string]bool // raw 32-byte keys
}

// Build makes n blocks of about txs transactions each on an in-process
// devnet. progress, if not nil, hears how far it got.
func Build(n, txs int, seed uint64, progress io.Writer) (*Corpus, error) {
	d, err := devsol.Start(devsol.Config{})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	rng := rand.New(rand.NewPCG(seed, 11))
	votes := txs * 2 / 3
	validators := make([]sol.PrivateKey, votes)
	for i := range validators {
		validators[i] = sol.PrivateKey(sol.NewWallet().PrivateKey)
	}
	d.Mine(1)
	for _, v := range validators {
		if _, err := d.Transfer(v.PublicKey().String(), "SOL", "1"); err != nil {
			return nil, err
		}
	}
	d.Mine(1)
	owners := devsol.DevAddresses(100)
	c := &Corpus{Watched: map[string]bool{}}
	for _, o := range owners {
		c.Watched[o.Raw()] = true
	}
	stranger := func() string {
		k := sol.NewWallet().PublicKey()
		return k.String()
	}
	to := func() string {
		if rng.IntN(4) == 0 {
			return owners[rng.IntN(len(owners))].String()
		}
		return stranger()
	}
	for b := 0; b < n; b++ {
		head := d.Head()
		h, _ := d.BlockHash(head)
		bh := sol.Hash(h)
		for _, v := range validators {
			wire, err := voteTx(v, head, bh)
			if err != nil {
				return nil, err
			}
			if _, err := d.Submit(wire); err != nil {
				return nil, err
			}
		}
		for i := 0; i < txs-votes; i++ {
			var err error
			switch r := rng.IntN(10); {
			case r < 4:
				_, err = d.TokenViaRouter(to(), uint64(1+rng.IntN(1_000_000_000)))
			case r < 6:
				_, err = d.TransferViaRouter(to(), uint64(1_000_000+rng.IntN(1_000_000_000)))
			case r < 8:
				_, err = d.Transfer(to(), "USDT", fmt.Sprintf("%d.%06d", rng.IntN(10_000), rng.IntN(1_000_000)))
			default:
				_, err = d.Transfer(to(), "SOL", fmt.Sprintf("0.%09d", 1_000_000+rng.IntN(999_000_000)))
			}
			if err != nil {
				return nil, err
			}
		}
		slot, err := d.Mine(1)
		if err != nil {
			return nil, err
		}
		blk := &Block{Slot: slot}
		for _, enc := range []string{"base64", "json"} {
			raw, err := getBlock(d.URL(), slot, enc)
			if err != nil {
				return nil, err
			}
			if enc == "base64" {
				blk.Base64 = raw
			} else {
				blk.JSON = raw
			}
		}
		res, err := solana.Extract(blk.Base64, slot, solana.Options{})
		if err != nil {
			return nil, err
		}
		blk.Transfers, blk.Txs = len(res.Block.Transfers), res.Block.TxCount
		base, err := Baseline(blk)
		if err != nil {
			return nil, err
		}
		if base != blk.Transfers {
			return nil, fmt.Errorf("slot %d: inflow finds %d transfers, the baseline %d", slot, blk.Transfers, base)
		}
		if in, err := InflowJSON(c)(blk); err != nil || in != blk.Transfers {
			return nil, fmt.Errorf("slot %d: the json encoding gives %d transfers (%v), base64 %d", slot, in, err, blk.Transfers)
		}
		c.Blocks = append(c.Blocks, blk)
		c.Base64Size += int64(len(blk.Base64))
		c.JSONSize += int64(len(blk.JSON))
		c.Transfers += blk.Transfers
		c.Txs += blk.Txs
		if progress != nil {
			fmt.Fprintf(progress, "solana: block %d/%d: %d transactions, %d transfers, %.1f MB base64\n", b+1, n, blk.Txs, blk.Transfers, float64(len(blk.Base64))/1e6)
		}
	}
	return c, nil
}

// voteTx is a validator's vote (TowerSync-shaped: a lockout tower of 31
// slots, the root, the hash, a timestamp and the block id).
func voteTx(v sol.PrivateKey, slot uint64, bh sol.Hash) ([]byte, error) {
	data := binary.LittleEndian.AppendUint32(nil, 14)
	data = binary.LittleEndian.AppendUint64(data, slot-min(slot, 31))
	for i := 0; i < 31; i++ {
		data = append(data, byte(i), byte(31-i))
	}
	data = append(data, bh[:]...)
	data = append(data, 1)
	data = binary.LittleEndian.AppendUint64(data, uint64(slot)*400)
	data = append(data, bh[:]...)
	voteAcct := sol.PublicKeyFromBytes(append([]byte(nil), bh[:]...)) // any account: the vote program is a no-op here
	voteAcct[0] ^= v.PublicKey()[0]
	ix := sol.NewInstruction(sol.VoteProgramID, sol.AccountMetaSlice{sol.Meta(voteAcct).WRITE(), sol.Meta(v.PublicKey()).SIGNER()}, data)
	tx, err := sol.NewTransaction([]sol.Instruction{ix}, bh, sol.TransactionPayer(v.PublicKey()))
	if err != nil {
		return nil, err
	}
	if _, err := tx.Sign(func(sol.PublicKey) *sol.PrivateKey { return &v }); err != nil {
		return nil, err
	}
	return tx.MarshalBinary()
}

// getBlock reads one block's raw result over JSON-RPC, as the node sends it.
func getBlock(url string, slot uint64, enc string) ([]byte, error) {
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"getBlock","params":[%d,{"encoding":"%s","transactionDetails":"full","rewards":false,"commitment":"confirmed","maxSupportedTransactionVersion":0}]}`, slot, enc)
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var env struct {
		Result jsoniter.RawMessage `json:"result"`
		Error  any                 `json:"error"`
	}
	if err := jsoniter.Unmarshal(raw, &env); err != nil || env.Error != nil {
		return nil, fmt.Errorf("getBlock %d: %v %v", slot, err, env.Error)
	}
	return bytes.Clone(env.Result), nil
}

// Inflow extracts a block as the indexer does, reconciling the watched
// owners.
func Inflow(c *Corpus) func(*Block) (int, error) {
	w := func(k []byte) bool { return c.Watched[string(k)] }
	return func(b *Block) (int, error) {
		res, err := solana.Extract(b.Base64, b.Slot, solana.Options{Watched: w})
		if err != nil {
			return 0, err
		}
		return len(res.Block.Transfers), nil
	}
}

// InflowJSON is Inflow on the json encoding.
func InflowJSON(c *Corpus) func(*Block) (int, error) {
	w := func(k []byte) bool { return c.Watched[string(k)] }
	return func(b *Block) (int, error) {
		res, err := solana.Extract(b.JSON, b.Slot, solana.Options{Watched: w})
		if err != nil {
			return 0, err
		}
		return len(res.Block.Transfers), nil
	}
}

var sjson = jsoniter.ConfigCompatibleWithStandardLibrary

// Baseline decodes the block with solana-go into rpc.GetBlockResult (with
// jsoniter, as its client does), decodes each transaction, and applies the
// rules: failed and vote transactions give nothing; System transfer and
// transferWithSeed, SPL Token and Token-2022 transfer, transferChecked and
// transferCheckedWithFee, top-level and inner, credited to the destination
// token account's owner from the token balances.
func Baseline(b *Block) (int, error) {
	var res rpc.GetBlockResult
	if err := sjson.Unmarshal(b.Base64, &res); err != nil {
		return 0, err
	}
	n := 0
	for i := range res.Transactions {
		twm := &res.Transactions[i]
		if twm.Meta == nil || twm.Meta.Err != nil {
			continue
		}
		tx, err := twm.GetTransaction()
		if err != nil {
			return 0, err
		}
		if tx.IsVote() {
			continue
		}
		keys := append(append(sol.PublicKeySlice{}, tx.Message.AccountKeys...), twm.Meta.LoadedAddresses.Writable...)
		keys = append(keys, twm.Meta.LoadedAddresses.ReadOnly...)
		owners := map[uint16]sol.PublicKey{}
		for _, tb := range twm.Meta.PostTokenBalances {
			if tb.Owner != nil {
				owners[tb.AccountIndex] = *tb.Owner
			}
		}
		check := func(program uint16, accts []uint16, data []byte) {
			if int(program) >= len(keys) || len(data) == 0 {
				return
			}
			switch keys[program] {
			case sol.SystemProgramID:
				if len(data) >= 12 {
					switch binary.LittleEndian.Uint32(data) {
					case 2:
						if len(accts) >= 2 {
							n++
						}
					case 11:
						if len(accts) >= 3 {
							n++
						}
					}
				}
			case sol.TokenProgramID, sol.Token2022ProgramID:
				var dst uint16
				switch {
				case data[0] == 3 && len(data) >= 9 && len(accts) >= 3:
					dst = accts[1]
				case data[0] == 12 && len(data) >= 10 && len(accts) >= 4:
					dst = accts[2]
				case data[0] == 26 && len(data) >= 19 && data[1] == 1 && len(accts) >= 4:
					dst = accts[2]
				default:
					return
				}
				if _, ok := owners[dst]; ok && int(dst) < len(keys) {
					n++
				}
			}
		}
		for _, in := range tx.Message.Instructions {
			check(in.ProgramIDIndex, in.Accounts, in.Data)
		}
		for _, set := range twm.Meta.InnerInstructions {
			for _, in := range set.Instructions {
				check(in.ProgramIDIndex, in.Accounts, in.Data)
			}
		}
	}
	return n, nil
}

// Result is one side's speed.
type Result struct {
	MBps, TxPerSec, TransfersPerSec, BlocksPerSec float64
}

// Measure runs one side over every block.
func (c *Corpus) Measure(side func(*Block) (int, error), bytes int64) Result {
	r := testing.Benchmark(func(b *testing.B) {
		b.SetBytes(bytes)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			for _, blk := range c.Blocks {
				if _, err := side(blk); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	secs := r.T.Seconds()
	return Result{
		MBps:            float64(bytes) * float64(r.N) / secs / 1e6,
		TxPerSec:        float64(c.Txs) * float64(r.N) / secs,
		TransfersPerSec: float64(c.Transfers) * float64(r.N) / secs,
		BlocksPerSec:    float64(len(c.Blocks)) * float64(r.N) / secs,
	}
}
