// Package assets is the typed configuration of chains and assets: which chains
// Inflow knows, their protocol family, their confirmation policy (credit
// depth, finality source, maximum reorg depth) and the assets on each (the
// native coin and token contracts with their decimals and currency codes).
//
// Default returns the built-in set; an operator's file (JSON) adds chains and
// assets or overrides them by chain id. Every lookup works on canonical
// bytes: a token is found by its contract address, a currency by its code.
//
// Invariants: each (chain, contract) names at most one asset; each currency
// code of the seed payment APIs (BNB, bUSDT, BTC, ETH, eUSDC, eUSDT, FTN, POL,
// pUSDC, SOL, sUSDT, tUSDC, tUSDT, wpUSDC, wpUSDT) names exactly one asset;
// MaxReorgDepth < the follower's window, and CreditDepth ≥ 1.
package assets

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/inflowhq/inflow/pkg/chain"
)

// FinalitySource says where a chain's finality comes from.
type FinalitySource string

// Finality sources.
const (
	// FinalityTag follows the chain's own signal: EVM's finalized tag,
	// Solana's finalized commitment, Tron's solidified block.
	FinalityTag FinalitySource = "tag"
	// FinalityDepth treats blocks FinalityDepth deep as final (Bitcoin).
	FinalityDepth FinalitySource = "depth"
	// FinalityNone publishes no finality: deposits reach confirmed at the
	// credit depth and stay there, never completed. For a chain whose
	// finality signal is not trusted (or a node that serves none); the
	// ledger's open deposits are then bounded by max_open_deposits.
	FinalityNone FinalitySource = "none"
)

// Policy is a chain's confirmation policy.
type Policy struct {
	// CreditDepth is the confirmations at which a deposit is confirmed.
	CreditDepth uint64 `json:"credit_depth"`
	// Finality is where completion comes from.
	Finality FinalitySource `json:"finality"`
	// FinalityDepth is the depth standing in for finality (FinalityDepth
	// source), and the depth after which a tag-less node is assumed final.
	FinalityDepth uint64 `json:"finality_depth,omitempty"`
	// MaxReorgDepth: a deeper reorg halts the chain and alerts.
	MaxReorgDepth uint64 `json:"max_reorg_depth"`
}

// Asset is one currency on one chain.
type Asset struct {
	Chain    chain.ID   `json:"-"`
	Currency string     `json:"currency"`        // USDT, USDC, DAI, ETH…
	Codes    []string   `json:"codes,omitempty"` // channel codes such as eUSDT
	Kind     chain.Kind `json:"-"`
	Contract string     `json:"contract,omitempty"` // empty for the native coin
	// TokenID is a Tron TRC10 asset's id ("1002000"), for a token that
	// has no contract.
	TokenID  string `json:"token_id,omitempty"`
	Decimals uint8  `json:"decimals"`

	contract chain.Address
}

// Native reports whether the asset is the chain's own coin.
func (a *Asset) Native() bool { return a.Contract == "" && a.TokenID == "" }

// ContractAddress is the token contract in canonical form (zero for native).
func (a *Asset) ContractAddress() chain.Address { return a.contract }

// Chain is one chain's configuration.
type Chain struct {
	ID         chain.ID     `json:"id"`
	Family     chain.Family `json:"family"`
	Name       string       `json:"name"`
	Testnet    bool         `json:"testnet,omitempty"`
	EVMChainID uint64       `json:"evm_chain_id,omitempty"`
	// BitcoinNetwork is a Bitcoin chain's network: mainnet, testnet4,
	// signet or regtest. It picks the address encoding (AddressText).
	BitcoinNetwork string   `json:"bitcoin_network,omitempty"`
	Policy         Policy   `json:"policy"`
	Assets         []*Asset `json:"assets"`
}

// AddressNet is the encoding the chain writes Bitcoin addresses in
// (mainnet for every other family, where it does not matter).
func (c *Chain) AddressNet() chain.Network {
	n, _ := chain.ParseNetwork(c.BitcoinNetwork)
	return n
}

// AddressText writes an address as the chain writes it: EIP-55 on EVM,
// the network's encoding on Bitcoin.
func (c *Chain) AddressText(a chain.Address) string { return a.Text(c.AddressNet()) }

// Config is the whole set of chains.
type Config struct {
	Chains []*Chain `json:"chains"`

	byID       map[chain.ID]*Chain
	byContract map[string]*Asset // chain + 0 + canonical contract bytes
	byTokenID  map[string]*Asset // chain + 0 + TRC10 id
	byCurrency map[string]*Asset // chain + 0 + upper-case currency
	byCode     map[string]*Asset
}

