// Package tronfixture reads the real Tron mainnet transactions of
// ../shared/fixtures/tron (java-tron HTTP JSON: gettransactionbyid and
// gettransactioninfobyid results) into the protobuf messages the gRPC API
// carries, so that tests and benchmarks run the extractor on them as the
// indexer does. A transaction is rebuilt from its raw_data_hex (whose
// sha256 must be its txID), its signatures and its ret; an info from the
// JSON fields.
package tronfixture

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"
)

// Tx is one recorded transaction.
type Tx struct {
	Folder string
	ID     []byte
	Tx     *core.Transaction
	Info   *core.TransactionInfo // nil where the source had none
	Type   string                // the contract type, as the JSON names it
}

// Row is an expected row (expected_trx, _trc10 or _trc20).
type Row struct {
	Kind     string  `json:"-"`
	TxHash   string  `json:"tx_hash"`
	LogIndex *uint32 `json:"log_index"`
	Token    string  `json:"token"`
	AssetID  string  `json:"asset_id"`
	From     string  `json:"from"`
	To       string  `json:"to"`
	Value    string  `json:"value"`
}

// Folder is one source's transactions and expected rows.
type Folder struct {
	Name     string
	Txs      []*Tx
	Expected []Row
}

type jsonTx struct {
	TxID       string   `json:"txID"`
	RawDataHex string   `json:"raw_data_hex"`
	Signature  []string `json:"signature"`
	Ret        []struct {
		ContractRet string `json:"contractRet"`
		Ret         string `json:"ret"`
		Fee         int64  `json:"fee"`
	} `json:"ret"`
	RawData struct {
		Contract []struct {
			Type string `json:"type"`
		} `json:"contract"`
	} `json:"raw_data"`
}

type jsonInfo struct {
	ID              string   `json:"id"`
	Fee             int64    `json:"fee"`
	BlockNumber     int64    `json:"blockNumber"`
	BlockTimeStamp  int64    `json:"blockTimeStamp"`
	ContractResult  []string `json:"contractResult"`
	ContractAddress string   `json:"contract_address"`
	Result          string   `json:"result"`
	ResMessage      string   `json:"resMessage"`
	Receipt         struct {
		EnergyUsage      int64  `json:"energy_usage"`
		EnergyFee        int64  `json:"energy_fee"`
		EnergyUsageTotal int64  `json:"energy_usage_total"`
		NetUsage         int64  `json:"net_usage"`
		NetFee           int64  `json:"net_fee"`
		Result           string `json:"result"`
	} `json:"receipt"`
	Log []struct {
		Address string   `json:"address"`
		Topics  []string `json:"topics"`
		Data    string   `json:"data"`
	} `json:"log"`
	InternalTransactions []struct {
		Hash              string `json:"hash"`
		CallerAddress     string `json:"caller_address"`
		TransferToAddress string `json:"transferTo_address"`
		CallValueInfo     []struct {
			CallValue int64  `json:"callValue"`
			TokenID   string `json:"tokenId"`
		} `json:"callValueInfo"`
		Rejected bool `json:"rejected"`
	} `json:"internal_transactions"`
}

func unhex(s string) ([]byte, error) { return hex.DecodeString(s) }

// Load reads every folder under dir (fixtures/tron/mainnet).
func Load(dir string) ([]*Folder, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []*Folder
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		f, err := loadFolder(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) == 0 {
		return nil, fmt.Errorf("no folders under %s", dir)
	}
	return out, nil
}

