package tron

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"

	"github.com/inflowhq/inflow/pkg/chain"
)

// Errors of this package.
var (
	// ErrInfoMissing: the node has not yet the transaction info of every
	// transaction of the block (the client fetches it again).
	ErrInfoMissing = errors.New("tron: transaction info missing")
	ErrMalformed   = errors.New("tron: malformed block")
)

// transferTopic is keccak256("Transfer(address,address,uint256)").
var transferTopic = []byte{0xdd, 0xf2, 0x52, 0xad, 0x1b, 0xe2, 0xc8, 0x9b, 0x69, 0xc2, 0xb0, 0x68, 0xfc, 0x37, 0x8d, 0xaa,
	0x95, 0x2b, 0xa7, 0xf1, 0x63, 0xc4, 0xa1, 0x16, 0x28, 0xf5, 0x5a, 0x4d, 0xf5, 0x23, 0xb3, 0xef}

// BlockRef reads a block's reference: its number, its id (the hash), its
// parent's id and its time in seconds.
func BlockRef(b *api.BlockExtention) (chain.BlockRef, error) {
	raw := b.GetBlockHeader().GetRawData()
	if raw == nil {
		return chain.BlockRef{}, fmt.Errorf("%w: no header", ErrMalformed)
	}
	var ref chain.BlockRef
	if len(b.Blockid) != 32 || len(raw.ParentHash) != 32 || raw.Number < 0 {
		return ref, fmt.Errorf("%w: block id of %d bytes, parent of %d, number %d", ErrMalformed, len(b.Blockid), len(raw.ParentHash), raw.Number)
	}
	ref.Number = uint64(raw.Number)
	copy(ref.Hash[:], b.Blockid)
	copy(ref.Parent[:], raw.ParentHash)
	ref.Time = raw.Timestamp / 1000
	return ref, nil
}

// Extract turns a block and its transaction infos
// (GetTransactionInfoByBlockNum) into Inflow's block. Every transaction
// must have its info; a missing one is ErrInfoMissing.
func Extract(b *api.BlockExtention, infos []*core.TransactionInfo) (*chain.Block, error) {
	ref, err := BlockRef(b)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*core.TransactionInfo, len(infos))
	for _, in := range infos {
		byID[string(in.Id)] = in
	}
	out := &chain.Block{Ref: ref, TxCount: len(b.Transactions)}
	for i, tx := range b.Transactions {
		id := tx.Txid
		if len(id) != 32 {
			return nil, fmt.Errorf("%w: transaction %d has an id of %d bytes", ErrMalformed, i, len(id))
		}
		info, ok := byID[string(id)]
		if !ok {
			return nil, fmt.Errorf("%w: %x in block %d", ErrInfoMissing, id, ref.Number)
		}
		out.Transfers = AppendTransfers(out.Transfers, tx.Transaction, id, info)
	}
	return out, nil
}

// Succeeded reports whether a transaction took effect: its result is not
// FAILED, its contract result is SUCCESS (or DEFAULT, which transactions
// from before the VM carry), and so is its info's receipt. A REVERT,
// OUT_OF_ENERGY or any other contract result, or a FAILED info, is a
// failure: the transaction is in its block, but moved nothing.
func Succeeded(tx *core.Transaction, info *core.TransactionInfo) bool {
	ok := func(r core.Transaction_ResultContractResult) bool {
		return r == core.Transaction_Result_SUCCESS || r == core.Transaction_Result_DEFAULT
	}
	for _, r := range tx.GetRet() {
		if r.Ret == core.Transaction_Result_FAILED || !ok(r.ContractRet) {
			return false
		}
	}
	if info != nil {
		if info.Result == core.TransactionInfo_FAILED {
			return false
		}
		if rc := info.GetReceipt(); rc != nil && !ok(rc.Result) {
			return false
		}
	}
	return true
}

