package bitcoin

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/inflowhq/inflow/pkg/chain"
)

// ErrMalformed is returned for a block the node sent that does not decode.
var ErrMalformed = errors.New("bitcoin: malformed block")

// displayHash is a hash in the byte order Bitcoin's RPC writes it (the
// reverse of the order it is hashed in).
func displayHash(h chainhash.Hash) chain.Hash {
	var out chain.Hash
	for i := range h {
		out[i] = h[len(h)-1-i]
	}
	return out
}

// isCoinbase reports whether a block's transaction i is its coinbase: the
// first, spending the null outpoint.
func isCoinbase(i int, tx *wire.MsgTx) bool {
	if i != 0 || len(tx.TxIn) != 1 {
		return false
	}
	prev := tx.TxIn[0].PreviousOutPoint
	return prev.Index == wire.MaxPrevOutIndex && prev.Hash == chainhash.Hash{}
}

// payable reports whether an output script can be a deposit's: every script
// but OP_RETURN (provably unspendable) and the empty one.
func payable(script []byte) bool { return len(script) > 0 && script[0] != 0x6a }

// Extract turns a decoded block at a height into Inflow's block: one
// transfer per output (txid, vout) with the output script as recipient, in
// block order. Coinbase outputs carry chain.CoinbaseMaturity. OP_RETURN and
// empty scripts are left out: nothing can be paid to them.
func Extract(msg *wire.MsgBlock, height uint64) *chain.Block {
	b := &chain.Block{
		Ref: chain.BlockRef{Number: height, Hash: displayHash(msg.BlockHash()),
			Parent: displayHash(msg.Header.PrevBlock), Time: msg.Header.Timestamp.Unix()},
		TxCount: len(msg.Transactions),
	}
	n := 0
	for _, tx := range msg.Transactions {
		n += len(tx.TxOut)
	}
	b.Transfers = make([]chain.Transfer, 0, n)
	ids := make([]byte, 32*len(msg.Transactions))
	for i, tx := range msg.Transactions {
		id := ids[32*i : 32*i+32 : 32*i+32]
		h := displayHash(tx.TxHash())
		copy(id, h[:])
		var maturity uint32
		if isCoinbase(i, tx) {
			maturity = chain.CoinbaseMaturity
		}
		for vout, out := range tx.TxOut {
			if !payable(out.PkScript) || out.Value < 0 {
				continue
			}
			to, err := chain.NewAddress(chain.FamilyBitcoin, out.PkScript)
			if err != nil {
				continue // longer than any standard script
			}
			b.Transfers = append(b.Transfers, chain.Transfer{TxHash: id, Index: uint32(vout), Kind: chain.KindNative,
				To: to, Value: chain.AmountFromUint64(uint64(out.Value)), Maturity: maturity})
		}
	}
	return b
}

// verboseBlock is the part of `getblock <hash> 2` the fallback reads.
// bitcoind puts the transactions in tx; btcd in rawtx (its tx is the txid
// list of verbosity 1).
type verboseBlock struct {
	Hash     string            `json:"hash"`
	Height   *uint64           `json:"height"`
	Time     int64             `json:"time"`
	Previous string            `json:"previousblockhash"`
	Tx       []json.RawMessage `json:"tx"`
	RawTx    []verboseTx       `json:"rawtx"`
}

type verboseTx struct {
	Txid string `json:"txid"`
	Vin  []struct {
		Coinbase *string `json:"coinbase"`
	} `json:"vin"`
	Vout []struct {
		Value        json.Number `json:"value"`
		N            *uint32     `json:"n"`
		ScriptPubKey struct {
			Hex       string   `json:"hex"`
			Type      string   `json:"type"`
			Address   string   `json:"address"`   // bitcoind 22 and later
			Addresses []string `json:"addresses"` // earlier, with reqSigs
		} `json:"scriptPubKey"`
	} `json:"vout"`
}

