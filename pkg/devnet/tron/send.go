package tron

import (
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/devnet"
)

var _ devnet.Chain = (*Devnet)(nil)

// ID is the devnet's chain id.
func (d *Devnet) ID() chain.ID { return ChainID }

// Currencies are TRX, the devnet's USDT (TRC20) and BTT (TRC10).
func (d *Devnet) Currencies() []string { return []string{"TRX", "USDT", "BTT"} }

// Transfer sends amount (a decimal, 6 places) of TRX, USDT or BTT from the
// faucet to a T-address (or its 41-hex form) and returns the transaction
// id in hex. It is in the next block.
func (d *Devnet) Transfer(to, currency, amount string) (string, error) {
	a, err := chain.ParseAddress(chain.FamilyTron, to)
	if err != nil {
		return "", fmt.Errorf("%w: to: %v", devnet.ErrBadAddress, err)
	}
	amt, err := devnet.ParseAmount(amount, 6)
	if err != nil {
		return "", err
	}
	if !amt.Big().IsInt64() {
		return "", fmt.Errorf("%w: %s", devnet.ErrBadAmount, amount)
	}
	var dst addr
	copy(dst[:], a.Bytes())
	var tx *core.Transaction
	switch strings.ToUpper(currency) {
	case "TRX":
		tx, err = d.trxTx(faucetKey, dst, amt.Big().Int64())
	case "USDT":
		tx, err = d.usdtTx(faucetKey, dst, amt.Big(), 100_000_000)
	case "BTT":
		tx, err = d.trc10Tx(faucetKey, dst, amt.Big().Int64())
	default:
		return "", fmt.Errorf("%w %q (TRX, USDT or BTT)", devnet.ErrBadCurrency, currency)
	}
	if err != nil {
		return "", err
	}
	return d.Broadcast(tx)
}

// TransferFailing sends a USDT transfer that fails in its block: from an
// account without USDT (REVERT), or with too low a fee limit
// (OUT_OF_ENERGY). It returns the transaction id.
func (d *Devnet) TransferFailing(to string, outOfEnergy bool) (string, error) {
	a, err := chain.ParseAddress(chain.FamilyTron, to)
	if err != nil {
		return "", fmt.Errorf("%w: to: %v", devnet.ErrBadAddress, err)
	}
	var dst addr
	copy(dst[:], a.Bytes())
	key, limit := poorKey, int64(100_000_000)
	if outOfEnergy {
		key, limit = faucetKey, 1_000
	}
	tx, err := d.usdtTx(key, dst, big.NewInt(1_000_000), limit)
	if err != nil {
		return "", err
	}
	return d.Broadcast(tx)
}

// raw makes a transaction's raw data referring to the head block.
func (d *Devnet) raw(c *core.Transaction_Contract, feeLimit int64) *core.TransactionRaw {
	d.mu.Lock()
	head := d.blocks[len(d.blocks)-1]
	d.mu.Unlock()
	n := head.number()
	now := time.Now().UnixMilli()
	return &core.TransactionRaw{
		RefBlockBytes: []byte{byte(n >> 8), byte(n)},
		RefBlockHash:  head.ext.Blockid[8:16],
		Expiration:    now + 60_000,
		Timestamp:     now + int64(rand.IntN(1000)), // two alike transfers differ
		FeeLimit:      feeLimit,
		Contract:      []*core.Transaction_Contract{c},
	}
}

func (d *Devnet) signed(key *ecdsa.PrivateKey, typ core.Transaction_Contract_ContractType, m proto.Message, feeLimit int64) (*core.Transaction, error) {
	p, err := anyOf(m)
	if err != nil {
		return nil, err
	}
	tx := &core.Transaction{RawData: d.raw(&core.Transaction_Contract{Type: typ, Parameter: p}, feeLimit)}
	if _, err := sign(tx, key); err != nil {
		return nil, err
	}
	return tx, nil
}

func (d *Devnet) trxTx(key *ecdsa.PrivateKey, to addr, amount int64) (*core.Transaction, error) {
	from := addressOf(&key.PublicKey)
	return d.signed(key, core.Transaction_Contract_TransferContract, &core.TransferContract{OwnerAddress: from[:], ToAddress: to[:], Amount: amount}, 0)
}