// AppendTransfers appends what one transaction moved: its own TRX or
// TRC10 transfer (TransferContract, TransferAssetContract, or the value a
// TriggerSmartContract sends), the TRC20 Transfer logs of its info, and
// its internal TRX and TRC10 transfers (on nodes that record them). A
// failed transaction moves nothing. Without an info (nil) no log or
// internal transfer is known, and none is made up from calldata.
func AppendTransfers(dst []chain.Transfer, tx *core.Transaction, id []byte, info *core.TransactionInfo) []chain.Transfer {
	if tx == nil || !Succeeded(tx, info) {
		return dst
	}
	for _, c := range tx.GetRawData().GetContract() {
		dst = appendContract(dst, c, id)
	}
	if info == nil {
		return dst
	}
	for i, l := range info.Log {
		if t, ok := trc20(l, id, uint32(i)); ok {
			dst = append(dst, t)
		}
	}
	for i, it := range info.InternalTransactions {
		if it.Rejected || i >= 1<<20 {
			continue
		}
		from, err1 := tronAddress(it.CallerAddress)
		to, err2 := tronAddress(it.TransferToAddress)
		if err1 != nil || err2 != nil {
			continue
		}
		for j, cv := range it.CallValueInfo {
			if cv.CallValue <= 0 || j >= 16 {
				continue
			}
			t := chain.Transfer{TxHash: id, Index: chain.IndexInternal + uint32(i)<<4 + uint32(j), Kind: chain.KindNative,
				From: from, To: to, Value: chain.AmountFromUint64(uint64(cv.CallValue))}
			if cv.TokenId != "" {
				t.Kind, t.Asset = chain.KindTRC10, cv.TokenId
			}
			dst = append(dst, t)
		}
	}
	return dst
}

// appendContract appends the transfer a transaction's contract makes.
func appendContract(dst []chain.Transfer, c *core.Transaction_Contract, id []byte) []chain.Transfer {
	param := c.GetParameter().GetValue()
	switch c.Type {
	case core.Transaction_Contract_TransferContract:
		var tc core.TransferContract
		if proto.Unmarshal(param, &tc) != nil || tc.Amount <= 0 {
			return dst
		}
		if t, ok := native(id, tc.OwnerAddress, tc.ToAddress, tc.Amount); ok {
			dst = append(dst, t)
		}
	case core.Transaction_Contract_TransferAssetContract:
		var tc core.TransferAssetContract
		if proto.Unmarshal(param, &tc) != nil || tc.Amount <= 0 || len(tc.AssetName) == 0 || len(tc.AssetName) > 64 {
			return dst
		}
		if t, ok := native(id, tc.OwnerAddress, tc.ToAddress, tc.Amount); ok {
			t.Kind, t.Asset = chain.KindTRC10, string(tc.AssetName)
			dst = append(dst, t)
		}
	case core.Transaction_Contract_TriggerSmartContract:
		var tc core.TriggerSmartContract
		if proto.Unmarshal(param, &tc) != nil {
			return dst
		}
		if tc.CallValue > 0 {
			if t, ok := native(id, tc.OwnerAddress, tc.ContractAddress, tc.CallValue); ok {
				dst = append(dst, t)
			}
		} else if tc.CallTokenValue > 0 && tc.TokenId > 0 {
			if t, ok := native(id, tc.OwnerAddress, tc.ContractAddress, tc.CallTokenValue); ok {
				t.Kind, t.Asset = chain.KindTRC10, fmt.Sprint(tc.TokenId)
				dst = append(dst, t)
			}
		}
	}
	return dst
}

func native(id, from, to []byte, amount int64) (chain.Transfer, bool) {
	f, err1 := tronAddress(from)
	t, err2 := tronAddress(to)
	if err1 != nil || err2 != nil {
		return chain.Transfer{}, false
	}
	return chain.Transfer{TxHash: id, Index: chain.IndexNative, Kind: chain.KindNative, From: f, To: t,
		Value: chain.AmountFromUint64(uint64(amount))}, true
}

// trc20 reads a TRC20 Transfer log: three topics, the first the Transfer
// signature, and a 32-byte amount. Its address is the token's 20 bytes
// (without the 0x41 prefix, though a 21-byte form is read too).
func trc20(l *core.TransactionInfo_Log, id []byte, index uint32) (chain.Transfer, bool) {
	if len(l.Topics) != 3 || !bytes.Equal(l.Topics[0], transferTopic) || len(l.Data) != 32 ||
		len(l.Topics[1]) != 32 || len(l.Topics[2]) != 32 {
		return chain.Transfer{}, false
	}
	token, err := tronAddress(l.Address)
	if err != nil {
		return chain.Transfer{}, false
	}
	from := chain.MustAddress(chain.FamilyTron, append([]byte{0x41}, l.Topics[1][12:]...))
	to := chain.MustAddress(chain.FamilyTron, append([]byte{0x41}, l.Topics[2][12:]...))
	v, err := chain.AmountFromBytes(l.Data)
	if err != nil {
		return chain.Transfer{}, false
	}
	return chain.Transfer{TxHash: id, Index: index, Kind: chain.KindTRC20, Token: token, From: from, To: to, Value: v}, true
}

// tronAddress reads an address as the node sends it: 21 bytes with the
// 0x41 prefix, or the 20 bytes logs carry.
func tronAddress(b []byte) (chain.Address, error) {
	if len(b) == 20 {
		b = append([]byte{0x41}, b...)
	}
	return chain.NewAddress(chain.FamilyTron, b)
}
