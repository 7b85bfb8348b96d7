package chain

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// A Bitcoin address is its output script: that is what the matcher keys on,
// and the same script is the same deposit address on every Bitcoin network.
// Its text form depends on the network, so this file has the three
// encodings Bitcoin's networks use and converts between script and text.

// Network is a Bitcoin network's address encoding. testnet3, testnet4 and
// signet share one; regtest differs from them only in its bech32 prefix.
type Network uint8

// Bitcoin address encodings. The zero value is mainnet.
const (
	NetworkMainnet Network = 0
	NetworkTestnet Network = 1 // testnet3, testnet4, signet
	NetworkRegtest Network = 2
)

type netParams struct {
	name        string
	hrp         string
	p2pkh, p2sh byte
}

var netTable = [...]netParams{
	NetworkMainnet: {"mainnet", "bc", 0x00, 0x05},
	NetworkTestnet: {"testnet", "tb", 0x6f, 0xc4},
	NetworkRegtest: {"regtest", "bcrt", 0x6f, 0xc4},
}

func (n Network) params() netParams {
	if int(n) < len(netTable) {
		return netTable[n]
	}
	return netTable[NetworkMainnet]
}

func (n Network) String() string {
	if int(n) < len(netTable) {
		return netTable[n].name
	}
	return fmt.Sprintf("network(%d)", uint8(n))
}

// Valid reports whether n is a known encoding.
func (n Network) Valid() bool { return int(n) < len(netTable) }

// ParseNetwork reads a Bitcoin network's name: mainnet, testnet (or
// testnet3, testnet4), signet or regtest.
func ParseNetwork(s string) (Network, error) {
	switch s {
	case "mainnet", "main", "":
		return NetworkMainnet, nil
	case "testnet", "testnet3", "testnet4", "signet":
		return NetworkTestnet, nil
	case "regtest":
		return NetworkRegtest, nil
	}
	return 0, fmt.Errorf("chain: unknown bitcoin network %q (want mainnet, testnet4, signet or regtest)", s)
}

// ScriptType names the standard output scripts.
type ScriptType uint8

// Output script types, as bitcoind names them.
const (
	ScriptNonStandard    ScriptType = iota
	ScriptP2PKH                     // pubkeyhash
	ScriptP2SH                      // scripthash
	ScriptP2WPKH                    // witness_v0_keyhash
	ScriptP2WSH                     // witness_v0_scripthash
	ScriptP2TR                      // witness_v1_taproot
	ScriptWitnessUnknown            // a future witness version
	ScriptP2PK                      // pubkey: no address
	ScriptMultisig                  // bare multisig: no address
	ScriptNullData                  // OP_RETURN: unspendable
)

var scriptTypeNames = [...]string{"nonstandard", "pubkeyhash", "scripthash", "witness_v0_keyhash",
	"witness_v0_scripthash", "witness_v1_taproot", "witness_unknown", "pubkey", "multisig", "nulldata"}

func (t ScriptType) String() string {
	if int(t) < len(scriptTypeNames) {
		return scriptTypeNames[t]
	}
	return "nonstandard"
}

// HasAddress reports whether scripts of this type have an address.
func (t ScriptType) HasAddress() bool { return t >= ScriptP2PKH && t <= ScriptWitnessUnknown }

// Depositable reports whether an address of this type can take deposits:
// one a key or script holder can spend today. Future witness versions are
// anyone-can-spend until a soft fork defines them, so they cannot.
func (t ScriptType) Depositable() bool { return t >= ScriptP2PKH && t <= ScriptP2TR }

// ClassifyScript returns an output script's type.
func ClassifyScript(s []byte) ScriptType {
	n := len(s)
	switch {
	case n == 25 && s[0] == 0x76 && s[1] == 0xa9 && s[2] == 0x14 && s[23] == 0x88 && s[24] == 0xac:
		return ScriptP2PKH
	case n == 23 && s[0] == 0xa9 && s[1] == 0x14 && s[22] == 0x87:
		return ScriptP2SH
	case n >= 4 && n <= 42 && (s[0] == 0 || (s[0] >= 0x51 && s[0] <= 0x60)) && int(s[1]) == n-2:
		switch {
		case s[0] == 0 && n == 22:
			return ScriptP2WPKH
		case s[0] == 0 && n == 34:
			return ScriptP2WSH
		case s[0] == 0:
			return ScriptNonStandard // v0 of another length is invalid
		case s[0] == 0x51 && n == 34:
			return ScriptP2TR
		}
		return ScriptWitnessUnknown
	case (n == 35 && s[0] == 33 && (s[1] == 2 || s[1] == 3) || n == 67 && s[0] == 65 && s[1] == 4) && s[n-1] == 0xac:
		return ScriptP2PK
	case n >= 1 && s[0] == 0x6a:
		return ScriptNullData
	case isMultisig(s):
		return ScriptMultisig
	}
	return ScriptNonStandard
}

