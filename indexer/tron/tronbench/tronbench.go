// Package tronbench measures Tron transfer extraction over mainnet-shaped
// blocks, side by side with its baseline. No permissively licensed real
// block with its transaction infos exists, so the blocks are built here in
// mainnet's shape: about 350 transactions, most of them USDT TRC20
// transfers (TriggerSmartContract with a Transfer log in the info), then
// TRX, some TRC10, a few failed contract calls and staking transactions,
// with real 65-byte signatures' sizes and real field layouts.
//
// Inflow reads each block as the indexer does: the gRPC answers
// (GetBlockByNum2 and GetTransactionInfoByBlockNum) as protobuf bytes,
// decoded and extracted. The baseline reads the same blocks as java-tron's
// HTTP API writes them (/wallet/getblockbynum and
// /wallet/gettransactioninfobyblocknum, visible=false: hex addresses),
// decoded with encoding/json into typed structs, then the same rules.
// Both sides find the same transfers.
package tronbench

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/inflowhq/inflow/indexer/tron"
	"github.com/inflowhq/inflow/pkg/chain"
)

// Block is one block in both forms.
type Block struct {
	Block, Infos         []byte // protobuf: BlockExtention, TransactionInfoList
	BlockJSON, InfosJSON []byte // HTTP API JSON
	Transfers            int
}

// Corpus is the blocks.
type Corpus struct {
	Blocks    []*Block
	ProtoSize int64
	JSONSize  int64
	Transfers int
	Txs       int
}

var usdt = mustHex("41a614f803b6fd780986a42c78ec9c7f77e6ded13c") // mainnet USDT

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var transferTopic = mustHex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")

