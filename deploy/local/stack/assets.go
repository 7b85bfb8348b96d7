package stack

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/inflowhq/inflow/pkg/assets"
)

// testnetTokens is the operator file the all-in-one applies over the
// built-in asset table: test tokens on the public testnets the PayIn
// document's examples use (USDT on ethereum-sepolia is the Aave faucet's
// test USDT; on tron-nile, the Nile USDT), so that those examples' currency
// and chain pairs resolve. pkg/assets keeps the issuers' contracts only.
//
//go:embed testnet-tokens.json
var testnetTokens []byte

// TestnetTable is the built-in asset table with testnet-tokens.json over it.
func TestnetTable() (*assets.Config, error) {
	t, err := assets.Merge(assets.Default(), bytes.NewReader(testnetTokens))
	if err != nil {
		return nil, fmt.Errorf("testnet-tokens.json: %w", err)
	}
	return t, nil
}
