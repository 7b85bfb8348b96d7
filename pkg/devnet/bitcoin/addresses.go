package bitcoin

import (
	"fmt"
	"strconv"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/inflowhq/inflow/pkg/devnet"
)

var _ devnet.Chain = (*Devnet)(nil)

// AddressTypes are the address types DevAddresses cycles through.
var AddressTypes = []string{"p2wpkh", "p2tr", "p2sh-p2wpkh", "p2pkh"}

// DevAddress is the i-th dev deposit address, of type AddressTypes[i % 4],
// in regtest form, from a deterministic key (so a restart finds the same
// ones). Nobody needs to spend from them.
func DevAddress(i int) string {
	key := keyFor("inflow-dev-bitcoin-address-" + strconv.Itoa(i))
	pub := key.PubKey()
	h := address.Hash160(pub.SerializeCompressed())
	params := &chaincfg.RegressionNetParams
	var a address.Address
	var err error
	switch AddressTypes[i%len(AddressTypes)] {
	case "p2wpkh":
		a, err = address.NewAddressWitnessPubKeyHash(h, params)
	case "p2tr":
		a, err = address.NewAddressTaproot(txscript.ComputeTaprootKeyNoScript(pub).SerializeCompressed()[1:], params)
	case "p2sh-p2wpkh":
		redeem := append([]byte{0x00, 0x14}, h...)
		a, err = address.NewAddressScriptHash(redeem, params)
	case "p2pkh":
		a, err = address.NewAddressPubKeyHash(h, params)
	}
	if err != nil {
		panic(fmt.Sprintf("dev address %d: %v", i, err))
	}
	return a.EncodeAddress()
}

// DevAddresses are the first n dev deposit addresses.
func DevAddresses(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = DevAddress(i)
	}
	return out
}
