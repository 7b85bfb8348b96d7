package bitcoin

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/inflowhq/inflow/pkg/devnet"
	"github.com/inflowhq/inflow/pkg/testenv"
)

// startDevnet starts a devnet in dir (a temporary one when empty), or
// fails (in CI) or skips the test when btcd is not built.
func startDevnet(t *testing.T, dir string) *Devnet {
	t.Helper()
	if testing.Short() {
		t.Skip("starts btcd")
	}
	bin, err := FindBtcd()
	if err != nil {
		testenv.Missing(t, "btcd", "make build builds it into bin/ (go build -o bin/btcd github.com/btcsuite/btcd)")
	}
	d, err := Start(Config{Btcd: bin, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// verboseOutputs reads a block as btcd itself writes it (getblock 2): for
// each txid, its outputs' addresses (or "" without one) and values.
type nodeOutput struct {
	Txid    string
	Vout    uint32
	Address string
	Sats    int64
	Type    string
}

func nodeBlock(t *testing.T, d *Devnet, height uint64) []nodeOutput {
	t.Helper()
	h, err := d.BlockHash(height)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := d.RawRequest("getblock", hex.EncodeToString(h[:]), 2)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Tx []struct { // btcd's verbose transactions (bitcoind calls them tx)
			Txid string `json:"txid"`
			Vout []struct {
				Value        json.Number `json:"value"`
				N            uint32      `json:"n"`
				ScriptPubKey struct {
					Type      string   `json:"type"`
					Address   string   `json:"address"`
					Addresses []string `json:"addresses"`
				} `json:"scriptPubKey"`
			} `json:"vout"`
		} `json:"rawtx"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	var out []nodeOutput
	for _, tx := range b.Tx {
		for _, o := range tx.Vout {
			a := o.ScriptPubKey.Address
			if a == "" && len(o.ScriptPubKey.Addresses) == 1 {
				a = o.ScriptPubKey.Addresses[0]
			}
			f, err := o.Value.Float64()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, nodeOutput{tx.Txid, o.N, a, int64(math.Round(f * 1e8)), o.ScriptPubKey.Type})
		}
	}
	return out
}

// TestDevnet sends to every address type, in one transaction with several
// outputs and alone, and finds each payment in the node's own view of the
// block, with the node's own address for it.
func TestDevnet(t *testing.T) {
	d := startDevnet(t, "")
	if d.Head() < 101 || d.Balance() < 50e8 {
		t.Fatalf("head %d, balance %d: the wallet is not funded", d.Head(), d.Balance())
	}
	var outs []Output
	for i := 0; i < 4; i++ {
		s, err := ParseAddress(DevAddress(i))
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, Output{Script: s, Value: int64(10_000 * (i + 1))})
	}
	multi, err := d.Send(outs...)
	if err != nil {
		t.Fatal(err)
	}
	single, err := d.Transfer(DevAddress(1), "BTC", "0.00123456")
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := d.Mempool()
	if !slices.Contains(pool, multi) || !slices.Contains(pool, single) {
		t.Fatalf("mempool %v lacks %s or %s", pool, multi, single)
	}
	head, err := d.Mine(1)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]nodeOutput{}
	for _, o := range nodeBlock(t, d, head) {
		got[o.Txid] = append(got[o.Txid], o)
	}
	wantTypes := []string{"witness_v0_keyhash", "witness_v1_taproot", "scripthash", "pubkeyhash"}
	for i := 0; i < 4; i++ {
		o := got[multi][i]
		if o.Address != DevAddress(i) || o.Sats != int64(10_000*(i+1)) || o.Type != wantTypes[i] {
			t.Errorf("output %d of %s: %+v, want %s %d %s", i, multi, o, DevAddress(i), 10_000*(i+1), wantTypes[i])
		}
	}
	if o := got[single][0]; o.Address != DevAddress(1) || o.Sats != 123456 {
		t.Errorf("single transfer: %+v", o)
	}

	// Refusals: another network's address, bad bech32, dust, BTC only.
	for _, c := range []struct{ to, cur, amount string }{
		{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "BTC", "1"},
		{"tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "BTC", "1"},
		{"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt081", "BTC", "1"},
		{DevAddress(0), "BTC", "0.00000001"},
		{DevAddress(0), "BTC", "0.000000001"},
		{DevAddress(0), "ETH", "1"},
	} {
		if _, err := d.Transfer(c.to, c.cur, c.amount); !errors.Is(err, devnet.ErrBadAddress) && !errors.Is(err, devnet.ErrBadAmount) && !errors.Is(err, devnet.ErrBadCurrency) {
			t.Errorf("transfer %v: %v", c, err)
		}
	}

	// A coinbase to a dev address: the whole reward, one output.
	script, _ := ParseAddress(DevAddress(0))
	head, cb, err := d.MineTo(script)
	if err != nil {
		t.Fatal(err)
	}
	outs2 := nodeBlock(t, d, head)
	if len(outs2) != 1 || outs2[0].Txid != cb || outs2[0].Address != DevAddress(0) || outs2[0].Sats != subsidy(int64(head)) {
		t.Errorf("coinbase block: %+v", outs2)
	}
}

// TestReorg: a reorg is real on the node (the old branch's blocks are
// known but not the best chain); without drop the orphaned payment is mined
// again in the new branch, with drop it is double-spent and never mined.
func TestReorg(t *testing.T) {
	d := startDevnet(t, "")
	for _, drop := range []bool{false, true} {
		txid, err := d.Transfer(DevAddress(0), "BTC", "0.5")
		if err != nil {
			t.Fatal(err)
		}
		head, _ := d.Mine(1)
		d.Mine(2)
		old, _ := d.BlockHash(head)
		newHead, err := d.Reorg(3, drop)
		if err != nil {
			t.Fatal(err)
		}
		if newHead < head+3 {
			t.Fatalf("reorg of 3 from %d: head %d, want a longer branch", head+2, newHead)
		}
		if now, _ := d.BlockHash(head); now == old {
			t.Fatal("the block at the fork is the same after the reorg")
		}
		// The node still holds the old block, off its main chain.
		if raw, err := d.RawRequest("getblock", hex.EncodeToString(old[:]), 0); err != nil || len(raw) < 100 {
			t.Errorf("old block on the node: %s %v", raw, err)
		}
		if _, err := d.RawRequest("getblockheader", hex.EncodeToString(old[:]), true); err == nil || !strings.Contains(err.Error(), "not in the main chain") {
			t.Errorf("old block's header: %v, want not in the main chain", err)
		}
		id, _ := chainhash.NewHashFromStr(txid)
		mined := d.isMined(*id, int(head))
		if mined == drop {
			t.Errorf("drop %v: the orphaned payment mined again: %v", drop, mined)
		}
		pool, _ := d.Mempool()
		if slices.Contains(pool, txid) {
			t.Errorf("drop %v: the orphaned payment is still in the mempool", drop)
		}
		// More blocks never bring a dropped payment back.
		d.Mine(2)
		if d.isMined(*id, int(head)) != !drop {
			t.Errorf("drop %v: mined state changed with more blocks", drop)
		}
	}
	if _, err := d.Reorg(0, false); err == nil {
		t.Error("a reorg of depth 0 done")
	}
}

// TestRestart: btcd deletes its regtest database on every start; the
// devnet submits its kept blocks again, so the chain and the wallet come
// back as they were.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	d := startDevnet(t, dir)
	txid, err := d.Transfer(DevAddress(2), "BTC", "1.25")
	if err != nil {
		t.Fatal(err)
	}
	head, _ := d.Mine(3)
	hash, _ := d.BlockHash(head)
	bal := d.Balance()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2 := startDevnet(t, dir)
	if d2.Head() != head {
		t.Fatalf("restarted at %d, want %d", d2.Head(), head)
	}
	if h, _ := d2.BlockHash(head); h != hash {
		t.Fatal("restarted on another chain")
	}
	if d2.Balance() != bal {
		t.Errorf("balance %d after the restart, %d before", d2.Balance(), bal)
	}
	id, _ := chainhash.NewHashFromStr(txid)
	if !d2.isMined(*id, 1) {
		t.Error("the payment is not in the restored chain")
	}
	if _, err := d2.Transfer(DevAddress(3), "BTC", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Mine(1); err != nil {
		t.Fatal(err)
	}
}
