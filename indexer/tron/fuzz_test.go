package tron

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"

	"github.com/inflowhq/inflow/indexer/tron/tronfixture"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/testenv"
)

// FuzzTransaction: whatever a node sends as a transaction and its info
// (protobuf), decoding and extracting them is an error or transfers,
// never a panic; every transfer names the transaction, a Tron recipient
// and a known kind; and the block extractor agrees with the per
// transaction one.
func FuzzTransaction(f *testing.F) {
	if dir, ok := testenv.FixturesDir(); ok {
		if folders, err := tronfixture.Load(filepath.Join(dir, "tron", "mainnet")); err == nil {
			for _, fo := range folders {
				for _, x := range fo.Txs {
					tb, _ := proto.Marshal(x.Tx)
					ib, _ := proto.Marshal(x.Info)
					f.Add(tb, ib, x.ID)
				}
			}
		}
	}
	f.Add([]byte{}, []byte{}, make([]byte, 32))
	f.Fuzz(func(t *testing.T, txb, infob, id []byte) {
		if len(id) != 32 {
			return
		}
		var tx core.Transaction
		var info core.TransactionInfo
		if proto.Unmarshal(txb, &tx) != nil || proto.Unmarshal(infob, &info) != nil {
			return
		}
		info.Id = id
		got := AppendTransfers(nil, &tx, id, &info)
		for i, tr := range got {
			if !bytes.Equal(tr.TxHash, id) || !tr.Kind.Valid() || tr.To.Family() != chain.FamilyTron {
				t.Fatalf("transfer %d: %+v", i, tr)
			}
			if tr.Kind == chain.KindTRC10 && tr.Asset == "" || tr.Kind == chain.KindTRC20 && tr.Token.IsZero() {
				t.Fatalf("transfer %d: a token transfer without its token: %+v", i, tr)
			}
		}
		blk := &api.BlockExtention{Blockid: make([]byte, 32), BlockHeader: &core.BlockHeader{RawData: &core.BlockHeaderRaw{Number: 9, ParentHash: make([]byte, 32)}},
			Transactions: []*api.TransactionExtention{{Transaction: &tx, Txid: id}}}
		b, err := Extract(blk, []*core.TransactionInfo{&info})
		if err != nil {
			t.Fatalf("a block of one transaction with its info: %v", err)
		}
		if len(b.Transfers) != len(got) {
			t.Fatalf("the block has %d transfers, the transaction %d", len(b.Transfers), len(got))
		}
	})
}
