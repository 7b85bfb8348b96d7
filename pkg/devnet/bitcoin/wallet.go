package bitcoin

import (
	"errors"
	"fmt"
	"sort"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/inflowhq/inflow/pkg/devnet"
)

// coin is one output the wallet can spend.
type coin struct {
	op       wire.OutPoint
	value    int64
	coinbase bool
	height   int // -1: not mined yet (change of a transaction in the mempool)
}

// wallet is the devnet's funds: one P2WPKH key, which btcd mines to. Its
// coins are derived from the canonical blocks (connect, rebuild) and from
// its own transactions not yet mined (sent).
type wallet struct {
	key     *btcec.PrivateKey
	script  []byte
	address string
	coins   map[wire.OutPoint]coin
	pending map[chainhash.Hash]*wire.MsgTx
	order   []chainhash.Hash // pending, in the order sent
}

func newWallet() *wallet {
	key := keyFor("inflow-bitcoin-devnet-wallet")
	addr, err := address.NewAddressWitnessPubKeyHash(address.Hash160(key.PubKey().SerializeCompressed()), &chaincfg.RegressionNetParams)
	if err != nil {
		panic(err)
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		panic(err)
	}
	return &wallet{key: key, script: script, address: addr.EncodeAddress(),
		coins: map[wire.OutPoint]coin{}, pending: map[chainhash.Hash]*wire.MsgTx{}}
}

func (w *wallet) ours(script []byte) bool { return string(script) == string(w.script) }

// connect applies a canonical block: coins it spends go, coins it pays the
// wallet come, and the wallet's transactions in it are no longer pending.
func (w *wallet) connect(b *wire.MsgBlock, height int) {
	for i, tx := range b.Transactions {
		id := tx.TxHash()
		if i > 0 {
			for _, in := range tx.TxIn {
				delete(w.coins, in.PreviousOutPoint)
			}
		}
		for vout, out := range tx.TxOut {
			if w.ours(out.PkScript) {
				op := wire.OutPoint{Hash: id, Index: uint32(vout)}
				w.coins[op] = coin{op: op, value: out.Value, coinbase: i == 0, height: height}
			}
		}
		delete(w.pending, id)
	}
}

// rebuild derives the coins again from the canonical chain, then applies
// the pending transactions not in it.
func (w *wallet) rebuild(blocks []*wire.MsgBlock) {
	w.coins = map[wire.OutPoint]coin{}
	for h, b := range blocks {
		w.connect(b, h)
	}
	order := w.order
	w.order = nil
	for _, id := range order {
		if tx, ok := w.pending[id]; ok {
			w.apply(tx)
			w.order = append(w.order, id)
		}
	}
}

// sent records a transaction the wallet put in the mempool.
func (w *wallet) sent(tx *wire.MsgTx) {
	id := tx.TxHash()
	if _, ok := w.pending[id]; !ok {
		w.order = append(w.order, id)
	}
	w.pending[id] = tx
	w.apply(tx)
}

func (w *wallet) apply(tx *wire.MsgTx) {
	id := tx.TxHash()
	for _, in := range tx.TxIn {
		delete(w.coins, in.PreviousOutPoint)
	}
	for vout, out := range tx.TxOut {
		if w.ours(out.PkScript) {
			op := wire.OutPoint{Hash: id, Index: uint32(vout)}
			w.coins[op] = coin{op: op, value: out.Value, height: -1}
		}
	}
}

// spendable reports whether a coin may be spent in the next block:
// coinbase outputs 100 blocks after their own.
func (c coin) spendable(tip int) bool {
	return !c.coinbase || tip+1-c.height >= 100
}

func (w *wallet) balance(tip int) int64 {
	var sum int64
	for _, c := range w.coins {
		if c.spendable(tip) {
			sum += c.value
		}
	}
	return sum
}

// outputVSize is an output's size in a transaction.
func outputVSize(script []byte) int { return wire.NewTxOut(0, script).SerializeSize() }

// fund adds inputs (and a change output, unless it would be dust) to a
// transaction paying total, at feeRate, and returns the coins it spends.
// Mined coins go first, oldest first; the change of transactions not yet
// mined only after, as long chains in the mempool are refused. valid
// confirms a coin not yet mined is still in the node's mempool.
func (w *wallet) fund(tx *wire.MsgTx, total int64, tip int, valid func(coin) bool) ([]coin, error) {
	var cands []coin
	for _, c := range w.coins {
		if c.spendable(tip) {
			cands = append(cands, c)
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		ci, cj := cands[i], cands[j]
		if (ci.height < 0) != (cj.height < 0) {
			return ci.height >= 0
		}
		if ci.height != cj.height {
			// The oldest first: a coin deep in the chain is still spendable
			// after a reorg moves the payment to a lower height.
			return ci.height < cj.height
		}
		if ci.value != cj.value {
			return ci.value > cj.value
		}
		return ci.op.String() < cj.op.String()
	})
	outs := 0
	for _, o := range tx.TxOut {
		outs += outputVSize(o.PkScript)
	}
	changeSize := outputVSize(w.script)
	var picked []coin
	var in int64
	for _, c := range cands {
		if c.height < 0 && !valid(c) {
			delete(w.coins, c.op)
			continue
		}
		picked = append(picked, c)
		in += c.value
		fee := int64(feeRate * (11 + 68*len(picked) + outs + changeSize))
		if in < total+fee {
			continue
		}
		for _, p := range picked {
			tx.AddTxIn(&wire.TxIn{PreviousOutPoint: p.op, Sequence: wire.MaxTxInSequenceNum - 2}) // signals BIP125
		}
		if change := in - total - fee; change > dustLimit(w.script) {
			tx.AddTxOut(wire.NewTxOut(change, w.script))
		}
		return picked, nil
	}
	return nil, fmt.Errorf("%w: the devnet wallet has %s spendable, short of %s and the fee",
		devnet.ErrBadAmount, btcutil.Amount(w.balance(tip)), btcutil.Amount(total))
}

// sign signs every input, each a wallet coin (P2WPKH).
func (w *wallet) sign(tx *wire.MsgTx, coins []coin) error {
	if len(coins) != len(tx.TxIn) {
		return errors.New("bitcoin devnet: inputs and coins differ")
	}
	prev := map[wire.OutPoint]*wire.TxOut{}
	for _, c := range coins {
		prev[c.op] = wire.NewTxOut(c.value, w.script)
	}
	hashes := txscript.NewTxSigHashes(tx, txscript.NewMultiPrevOutFetcher(prev))
	for i, in := range tx.TxIn {
		c := prev[in.PreviousOutPoint]
		if c == nil {
			return fmt.Errorf("bitcoin devnet: input %d is not a wallet coin", i)
		}
		wit, err := txscript.WitnessSignature(tx, hashes, i, c.Value, w.script, txscript.SigHashAll, w.key, true)
		if err != nil {
			return err
		}
		in.Witness = wit
	}
	return nil
}
