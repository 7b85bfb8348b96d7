package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
	"golang.org/x/crypto/sha3"
)

// Address is an address in its family's canonical byte form. The zero Address
// is "no address" (a contract creation's recipient, a coinbase's sender).
// Address is comparable and may be used as a map key.
type Address struct {
	fam Family
	raw string
}

// Address sizes per family. Bitcoin addresses are output scripts and vary.
const (
	EVMAddressLen    = 20
	TronAddressLen   = 21
	SolanaAddressLen = 32
	tronPrefix       = 0x41
)

// NewAddress wraps canonical bytes, checking their shape for the family.
func NewAddress(fam Family, b []byte) (Address, error) {
	switch fam {
	case FamilyEVM:
		if len(b) != EVMAddressLen {
			return Address{}, fmt.Errorf("%w: evm address has %d bytes, want 20", ErrBadAddress, len(b))
		}
	case FamilyTron:
		if len(b) != TronAddressLen || b[0] != tronPrefix {
			return Address{}, fmt.Errorf("%w: tron address must be 21 bytes starting with 0x41", ErrBadAddress)
		}
	case FamilySolana:
		if len(b) != SolanaAddressLen {
			return Address{}, fmt.Errorf("%w: solana address has %d bytes, want 32", ErrBadAddress, len(b))
		}
	case FamilyBitcoin:
		if len(b) == 0 || len(b) > 10000 {
			return Address{}, fmt.Errorf("%w: bitcoin output script of %d bytes", ErrBadAddress, len(b))
		}
	default:
		return Address{}, fmt.Errorf("%w: %d", ErrUnknownFamily, uint8(fam))
	}
	return Address{fam: fam, raw: string(b)}, nil
}

// MustAddress is NewAddress for constants and tests; it panics on bad input.
func MustAddress(fam Family, b []byte) Address {
	a, err := NewAddress(fam, b)
	if err != nil {
		panic(err)
	}
	return a
}

// EVMAddress makes an EVM address from its 20 bytes.
func EVMAddress(b [20]byte) Address { return Address{fam: FamilyEVM, raw: string(b[:])} }

// Family returns the address's protocol family.
func (a Address) Family() Family { return a.fam }

// IsZero reports whether a is the zero Address ("no address").
func (a Address) IsZero() bool { return a.fam == FamilyUnknown }

// Bytes returns the canonical bytes. The caller must not modify them.
func (a Address) Bytes() []byte { return []byte(a.raw) }

// Raw returns the canonical bytes as a string, without copying.
func (a Address) Raw() string { return a.raw }

// Key is family byte followed by the canonical bytes: the key of the address
// topic and of the matcher's exact set.
func (a Address) Key() []byte {
	k := make([]byte, 1+len(a.raw))
	k[0] = byte(a.fam)
	copy(k[1:], a.raw)
	return k
}

// AddressFromKey is the inverse of Address.Key.
func AddressFromKey(k []byte) (Address, error) {
	if len(k) < 2 {
		return Address{}, fmt.Errorf("%w: key of %d bytes", ErrBadAddress, len(k))
	}
	return NewAddress(Family(k[0]), k[1:])
}

// Equal reports whether two addresses are the same.
func (a Address) Equal(b Address) bool { return a == b }

// String formats the address the way its family writes it: lowercase 0x-hex
// for EVM, base58check "T…" for Tron, base58 for Solana, and the mainnet
// address (or script:<hex>) for Bitcoin. Where the network is known, Text
// writes a Bitcoin address in its encoding.
func (a Address) String() string {
	switch a.fam {
	case FamilyEVM:
		return "0x" + hex.EncodeToString([]byte(a.raw))
	case FamilyTron:
		return base58Check([]byte(a.raw))
	case FamilySolana:
		return base58.Encode([]byte(a.raw))
	case FamilyBitcoin:
		return FormatBitcoin([]byte(a.raw), NetworkMainnet)
	}
	return ""
}

// Checksummed returns the EIP-55 form of an EVM address, and String otherwise.
func (a Address) Checksummed() string {
	if a.fam != FamilyEVM {
		return a.String()
	}
	return eip55([]byte(a.raw))
}