// Errors of this package.
var (
	ErrUnknownChain    = errors.New("assets: unknown chain")
	ErrUnknownCurrency = errors.New("assets: unknown currency")
)

// Chain returns a chain by id.
func (c *Config) Chain(id chain.ID) (*Chain, error) {
	ch, ok := c.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownChain, id)
	}
	return ch, nil
}

// Token returns the asset of a token contract on a chain.
func (c *Config) Token(id chain.ID, contract chain.Address) (*Asset, bool) {
	a, ok := c.byContract[string(id)+"\x00"+contract.Raw()]
	return a, ok
}

// NativeAsset returns the chain's native coin.
func (c *Config) NativeAsset(id chain.ID) (*Asset, bool) {
	ch, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	for _, a := range ch.Assets {
		if a.Native() {
			return a, true
		}
	}
	return nil, false
}

// ForTransfer returns the asset a transfer moves, if Inflow supports it.
func (c *Config) ForTransfer(id chain.ID, t *chain.Transfer) (*Asset, bool) {
	switch t.Kind {
	case chain.KindNative:
		return c.NativeAsset(id)
	case chain.KindTRC10:
		a, ok := c.byTokenID[string(id)+"\x00"+t.Asset]
		return a, ok
	}
	return c.Token(id, t.Token)
}

// Currency returns the asset with a currency (USDT) on a chain.
func (c *Config) Currency(id chain.ID, currency string) (*Asset, error) {
	if _, err := c.Chain(id); err != nil {
		return nil, err
	}
	a, ok := c.byCurrency[string(id)+"\x00"+strings.ToUpper(currency)]
	if !ok {
		return nil, fmt.Errorf("%w: %q on %s", ErrUnknownCurrency, currency, id)
	}
	return a, nil
}

// Code returns the asset a channel currency code (eUSDT, BNB…) names.
func (c *Config) Code(code string) (*Asset, error) {
	a, ok := c.byCode[code]
	if !ok {
		return nil, fmt.Errorf("%w: code %q", ErrUnknownCurrency, code)
	}
	return a, nil
}

// ChainsOf lists the chains of a family.
func (c *Config) ChainsOf(f chain.Family) []*Chain {
	var out []*Chain
	for _, ch := range c.Chains {
		if ch.Family == f {
			out = append(out, ch)
		}
	}
	return out
}

