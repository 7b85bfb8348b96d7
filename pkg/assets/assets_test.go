package assets

import (
	"errors"
	"strings"
	"testing"

	"github.com/inflowhq/inflow/pkg/chain"
)

func TestSeedCurrencyCodes(t *testing.T) {
	c := Default()
	want := map[string]struct {
		chain    chain.ID
		currency string
		decimals uint8
	}{
		"BNB": {"bsc", "BNB", 18}, "bUSDT": {"bsc", "USDT", 18}, "BTC": {"bitcoin", "BTC", 8},
		"ETH": {"ethereum", "ETH", 18}, "eUSDC": {"ethereum", "USDC", 6}, "eUSDT": {"ethereum", "USDT", 6},
		"FTN": {"bahamut", "FTN", 18}, "POL": {"polygon", "POL", 18}, "pUSDC": {"polygon", "USDC", 6},
		"SOL": {"solana", "SOL", 9}, "sUSDT": {"solana", "USDT", 6}, "tUSDC": {"tron", "USDC", 6},
		"tUSDT": {"tron", "USDT", 6}, "wpUSDC": {"polygon", "USDC.E", 6}, "wpUSDT": {"polygon", "USDT", 6},
	}
	for code, w := range want {
		a, err := c.Code(code)
		if err != nil {
			t.Errorf("code %s: %v", code, err)
			continue
		}
		if a.Chain != w.chain || a.Currency != w.currency || a.Decimals != w.decimals {
			t.Errorf("code %s = %s %s/%d, want %s %s/%d", code, a.Chain, a.Currency, a.Decimals, w.chain, w.currency, w.decimals)
		}
	}
}

func TestPayInPairs(t *testing.T) {
	c := Default()
	for _, id := range []chain.ID{"ethereum", "polygon", "base"} {
		for _, cur := range []string{"USDT", "USDC", "DAI"} {
			if _, err := c.Currency(id, cur); err != nil {
				t.Errorf("%s on %s: %v", cur, id, err)
			}
		}
	}
	for _, id := range []chain.ID{"ethereum-sepolia", "polygon-amoy", "base-sepolia", "tron", "tron-nile", "solana", "solana-devnet"} {
		if _, err := c.Chain(id); err != nil {
			t.Error(err)
		}
	}
	if _, err := c.Currency("ethereum", "DOGE"); !errors.Is(err, ErrUnknownCurrency) {
		t.Errorf("DOGE: %v", err)
	}
	if _, err := c.Currency("dogechain", "USDT"); !errors.Is(err, ErrUnknownChain) {
		t.Errorf("dogechain: %v", err)
	}
}

func TestTokenLookup(t *testing.T) {
	c := Default()
	usdt, _ := chain.ParseAddress(chain.FamilyEVM, "0xdac17f958d2ee523a2206206994597c13d831ec7")
	a, ok := c.Token("ethereum", usdt)
	if !ok || a.Currency != "USDT" || a.Kind != chain.KindERC20 {
		t.Fatalf("USDT by contract: %+v %v", a, ok)
	}
	if _, ok := c.Token("polygon", usdt); ok {
		t.Error("ethereum's USDT contract found on polygon")
	}
	tr := &chain.Transfer{Kind: chain.KindNative}
	if a, ok := c.ForTransfer("bsc", tr); !ok || a.Currency != "BNB" {
		t.Errorf("native on bsc: %+v", a)
	}
	for _, ch := range c.Chains {
		if _, ok := c.NativeAsset(ch.ID); !ok {
			t.Errorf("%s has no native asset", ch.ID)
		}
	}
}

