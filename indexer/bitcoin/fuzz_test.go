package bitcoin

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"
	"github.com/inflowhq/inflow/indexer/bitcoin/fixturerpc"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/testenv"
)

// FuzzBlock: whatever bytes a node sends as a raw block, decoding and
// extracting them is an error or a block, never a panic; and for a block
// that decodes, the verbose fallback (getblock 2), given the same block as
// a node would write it, finds exactly the same transfers: the two
// decoders are each other's oracle.
func FuzzBlock(f *testing.F) {
	if dir, ok := testenv.FixturesDir(); ok {
		if blocks, err := fixturerpc.Load(filepath.Join(dir, "bitcoin", "mainnet")); err == nil {
			for _, b := range blocks {
				if len(b.Raw) < 64<<10 {
					f.Add(b.Raw)
				}
			}
		}
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var msg wire.MsgBlock
		if err := msg.Deserialize(bytes.NewReader(raw)); err != nil {
			return
		}
		got := Extract(&msg, 7)
		verbose, ok := asVerbose(&msg, 7)
		if !ok {
			return
		}
		want, err := ExtractVerbose(verbose, 7, chain.NetworkMainnet)
		if err != nil {
			t.Fatalf("the verbose form of a block that decodes does not: %v\n%s", err, verbose)
		}
		if len(got.Transfers) != len(want.Transfers) {
			t.Fatalf("raw: %d transfers, verbose: %d", len(got.Transfers), len(want.Transfers))
		}
		for i := range got.Transfers {
			g, w := got.Transfers[i], want.Transfers[i]
			if !bytes.Equal(g.TxHash, w.TxHash) || g.Index != w.Index || !g.To.Equal(w.To) || g.Value.Cmp(w.Value) != 0 || g.Maturity != w.Maturity {
				t.Fatalf("transfer %d: raw %+v, verbose %+v", i, g, w)
			}
		}
		if got.Ref.Hash != want.Ref.Hash || got.Ref.Parent != want.Ref.Parent || got.Ref.Time != want.Ref.Time {
			t.Fatalf("block: raw %+v, verbose %+v", got.Ref, want.Ref)
		}
	})
}

// asVerbose writes a decoded block as `getblock <hash> 2` does, without the
// addresses (the fallback checks them only when given). ok is false for a
// block a node could not have: an output value outside 0..21M BTC.
func asVerbose(msg *wire.MsgBlock, height uint64) ([]byte, bool) {
	type out struct {
		Value        json.Number       `json:"value"`
		N            uint32            `json:"n"`
		ScriptPubKey map[string]string `json:"scriptPubKey"`
	}
	type tx struct {
		Txid string           `json:"txid"`
		Vin  []map[string]any `json:"vin"`
		Vout []out            `json:"vout"`
	}
	v := struct {
		Hash     string `json:"hash"`
		Height   uint64 `json:"height"`
		Time     int64  `json:"time"`
		Previous string `json:"previousblockhash"`
		Tx       []tx   `json:"tx"`
	}{Hash: msg.BlockHash().String(), Height: height, Time: msg.Header.Timestamp.Unix(), Previous: msg.Header.PrevBlock.String()}
	for i, t := range msg.Transactions {
		x := tx{Txid: t.TxHash().String(), Vin: []map[string]any{}}
		if isCoinbase(i, t) {
			x.Vin = append(x.Vin, map[string]any{"coinbase": "00"})
		} else {
			for range t.TxIn {
				x.Vin = append(x.Vin, map[string]any{"txid": "00"})
			}
		}
		for n, o := range t.TxOut {
			if o.Value < 0 || o.Value > 21e14 {
				return nil, false
			}
			x.Vout = append(x.Vout, out{Value: json.Number(fmt.Sprintf("%d.%08d", o.Value/1e8, o.Value%1e8)), N: uint32(n),
				ScriptPubKey: map[string]string{"hex": hex.EncodeToString(o.PkScript)}})
		}
		v.Tx = append(v.Tx, x)
	}
	if len(v.Tx) == 0 {
		return nil, false
	}
	b, _ := json.Marshal(v)
	return b, true
}

// FuzzVerbose: any getblock answer is an error or a block, never a panic.
func FuzzVerbose(f *testing.F) {
	if dir, ok := testenv.FixturesDir(); ok {
		matches, _ := filepath.Glob(filepath.Join(dir, "bitcoin", "mainnet", "*", "block.json"))
		for _, m := range matches {
			if b, err := os.ReadFile(m); err == nil && len(b) < 64<<10 {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := ExtractVerbose(raw, 0, chain.NetworkMainnet)
		if err != nil {
			return
		}
		again, err := ExtractVerbose(raw, 0, chain.NetworkMainnet)
		if err != nil || !reflect.DeepEqual(b, again) {
			t.Fatalf("the same answer decodes twice differently: %v", err)
		}
	})
}