func randAddr(rng *rand.Rand) []byte {
	b := make([]byte, 21)
	b[0] = 0x41
	for i := 1; i < 21; i++ {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

type jcontract struct {
	Parameter struct {
		Value   map[string]any `json:"value"`
		TypeURL string         `json:"type_url"`
	} `json:"parameter"`
	Type string `json:"type"`
}

// Build makes n mainnet-shaped blocks of about txs transactions each.
func Build(n, txs int, seed uint64) (*Corpus, error) {
	rng := rand.New(rand.NewPCG(seed, 1))
	c := &Corpus{}
	parent := randBytes(rng, 32)
	for bn := 0; bn < n; bn++ {
		number := int64(70_000_000 + bn)
		ts := int64(1_740_000_000_000 + 3000*bn)
		ext := &api.BlockExtention{}
		var infos []*core.TransactionInfo
		var jtxs, jinfos []map[string]any
		want := 0
		for i := 0; i < txs; i++ {
			from, to := randAddr(rng), randAddr(rng)
			raw := &core.TransactionRaw{RefBlockBytes: randBytes(rng, 2), RefBlockHash: randBytes(rng, 8),
				Expiration: ts + 60_000, Timestamp: ts - int64(rng.IntN(3000))}
			var jc jcontract
			info := &core.TransactionInfo{BlockNumber: number, BlockTimeStamp: ts, Fee: 345_000, Receipt: &core.ResourceReceipt{NetUsage: 345}}
			ret := core.Transaction_Result_SUCCESS
			var m proto.Message
			var typ core.Transaction_Contract_ContractType
			kind := rng.IntN(100)
			amount := int64(1 + rng.IntN(2_000_000_000))
			switch {
			case kind < 72: // USDT; a few revert
				data := append(append([]byte{0xa9, 0x05, 0x9c, 0xbb}, append(make([]byte, 11), to...)...), new(big.Int).SetInt64(amount).FillBytes(make([]byte, 32))...)
				m = &core.TriggerSmartContract{OwnerAddress: from, ContractAddress: usdt, Data: data}
				typ = core.Transaction_Contract_TriggerSmartContract
				raw.FeeLimit = 100_000_000
				jc.Parameter.Value = map[string]any{"data": hex.EncodeToString(data), "owner_address": hex.EncodeToString(from), "contract_address": hex.EncodeToString(usdt)}
				info.ContractAddress = usdt
				info.Receipt.EnergyUsage, info.Receipt.EnergyFee, info.Receipt.EnergyUsageTotal = 64_285, 13_500_000, 64_285
				if kind < 3 {
					ret = core.Transaction_Result_REVERT
					info.Receipt.Result = ret
					info.Result = core.TransactionInfo_FAILED
					info.ResMessage = []byte("REVERT opcode executed")
					info.ContractResult = [][]byte{{}}
				} else {
					info.Receipt.Result = core.Transaction_Result_SUCCESS
					info.ContractResult = [][]byte{new(big.Int).SetInt64(1).FillBytes(make([]byte, 32))}
					info.Log = []*core.TransactionInfo_Log{{Address: usdt[1:], Topics: [][]byte{transferTopic,
						append(make([]byte, 12), from[1:]...), append(make([]byte, 12), to[1:]...)},
						Data: new(big.Int).SetInt64(amount).FillBytes(make([]byte, 32))}}
					want++
				}
			case kind < 92:
				m = &core.TransferContract{OwnerAddress: from, ToAddress: to, Amount: amount}
				typ = core.Transaction_Contract_TransferContract
				jc.Parameter.Value = map[string]any{"amount": amount, "owner_address": hex.EncodeToString(from), "to_address": hex.EncodeToString(to)}
				want++
			case kind < 96:
				m = &core.TransferAssetContract{AssetName: []byte("1002000"), OwnerAddress: from, ToAddress: to, Amount: amount}
				typ = core.Transaction_Contract_TransferAssetContract
				jc.Parameter.Value = map[string]any{"amount": amount, "asset_name": hex.EncodeToString([]byte("1002000")), "owner_address": hex.EncodeToString(from), "to_address": hex.EncodeToString(to)}
				want++
			default:
				m = &core.FreezeBalanceV2Contract{OwnerAddress: from, FrozenBalance: amount, Resource: core.ResourceCode_ENERGY}
				typ = core.Transaction_Contract_FreezeBalanceV2Contract
				jc.Parameter.Value = map[string]any{"frozen_balance": amount, "owner_address": hex.EncodeToString(from), "resource": "ENERGY"}
			}
			param, err := anypb.New(m)
			if err != nil {
				return nil, err
			}
			raw.Contract = []*core.Transaction_Contract{{Type: typ, Parameter: param}}
			rawBytes, err := proto.Marshal(raw)
			if err != nil {
				return nil, err
			}
			id := sha256.Sum256(rawBytes)
			info.Id = id[:]
			sig := randBytes(rng, 65)
			tx := &core.Transaction{RawData: raw, Signature: [][]byte{sig}, Ret: []*core.Transaction_Result{{ContractRet: ret}}}
			ext.Transactions = append(ext.Transactions, &api.TransactionExtention{Transaction: tx, Txid: id[:], Result: &api.Return{Result: true}})
			infos = append(infos, info)
			jc.Type = typ.String()
			jc.Parameter.TypeURL = "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName())
			jraw := map[string]any{"contract": []jcontract{jc}, "ref_block_bytes": hex.EncodeToString(raw.RefBlockBytes),
				"ref_block_hash": hex.EncodeToString(raw.RefBlockHash), "expiration": raw.Expiration, "timestamp": raw.Timestamp}
			if raw.FeeLimit > 0 {
				jraw["fee_limit"] = raw.FeeLimit
			}
			jtxs = append(jtxs, map[string]any{"ret": []map[string]any{{"contractRet": core.Transaction_ResultContractResult_name[int32(ret)]}},
				"signature": []string{hex.EncodeToString(sig)}, "txID": hex.EncodeToString(id[:]), "raw_data": jraw,
				"raw_data_hex": hex.EncodeToString(rawBytes)})
			jinfos = append(jinfos, infoJSON(info))
		}
		hdr := &core.BlockHeaderRaw{Timestamp: ts, TxTrieRoot: randBytes(rng, 32), ParentHash: parent, Number: number,
			WitnessAddress: randAddr(rng), Version: 32}
		hb, _ := proto.Marshal(hdr)
		h := sha256.Sum256(hb)
		binary.BigEndian.PutUint64(h[:8], uint64(number))
		ext.BlockHeader = &core.BlockHeader{RawData: hdr, WitnessSignature: randBytes(rng, 65)}
		ext.Blockid = h[:]
		parent = h[:]
		b := &Block{Transfers: want}
		var err error
		if b.Block, err = proto.Marshal(ext); err != nil {
			return nil, err
		}
		if b.Infos, err = proto.Marshal(&api.TransactionInfoList{TransactionInfo: infos}); err != nil {
			return nil, err
		}
		jb := map[string]any{"blockID": hex.EncodeToString(h[:]), "block_header": map[string]any{"raw_data": map[string]any{
			"number": number, "txTrieRoot": hex.EncodeToString(hdr.TxTrieRoot), "witness_address": hex.EncodeToString(hdr.WitnessAddress),
			"parentHash": hex.EncodeToString(hdr.ParentHash), "version": hdr.Version, "timestamp": ts},
			"witness_signature": hex.EncodeToString(ext.BlockHeader.WitnessSignature)}, "transactions": jtxs}
		if b.BlockJSON, err = json.Marshal(jb); err != nil {
			return nil, err
		}
		if b.InfosJSON, err = json.Marshal(jinfos); err != nil {
			return nil, err
		}
		c.Blocks = append(c.Blocks, b)
		c.ProtoSize += int64(len(b.Block) + len(b.Infos))
		c.JSONSize += int64(len(b.BlockJSON) + len(b.InfosJSON))
		c.Transfers += want
		c.Txs += txs
	}
	// Both sides must agree on every block.
	for i, b := range c.Blocks {
		got, err := Inflow(b)
		if err != nil || got != b.Transfers {
			return nil, fmt.Errorf("block %d: inflow finds %d transfers (%v), want %d", i, got, err, b.Transfers)
		}
		if got, err := Baseline(b); err != nil || got != b.Transfers {
			return nil, fmt.Errorf("block %d: the baseline finds %d transfers (%v), want %d", i, got, err, b.Transfers)
		}
	}
	return c, nil
}

func infoJSON(in *core.TransactionInfo) map[string]any {
	m := map[string]any{"id": hex.EncodeToString(in.Id), "fee": in.Fee, "blockNumber": in.BlockNumber, "blockTimeStamp": in.BlockTimeStamp}
	var cr []string
	for _, r := range in.ContractResult {
		cr = append(cr, hex.EncodeToString(r))
	}
	if cr == nil {
		cr = []string{""}
	}
	m["contractResult"] = cr
	if len(in.ContractAddress) > 0 {
		m["contract_address"] = hex.EncodeToString(in.ContractAddress)
	}
	rc := map[string]any{"net_usage": in.Receipt.NetUsage}
	if in.Receipt.EnergyUsage > 0 {
		rc["energy_usage"], rc["energy_fee"], rc["energy_usage_total"] = in.Receipt.EnergyUsage, in.Receipt.EnergyFee, in.Receipt.EnergyUsageTotal
		rc["result"] = in.Receipt.Result.String()
	}
	m["receipt"] = rc
	if in.Result == core.TransactionInfo_FAILED {
		m["result"] = "FAILED"
		m["resMessage"] = hex.EncodeToString(in.ResMessage)
	}
	var logs []map[string]any
	for _, l := range in.Log {
		var ts []string
		for _, t := range l.Topics {
			ts = append(ts, hex.EncodeToString(t))
		}
		logs = append(logs, map[string]any{"address": hex.EncodeToString(l.Address), "topics": ts, "data": hex.EncodeToString(l.Data)})
	}
	if logs != nil {
		m["log"] = logs
	}
	return m
}

// Inflow decodes a block's gRPC answers and extracts it, as the indexer
// does, and returns the number of transfers.
func Inflow(b *Block) (int, error) {
	var ext api.BlockExtention
	if err := proto.Unmarshal(b.Block, &ext); err != nil {
		return 0, err
	}
	var infos api.TransactionInfoList
	if err := proto.Unmarshal(b.Infos, &infos); err != nil {
		return 0, err
	}
	blk, err := tron.Extract(&ext, infos.TransactionInfo)
	if err != nil {
		return 0, err
	}
	return len(blk.Transfers), nil
}

// The HTTP API's JSON, typed as a naive indexer would type it.
type httpBlock struct {
	BlockID     string `json:"blockID"`
	BlockHeader struct {
		RawData struct {
			Number     int64  `json:"number"`
			ParentHash string `json:"parentHash"`
			Timestamp  int64  `json:"timestamp"`
		} `json:"raw_data"`
	} `json:"block_header"`
	Transactions []struct {
		Ret []struct {
			ContractRet string `json:"contractRet"`
		} `json:"ret"`
		TxID    string `json:"txID"`
		RawData struct {
			Contract []struct {
				Type      string `json:"type"`
				Parameter struct {
					Value struct {
						Amount          int64  `json:"amount"`
						OwnerAddress    string `json:"owner_address"`
						ToAddress       string `json:"to_address"`
						AssetName       string `json:"asset_name"`
						ContractAddress string `json:"contract_address"`
						Data            string `json:"data"`
						CallValue       int64  `json:"call_value"`
					} `json:"value"`
				} `json:"parameter"`
			} `json:"contract"`
		} `json:"raw_data"`
	} `json:"transactions"`
}

type httpInfo struct {
	ID      string `json:"id"`
	Result  string `json:"result"`
	Receipt struct {
		Result string `json:"result"`
	} `json:"receipt"`
	Log []struct {
		Address string   `json:"address"`
		Topics  []string `json:"topics"`
		Data    string   `json:"data"`
	} `json:"log"`
}

func tronAddr(h string) (chain.Address, error) {
	b, err := hex.DecodeString(h)
	if err != nil {
		return chain.Address{}, err
	}
	if len(b) == 20 {
		b = append([]byte{0x41}, b...)
	}
	return chain.NewAddress(chain.FamilyTron, b)
}

// Baseline decodes a block's HTTP JSON with encoding/json and applies the
// same rules, returning the number of transfers.
func Baseline(b *Block) (int, error) {
	var blk httpBlock
	if err := json.Unmarshal(b.BlockJSON, &blk); err != nil {
		return 0, err
	}
	var infos []httpInfo
	if err := json.Unmarshal(b.InfosJSON, &infos); err != nil {
		return 0, err
	}
	byID := make(map[string]*httpInfo, len(infos))
	for i := range infos {
		byID[infos[i].ID] = &infos[i]
	}
	var out []chain.Transfer
	for _, tx := range blk.Transactions {
		info := byID[tx.TxID]
		ok := len(tx.Ret) == 0 || tx.Ret[0].ContractRet == "SUCCESS" || tx.Ret[0].ContractRet == ""
		if info != nil && (info.Result == "FAILED" || info.Receipt.Result != "" && info.Receipt.Result != "SUCCESS") {
			ok = false
		}
		if !ok {
			continue
		}
		id, err := hex.DecodeString(tx.TxID)
		if err != nil {
			return 0, err
		}
		for _, c := range tx.RawData.Contract {
			v := c.Parameter.Value
			switch c.Type {
			case "TransferContract", "TransferAssetContract":
				from, err1 := tronAddr(v.OwnerAddress)
				to, err2 := tronAddr(v.ToAddress)
				if err1 != nil || err2 != nil || v.Amount <= 0 {
					continue
				}
				t := chain.Transfer{TxHash: id, Index: chain.IndexNative, Kind: chain.KindNative, From: from, To: to, Value: chain.AmountFromUint64(uint64(v.Amount))}
				if c.Type == "TransferAssetContract" {
					name, _ := hex.DecodeString(v.AssetName)
					t.Kind, t.Asset = chain.KindTRC10, string(name)
				}
				out = append(out, t)
			case "TriggerSmartContract":
				if v.CallValue > 0 {
					from, _ := tronAddr(v.OwnerAddress)
					to, _ := tronAddr(v.ContractAddress)
					out = append(out, chain.Transfer{TxHash: id, Index: chain.IndexNative, Kind: chain.KindNative, From: from, To: to, Value: chain.AmountFromUint64(uint64(v.CallValue))})
				}
			}
		}
		if info == nil {
			continue
		}
		for li, l := range info.Log {
			if len(l.Topics) != 3 || !strings.EqualFold(l.Topics[0], hex.EncodeToString(transferTopic)) || len(l.Data) != 64 {
				continue
			}
			token, err := tronAddr(l.Address)
			if err != nil {
				continue
			}
			from, err1 := tronAddr(l.Topics[1][24:])
			to, err2 := tronAddr(l.Topics[2][24:])
			data, err3 := hex.DecodeString(l.Data)
			if err1 != nil || err2 != nil || err3 != nil {
				continue
			}
			v, _ := chain.AmountFromBytes(data)
			out = append(out, chain.Transfer{TxHash: id, Index: uint32(li), Kind: chain.KindTRC20, Token: token, From: from, To: to, Value: v})
		}
	}
	return len(out), nil
}

// Result is one side's figures.
type Result struct {
	MBps, TransfersPerSec, BlocksPerSec float64
}

// Measure runs a side over the corpus with testing.Benchmark; bytes is
// the side's input per pass.
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
		TransfersPerSec: float64(c.Transfers) * float64(r.N) / secs,
		BlocksPerSec:    float64(len(c.Blocks)) * float64(r.N) / secs,
	}
}