// isMultisig matches OP_m <pubkey>… OP_n OP_CHECKMULTISIG with 1 ≤ m ≤ n ≤ 16.
func isMultisig(s []byte) bool {
	if len(s) < 37 || s[len(s)-1] != 0xae {
		return false
	}
	m, n := int(s[0])-0x50, int(s[len(s)-2])-0x50
	if m < 1 || n < m || n > 16 {
		return false
	}
	keys := 0
	for i := 1; i < len(s)-2; {
		l := int(s[i])
		if l != 33 && l != 65 || i+1+l > len(s)-2 {
			return false
		}
		i += 1 + l
		keys++
	}
	return keys == n
}

// witnessProgram returns the version and program of a witness script.
func witnessProgram(s []byte) (byte, []byte) {
	v := s[0]
	if v != 0 {
		v -= 0x50
	}
	return v, s[2:]
}

// FormatBitcoin writes an output script as its address on a network, or as
// "script:<hex>" when it has none (P2PK, bare multisig, anything else).
func FormatBitcoin(script []byte, net Network) string {
	if s, ok := BitcoinAddressText(script, net); ok {
		return s
	}
	return "script:" + hex.EncodeToString(script)
}

// BitcoinAddressText writes an output script as its address on a network,
// if it has one.
func BitcoinAddressText(script []byte, net Network) (string, bool) {
	p := net.params()
	switch ClassifyScript(script) {
	case ScriptP2PKH:
		return base58Check(append([]byte{p.p2pkh}, script[3:23]...)), true
	case ScriptP2SH:
		return base58Check(append([]byte{p.p2sh}, script[2:22]...)), true
	case ScriptP2WPKH, ScriptP2WSH, ScriptP2TR, ScriptWitnessUnknown:
		v, prog := witnessProgram(script)
		return encodeSegwit(p.hrp, v, prog), true
	}
	return "", false
}

// ParseBitcoinAddress reads an address of any type on any network, and
// returns its output script and the network its text names. Base58
// addresses of testnet and regtest are alike and come back as testnet.
// "script:<hex>" names a raw output script (for scripts with no address).
// Bech32 addresses in mixed case are refused (BIP173).
func ParseBitcoinAddress(s string) (Address, Network, error) {
	if rest, ok := strings.CutPrefix(s, "script:"); ok {
		b, err := hex.DecodeString(rest)
		if err != nil || len(rest) == 0 {
			return Address{}, 0, fmt.Errorf("%w: %q is not a hex script", ErrBadAddress, s)
		}
		a, err := NewAddress(FamilyBitcoin, b)
		return a, NetworkMainnet, err
	}
	lower := strings.ToLower(s)
	for _, net := range []Network{NetworkRegtest, NetworkMainnet, NetworkTestnet} { // bcrt before bc
		hrp := net.params().hrp
		if !strings.HasPrefix(lower, hrp+"1") {
			continue
		}
		ver, prog, err := decodeSegwit(hrp, s)
		if err != nil {
			return Address{}, 0, fmt.Errorf("%w: %q: %v", ErrBadAddress, s, err)
		}
		op := byte(0)
		if ver > 0 {
			op = 0x50 + ver
		}
		script := append([]byte{op, byte(len(prog))}, prog...)
		return Address{fam: FamilyBitcoin, raw: string(script)}, net, nil
	}
	b, err := decodeBase58Check(s)
	if err != nil || len(b) != 21 {
		return Address{}, 0, fmt.Errorf("%w: %q is not a Bitcoin address (base58check, bech32 or bech32m)", ErrBadAddress, s)
	}
	var script []byte
	var net Network
	switch b[0] {
	case btcP2PKHMain, btcP2PKHTest: // OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG
		script = append(append([]byte{0x76, 0xa9, 0x14}, b[1:]...), 0x88, 0xac)
	case btcP2SHMain, btcP2SHTest: // OP_HASH160 <20> OP_EQUAL
		script = append(append([]byte{0xa9, 0x14}, b[1:]...), 0x87)
	default:
		return Address{}, 0, fmt.Errorf("%w: %q has unknown version byte %#x", ErrBadAddress, s, b[0])
	}
	if b[0] == btcP2PKHTest || b[0] == btcP2SHTest {
		net = NetworkTestnet
	}
	return Address{fam: FamilyBitcoin, raw: string(script)}, net, nil
}

// Text writes the address as a network writes it: Bitcoin addresses in the
// network's encoding, every other family as Checksummed does (net is
// ignored).
func (a Address) Text(net Network) string {
	if a.fam == FamilyBitcoin {
		return FormatBitcoin([]byte(a.raw), net)
	}
	return a.Checksummed()
}
