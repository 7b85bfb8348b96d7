package solana

import (
	"context"
	"errors"
	"strings"
	"testing"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/rpc"
)

func start(t *testing.T, dir string) (*Devnet, *rpc.Client) {
	t.Helper()
	d, err := Start(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, rpc.New(d.URL())
}

// TestWalletSurface drives the devnet with solana-go's own rpc client, as
// a wallet would: it decodes the devnet's blocks into its own types, sends
// a transaction it signed itself, and reads balances, token accounts and
// signature statuses.
func TestWalletSurface(t *testing.T) {
	d, c := start(t, "")
	ctx := context.Background()
	d.Mine(1)
	wallet, _ := sol.NewRandomPrivateKey()
	if _, err := d.Transfer(wallet.PublicKey().String(), "SOL", "2"); err != nil {
		t.Fatal(err)
	}
	usdt, _ := d.Transfer(wallet.PublicKey().String(), "USDT", "12.5")
	slot, _ := d.Mine(1)
	if v, err := c.GetVersion(ctx); err != nil || v.SolanaCore == "" {
		t.Fatalf("getVersion %v %v", v, err)
	}
	if g, err := c.GetGenesisHash(ctx); err != nil || g != genesisHash {
		t.Fatalf("getGenesisHash %v %v", g, err)
	}
	bal, err := c.GetBalance(ctx, wallet.PublicKey(), rpc.CommitmentConfirmed)
	if err != nil || bal.Value != 2_000_000_000 {
		t.Fatalf("getBalance %v %v", bal, err)
	}
	// solana-go decodes the block, meta and all.
	v0 := uint64(0)
	blk, err := c.GetBlockWithOpts(ctx, slot, &rpc.GetBlockOpts{Encoding: sol.EncodingBase64, TransactionDetails: rpc.TransactionDetailsFull,
		Commitment: rpc.CommitmentConfirmed, MaxSupportedTransactionVersion: &v0})
	if err != nil {
		t.Fatal(err)
	}
	if len(blk.Transactions) != 3 || blk.ParentSlot >= slot || blk.Blockhash.IsZero() {
		t.Fatalf("block %d: %d transactions, parent %d", slot, len(blk.Transactions), blk.ParentSlot)
	}
	for _, tx := range blk.Transactions {
		parsed, err := tx.GetTransaction()
		if err != nil {
			t.Fatal(err)
		}
		if err := parsed.VerifySignatures(); err != nil {
			t.Errorf("a block's transaction does not verify: %v", err)
		}
		if parsed.Signatures[0].String() == usdt {
			if len(tx.Meta.InnerInstructions) != 1 || len(tx.Meta.InnerInstructions[0].Instructions) != 3 || len(tx.Meta.PostTokenBalances) != 2 {
				t.Errorf("the USDT transfer's meta: inner %+v, post token balances %+v", tx.Meta.InnerInstructions, tx.Meta.PostTokenBalances)
			}
			for _, b := range tx.Meta.PostTokenBalances {
				if b.Owner.Equals(wallet.PublicKey()) && b.UiTokenAmount.Amount != "12500000" {
					t.Errorf("the wallet's token balance %+v", b.UiTokenAmount)
				}
			}
			if tx.Meta.Fee != 5000 || tx.Meta.PostBalances[0] != tx.Meta.PreBalances[0]-5000-rentExempt(tokenAccountLen) {
				t.Errorf("fee %d, payer %d → %d", tx.Meta.Fee, tx.Meta.PreBalances[0], tx.Meta.PostBalances[0])
			}
		}
	}
	// The wallet sends SOL itself.
	to, _ := sol.NewRandomPrivateKey()
	lb, err := c.GetLatestBlockhash(ctx, rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := sol.NewTransaction([]sol.Instruction{system.NewTransferInstruction(1_000_000_000, wallet.PublicKey(), to.PublicKey()).Build()},
		lb.Value.Blockhash, sol.TransactionPayer(wallet.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Sign(func(sol.PublicKey) *sol.PrivateKey { return &wallet }); err != nil {
		t.Fatal(err)
	}
	sig, err := c.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{}); err == nil {
		t.Error("the same transaction was taken twice")
	}
	tx.Signatures[0][0] ^= 1
	if _, err := c.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{}); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("a bad signature: %v", err)
	}
	d.Mine(1)
	st, err := c.GetSignatureStatuses(ctx, false, sig)
	if err != nil || st.Value[0] == nil || st.Value[0].Err != nil {
		t.Fatalf("signature status %+v %v", st, err)
	}
	if bal, _ := c.GetBalance(ctx, to.PublicKey(), rpc.CommitmentConfirmed); bal.Value != 1_000_000_000 {
		t.Errorf("the recipient has %d", bal.Value)
	}
	accts, err := c.GetTokenAccountsByOwner(ctx, wallet.PublicKey(), &rpc.GetTokenAccountsConfig{Mint: &USDTMint}, &rpc.GetTokenAccountsOpts{Encoding: sol.EncodingBase64})
	if err != nil || len(accts.Value) != 1 || accts.Value[0].Pubkey != ATA(wallet.PublicKey(), USDTMint, tokenProgram) {
		t.Fatalf("token accounts %+v %v", accts, err)
	}
	// A skipped slot, and a slot not made yet, answer as a node does.
	head, _ := d.Mine(30)
	var skippedSlot uint64
	for s := slot; s < head && skippedSlot == 0; s++ {
		if skipped(s) {
			skippedSlot = s
		}
	}
	if _, err := c.GetBlockWithOpts(ctx, skippedSlot, &rpc.GetBlockOpts{Commitment: rpc.CommitmentConfirmed}); err == nil || !strings.Contains(err.Error(), "-32007") {
		t.Errorf("a skipped slot: %v", err)
	}
	if _, err := c.GetBlockWithOpts(ctx, head+5, &rpc.GetBlockOpts{Commitment: rpc.CommitmentConfirmed}); err == nil {
		t.Error("a slot above the head was served")
	}
	blocks, err := c.GetBlocks(ctx, slot, &head, rpc.CommitmentConfirmed)
	if err != nil || len(blocks) == 0 || blocks[len(blocks)-1] != head {
		t.Fatalf("getBlocks %v %v", blocks, err)
	}
	for _, s := range blocks {
		if skipped(s) {
			t.Errorf("getBlocks names skipped slot %d", s)
		}
	}
	fin, err := c.GetSlot(ctx, rpc.CommitmentFinalized)
	if err != nil || fin != d.Finalized() || fin+FinalityLag > head {
		t.Errorf("finalized %d %v, head %d", fin, err, head)
	}
}

// TestReorgAndRestart replaces unfinalized blocks (the dropped transfer's
// money goes back), refuses to touch finalized ones, and restores the
// chain from its log on a restart.
func TestReorgAndRestart(t *testing.T) {
	dir := t.TempDir()
	d, _ := start(t, dir)
	owner := DevAddresses(1)[0]
	d.Mine(1)
	d.Transfer(owner.String(), "USDT", "5")
	d.Mine(1)
	sig, _ := d.Transfer(owner.String(), "SOL", "3")
	slot, _ := d.Mine(1)
	d.Mine(2)
	if s, ok := d.TxSlot(sig); !ok || s != slot {
		t.Fatalf("the transfer is at %d %v", s, ok)
	}
	oldHash, _ := d.BlockHash(slot)
	if _, err := d.Reorg(3, true); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.TxSlot(sig); ok {
		t.Error("a dropped transfer is still in the chain")
	}
	if h, ok := d.BlockHash(slot); ok && h == oldHash {
		t.Error("the replaced block is still there")
	}
	if lamports, usdt, _ := d.Balance(owner); lamports != 0 || usdt != 5_000_000 {
		t.Errorf("after the reorg the owner has %d lamports and %d USDT", lamports, usdt)
	}
	sig2, _ := d.Transfer(owner.String(), "SOL", "1")
	d.Mine(40)
	if _, err := d.Reorg(40, false); err == nil {
		t.Error("a reorg into finalized blocks was made")
	}
	head := d.Head()
	h, _ := d.BlockHash(head)
	d.Close()
	d2, _ := start(t, dir)
	if d2.Head() != head {
		t.Fatalf("restored head %d, want %d", d2.Head(), head)
	}
	if h2, _ := d2.BlockHash(head); h2 != h {
		t.Error("the restored head has another hash")
	}
	if _, ok := d2.TxSlot(sig2); !ok {
		t.Error("a transfer is lost across the restart")
	}
	if lamports, usdt, _ := d2.Balance(owner); lamports != 1_000_000_000 || usdt != 5_000_000 {
		t.Errorf("restored balances %d, %d", lamports, usdt)
	}
}

// TestTxStatus: a transaction is reported where the canonical chain holds
// it, with whether it failed there. A SOL payment that would leave a new
// wallet below rent exemption is refused by preflight (over the RPC too,
// as a cluster answers it) and changes nothing; sent with skipPreflight it
// is in its block as failed. Preflight sees the pending transactions.
func TestTxStatus(t *testing.T) {
	d, c := start(t, "")
	ctx := context.Background()
	owner := DevAddresses(2)[1]
	d.Mine(1)
	if _, err := d.Transfer(owner.String(), "SOL", "0.000197282"); !errors.Is(err, ErrPreflight) || !strings.Contains(err.Error(), "rent") {
		t.Fatalf("a payment below rent exemption: %v, want a preflight failure for rent", err)
	}
	f := faucetKey.PublicKey()
	lamportsOf := func(k sol.PublicKey) uint64 {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.st.get(k).lamports
	}
	before := lamportsOf(f)
	dustTx := func() *sol.Transaction {
		d.mu.Lock()
		bh := d.blocks[len(d.blocks)-1].hash
		d.mu.Unlock()
		tx, err := sol.NewTransaction([]sol.Instruction{system.NewTransferInstruction(197_282, f, sol.PublicKeyFromBytes(owner.Bytes())).Build()}, bh, sol.TransactionPayer(f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Sign(func(k sol.PublicKey) *sol.PrivateKey {
			if k == f {
				return &faucetKey
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	if _, err := c.SendTransactionWithOpts(ctx, dustTx(), rpc.TransactionOpts{}); err == nil || !strings.Contains(err.Error(), "Transaction simulation failed: Transaction results in an account (1) with insufficient funds for rent") {
		t.Fatalf("sendTransaction with preflight: %v", err)
	}
	if after := lamportsOf(f); after != before {
		t.Errorf("a refused transaction moved the payer's lamports: %d → %d", before, after)
	}
	dustSig, err := c.SendTransactionWithOpts(ctx, dustTx(), rpc.TransactionOpts{SkipPreflight: true})
	if err != nil {
		t.Fatal(err)
	}
	dust := dustSig.String()
	failing, err := d.TransferFailing(owner.String(), 7)
	if err != nil {
		t.Fatal(err)
	}
	slot, _ := d.Mine(1)
	ok, err := d.Transfer(owner.String(), "SOL", "1")
	if err != nil {
		t.Fatal(err)
	}
	slot2, _ := d.Mine(1)
	for _, c := range []struct {
		sig           string
		slot          uint64
		mined, failed bool
	}{{dust, slot, true, true}, {failing, slot, true, true}, {ok, slot2, true, false}} {
		s, mined, failed := d.TxStatus(c.sig)
		if s != c.slot || mined != c.mined || failed != c.failed {
			t.Errorf("%s: slot %d mined %v failed %v, want %d %v %v", c.sig, s, mined, failed, c.slot, c.mined, c.failed)
		}
	}
	if lamports, _, _ := d.Balance(owner); lamports != 1_000_000_000 {
		t.Errorf("the owner has %d lamports, want only the last payment's", lamports)
	}
	// Preflight runs after the pending transactions, as the block will: a
	// payment to a wallet funded earlier in the same slot is taken.
	fresh := DevAddresses(3)[2].String()
	if _, err := d.Transfer(fresh, "SOL", "0.5"); err != nil {
		t.Fatal(err)
	}
	small, err := d.TransferViaRouter(fresh, 7)
	if err != nil {
		t.Fatalf("7 lamports after 0.5 SOL in the same slot: %v", err)
	}
	slot3, _ := d.Mine(1)
	if s, mined, failed := d.TxStatus(small); s != slot3 || !mined || failed {
		t.Errorf("the small payment: slot %d mined %v failed %v, want %d, mined, not failed", s, mined, failed, slot3)
	}
	if _, mined, _ := d.TxStatus("1111111111111111111111111111111111111111111111111111111111111111"); mined {
		t.Error("an unknown signature is mined")
	}
	if _, mined, _ := d.TxStatus("not base58!"); mined {
		t.Error("a malformed signature is mined")
	}
}