// MarshalText implements encoding.TextMarshaler.
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// ParseAddress parses an address written in its family's usual text form.
//
//   - EVM: 0x followed by 40 hex digits. Mixed case must pass EIP-55; all lower
//     or all upper case is accepted as is.
//   - Tron: base58check "T…" or 21-byte hex starting with 41.
//   - Solana: base58 of 32 bytes.
//   - Bitcoin: any address of any network (base58check P2PKH and P2SH,
//     bech32 P2WPKH and P2WSH, bech32m P2TR), or an output script as hex
//     prefixed with "script:"; see ParseBitcoinAddress.
func ParseAddress(fam Family, s string) (Address, error) {
	if t := strings.TrimSpace(s); t != s {
		return Address{}, fmt.Errorf("%w: %q has spaces around it", ErrBadAddress, s)
	}
	switch fam {
	case FamilyEVM:
		return parseEVM(s)
	case FamilyTron:
		return parseTron(s)
	case FamilySolana:
		b, err := base58.Decode(s)
		if err != nil || len(b) != SolanaAddressLen {
			return Address{}, fmt.Errorf("%w: %q is not a base58 Solana address", ErrBadAddress, s)
		}
		return Address{fam: fam, raw: string(b)}, nil
	case FamilyBitcoin:
		a, _, err := ParseBitcoinAddress(s)
		return a, err
	}
	return Address{}, fmt.Errorf("%w: %d", ErrUnknownFamily, uint8(fam))
}

func parseEVM(s string) (Address, error) {
	if len(s) != 42 || (s[:2] != "0x" && s[:2] != "0X") {
		return Address{}, fmt.Errorf("%w: %q is not 0x followed by 40 hex digits", ErrBadAddress, s)
	}
	body := s[2:]
	b, err := hex.DecodeString(body)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %q is not hex", ErrBadAddress, s)
	}
	if body != strings.ToLower(body) && body != strings.ToUpper(body) {
		if want := eip55(b); want[2:] != body {
			return Address{}, fmt.Errorf("%w: %q (want %s)", ErrChecksum, s, want)
		}
	}
	return Address{fam: FamilyEVM, raw: string(b)}, nil
}

// eip55 returns the mixed-case checksum encoding of a 20-byte address.
func eip55(b []byte) string {
	lower := hex.EncodeToString(b)
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte(lower))
	sum := h.Sum(nil)
	out := []byte("0x" + lower)
	for i := 0; i < len(lower); i++ {
		c := lower[i]
		if c < 'a' {
			continue
		}
		nib := sum[i/2]
		if i%2 == 0 {
			nib >>= 4
		}
		if nib&0xf >= 8 {
			out[2+i] = c - 'a' + 'A'
		}
	}
	return string(out)
}

func parseTron(s string) (Address, error) {
	if len(s) == 42 && strings.HasPrefix(s, "41") {
		b, err := hex.DecodeString(s)
		if err == nil {
			return NewAddress(FamilyTron, b)
		}
	}
	b, err := decodeBase58Check(s)
	if err != nil || len(b) != TronAddressLen || b[0] != tronPrefix {
		return Address{}, fmt.Errorf("%w: %q is not a Tron address", ErrBadAddress, s)
	}
	return Address{fam: FamilyTron, raw: string(b)}, nil
}

// Bitcoin base58 version bytes: mainnet and testnet/regtest P2PKH and P2SH.
const (
	btcP2PKHMain, btcP2SHMain = 0x00, 0x05
	btcP2PKHTest, btcP2SHTest = 0x6f, 0xc4
)

func base58Check(payload []byte) string {
	sum := doubleSHA256(payload)
	return base58.Encode(append(append([]byte(nil), payload...), sum[:4]...))
}

func decodeBase58Check(s string) ([]byte, error) {
	b, err := base58.Decode(s)
	if err != nil {
		return nil, err
	}
	if len(b) < 5 {
		return nil, fmt.Errorf("too short")
	}
	payload, check := b[:len(b)-4], b[len(b)-4:]
	sum := doubleSHA256(payload)
	if !bytes.Equal(sum[:4], check) {
		return nil, fmt.Errorf("bad checksum")
	}
	return payload, nil
}

func doubleSHA256(b []byte) [32]byte {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}
