package evm

import (
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"
)

func start(t *testing.T, cfg Config) (*Devnet, *ethclient.Client) {
	t.Helper()
	d, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c, err := ethclient.Dial(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return d, c
}

func tokenBalance(t *testing.T, c *ethclient.Client, tok, who common.Address) *big.Int {
	t.Helper()
	data := append([]byte{0x70, 0xa0, 0x82, 0x31}, common.LeftPadBytes(who.Bytes(), 32)...)
	out, err := c.CallContract(context.Background(), ethereum.CallMsg{To: &tok, Data: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return new(big.Int).SetBytes(out)
}

func TestTransfersAndTokens(t *testing.T) {
	d, c := start(t, Config{})
	ctx := context.Background()
	to := common.HexToAddress("0x1111111111111111111111111111111111111111")
	ethTx, err := d.Send(to, "ETH", uint256.NewInt(12345))
	if err != nil {
		t.Fatal(err)
	}
	usdtTx, err := d.Send(to, "USDT", uint256.NewInt(2_500_000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Send(to, "DOGE", uint256.NewInt(1)); err == nil {
		t.Error("unknown currency accepted")
	}
	failing, err := d.TransferFailing(to.Hex())
	if err != nil {
		t.Fatal(err)
	}
	head, err := d.Mine(1)
	if err != nil {
		t.Fatal(err)
	}
	// The failing transfer is mined, reverted, with no log.
	if r, err := c.TransactionReceipt(ctx, common.HexToHash(failing)); err != nil || r.Status != types.ReceiptStatusFailed ||
		r.BlockNumber.Uint64() != head || len(r.Logs) != 0 || r.GasUsed == 0 {
		t.Fatalf("failing transfer's receipt: %+v %v", r, err)
	}
	for h, wantFailed := range map[string]bool{failing: true, usdtTx.Hex(): false, ethTx.Hex(): false} {
		if n, mined, failed := d.TxStatus(h); n != head || !mined || failed != wantFailed {
			t.Errorf("TxStatus(%s) = %d %v %v, want %d mined failed=%v", h, n, mined, failed, head, wantFailed)
		}
	}
	if _, mined, _ := d.TxStatus("0x" + strings.Repeat("ab", 32)); mined {
		t.Error("TxStatus of a transaction the chain never saw: mined")
	}
	for _, h := range []common.Hash{ethTx, usdtTx} {
		r, err := c.TransactionReceipt(ctx, h)
		if err != nil {
			t.Fatalf("receipt %s: %v", h, err)
		}
		if r.Status != types.ReceiptStatusSuccessful || r.BlockNumber.Uint64() != head {
			t.Fatalf("receipt %s: status %d block %d", h, r.Status, r.BlockNumber)
		}
	}
	r, _ := c.TransactionReceipt(ctx, usdtTx)
	if len(r.Logs) != 1 || r.Logs[0].Topics[0] != transferSig || common.BytesToAddress(r.Logs[0].Topics[2][:]) != to ||
		new(big.Int).SetBytes(r.Logs[0].Data).Int64() != 2_500_000 {
		t.Fatalf("USDT transfer log = %+v", r.Logs)
	}
	if bal, _ := c.BalanceAt(ctx, to, nil); bal.Int64() != 12345 {
		t.Errorf("ETH balance = %s", bal)
	}
	if bal := tokenBalance(t, c, USDTAddress, to); bal.Int64() != 2_500_000 {
		t.Errorf("USDT balance = %s", bal)
	}
	// decimals()
	out, err := c.CallContract(ctx, ethereum.CallMsg{To: &DAIAddress, Data: []byte{0x31, 0x3c, 0xe5, 0x67}}, nil)
	if err != nil || new(big.Int).SetBytes(out).Int64() != 18 {
		t.Errorf("DAI decimals = %x %v", out, err)
	}
}

func TestFinalizedTagLags(t *testing.T) {
	d, c := start(t, Config{FinalityLag: 5})
	if _, err := d.Mine(12); err != nil {
		t.Fatal(err)
	}
	h, err := c.HeaderByNumber(context.Background(), big.NewInt(int64(rpc.FinalizedBlockNumber)))
	if err != nil {
		t.Fatal(err)
	}
	if h.Number.Uint64() != 7 {
		t.Errorf("finalized = %d, want 12-5 = 7", h.Number)
	}
}

func TestReorg(t *testing.T) {
	for _, drop := range []bool{false, true} {
		d, c := start(t, Config{FinalityLag: 10})
		ctx := context.Background()
		d.Mine(3)
		to := common.HexToAddress("0x2222222222222222222222222222222222222222")
		tx, err := d.Send(to, "USDT", uint256.NewInt(7))
		if err != nil {
			t.Fatal(err)
		}
		d.Mine(1) // tx in block 4
		d.Mine(2)
		before, _ := c.HeaderByNumber(ctx, big.NewInt(4))
		head, err := d.Reorg(3, drop)
		if err != nil {
			t.Fatal(err)
		}
		if head != 7 {
			t.Fatalf("head after reorg = %d, want 7", head)
		}
		after, _ := c.HeaderByNumber(ctx, big.NewInt(4))
		if before.Hash() == after.Hash() {
			t.Fatal("block 4 was not replaced")
		}
		r, err := c.TransactionReceipt(ctx, tx)
		switch {
		case drop && err == nil:
			t.Errorf("dropped tx still mined in block %d", r.BlockNumber)
		case !drop && err != nil:
			t.Errorf("re-included tx not found: %v", err)
		case !drop && r.BlockHash == before.Hash():
			t.Error("re-included tx still in the orphaned block")
		}
		if _, err := d.Reorg(10, false); err == nil {
			t.Error("reorg reaching the finalized block accepted")
		}
	}
}

func TestMiningAndSubscription(t *testing.T) {
	d, _ := start(t, Config{BlockTime: 20 * time.Millisecond})
	c, err := ethclient.Dial(d.WSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	heads := make(chan *types.Header, 8)
	sub, err := c.SubscribeNewHead(context.Background(), heads)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	select {
	case h := <-heads:
		if h.Number.Uint64() == 0 {
			t.Error("head 0 announced")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no head announced over WebSocket")
	}
}

func TestPersistentDataDir(t *testing.T) {
	dir := t.TempDir()
	d, err := Start(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	d.Mine(5)
	h5 := d.eth.BlockChain().CurrentBlock().Hash()
	d.Close()
	d, err = Start(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Head() != 5 || d.eth.BlockChain().CurrentBlock().Hash() != h5 {
		t.Fatalf("restart: head %d", d.Head())
	}
	if _, err := d.Mine(1); err != nil {
		t.Fatal(err)
	}
}

// TestDiskFootprint: a dev chain's folder stays proportional to its data.
// With go-ethereum's mainnet-sized defaults, the write-ahead logs alone
// took 288 MB of disk each (1.4 GB after a minute of make run).
func TestDiskFootprint(t *testing.T) {
	dir := t.TempDir()
	d, err := Start(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	to := common.HexToAddress("0x3333333333333333333333333333333333333333")
	for i := 0; i < 20; i++ {
		if _, err := d.Send(to, "USDT", uint256.NewInt(1)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Mine(1); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	used := diskUsage(t, dir)
	t.Logf("devnet folder after 20 blocks: %.1f MB on disk", float64(used)/1e6)
	if used > 64<<20 {
		t.Fatalf("devnet folder uses %d bytes on disk after 20 blocks, want under 64 MiB", used)
	}
}