func (d *Devnet) trc10Tx(key *ecdsa.PrivateKey, to addr, amount int64) (*core.Transaction, error) {
	from := addressOf(&key.PublicKey)
	return d.signed(key, core.Transaction_Contract_TransferAssetContract,
		&core.TransferAssetContract{AssetName: []byte(BTTID), OwnerAddress: from[:], ToAddress: to[:], Amount: amount}, 0)
}

func (d *Devnet) usdtTx(key *ecdsa.PrivateKey, to addr, amount *big.Int, feeLimit int64) (*core.Transaction, error) {
	from := addressOf(&key.PublicKey)
	data := append(append(append([]byte(nil), transferSelector...), word(to[1:])...), common32(amount)...)
	return d.signed(key, core.Transaction_Contract_TriggerSmartContract,
		&core.TriggerSmartContract{OwnerAddress: from[:], ContractAddress: USDTAddress[:], Data: data}, feeLimit)
}

// Broadcast checks a signed transaction and puts it in the pool, as
// java-tron's BroadcastTransaction does, and returns its id in hex.
func (d *Devnet) Broadcast(tx *core.Transaction) (string, error) {
	id, err := txID(tx)
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return "", errors.New("tron devnet: closed")
	}
	if d.known[string(id)] {
		return "", fmt.Errorf("%w: transaction %x is already known", errBadTx, id)
	}
	if err := d.st.check(tx, id); err != nil {
		return "", err
	}
	// The pool's own transfers count against the balance too.
	tmp := d.pendingState()
	if err := tmp.check(tx, id); err != nil {
		return "", err
	}
	tx.Ret = nil
	d.pending = append(d.pending, tx)
	d.known[string(id)] = true
	return hex.EncodeToString(id), nil
}

// pendingState is the state with the pool applied.
func (d *Devnet) pendingState() *state {
	s := newState()
	for k, v := range d.st.trx {
		s.trx[k] = v
	}
	for k, v := range d.st.trc10 {
		s.trc10[k] = v
	}
	for k, v := range d.st.usdt {
		s.usdt[k] = v
	}
	n := int64(len(d.blocks))
	for _, tx := range d.pending {
		id, _ := txID(tx)
		s.apply(tx, id, n, 0)
	}
	return s
}

// Balance returns an address's TRX (sun), USDT and BTT (base units).
func (d *Devnet) Balance(a chain.Address) (trx int64, usdt *big.Int, btt int64) {
	var k addr
	copy(k[:], a.Bytes())
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.trx[k], new(big.Int).Set(balance(d.st.usdt, k)), d.st.trc10[k]
}

func (d *Devnet) trafficLoop() {
	defer d.wg.Done()
	interval := time.Duration(float64(time.Second) / d.cfg.TrafficRate)
	t := time.NewTicker(interval)
	defer t.Stop()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		var to addr
		to[0] = 0x41
		for i := 1; i < len(to); i++ {
			to[i] = byte(rng.Uint32())
		}
		if d.cfg.TrafficTargets != nil && rng.IntN(10) == 0 {
			if ts := d.cfg.TrafficTargets(); len(ts) > 0 {
				copy(to[:], ts[rng.IntN(len(ts))].Bytes())
			}
		}
		var err error
		var tx *core.Transaction
		switch rng.IntN(20) {
		case 0: // now and then one that fails in its block
			tx, err = d.usdtTx(poorKey, to, big.NewInt(1), 100_000_000)
		case 1, 2, 3, 4, 5:
			tx, err = d.trxTx(faucetKey, to, int64(1+rng.IntN(50_000_000)))
		default:
			tx, err = d.usdtTx(faucetKey, to, big.NewInt(int64(1+rng.IntN(500_000_000))), 100_000_000)
		}
		if err == nil {
			_, err = d.Broadcast(tx)
		}
		if err != nil {
			d.log.Debug("tron devnet: traffic", "err", err)
		}
	}
}
