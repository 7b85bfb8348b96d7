package chain_test

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/inflowhq/inflow/pkg/chain"
)

// The valid segwit addresses of BIP350 (which supersedes BIP173's list),
// with their output scripts.
var segwitValid = []struct{ addr, script string }{
	{"BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"},
	{"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"},
	{"bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y", "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6"},
	{"BC1SW50QGDZ25J", "6002751e"},
	{"bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"},
	{"tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy", "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"},
	{"tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c", "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"},
	{"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"},
}

// The invalid segwit addresses of BIP173 and BIP350. BIP173's v2 and v16
// examples with a bech32 checksum are invalid since BIP350.
var segwitInvalid = []string{
	// BIP173
	"tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty",
	"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
	"BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2",
	"bc1rw5uspcuh",
	"bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90",
	"BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
	"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",
	"bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",
	"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv",
	"bc1gmk9yu",
	"BC1SW50QA3JX3S",
	"bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj",
	// BIP350
	"tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
	"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
	"tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",
	"BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
	"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
	"tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
	"bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",
	"BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",
	"bc1pw5dgrnzv",
	"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
	"tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",
	"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",
	"tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",
	"tb1pw508d6qejxtdg4y5r3zarqfsj6c3",
	// Not addresses at all.
	"", "bc1", "1", "script:", "script:zz", "bcrt1", " bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
}

func TestSegwitVectors(t *testing.T) {
	for _, v := range segwitValid {
		a, net, err := chain.ParseBitcoinAddress(v.addr)
		if err != nil {
			t.Errorf("%s: %v", v.addr, err)
			continue
		}
		if got := hex.EncodeToString(a.Bytes()); got != v.script {
			t.Errorf("%s: script %s, want %s", v.addr, got, v.script)
		}
		if got := a.Text(net); got != strings.ToLower(v.addr) {
			t.Errorf("%s: written back as %s", v.addr, got)
		}
	}
	for _, s := range segwitInvalid {
		if a, _, err := chain.ParseBitcoinAddress(s); err == nil {
			t.Errorf("%q parsed as %x", s, a.Bytes())
		}
	}
}

