package bitcoin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inflowhq/inflow/indexer/bitcoin/fixturerpc"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/testenv"
)

func loadFixtures(t testing.TB) []*fixturerpc.Block {
	t.Helper()
	blocks, err := fixturerpc.Load(filepath.Join(testenv.Fixtures(t), "bitcoin", "mainnet"))
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

type expectedRow struct {
	Txid       string `json:"txid"`
	Vout       uint32 `json:"vout"`
	Address    string `json:"address"`
	Value      uint64 `json:"value_sats"`
	ScriptType string `json:"script_type"`
}

// recordedAddressless lists the outputs block.json gives no address: the
// expected rows leave them out, by their rule.
func recordedAddressless(t *testing.T, b *fixturerpc.Block) map[string]bool {
	var v struct {
		Tx []struct {
			Txid string `json:"txid"`
			Vout []struct {
				N            uint32 `json:"n"`
				ScriptPubKey struct {
					Address   string   `json:"address"`
					Addresses []string `json:"addresses"`
				} `json:"scriptPubKey"`
			} `json:"vout"`
		} `json:"tx"`
	}
	if err := json.Unmarshal(b.Verbose, &v); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, tx := range v.Tx {
		for _, o := range tx.Vout {
			if o.ScriptPubKey.Address == "" && len(o.ScriptPubKey.Addresses) != 1 {
				out[fmt.Sprintf("%s:%d", tx.Txid, o.N)] = true
			}
		}
	}
	return out
}

// checkAgainstExpected compares a block's extracted outputs with the
// fixture's independent rows: an output with an address must be exactly an
// expected row; a P2PK output (written script:<hex>) is compared on
// (txid, vout, value) only, as old nodes gave it its key hash's address;
// an output the recorded block names no address for is not in the rows.
func checkAgainstExpected(t *testing.T, b *fixturerpc.Block, got *chain.Block) {
	t.Helper()
	want := map[string]expectedRow{}
	for _, line := range strings.Split(strings.TrimSpace(b.Expected), "\n") {
		var r expectedRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: %v", b.Dir, err)
		}
		want[fmt.Sprintf("%s:%d", r.Txid, r.Vout)] = r
	}
	noAddr := recordedAddressless(t, b)
	seen := map[string]bool{}
	for _, tr := range got.Transfers {
		k := fmt.Sprintf("%s:%d", chain.FormatHash(chain.FamilyBitcoin, tr.TxHash), tr.Index)
		to := chain.FormatBitcoin(tr.To.Bytes(), chain.NetworkMainnet)
		w, ok := want[k]
		switch {
		case !ok && noAddr[k] && strings.HasPrefix(to, "script:"):
			continue
		case !ok:
			t.Errorf("%d: output %s to %s is not expected", b.Height, k, to)
			continue
		case w.ScriptType == "pubkey":
			if !strings.HasPrefix(to, "script:") || tr.Value.String() != fmt.Sprint(w.Value) {
				t.Errorf("%d: P2PK output %s: %s %s, want script:<hex> %d", b.Height, k, to, tr.Value, w.Value)
			}
		case to != w.Address || tr.Value.String() != fmt.Sprint(w.Value):
			t.Errorf("%d: output %s: %s %s, want %s %d", b.Height, k, to, tr.Value, w.Address, w.Value)
		}
		seen[k] = true
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("%d: expected output %s missing", b.Height, k)
		}
	}
}