// ExtractVerbose is Extract over a `getblock <hash> 2` result, the
// fallback for nodes that will not send raw blocks. The output script comes
// from scriptPubKey.hex. The address a node writes beside it, in any of
// its three forms (address; addresses[] with or without reqSigs), must be
// the script's own, except for P2PK, to which old nodes gave the address of
// its key hash.
func ExtractVerbose(raw []byte, height uint64, net chain.Network) (*chain.Block, error) {
	var vb verboseBlock
	if err := json.Unmarshal(raw, &vb); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	hash, err := chain.ParseHash(vb.Hash)
	if err != nil {
		return nil, fmt.Errorf("%w: hash: %v", ErrMalformed, err)
	}
	if vb.Height != nil && *vb.Height != height {
		return nil, fmt.Errorf("%w: block %s is at height %d, asked for %d", ErrMalformed, vb.Hash, *vb.Height, height)
	}
	txs := vb.RawTx
	if len(txs) == 0 {
		for i, raw := range vb.Tx {
			var tx verboseTx
			if err := json.Unmarshal(raw, &tx); err != nil {
				return nil, fmt.Errorf("%w: tx %d is not a transaction object (verbosity 1?): %v", ErrMalformed, i, err)
			}
			txs = append(txs, tx)
		}
	}
	if len(txs) == 0 {
		return nil, fmt.Errorf("%w: block %s has no transactions", ErrMalformed, vb.Hash)
	}
	b := &chain.Block{Ref: chain.BlockRef{Number: height, Hash: hash, Time: vb.Time}, TxCount: len(txs)}
	if vb.Previous != "" {
		if b.Ref.Parent, err = chain.ParseHash(vb.Previous); err != nil {
			return nil, fmt.Errorf("%w: previousblockhash: %v", ErrMalformed, err)
		}
	}
	for i, tx := range txs {
		id, err := chain.ParseHash(tx.Txid)
		if err != nil {
			return nil, fmt.Errorf("%w: tx %d: txid: %v", ErrMalformed, i, err)
		}
		var maturity uint32
		if i == 0 && len(tx.Vin) == 1 && tx.Vin[0].Coinbase != nil {
			maturity = chain.CoinbaseMaturity
		}
		for j, out := range tx.Vout {
			vout := uint32(j)
			if out.N != nil {
				vout = *out.N
			}
			script, err := hex.DecodeString(out.ScriptPubKey.Hex)
			if err != nil {
				return nil, fmt.Errorf("%w: %s:%d: script: %v", ErrMalformed, tx.Txid, vout, err)
			}
			sats, err := parseBTC(out.Value.String())
			if err != nil {
				return nil, fmt.Errorf("%w: %s:%d: value: %v", ErrMalformed, tx.Txid, vout, err)
			}
			if !payable(script) {
				continue
			}
			to, err := chain.NewAddress(chain.FamilyBitcoin, script)
			if err != nil {
				continue
			}
			if err := checkAddress(script, out.ScriptPubKey.Type, out.ScriptPubKey.Address, out.ScriptPubKey.Addresses, net); err != nil {
				return nil, fmt.Errorf("%w: %s:%d: %v", ErrMalformed, tx.Txid, vout, err)
			}
			b.Transfers = append(b.Transfers, chain.Transfer{TxHash: id[:], Index: vout, Kind: chain.KindNative,
				To: to, Value: chain.AmountFromUint64(sats), Maturity: maturity})
		}
	}
	return b, nil
}

// checkAddress compares the address a node wrote for an output with the
// script's own.
func checkAddress(script []byte, typ, single string, list []string, net chain.Network) error {
	var named string
	switch {
	case single != "":
		named = single
	case len(list) == 1:
		named = list[0]
	default:
		return nil // no address, or a multisig's several
	}
	if typ == "pubkey" || chain.ClassifyScript(script) == chain.ScriptP2PK {
		return nil
	}
	if own, ok := chain.BitcoinAddressText(script, net); !ok || own != named {
		return fmt.Errorf("the node names address %s for script %x, which is %q", named, script, own)
	}
	return nil
}

// parseBTC reads a JSON amount of BTC as satoshis without going through a
// float: bitcoind writes plain decimals of at most 8 places, btcd Go's
// shortest form of a float64 (so 1e-05 for 1000 satoshis), which is within
// a rounding of a whole number of satoshis.
func parseBTC(s string) (uint64, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() < 0 || strings.ContainsAny(s, "+") {
		return 0, fmt.Errorf("amount %q is not a non-negative number", s)
	}
	r.Mul(r, big.NewRat(1e8, 1))
	q, rem := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if rem.Sign() != 0 {
		// Round to the nearest satoshi, and only across a float's error.
		frac := new(big.Rat).SetFrac(rem, r.Denom())
		if frac.Cmp(big.NewRat(1, 2)) >= 0 {
			q.Add(q, big.NewInt(1))
			frac.Sub(big.NewRat(1, 1), frac)
		}
		if frac.Cmp(big.NewRat(1, 1000)) > 0 {
			return 0, fmt.Errorf("amount %q is not a whole number of satoshis", s)
		}
	}
	if !q.IsUint64() || q.Uint64() > 21e14 {
		return 0, fmt.Errorf("amount %q is more than 21 million BTC", s)
	}
	return q.Uint64(), nil
}