func TestMerge(t *testing.T) {
	c, err := Merge(Default(), strings.NewReader(`{"chains": [
		{"id": "ethereum", "policy": {"credit_depth": 20}, "assets": [{"currency": "PYUSD", "contract": "0x6c3ea9036406852006290770BEdFcAbA0e23A0e8", "decimals": 6}]},
		{"id": "my-l2", "family": "evm", "policy": {"credit_depth": 5, "finality": "tag", "max_reorg_depth": 10}, "assets": [{"currency": "ETH", "decimals": 18}]}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	eth, _ := c.Chain("ethereum")
	if eth.Policy.CreditDepth != 20 || eth.Policy.MaxReorgDepth != 64 {
		t.Errorf("ethereum policy = %+v", eth.Policy)
	}
	if _, err := c.Currency("ethereum", "pyusd"); err != nil {
		t.Error(err)
	}
	if _, err := c.Currency("ethereum", "USDT"); err != nil {
		t.Error("merge lost a default asset")
	}
	if _, err := c.Chain("my-l2"); err != nil {
		t.Error(err)
	}
	bad := []string{
		`{"chains": [{"id": "x", "family": "evm", "policy": {"credit_depth": 0, "finality": "tag", "max_reorg_depth": 5}, "assets": [{"currency": "ETH", "decimals": 18}]}]}`,
		`{"chains": [{"id": "x", "family": "evm", "policy": {"credit_depth": 1, "finality": "vibes", "max_reorg_depth": 5}, "assets": [{"currency": "ETH", "decimals": 18}]}]}`,
		`{"chains": [{"id": "x", "family": "evm", "policy": {"credit_depth": 1, "finality": "tag", "max_reorg_depth": 5}, "assets": []}]}`,
		`{"chains": [{"id": "ethereum", "assets": [{"currency": "BAD", "contract": "0xdAC17F958D2ee523a2206206994597C13D831ec8", "decimals": 6}]}]}`,
		`{"chains": [{"id": "Bad Id", "family": "evm"}]}`,
		`{"chainz": []}`,
	}
	for _, b := range bad {
		if _, err := Merge(Default(), strings.NewReader(b)); err == nil {
			t.Errorf("accepted %s", b)
		}
	}
}

func TestBitcoinChains(t *testing.T) {
	c := Default()
	script := chain.MustAddress(chain.FamilyBitcoin, append([]byte{0, 20}, make([]byte, 20)...))
	for id, prefix := range map[chain.ID]string{"bitcoin": "bc1q", "bitcoin-testnet": "tb1q", "bitcoin-signet": "tb1q", "bitcoin-regtest": "bcrt1q"} {
		ch, err := c.Chain(id)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Family != chain.FamilyBitcoin || ch.Policy.Finality != FinalityDepth || ch.Policy.FinalityDepth < ch.Policy.CreditDepth {
			t.Errorf("%s: %+v", id, ch.Policy)
		}
		if got := ch.AddressText(script); !strings.HasPrefix(got, prefix) {
			t.Errorf("%s writes %s", id, got)
		}
		if _, err := c.Currency(id, "BTC"); err != nil {
			t.Error(err)
		}
	}
	for _, doc := range []string{
		`{"chains":[{"id":"btc-x","family":"bitcoin","name":"x","policy":{"credit_depth":1,"finality":"depth","finality_depth":2,"max_reorg_depth":2},"assets":[{"currency":"BTC","decimals":8}]}]}`,
		`{"chains":[{"id":"btc-x","family":"bitcoin","bitcoin_network":"litecoin","name":"x","policy":{"credit_depth":1,"finality":"depth","finality_depth":2,"max_reorg_depth":2},"assets":[{"currency":"BTC","decimals":8}]}]}`,
		`{"chains":[{"id":"evm-x","family":"evm","bitcoin_network":"mainnet","name":"x","policy":{"credit_depth":1,"finality":"tag","max_reorg_depth":2},"assets":[{"currency":"ETH","decimals":18}]}]}`,
	} {
		if _, err := Merge(Default(), strings.NewReader(doc)); err == nil || !strings.Contains(err.Error(), "bitcoin_network") && !strings.Contains(err.Error(), "network") {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

func TestTRC10(t *testing.T) {
	c := Default()
	a, ok := c.ForTransfer("tron-devnet", &chain.Transfer{Kind: chain.KindTRC10, Asset: "1002000"})
	if !ok || a.Currency != "BTT" || a.Kind != chain.KindTRC10 || a.Native() {
		t.Fatalf("TRC10 1002000 on tron-devnet: %+v %v", a, ok)
	}
	if _, ok := c.ForTransfer("tron-devnet", &chain.Transfer{Kind: chain.KindTRC10, Asset: "1002001"}); ok {
		t.Error("an unknown TRC10 id found an asset")
	}
	for _, doc := range []string{
		`{"chains":[{"id":"evm-x","family":"evm","name":"x","policy":{"credit_depth":1,"finality":"tag","max_reorg_depth":2},"assets":[{"currency":"ETH","decimals":18},{"currency":"T","token_id":"1","decimals":0}]}]}`,
		`{"chains":[{"id":"tron","assets":[{"currency":"X","token_id":"abc","decimals":0}]}]}`,
	} {
		if _, err := Merge(Default(), strings.NewReader(doc)); err == nil {
			t.Errorf("%s: accepted", doc)
		}
	}
	for _, id := range []chain.ID{"tron-shasta", "tron-devnet"} {
		ch, err := c.Chain(id)
		if err != nil || ch.Policy.Finality != FinalityTag || ch.Family != chain.FamilyTron {
			t.Errorf("%s: %+v %v", id, ch, err)
		}
	}
}
