package tron

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// addr is a 21-byte Tron address (0x41 prefix).
type addr [21]byte

// addressOf is the Tron address of a key: 0x41 and the last 20 bytes of
// the keccak256 of the uncompressed public key, as on EVM.
func addressOf(pub *ecdsa.PublicKey) addr {
	var a addr
	a[0] = 0x41
	copy(a[1:], crypto.PubkeyToAddress(*pub).Bytes())
	return a
}

// state is the ledger of balances the blocks make.
type state struct {
	trx   map[addr]int64
	trc10 map[addr]int64 // the devnet's one TRC10 asset (BTT)
	usdt  map[addr]*big.Int
}

func newState() *state {
	return &state{trx: map[addr]int64{}, trc10: map[addr]int64{}, usdt: map[addr]*big.Int{}}
}

// Fees the devnet charges: a bandwidth fee on every transaction, and
// energy on a contract call (in sun).
const (
	feeBandwidth = 1_100
	feeEnergy    = 3_000_000
)

// transferTopic is keccak256("Transfer(address,address,uint256)").
var transferTopic = crypto.Keccak256([]byte("Transfer(address,address,uint256)"))

// transferSelector is the selector of transfer(address,uint256).
var transferSelector = []byte{0xa9, 0x05, 0x9c, 0xbb}

var (
	errBadTx      = errors.New("tron devnet: bad transaction")
	errSignature  = errors.New("tron devnet: the signature does not recover the owner")
	errNoBalance  = errors.New("tron devnet: balance is not sufficient")
	errNoContract = errors.New("tron devnet: no such contract")
)

// contractOf returns a transaction's one contract.
func contractOf(tx *core.Transaction) (*core.Transaction_Contract, error) {
	cs := tx.GetRawData().GetContract()
	if len(cs) != 1 {
		return nil, fmt.Errorf("%w: %d contracts (want 1)", errBadTx, len(cs))
	}
	return cs[0], nil
}

// txID is sha256 of the raw data, as java-tron computes it.
func txID(tx *core.Transaction) ([]byte, error) {
	raw, err := proto.Marshal(tx.RawData)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(raw)
	return h[:], nil
}

// owner recovers the signer of a transaction, which must be the contract's
// owner.
func owner(tx *core.Transaction, id []byte, claimed []byte) error {
	if len(tx.Signature) != 1 || len(tx.Signature[0]) != 65 {
		return fmt.Errorf("%w: want one 65-byte signature", errSignature)
	}
	sig := append([]byte(nil), tx.Signature[0]...)
	if sig[64] >= 27 {
		sig[64] -= 27
	}
	pub, err := crypto.SigToPub(id, sig)
	if err != nil {
		return fmt.Errorf("%w: %v", errSignature, err)
	}
	if a := addressOf(pub); !bytes.Equal(a[:], claimed) {
		return fmt.Errorf("%w: signed by %x, owner %x", errSignature, a, claimed)
	}
	return nil
}

// sign signs a transaction's id with a key, in java-tron's r‖s‖v form.
func sign(tx *core.Transaction, key *ecdsa.PrivateKey) ([]byte, error) {
	id, err := txID(tx)
	if err != nil {
		return nil, err
	}
	sig, err := crypto.Sign(id, key)
	if err != nil {
		return nil, err
	}
	tx.Signature = [][]byte{sig}
	return id, nil
}

func toAddr(b []byte) (addr, error) {
	var a addr
	if len(b) != 21 || b[0] != 0x41 {
		return a, fmt.Errorf("%w: address %x is not 21 bytes with 0x41", errBadTx, b)
	}
	copy(a[:], b)
	return a, nil
}

