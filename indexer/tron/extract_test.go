package tron

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/inflowhq/inflow/indexer/tron/tronfixture"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/testenv"
)

func loadFixtures(t testing.TB) []*tronfixture.Folder {
	t.Helper()
	fs, err := tronfixture.Load(filepath.Join(testenv.Fixtures(t), "tron", "mainnet"))
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// rowOf writes a transfer as the fixtures' rows do.
func rowOf(t chain.Transfer) string {
	switch t.Kind {
	case chain.KindTRC20:
		return fmt.Sprintf("trc20 %x %d %s %s %s %s", t.TxHash, t.Index, t.Token, t.From, t.To, t.Value)
	case chain.KindTRC10:
		return fmt.Sprintf("trc10 %x %s %s %s %s", t.TxHash, t.Asset, t.From, t.To, t.Value)
	}
	return fmt.Sprintf("trx %x %s %s %s", t.TxHash, t.From, t.To, t.Value)
}

func expectedOf(r tronfixture.Row) string {
	switch r.Kind {
	case "trc20":
		return fmt.Sprintf("trc20 %s %d %s %s %s %s", r.TxHash, *r.LogIndex, r.Token, r.From, r.To, r.Value)
	case "trc10":
		return fmt.Sprintf("trc10 %s %s %s %s %s", r.TxHash, r.AssetID, r.From, r.To, r.Value)
	}
	return fmt.Sprintf("trx %s %s %s %s", r.TxHash, r.From, r.To, r.Value)
}

// TestFixtureTransactions runs the extraction rules over the 52 real
// mainnet transactions, each with its info where the source had one, and
// requires exactly the expected TRX, TRC10 and TRC20 rows. A TRC20 row
// without an info (log_index null) must not come out: nothing is credited
// from calldata. Staking, freezing and vote transactions give nothing.
func TestFixtureTransactions(t *testing.T) {
	txs, rows := 0, 0
	for _, f := range loadFixtures(t) {
		var got, want []string
		for _, x := range f.Txs {
			for _, tr := range AppendTransfers(nil, x.Tx, x.ID, x.Info) {
				got = append(got, rowOf(tr))
			}
			switch x.Type {
			case "FreezeBalanceV2Contract", "UnfreezeBalanceV2Contract", "VoteWitnessContract":
				if n := len(AppendTransfers(nil, x.Tx, x.ID, x.Info)); n != 0 {
					t.Errorf("%s %x: %d transfers from a %s", f.Name, x.ID, n, x.Type)
				}
			}
			txs++
		}
		for _, r := range f.Expected {
			if r.Kind == "trc20" && r.LogIndex == nil {
				continue // no info in the source: nothing may be credited
			}
			want = append(want, expectedOf(r))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\ngot\n%v\nwant\n%v", f.Name, got, want)
		}
		rows += len(want)
	}
	if txs != 52 || rows < 20 {
		t.Fatalf("%d transactions, %d rows", txs, rows)
	}
}

// TestFailedTransactions: every transaction that moved something is made
// to fail each way a Tron transaction fails (its ret REVERT or
// OUT_OF_ENERGY, its ret FAILED, its receipt REVERT, its info FAILED), and
// must then give nothing; the block keeps it.
func TestFailedTransactions(t *testing.T) {
	failed := 0
	for _, f := range loadFixtures(t) {
		for _, x := range f.Txs {
			if len(AppendTransfers(nil, x.Tx, x.ID, x.Info)) == 0 {
				continue
			}
			for _, how := range []string{"ret REVERT", "ret OUT_OF_ENERGY", "ret FAILED", "receipt REVERT", "info FAILED"} {
				tx := proto.Clone(x.Tx).(*core.Transaction)
				var info *core.TransactionInfo
				if x.Info != nil {
					info = proto.Clone(x.Info).(*core.TransactionInfo)
				}
				switch how {
				case "ret REVERT":
					tx.Ret[0].ContractRet = core.Transaction_Result_REVERT
				case "ret OUT_OF_ENERGY":
					tx.Ret[0].ContractRet = core.Transaction_Result_OUT_OF_ENERGY
				case "ret FAILED":
					tx.Ret[0].Ret = core.Transaction_Result_FAILED
				case "receipt REVERT":
					if info == nil {
						continue
					}
					info.Receipt.Result = core.Transaction_Result_REVERT
				case "info FAILED":
					if info == nil {
						continue
					}
					info.Result = core.TransactionInfo_FAILED
				}
				if got := AppendTransfers(nil, tx, x.ID, info); len(got) != 0 {
					t.Errorf("%x with %s: %v", x.ID, how, got)
				}
				failed++
			}
		}
	}
	if failed < 50 {
		t.Fatalf("only %d failed variants", failed)
	}
}

// TestInternalTransfers: internal TRX and TRC10 transfers of a successful
// transaction's info are transfers (not rejected ones), at indexes above
// every log.
func TestInternalTransfers(t *testing.T) {
	owner, _ := hex.DecodeString("414a590bf4bbbb25e162987084d3529ae2078ac177")
	contract, _ := hex.DecodeString("41a614f803b6fd780986a42c78ec9c7f77e6ded13c")
	to, _ := hex.DecodeString("416e3b44b96104b26f84057974a1f0c9880f7c9b13")
	param, _ := proto.Marshal(&core.TriggerSmartContract{OwnerAddress: owner, ContractAddress: contract})
	tx := &core.Transaction{RawData: &core.TransactionRaw{Contract: []*core.Transaction_Contract{{
		Type: core.Transaction_Contract_TriggerSmartContract, Parameter: anyOf("protocol.TriggerSmartContract", param)}}},
		Ret: []*core.Transaction_Result{{ContractRet: core.Transaction_Result_SUCCESS}}}
	info := &core.TransactionInfo{Receipt: &core.ResourceReceipt{Result: core.Transaction_Result_SUCCESS},
		InternalTransactions: []*core.InternalTransaction{
			{CallerAddress: contract, TransferToAddress: to, CallValueInfo: []*core.InternalTransaction_CallValueInfo{{CallValue: 5}}},
			{CallerAddress: contract, TransferToAddress: to, CallValueInfo: []*core.InternalTransaction_CallValueInfo{{CallValue: 7}}, Rejected: true},
			{CallerAddress: contract, TransferToAddress: to, CallValueInfo: []*core.InternalTransaction_CallValueInfo{{CallValue: 9, TokenId: "1002000"}}},
		}}
	id := make([]byte, 32)
	got := AppendTransfers(nil, tx, id, info)
	if len(got) != 2 || got[0].Kind != chain.KindNative || got[0].Value.String() != "5" || got[0].Index != chain.IndexInternal ||
		got[1].Kind != chain.KindTRC10 || got[1].Asset != "1002000" || got[1].Index != chain.IndexInternal+2<<4 {
		t.Fatalf("internal transfers: %+v", got)
	}
	if got[0].To.String() != "TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre" {
		t.Errorf("to %s", got[0].To)
	}
}

func anyOf(name string, value []byte) *anypb.Any {
	return &anypb.Any{TypeUrl: "type.googleapis.com/" + name, Value: value}
}