// index validates the configuration and builds the lookups.
func (c *Config) index() error {
	c.byID = map[chain.ID]*Chain{}
	c.byContract = map[string]*Asset{}
	c.byTokenID = map[string]*Asset{}
	c.byCurrency = map[string]*Asset{}
	c.byCode = map[string]*Asset{}
	for _, ch := range c.Chains {
		if _, err := chain.ParseID(string(ch.ID)); err != nil {
			return err
		}
		if _, dup := c.byID[ch.ID]; dup {
			return fmt.Errorf("assets: chain %s defined twice", ch.ID)
		}
		if !ch.Family.Valid() {
			return fmt.Errorf("assets: chain %s: unknown family", ch.ID)
		}
		if ch.BitcoinNetwork != "" && ch.Family != chain.FamilyBitcoin {
			return fmt.Errorf("assets: chain %s: bitcoin_network on a %s chain", ch.ID, ch.Family)
		}
		if ch.Family == chain.FamilyBitcoin {
			if ch.BitcoinNetwork == "" {
				return fmt.Errorf("assets: chain %s: bitcoin_network is required (mainnet, testnet4, signet or regtest)", ch.ID)
			}
			if _, err := chain.ParseNetwork(ch.BitcoinNetwork); err != nil {
				return fmt.Errorf("assets: chain %s: %w", ch.ID, err)
			}
		}
		p := ch.Policy
		if p.CreditDepth < 1 {
			return fmt.Errorf("assets: chain %s: credit depth must be at least 1", ch.ID)
		}
		switch p.Finality {
		case FinalityTag, FinalityNone:
		case FinalityDepth:
			if p.FinalityDepth < p.CreditDepth {
				return fmt.Errorf("assets: chain %s: finality depth %d below credit depth %d", ch.ID, p.FinalityDepth, p.CreditDepth)
			}
		default:
			return fmt.Errorf("assets: chain %s: finality source %q (want tag, depth or none)", ch.ID, p.Finality)
		}
		if p.MaxReorgDepth < 1 || p.MaxReorgDepth > 1000 {
			return fmt.Errorf("assets: chain %s: max reorg depth %d outside 1..1000", ch.ID, p.MaxReorgDepth)
		}
		c.byID[ch.ID] = ch
		natives := 0
		for _, a := range ch.Assets {
			a.Chain = ch.ID
			a.Currency = strings.ToUpper(a.Currency)
			if a.Currency == "" {
				return fmt.Errorf("assets: chain %s: asset without currency", ch.ID)
			}
			if a.Decimals > 77 {
				return fmt.Errorf("assets: %s on %s: %d decimals", a.Currency, ch.ID, a.Decimals)
			}
			switch {
			case a.TokenID != "":
				if ch.Family != chain.FamilyTron || a.Contract != "" {
					return fmt.Errorf("assets: %s on %s: token_id is a Tron TRC10 asset's, without a contract", a.Currency, ch.ID)
				}
				if strings.Trim(a.TokenID, "0123456789") != "" || len(a.TokenID) > 20 {
					return fmt.Errorf("assets: %s on %s: TRC10 id %q is not a number", a.Currency, ch.ID, a.TokenID)
				}
				a.Kind = chain.KindTRC10
				k := string(ch.ID) + "\x00" + a.TokenID
				if _, dup := c.byTokenID[k]; dup {
					return fmt.Errorf("assets: TRC10 %s on %s listed twice", a.TokenID, ch.ID)
				}
				c.byTokenID[k] = a
			case a.Native():
				natives++
				a.Kind = chain.KindNative
			default:
				addr, err := chain.ParseAddress(ch.Family, a.Contract)
				if err != nil {
					return fmt.Errorf("assets: %s on %s: contract: %w", a.Currency, ch.ID, err)
				}
				a.contract = addr
				a.Kind = tokenKind(ch.Family)
				k := string(ch.ID) + "\x00" + addr.Raw()
				if _, dup := c.byContract[k]; dup {
					return fmt.Errorf("assets: contract %s on %s listed twice", a.Contract, ch.ID)
				}
				c.byContract[k] = a
			}
			ck := string(ch.ID) + "\x00" + a.Currency
			if _, dup := c.byCurrency[ck]; dup {
				return fmt.Errorf("assets: currency %s on %s listed twice", a.Currency, ch.ID)
			}
			c.byCurrency[ck] = a
			for _, code := range a.Codes {
				if prev, dup := c.byCode[code]; dup {
					return fmt.Errorf("assets: code %s names both %s on %s and %s on %s", code, prev.Currency, prev.Chain, a.Currency, ch.ID)
				}
				c.byCode[code] = a
			}
		}
		if natives != 1 {
			return fmt.Errorf("assets: chain %s has %d native assets, want 1", ch.ID, natives)
		}
	}
	return nil
}

func tokenKind(f chain.Family) chain.Kind {
	switch f {
	case chain.FamilyTron:
		return chain.KindTRC20
	case chain.FamilySolana:
		return chain.KindSPL
	}
	return chain.KindERC20
}

// Load reads an operator file and merges it over the defaults: a chain with
// a known id replaces the default's policy where set and adds or replaces
// assets by currency; an unknown id adds a chain.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	defer f.Close()
	return Merge(Default(), f)
}

// LoadOrDefault is Load for a path that may be empty: no file means the
// built-in table.
func LoadOrDefault(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	return Load(path)
}

// Merge applies the JSON document in r over base.
func Merge(base *Config, r io.Reader) (*Config, error) {
	var over Config
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&over); err != nil {
		return nil, fmt.Errorf("assets: parse: %w", err)
	}
	out := &Config{}
	byID := map[chain.ID]*Chain{}
	for _, ch := range base.Chains {
		cp := *ch
		cp.Assets = append([]*Asset(nil), ch.Assets...)
		out.Chains = append(out.Chains, &cp)
		byID[cp.ID] = &cp
	}
	for _, oc := range over.Chains {
		cur, ok := byID[oc.ID]
		if !ok {
			out.Chains = append(out.Chains, oc)
			byID[oc.ID] = oc
			continue
		}
		if oc.Policy.CreditDepth != 0 {
			cur.Policy.CreditDepth = oc.Policy.CreditDepth
		}
		if oc.Policy.Finality != "" {
			cur.Policy.Finality = oc.Policy.Finality
		}
		if oc.Policy.FinalityDepth != 0 {
			cur.Policy.FinalityDepth = oc.Policy.FinalityDepth
		}
		if oc.Policy.MaxReorgDepth != 0 {
			cur.Policy.MaxReorgDepth = oc.Policy.MaxReorgDepth
		}
		for _, oa := range oc.Assets {
			replaced := false
			for i, a := range cur.Assets {
				if strings.EqualFold(a.Currency, oa.Currency) {
					cur.Assets[i] = oa
					replaced = true
				}
			}
			if !replaced {
				cur.Assets = append(cur.Assets, oa)
			}
		}
	}
	if err := out.index(); err != nil {
		return nil, err
	}
	return out, nil
}