// check validates a transaction before it is accepted into the pool: its
// signature, its shape, and for TRX and TRC10 the owner's balance (java-tron
// refuses those at broadcast; a contract call fails in its block instead).
func (s *state) check(tx *core.Transaction, id []byte) error {
	c, err := contractOf(tx)
	if err != nil {
		return err
	}
	switch c.Type {
	case core.Transaction_Contract_TransferContract:
		var tc core.TransferContract
		if err := c.Parameter.UnmarshalTo(&tc); err != nil {
			return fmt.Errorf("%w: %v", errBadTx, err)
		}
		if err := owner(tx, id, tc.OwnerAddress); err != nil {
			return err
		}
		from, err := toAddr(tc.OwnerAddress)
		if err != nil {
			return err
		}
		if _, err := toAddr(tc.ToAddress); err != nil {
			return err
		}
		if tc.Amount <= 0 || s.trx[from] < tc.Amount+feeBandwidth {
			return fmt.Errorf("%w: %d sun to send, %d held", errNoBalance, tc.Amount, s.trx[from])
		}
	case core.Transaction_Contract_TransferAssetContract:
		var tc core.TransferAssetContract
		if err := c.Parameter.UnmarshalTo(&tc); err != nil {
			return fmt.Errorf("%w: %v", errBadTx, err)
		}
		if err := owner(tx, id, tc.OwnerAddress); err != nil {
			return err
		}
		if string(tc.AssetName) != BTTID {
			return fmt.Errorf("%w: TRC10 %q (the devnet has %s)", errBadTx, tc.AssetName, BTTID)
		}
		from, err := toAddr(tc.OwnerAddress)
		if err != nil {
			return err
		}
		if _, err := toAddr(tc.ToAddress); err != nil {
			return err
		}
		if tc.Amount <= 0 || s.trc10[from] < tc.Amount || s.trx[from] < feeBandwidth {
			return fmt.Errorf("%w: %d of %s to send, %d held", errNoBalance, tc.Amount, BTTID, s.trc10[from])
		}
	case core.Transaction_Contract_TriggerSmartContract:
		var tc core.TriggerSmartContract
		if err := c.Parameter.UnmarshalTo(&tc); err != nil {
			return fmt.Errorf("%w: %v", errBadTx, err)
		}
		if err := owner(tx, id, tc.OwnerAddress); err != nil {
			return err
		}
		if !bytes.Equal(tc.ContractAddress, USDTAddress[:]) {
			return fmt.Errorf("%w: %x", errNoContract, tc.ContractAddress)
		}
		from, err := toAddr(tc.OwnerAddress)
		if err != nil {
			return err
		}
		if s.trx[from] < feeBandwidth {
			return fmt.Errorf("%w: no TRX for the fee", errNoBalance)
		}
	default:
		return fmt.Errorf("%w: contract type %s is not served by the devnet", errBadTx, c.Type)
	}
	return nil
}

