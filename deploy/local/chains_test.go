package main

import (
	"sort"
	"strings"
	"testing"
)

// TestChainsTheUserCanSee: GET /api/v1/chains lists exactly the chains
// bin/inflow follows, with their currencies, policies and indexing state;
// a bind on a chain of a protocol nothing follows (Bitcoin, started
// without it) is 400 CHAIN_NOT_ENABLED naming the chains followed.
func TestChainsTheUserCanSee(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := startInflow(t, "--bitcoin=false")
	devnet := &client{t: t, base: c.base}
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 2}, nil)
	var list struct {
		Data []struct {
			ChainID, Name, Protocol string
			Currencies              []struct{ Currency string }
			Policy                  struct{ CreditDepth uint64 }
			Indexing                struct {
				Tip    uint64
				Halted bool
			}
		}
	}
	eventually(t, "evm-devnet indexed", func() bool {
		if st := c.do("GET", "/api/v1/chains", nil, &list); st != 200 {
			t.Fatalf("chains: %d", st)
		}
		for _, ch := range list.Data {
			if ch.ChainID == "evm-devnet" {
				return ch.Indexing.Tip >= 2
			}
		}
		return false
	})
	var ids []string
	for _, ch := range list.Data {
		ids = append(ids, ch.ChainID)
		if ch.ChainID == "evm-devnet" {
			var curs []string
			for _, cur := range ch.Currencies {
				curs = append(curs, cur.Currency)
			}
			if ch.Protocol != "evm" || ch.Policy.CreditDepth != 3 || ch.Indexing.Halted || !strings.Contains(strings.Join(curs, " "), "USDT") {
				t.Errorf("evm-devnet: %+v", ch)
			}
		}
	}
	sort.Strings(ids)
	if strings.Join(ids, " ") != "evm-devnet solana-localnet tron-devnet" {
		t.Errorf("chains listed: %v", ids)
	}
	var e struct{ Code, Message string }
	if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "btc_user", "currency": "BTC", "chainId": "bitcoin-regtest"}, &e); st != 400 ||
		e.Code != "CHAIN_NOT_ENABLED" || !strings.Contains(e.Message, "evm-devnet") {
		t.Errorf("a bind on an unfollowed protocol: %d %s %s", st, e.Code, e.Message)
	}
	var bound struct{ Address, Warning string }
	if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "usdt_user", "currency": "USDT", "chainId": "evm-devnet"}, &bound); st != 201 || bound.Warning != "" {
		t.Errorf("a bind on a followed chain: %d %+v", st, bound)
	}
	// The PayIn document's first example, USDT on ethereum-sepolia: the
	// shipped testnet tokens make the pair resolve, and since the chain
	// itself is not followed (evm-devnet is), the answer says so.
	if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "user_alice_123", "currency": "USDT", "chainId": "ethereum-sepolia"}, &bound); st != 201 ||
		!strings.Contains(bound.Warning, "ethereum-sepolia is not followed") || !strings.Contains(bound.Warning, "evm-devnet") {
		t.Errorf("the PayIn example's bind: %d %+v", st, bound)
	}
	if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "nile_user", "currency": "USDT", "chainId": "tron-nile"}, &bound); st != 201 {
		t.Errorf("USDT on tron-nile: %d %+v", st, bound)
	}
}
