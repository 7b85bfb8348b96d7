// Package payuri writes the payment URI a wallet opens for paying an amount
// of an asset to an address, per family, and its QR code:
//
//   - Bitcoin: BIP21, bitcoin:<address>?amount=<BTC>;
//   - EVM: EIP-681, ethereum:<address>@<chain id>?value=<wei> for the
//     native coin, ethereum:<token>@<chain id>/transfer?address=<to>&uint256=<base units>
//     for a token;
//   - Solana: Solana Pay, solana:<owner>?amount=<units>[&spl-token=<mint>];
//   - Tron: the plain address (Tron has no URI standard).
//
// An empty amount (an open-amount request) leaves the amount out. Amounts
// are checked against the asset's decimals: a URI never names an amount
// the chain cannot carry.
package payuri

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
)

// ErrAmount is an amount that is not a non-negative decimal within the
// asset's decimals.
var ErrAmount = errors.New("payuri: bad amount")

// URI is the payment URI for amount (a decimal in currency units, or "")
// of asset on spec to address (as the chain writes it).
func URI(spec *assets.Chain, asset *assets.Asset, address, amount string) (string, error) {
	var units chain.Amount
	if amount != "" {
		v, err := chain.ParseDecimal(amount, asset.Decimals)
		if err != nil {
			return "", fmt.Errorf("%w: %q for %s with %d decimals: %v", ErrAmount, amount, asset.Currency, asset.Decimals, err)
		}
		units = v
	}
	q := url.Values{}
	switch spec.Family {
	case chain.FamilyBitcoin:
		if amount != "" {
			q.Set("amount", units.Decimal(asset.Decimals))
		}
		return withQuery("bitcoin:"+address, q), nil
	case chain.FamilyEVM:
		if spec.EVMChainID == 0 {
			return "", fmt.Errorf("payuri: chain %s has no EVM chain id", spec.ID)
		}
		at := "@" + strconv.FormatUint(spec.EVMChainID, 10)
		if asset.Native() {
			if amount != "" {
				q.Set("value", units.String())
			}
			return withQuery("ethereum:"+address+at, q), nil
		}
		// address first, as EIP-681's examples write it.
		s := "ethereum:" + spec.AddressText(asset.ContractAddress()) + at + "/transfer?address=" + address
		if amount != "" {
			s += "&uint256=" + units.String()
		}
		return s, nil
	case chain.FamilySolana:
		if amount != "" {
			q.Set("amount", units.Decimal(asset.Decimals))
		}
		if !asset.Native() {
			q.Set("spl-token", asset.Contract)
		}
		return withQuery("solana:"+address, q), nil
	case chain.FamilyTron:
		return address, nil
	}
	return "", fmt.Errorf("payuri: family %s", spec.Family)
}

// withQuery appends q in a fixed order (url.Values encodes sorted keys).
func withQuery(s string, q url.Values) string {
	if len(q) == 0 {
		return s
	}
	return s + "?" + q.Encode()
}

// QR is the PNG of a QR code of content, size pixels square, at medium
// error correction (15% of the code may be lost).
func QR(content string, size int) ([]byte, error) {
	if size < 64 || size > 1024 {
		return nil, fmt.Errorf("payuri: QR size %d outside 64..1024", size)
	}
	return qrcode.Encode(content, qrcode.Medium, size)
}