// apply executes a transaction in a block and returns its ret and info. A
// TRC20 transfer the owner cannot cover, or one with too low a fee limit,
// fails in its block: REVERT or OUT_OF_ENERGY, the fee charged, nothing
// moved, no log.
func (s *state) apply(tx *core.Transaction, id []byte, number, timeMS int64) (*core.Transaction_Result, *core.TransactionInfo) {
	info := &core.TransactionInfo{Id: id, BlockNumber: number, BlockTimeStamp: timeMS, Receipt: &core.ResourceReceipt{NetUsage: 267}}
	ret := &core.Transaction_Result{ContractRet: core.Transaction_Result_SUCCESS}
	c, _ := contractOf(tx)
	switch c.Type {
	case core.Transaction_Contract_TransferContract:
		var tc core.TransferContract
		c.Parameter.UnmarshalTo(&tc)
		from, _ := toAddr(tc.OwnerAddress)
		to, _ := toAddr(tc.ToAddress)
		s.trx[from] -= tc.Amount + feeBandwidth
		s.trx[to] += tc.Amount
		info.Fee = feeBandwidth
	case core.Transaction_Contract_TransferAssetContract:
		var tc core.TransferAssetContract
		c.Parameter.UnmarshalTo(&tc)
		from, _ := toAddr(tc.OwnerAddress)
		to, _ := toAddr(tc.ToAddress)
		s.trc10[from] -= tc.Amount
		s.trc10[to] += tc.Amount
		s.trx[from] -= feeBandwidth
		info.Fee = feeBandwidth
	case core.Transaction_Contract_TriggerSmartContract:
		var tc core.TriggerSmartContract
		c.Parameter.UnmarshalTo(&tc)
		from, _ := toAddr(tc.OwnerAddress)
		info.ContractAddress = tc.ContractAddress
		fee := min(int64(feeEnergy), tx.RawData.FeeLimit)
		s.trx[from] -= fee + feeBandwidth
		info.Fee = fee + feeBandwidth
		info.Receipt.EnergyUsage, info.Receipt.EnergyFee = 29_631, fee
		fail := func(r core.Transaction_ResultContractResult, msg string) {
			ret.ContractRet = r
			info.Receipt.Result = r
			info.Result = core.TransactionInfo_FAILED
			info.ResMessage = []byte(msg)
			info.ContractResult = [][]byte{{}}
		}
		to, amount, ok := decodeTransfer(tc.Data)
		switch {
		case tx.RawData.FeeLimit < feeEnergy:
			fail(core.Transaction_Result_OUT_OF_ENERGY, "Not enough energy for 'SSTORE' operation")
		case !ok:
			fail(core.Transaction_Result_REVERT, "REVERT opcode executed")
		case balance(s.usdt, from).Cmp(amount) < 0:
			fail(core.Transaction_Result_REVERT, "REVERT opcode executed")
		default:
			s.usdt[from] = new(big.Int).Sub(balance(s.usdt, from), amount)
			s.usdt[to] = new(big.Int).Add(balance(s.usdt, to), amount)
			info.Receipt.Result = core.Transaction_Result_SUCCESS
			info.ContractResult = [][]byte{common32(big.NewInt(1))}
			info.Log = []*core.TransactionInfo_Log{{
				Address: USDTAddress[1:],
				Topics:  [][]byte{transferTopic, word(from[1:]), word(to[1:])},
				Data:    common32(amount),
			}}
		}
	}
	return ret, info
}

func balance(m map[addr]*big.Int, a addr) *big.Int {
	if v, ok := m[a]; ok {
		return v
	}
	return new(big.Int)
}

// word left-pads 20 bytes to a 32-byte ABI word.
func word(b []byte) []byte { return append(make([]byte, 12), b...) }

func common32(v *big.Int) []byte { return v.FillBytes(make([]byte, 32)) }

// decodeTransfer reads transfer(address,uint256) calldata: the address
// word may hold the 20 bytes (EVM form) or 0x41 and them (Tron form).
func decodeTransfer(data []byte) (addr, *big.Int, bool) {
	var to addr
	if len(data) != 4+64 || !bytes.Equal(data[:4], transferSelector) {
		return to, nil, false
	}
	w := data[4:36]
	if !bytes.Equal(w[:11], make([]byte, 11)) || (w[11] != 0 && w[11] != 0x41) {
		return to, nil, false
	}
	to[0] = 0x41
	copy(to[1:], w[12:])
	return to, new(big.Int).SetBytes(data[36:]), true
}

// block is one block of the devnet's chain.
type block struct {
	ext   *api.BlockExtention
	infos []*core.TransactionInfo
}

func (b *block) number() int64 { return b.ext.BlockHeader.RawData.Number }

// blockID is java-tron's: the first 8 bytes are the number, the rest from
// sha256 of the raw header.
func blockID(raw *core.BlockHeaderRaw) ([]byte, error) {
	b, err := proto.Marshal(raw)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(b)
	binary.BigEndian.PutUint64(h[:8], uint64(raw.Number))
	return h[:], nil
}

// txTrieRoot is the merkle root of sha256 of each transaction.
func txTrieRoot(txs []*core.Transaction) []byte {
	if len(txs) == 0 {
		return make([]byte, 32)
	}
	level := make([][]byte, len(txs))
	for i, tx := range txs {
		b, _ := proto.Marshal(tx)
		h := sha256.Sum256(b)
		level[i] = h[:]
	}
	for len(level) > 1 {
		var next [][]byte
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
				continue
			}
			h := sha256.Sum256(append(append([]byte(nil), level[i]...), level[i+1]...))
			next = append(next, h[:])
		}
		level = next
	}
	return level[0]
}

// anyOf wraps a contract as java-tron does.
func anyOf(m proto.Message) (*anypb.Any, error) { return anypb.New(m) }