func loadFolder(dir string) (*Folder, error) {
	f := &Folder{Name: filepath.Base(dir)}
	var txs []jsonTx
	if err := readJSON(filepath.Join(dir, "transactions.json"), &txs); err != nil {
		return nil, err
	}
	var infos []jsonInfo
	if err := readJSON(filepath.Join(dir, "txinfo.json"), &infos); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	byID := map[string]*core.TransactionInfo{}
	for _, ji := range infos {
		in, err := convertInfo(ji)
		if err != nil {
			return nil, fmt.Errorf("info %s: %w", ji.ID, err)
		}
		byID[ji.ID] = in
	}
	for _, jt := range txs {
		tx, id, err := convertTx(jt)
		if err != nil {
			return nil, fmt.Errorf("tx %s: %w", jt.TxID, err)
		}
		t := &Tx{Folder: f.Name, ID: id, Tx: tx, Info: byID[jt.TxID]}
		if len(jt.RawData.Contract) > 0 {
			t.Type = jt.RawData.Contract[0].Type
		}
		f.Txs = append(f.Txs, t)
	}
	for _, kind := range []string{"trx", "trc10", "trc20"} {
		rows, err := readRows(filepath.Join(dir, "expected_"+kind+".ndjson"), kind)
		if err != nil {
			return nil, err
		}
		f.Expected = append(f.Expected, rows...)
	}
	return f, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func readRows(path, kind string) ([]Row, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Row
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		r := Row{Kind: kind}
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// convertTx rebuilds a transaction from its raw_data_hex, checking that
// its id is sha256 of it.
func convertTx(jt jsonTx) (*core.Transaction, []byte, error) {
	raw, err := unhex(jt.RawDataHex)
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(raw)
	if hex.EncodeToString(sum[:]) != jt.TxID {
		return nil, nil, fmt.Errorf("sha256(raw_data) is %x", sum)
	}
	var rd core.TransactionRaw
	if err := proto.Unmarshal(raw, &rd); err != nil {
		return nil, nil, err
	}
	tx := &core.Transaction{RawData: &rd}
	for _, s := range jt.Signature {
		b, err := unhex(s)
		if err != nil {
			return nil, nil, err
		}
		tx.Signature = append(tx.Signature, b)
	}
	for _, r := range jt.Ret {
		cr, ok := core.Transaction_ResultContractResult_value[r.ContractRet]
		if !ok && r.ContractRet != "" {
			return nil, nil, fmt.Errorf("contractRet %q", r.ContractRet)
		}
		res := &core.Transaction_Result{ContractRet: core.Transaction_ResultContractResult(cr), Fee: r.Fee}
		if r.Ret == "FAILED" {
			res.Ret = core.Transaction_Result_FAILED
		}
		tx.Ret = append(tx.Ret, res)
	}
	return tx, sum[:], nil
}

func convertInfo(ji jsonInfo) (*core.TransactionInfo, error) {
	id, err := unhex(ji.ID)
	if err != nil {
		return nil, err
	}
	in := &core.TransactionInfo{Id: id, Fee: ji.Fee, BlockNumber: ji.BlockNumber, BlockTimeStamp: ji.BlockTimeStamp,
		Receipt: &core.ResourceReceipt{EnergyUsage: ji.Receipt.EnergyUsage, EnergyFee: ji.Receipt.EnergyFee,
			EnergyUsageTotal: ji.Receipt.EnergyUsageTotal, NetUsage: ji.Receipt.NetUsage, NetFee: ji.Receipt.NetFee}}
	if ji.Receipt.Result != "" {
		v, ok := core.Transaction_ResultContractResult_value[ji.Receipt.Result]
		if !ok {
			return nil, fmt.Errorf("receipt result %q", ji.Receipt.Result)
		}
		in.Receipt.Result = core.Transaction_ResultContractResult(v)
	}
	if ji.Result == "FAILED" {
		in.Result = core.TransactionInfo_FAILED
	}
	for _, c := range ji.ContractResult {
		b, err := unhex(c)
		if err != nil {
			return nil, err
		}
		in.ContractResult = append(in.ContractResult, b)
	}
	if in.ContractAddress, err = unhex(ji.ContractAddress); err != nil {
		return nil, err
	}
	if in.ResMessage, err = unhex(ji.ResMessage); err != nil {
		return nil, err
	}
	for _, l := range ji.Log {
		lg := &core.TransactionInfo_Log{}
		if lg.Address, err = unhex(l.Address); err != nil {
			return nil, err
		}
		for _, tp := range l.Topics {
			b, err := unhex(tp)
			if err != nil {
				return nil, err
			}
			lg.Topics = append(lg.Topics, b)
		}
		if lg.Data, err = unhex(l.Data); err != nil {
			return nil, err
		}
		in.Log = append(in.Log, lg)
	}
	for _, it := range ji.InternalTransactions {
		x := &core.InternalTransaction{Rejected: it.Rejected}
		if x.Hash, err = unhex(it.Hash); err != nil {
			return nil, err
		}
		if x.CallerAddress, err = unhex(it.CallerAddress); err != nil {
			return nil, err
		}
		if x.TransferToAddress, err = unhex(it.TransferToAddress); err != nil {
			return nil, err
		}
		for _, cv := range it.CallValueInfo {
			x.CallValueInfo = append(x.CallValueInfo, &core.InternalTransaction_CallValueInfo{CallValue: cv.CallValue, TokenId: cv.TokenID})
		}
		in.InternalTransactions = append(in.InternalTransactions, x)
	}
	return in, nil
}