func TestBitcoinNetworks(t *testing.T) {
	// One key hash and one script hash, written on each network.
	h20, _ := hex.DecodeString("751e76e8199196d454941c45d1b3a323f1433bd6")
	h32, _ := hex.DecodeString("1863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262")
	p2sh, _ := hex.DecodeString("a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87")
	cases := []struct {
		script []byte
		net    chain.Network
		want   string
	}{
		{append(append([]byte{0x76, 0xa9, 0x14}, h20...), 0x88, 0xac), chain.NetworkMainnet, "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"},
		{append(append([]byte{0x76, 0xa9, 0x14}, h20...), 0x88, 0xac), chain.NetworkTestnet, "mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r"},
		{append(append([]byte{0x76, 0xa9, 0x14}, h20...), 0x88, 0xac), chain.NetworkRegtest, "mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r"},
		{p2sh, chain.NetworkMainnet, "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"},
		{append([]byte{0, 20}, h20...), chain.NetworkMainnet, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"},
		{append([]byte{0, 20}, h20...), chain.NetworkTestnet, "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"},
		{append([]byte{0, 20}, h20...), chain.NetworkRegtest, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"},
		{append([]byte{0, 32}, h32...), chain.NetworkTestnet, "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7"},
	}
	for _, c := range cases {
		if got := chain.FormatBitcoin(c.script, c.net); got != c.want {
			t.Errorf("%x on %s: %s, want %s", c.script, c.net, got, c.want)
		}
		a, net, err := chain.ParseBitcoinAddress(c.want)
		if err != nil || !bytes.Equal(a.Bytes(), c.script) {
			t.Errorf("%s: %x %v", c.want, a.Bytes(), err)
		}
		if c.net != chain.NetworkRegtest || strings.HasPrefix(c.want, "bcrt") {
			if net != c.net {
				t.Errorf("%s: network %s, want %s", c.want, net, c.net)
			}
		}
	}
	for _, s := range []string{"mainnet", "testnet", "testnet3", "testnet4", "signet", "regtest"} {
		if _, err := chain.ParseNetwork(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := chain.ParseNetwork("litecoin"); err == nil {
		t.Error("litecoin parsed as a network")
	}
}

// TestBitcoinAgainstBtcd writes random programs of every address type on
// every network with this package and with btcd's, and requires the same
// text, the same script back, and the same script class.
func TestBitcoinAgainstBtcd(t *testing.T) {
	nets := []struct {
		ours   chain.Network
		params *chaincfg.Params
	}{
		{chain.NetworkMainnet, &chaincfg.MainNetParams},
		{chain.NetworkTestnet, &chaincfg.TestNet3Params},
		{chain.NetworkTestnet, &chaincfg.TestNet4Params},
		{chain.NetworkTestnet, &chaincfg.SigNetParams},
		{chain.NetworkRegtest, &chaincfg.RegressionNetParams},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for i := 0; i < 200; i++ {
		for _, n := range nets {
			h20, h32 := buf(20), buf(32)
			var addrs []address.Address
			for _, mk := range []func() (address.Address, error){
				func() (address.Address, error) { return address.NewAddressPubKeyHash(h20, n.params) },
				func() (address.Address, error) { return address.NewAddressScriptHashFromHash(h20, n.params) },
				func() (address.Address, error) { return address.NewAddressWitnessPubKeyHash(h20, n.params) },
				func() (address.Address, error) { return address.NewAddressWitnessScriptHash(h32, n.params) },
				func() (address.Address, error) { return address.NewAddressTaproot(h32, n.params) },
			} {
				a, err := mk()
				if err != nil {
					t.Fatal(err)
				}
				addrs = append(addrs, a)
			}
			for _, a := range addrs {
				script, err := txscript.PayToAddrScript(a)
				if err != nil {
					t.Fatal(err)
				}
				want := a.EncodeAddress()
				if got := chain.FormatBitcoin(script, n.ours); got != want {
					t.Fatalf("%s %x: %s, btcd %s", n.params.Name, script, got, want)
				}
				parsed, _, err := chain.ParseBitcoinAddress(want)
				if err != nil || !bytes.Equal(parsed.Bytes(), script) {
					t.Fatalf("%s: %x %v, want %x", want, parsed.Bytes(), err, script)
				}
				if got, cls := chain.ClassifyScript(script).String(), txscript.GetScriptClass(script).String(); got != cls {
					t.Fatalf("%x: class %s, btcd %s", script, got, cls)
				}
			}
		}
	}
}

func TestClassifyScript(t *testing.T) {
	cases := []struct {
		hex  string
		want chain.ScriptType
	}{
		// Block 1's coinbase: P2PK with an uncompressed key.
		{"410496b538e853519c726a2c91e61ec11600ae1390813a627c66fb8be7947be63c52da7589379515d4e0a604f8141781e62294721166bf621e73a82cbf2342c858eeac", chain.ScriptP2PK},
		{"2102b4632d08485ff1df2db55b9dafd23347d1c47a457072a1e87be26896549a8737ac", chain.ScriptP2PK},
		{"6a24aa21a9edddf37957890c9031be6b3bccca7b714462c8a2bc2af26805952bf957f1506a14", chain.ScriptNullData},
		{"5121022afc20bf379bc96a2f4e9e63ffceb8652b2b6a097f63fbee6ecec2a49a48010e2103a767c7221e9f15f870f1ad9311f5ab937d79fcaeee15bb2c722bca515581b4c052ae", chain.ScriptMultisig},
		{"0014751e76e8199196d454941c45d1b3a323f1433bd6", chain.ScriptP2WPKH},
		{"0015751e76e8199196d454941c45d1b3a323f1433bd600", chain.ScriptNonStandard}, // v0 of 21 bytes
		{"51024e73", chain.ScriptWitnessUnknown}, // pay-to-anchor
		{"", chain.ScriptNonStandard},
		{"ac", chain.ScriptNonStandard},
	}
	for _, c := range cases {
		b, _ := hex.DecodeString(c.hex)
		if got := chain.ClassifyScript(b); got != c.want {
			t.Errorf("%s: %s, want %s", c.hex, got, c.want)
		}
		if c.want == chain.ScriptP2PK || c.want == chain.ScriptMultisig || c.want == chain.ScriptNullData {
			if got := chain.FormatBitcoin(b, chain.NetworkMainnet); got != "script:"+c.hex {
				t.Errorf("%s written as %s", c.hex, got)
			}
			if c.want.Depositable() || c.want.HasAddress() {
				t.Errorf("%s has an address", c.want)
			}
		}
	}
	// script:<hex> round-trips through ParseAddress.
	a, err := chain.ParseAddress(chain.FamilyBitcoin, "script:"+cases[0].hex)
	if err != nil || a.String() != "script:"+cases[0].hex {
		t.Errorf("script form: %v %s", err, a)
	}
}