// TestFixtures runs the client against every real mainnet block, served
// raw and served verbose only, and requires exactly the expected outputs.
func TestFixtures(t *testing.T) {
	blocks := loadFixtures(t)
	for _, refuseRaw := range []bool{false, true} {
		srv, err := fixturerpc.Start(blocks, fixturerpc.Options{RefuseRaw: refuseRaw})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		c, err := Dial(Options{URL: srv.URL, Conns: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx := context.Background()
		for _, b := range blocks {
			got, err := c.FetchBlock(ctx, b.Height)
			if err != nil {
				t.Fatalf("block %d: %v", b.Height, err)
			}
			if got.Ref.Hash.Format(chain.FamilyBitcoin) != b.Hash || got.Ref.Number != b.Height {
				t.Errorf("block %d: ref %v", b.Height, got.Ref)
			}
			checkAgainstExpected(t, b, got)
			for _, tr := range got.Transfers {
				coinbase := &tr.TxHash[0] == &got.Transfers[0].TxHash[0]
				if (tr.Maturity == chain.CoinbaseMaturity) != coinbase {
					t.Errorf("block %d: output %x:%d has maturity %d", b.Height, tr.TxHash, tr.Index, tr.Maturity)
				}
			}
			hdr, err := c.Header(ctx, b.Height)
			if err != nil || hdr != got.Ref {
				t.Errorf("block %d: header %v %v, block %v", b.Height, hdr, err, got.Ref)
			}
		}
		if c.Verbose() != refuseRaw {
			t.Errorf("refusing raw blocks %v, the client went verbose %v", refuseRaw, c.Verbose())
		}
		if !refuseRaw && srv.Verbose.Load() != 0 {
			t.Errorf("%d verbose getblock calls to a node that serves raw blocks", srv.Verbose.Load())
		}
	}
}

// TestRawMatchesVerbose: the raw and the verbose reading of every block
// are the same transfers.
func TestRawMatchesVerbose(t *testing.T) {
	for _, b := range loadFixtures(t) {
		raw, err := DecodeRaw(b.Raw, b.Height)
		if err != nil {
			t.Fatal(err)
		}
		verbose, err := ExtractVerbose(b.Verbose, b.Height, chain.NetworkMainnet)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(raw.Ref, raw.TxCount) != fmt.Sprint(verbose.Ref, verbose.TxCount) || len(raw.Transfers) != len(verbose.Transfers) {
			t.Fatalf("block %d: raw %v/%d/%d, verbose %v/%d/%d", b.Height, raw.Ref, raw.TxCount, len(raw.Transfers), verbose.Ref, verbose.TxCount, len(verbose.Transfers))
		}
		for i := range raw.Transfers {
			if fmt.Sprint(raw.Transfers[i]) != fmt.Sprint(verbose.Transfers[i]) {
				t.Errorf("block %d: transfer %d: raw %v, verbose %v", b.Height, i, raw.Transfers[i], verbose.Transfers[i])
			}
		}
	}
}

// TestVerboseAddressForms: the verbose reader takes all three ways nodes
// write an output's address, and refuses a node whose address is not the
// script's.
func TestVerboseAddressForms(t *testing.T) {
	const script = "76a914536ffa992491508dca0354e52f32a3a7a679a53a88ac"
	const addr = "18cBEMRxXHqzWWCxZNtU91F5sbUNKhL5PX"
	block := func(spk string) []byte {
		return []byte(`{"hash":"000000000000000000088a771bf9592a8bd3e9a5dc4c5a18876b65b283f0fb1e","height":7,"time":1,
			"previousblockhash":"0000000000000000000bbc2c027a9f9a9144f5368d1e02091bddd0307b058ec3",
			"tx":[{"txid":"a0c993a7bada3762a0e9ea6e10dacbe487ced996edc8fb71bf5e893248524016","vin":[{"coinbase":"00"}],
			"vout":[{"value":6.41008383,"n":0,"scriptPubKey":` + spk + `}]}]}`)
	}
	for _, spk := range []string{
		`{"hex":"` + script + `","type":"pubkeyhash","address":"` + addr + `"}`,
		`{"hex":"` + script + `","type":"pubkeyhash","addresses":["` + addr + `"],"reqSigs":1}`,
		`{"hex":"` + script + `","type":"pubkeyhash","addresses":["` + addr + `"]}`,
		`{"hex":"` + script + `","type":"pubkeyhash"}`,
	} {
		b, err := ExtractVerbose(block(spk), 7, chain.NetworkMainnet)
		if err != nil {
			t.Fatalf("%s: %v", spk, err)
		}
		if len(b.Transfers) != 1 || b.Transfers[0].To.String() != addr || b.Transfers[0].Value.String() != "641008383" || b.Transfers[0].Maturity != 100 {
			t.Errorf("%s: %+v", spk, b.Transfers)
		}
	}
	for _, spk := range []string{
		`{"hex":"` + script + `","type":"pubkeyhash","address":"1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"}`,
		`{"hex":"zz","type":"pubkeyhash"}`,
	} {
		if _, err := ExtractVerbose(block(spk), 7, chain.NetworkMainnet); err == nil {
			t.Errorf("%s: read", spk)
		}
	}
	if _, err := ExtractVerbose(block(`{"hex":"`+script+`"}`), 8, chain.NetworkMainnet); err == nil {
		t.Error("a block at another height than asked read")
	}
	for _, v := range []string{"6.410083831", "1e-9", "-1", "21000000.00000001", "x", "+1"} {
		if _, err := parseBTC(v); err == nil {
			t.Errorf("amount %s read", v)
		}
	}
	// btcd writes amounts as Go's shortest float64.
	for v, want := range map[string]uint64{"1e-05": 1000, "1e-08": 1, "0.3": 30000000, "20999999.9769": 2099999997690000, "50": 5e9, "0": 0} {
		if got, err := parseBTC(v); err != nil || got != want {
			t.Errorf("amount %s: %d %v, want %d", v, got, err, want)
		}
	}
}

// TestAuth: user and password from the URL, or bitcoind's cookie file; a
// wrong password is an error, never a silent empty chain.
func TestAuth(t *testing.T) {
	blocks := loadFixtures(t)
	srv, err := fixturerpc.Start(blocks, fixturerpc.Options{User: "__cookie__", Pass: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	cookie := filepath.Join(t.TempDir(), ".cookie")
	if err := os.WriteFile(cookie, []byte("__cookie__:s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{{URL: srv.URL}, {URL: "http://" + srv.Addr(), CookieFile: cookie}} {
		c, err := Dial(o)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := c.Head(ctx); err != nil || n != blocks[len(blocks)-1].Height {
			t.Errorf("%+v: head %d, %v", o, n, err)
		}
		c.Close()
	}
	c, err := Dial(Options{URL: "http://__cookie__:wrong@" + srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Head(ctx); err == nil {
		t.Error("a wrong password read the head")
	}
	for _, bad := range []string{"http://" + srv.Addr(), "ftp://u:p@" + srv.Addr(), "http://u:p@" + srv.Addr() + "/wallet/x", "http://u:p@"} {
		if _, err := Dial(Options{URL: bad}); err == nil {
			t.Errorf("Dial(%q) accepted", bad)
		}
	}
	good, _ := Dial(Options{URL: srv.URL})
	defer good.Close()
	if _, err := good.FetchBlock(ctx, blocks[len(blocks)-1].Height+1); !errors.Is(err, ErrNotFound) {
		t.Errorf("a block above the tip: %v, want ErrNotFound", err)
	}
}
