package evm

import (
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/devnet"
)

var _ devnet.Chain = (*Devnet)(nil)

// ID is the devnet's chain id.
func (d *Devnet) ID() chain.ID { return ChainID }

// Currencies are ETH and the devnet's tokens.
func (d *Devnet) Currencies() []string {
	out := []string{"ETH"}
	for _, t := range Tokens {
		out = append(out, t.Symbol)
	}
	return out
}

// Transfer sends amount (a decimal in currency units) of ETH, USDT or DAI to
// to, an EIP-55 or lower-case address, and returns the transaction hash.
func (d *Devnet) Transfer(to, currency, amount string) (string, error) {
	a, err := chain.ParseAddress(chain.FamilyEVM, to)
	if err != nil {
		return "", fmt.Errorf("%w: to: %v", devnet.ErrBadAddress, err)
	}
	dec, cur := uint8(18), "ETH"
	if !strings.EqualFold(currency, "ETH") {
		tok, ok := TokenBySymbol(currency)
		if !ok {
			return "", fmt.Errorf("%w %q (%s)", devnet.ErrBadCurrency, currency, strings.Join(d.Currencies(), ", "))
		}
		dec, cur = tok.Decimals, tok.Symbol
	}
	amt, err := devnet.ParseAmount(amount, dec)
	if err != nil {
		return "", err
	}
	v, _ := uint256.FromBig(amt.Big())
	h, err := d.Send(common.BytesToAddress(a.Bytes()), cur, v)
	if err != nil {
		return "", err
	}
	return h.Hex(), nil
}

// TransferFailing sends a USDT transfer to to that reverts in its block:
// more than the sender holds. Its gas is paid; nothing moves and no
// Transfer log is written, so it credits nothing. It returns the
// transaction hash.
func (d *Devnet) TransferFailing(to string) (string, error) {
	a, err := chain.ParseAddress(chain.FamilyEVM, to)
	if err != nil {
		return "", fmt.Errorf("%w: to: %v", devnet.ErrBadAddress, err)
	}
	h, err := d.Send(common.BytesToAddress(a.Bytes()), "USDT", new(uint256.Int).Lsh(uint256.NewInt(1), 255))
	if err != nil {
		return "", err
	}
	return h.Hex(), nil
}
