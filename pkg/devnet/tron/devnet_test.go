package tron

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fbsobreira/gotron-sdk/pkg/client"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/inflowhq/inflow/pkg/devnet"
)

func start(t *testing.T, dir string) (*Devnet, api.WalletClient, api.WalletSolidityClient) {
	t.Helper()
	d, err := Start(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	// gotron-sdk's own client, as a wallet would use it.
	g := client.NewGrpcClient(d.Addr())
	if err := g.Start(grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	return d, g.Client, api.NewWalletSolidityClient(g.Conn)
}

// TestWireFaithful: blocks, transactions and infos as java-tron makes them:
// block ids of number and sha256 of the raw header, a witness signature
// over it, transaction ids of sha256 of the raw data signed by the owner,
// USDT transfers with a real Transfer log, failed ones (REVERT,
// OUT_OF_ENERGY) in the block without one, and the solidified block 19
// behind.
func TestWireFaithful(t *testing.T) {
	d, w, sol := start(t, "")
	ctx := context.Background()
	to := DevAddresses(1)[0].String()
	ids := map[string]string{}
	for _, c := range []struct{ cur, amount string }{{"TRX", "12.5"}, {"USDT", "25.000001"}, {"BTT", "3"}} {
		id, err := d.Transfer(to, c.cur, c.amount)
		if err != nil {
			t.Fatal(err)
		}
		ids[c.cur] = id
	}
	revert, err := d.TransferFailing(to, false)
	if err != nil {
		t.Fatal(err)
	}
	ooe, err := d.TransferFailing(to, true)
	if err != nil {
		t.Fatal(err)
	}
	head, err := d.Mine(1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := w.GetBlockByNum2(ctx, &api.NumberMessage{Num: int64(head)})
	if err != nil {
		t.Fatal(err)
	}
	raw := b.BlockHeader.RawData
	sum := sha256.Sum256(mustMarshal(raw))
	if binary.BigEndian.Uint64(b.Blockid[:8]) != head || !bytes.Equal(b.Blockid[8:], sum[8:]) {
		t.Errorf("block id %x is not the number and sha256 of the raw header", b.Blockid)
	}
	pub, err := crypto.SigToPub(sum[:], b.BlockHeader.WitnessSignature)
	if err != nil || !bytes.Equal(addrBytes(addressOf(pub)), raw.WitnessAddress) {
		t.Errorf("witness signature: %v", err)
	}
	parent, _ := w.GetBlockByNum2(ctx, &api.NumberMessage{Num: int64(head - 1)})
	if !bytes.Equal(raw.ParentHash, parent.Blockid) {
		t.Error("parent hash is not the parent's id")
	}
	if len(b.Transactions) != 5 {
		t.Fatalf("%d transactions in the block, want 5", len(b.Transactions))
	}
	for _, tx := range b.Transactions {
		rawTx, _ := proto.Marshal(tx.Transaction.RawData)
		h := sha256.Sum256(rawTx)
		if !bytes.Equal(h[:], tx.Txid) {
			t.Errorf("txid %x is not sha256 of the raw data", tx.Txid)
		}
		pub, err := crypto.SigToPub(h[:], tx.Transaction.Signature[0])
		if err != nil {
			t.Fatal(err)
		}
		c := tx.Transaction.RawData.Contract[0]
		var ownerAddr []byte
		switch c.Type {
		case core.Transaction_Contract_TransferContract:
			var tc core.TransferContract
			c.Parameter.UnmarshalTo(&tc)
			ownerAddr = tc.OwnerAddress
		case core.Transaction_Contract_TransferAssetContract:
			var tc core.TransferAssetContract
			c.Parameter.UnmarshalTo(&tc)
			ownerAddr = tc.OwnerAddress
		case core.Transaction_Contract_TriggerSmartContract:
			var tc core.TriggerSmartContract
			c.Parameter.UnmarshalTo(&tc)
			ownerAddr = tc.OwnerAddress
		}
		if !bytes.Equal(addrBytes(addressOf(pub)), ownerAddr) {
			t.Errorf("%x: signed by another than its owner", tx.Txid)
		}
	}
	infos, err := w.GetTransactionInfoByBlockNum(ctx, &api.NumberMessage{Num: int64(head)})
	if err != nil || len(infos.TransactionInfo) != 5 {
		t.Fatalf("infos: %v %v", infos, err)
	}
	byID := map[string]*core.TransactionInfo{}
	for _, in := range infos.TransactionInfo {
		byID[hex.EncodeToString(in.Id)] = in
	}
	ok := byID[ids["USDT"]]
	if ok == nil || ok.Receipt.Result != core.Transaction_Result_SUCCESS || len(ok.Log) != 1 || len(ok.Log[0].Address) != 20 ||
		!bytes.Equal(ok.Log[0].Topics[0], transferTopic) || new(big.Int).SetBytes(ok.Log[0].Data).String() != "25000001" {
		t.Errorf("USDT info: %v", ok)
	}
	for id, want := range map[string]core.Transaction_ResultContractResult{revert: core.Transaction_Result_REVERT, ooe: core.Transaction_Result_OUT_OF_ENERGY} {
		in := byID[id]
		if in == nil || in.Result != core.TransactionInfo_FAILED || in.Receipt.Result != want || len(in.Log) != 0 || in.Fee == 0 {
			t.Errorf("failed transfer %s: %v", id, in)
		}
		tx, _ := w.GetTransactionById(ctx, &api.BytesMessage{Value: mustHex(id)})
		if tx.Ret[0].ContractRet != want {
			t.Errorf("failed transfer %s: ret %v", id, tx.Ret)
		}
		if n, mined, failed := d.TxStatus(id); n != head || !mined || !failed {
			t.Errorf("TxStatus(%s) = %d %v %v, want %d mined failed", id, n, mined, failed, head)
		}
	}
	if n, mined, failed := d.TxStatus(ids["USDT"]); n != head || !mined || failed {
		t.Errorf("TxStatus(USDT transfer) = %d %v %v, want %d mined, not failed", n, mined, failed, head)
	}
	if _, mined, _ := d.TxStatus(strings.Repeat("ab", 32)); mined {
		t.Error("TxStatus of a transaction the chain never saw: mined")
	}
	acct, _ := w.GetAccount(ctx, &core.Account{Address: DevAddresses(1)[0].Bytes()})
	if acct.Balance != 12_500_000 || acct.AssetV2[BTTID] != 3_000_000 {
		t.Errorf("account %v", acct)
	}
	// The solidified block lags 19 behind.
	d.Mine(25)
	sb, err := sol.GetNowBlock2(ctx, &api.EmptyMessage{})
	if err != nil || uint64(sb.BlockHeader.RawData.Number) != d.Head()-SolidityLag {
		t.Errorf("solidified %v, head %d", sb.GetBlockHeader().GetRawData().GetNumber(), d.Head())
	}
	// Above the head: an empty block, as java-tron answers.
	if e, _ := w.GetBlockByNum2(ctx, &api.NumberMessage{Num: int64(d.Head() + 5)}); e.BlockHeader != nil {
		t.Error("a block above the head")
	}
	// Refusals: a bad address, an unknown currency, too much, a bad
	// signature through BroadcastTransaction.
	for _, c := range []struct {
		to, cur, amount string
		err             error
	}{{"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u", "TRX", "1", devnet.ErrBadAddress}, {to, "DOGE", "1", devnet.ErrBadCurrency}, {to, "TRX", "0.0000001", devnet.ErrBadAmount}} {
		if _, err := d.Transfer(c.to, c.cur, c.amount); !errors.Is(err, c.err) {
			t.Errorf("%v: %v", c, err)
		}
	}
	if _, err := d.Transfer(to, "TRX", "100000000000"); err == nil {
		t.Error("more TRX than the faucet holds sent")
	}
	tx, _ := d.trxTx(faucetKey, addressOf(&poorKey.PublicKey), 1)
	tx.Signature[0][5] ^= 1
	if r, err := w.BroadcastTransaction(ctx, tx); err != nil || r.Result || r.Code != api.Return_SIGERROR {
		t.Errorf("bad signature: %v %v", r, err)
	}
}

func addrBytes(a addr) []byte { return a[:] }

func mustHex(s string) []byte { b, _ := hex.DecodeString(s); return b }

// TestReorgAndRestart: a reorg replaces blocks above the solidified one
// (with drop, their transfers are gone; without, mined again), refuses to
// reach it, and a restart comes back to the same chain and balances.
func TestReorgAndRestart(t *testing.T) {
	dir := t.TempDir()
	d, _, _ := start(t, dir)
	to := DevAddresses(2)[1]
	d.Mine(30)
	keep, _ := d.Transfer(to.String(), "USDT", "1")
	d.Mine(1)
	drop, _ := d.Transfer(to.String(), "USDT", "2")
	head, _ := d.Mine(2)
	old, _ := d.BlockID(head)
	if _, err := d.Reorg(2, true); err != nil {
		t.Fatal(err)
	}
	if now, _ := d.BlockID(head); now == old {
		t.Error("the head block is the same after a reorg")
	}
	if _, ok := d.TxBlock(drop); ok {
		t.Error("a dropped transfer is in the chain")
	}
	if _, ok := d.TxBlock(keep); !ok {
		t.Error("a transfer below the reorg is gone")
	}
	again, _ := d.Transfer(to.String(), "TRX", "5")
	d.Mine(1)
	if _, err := d.Reorg(2, false); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.TxBlock(again); !ok {
		t.Error("a transfer reorged without drop was not mined again")
	}
	if _, err := d.Reorg(SolidityLag+1, false); err == nil {
		t.Error("a reorg reached the solidified block")
	}
	trx, usdt, _ := d.Balance(to)
	if trx != 5_000_000 || usdt.String() != "1000000" {
		t.Errorf("balance %d TRX sun, %s USDT", trx, usdt)
	}
	head = d.Head()
	id, _ := d.BlockID(head)
	d.Close()

	d2, w2, _ := start(t, dir)
	if d2.Head() != head {
		t.Fatalf("restarted at %d, want %d", d2.Head(), head)
	}
	if id2, _ := d2.BlockID(head); id2 != id {
		t.Fatal("restarted on another chain")
	}
	trx2, usdt2, _ := d2.Balance(to)
	if trx2 != trx || usdt2.Cmp(usdt) != 0 {
		t.Errorf("balance after the restart %d %s", trx2, usdt2)
	}
	b, err := w2.GetNowBlock2(context.Background(), &api.EmptyMessage{})
	if err != nil || uint64(b.BlockHeader.RawData.Number) != head {
		t.Errorf("head over gRPC after the restart: %v", err)
	}
	if _, err := d2.Transfer(to.String(), "USDT", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Mine(1); err != nil {
		t.Fatal(err)
	}
}
