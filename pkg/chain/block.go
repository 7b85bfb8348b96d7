package chain

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
)

// Hash is a 32-byte block hash. All four families use 32-byte block hashes
// (Bitcoin's in display byte order, as its RPC writes it).
type Hash [32]byte

// ParseHash parses a hex hash with or without 0x.
func ParseHash(s string) (Hash, error) {
	var h Hash
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 64 {
		return h, fmt.Errorf("chain: hash %q is not 32 bytes of hex", s)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("chain: hash %q: %w", s, err)
	}
	return h, nil
}

// Hex is the 0x-prefixed lowercase hex form.
func (h Hash) Hex() string { return "0x" + hex.EncodeToString(h[:]) }

// Format writes the hash as the family writes block hashes.
func (h Hash) Format(fam Family) string { return FormatHash(fam, h[:]) }

// IsZero reports whether h is all zeroes.
func (h Hash) IsZero() bool { return h == Hash{} }

func (h Hash) String() string { return h.Hex() }

// FormatHash writes a block or transaction hash the way the family does:
// 0x-hex for EVM, plain hex for Tron and Bitcoin, base58 for Solana.
func FormatHash(fam Family, b []byte) string {
	switch fam {
	case FamilyEVM:
		return "0x" + hex.EncodeToString(b)
	case FamilySolana:
		return base58.Encode(b)
	default:
		return hex.EncodeToString(b)
	}
}

// BlockRef names one block: its number (height or slot), hash, parent hash and
// time. Numbers are not contiguous on every chain: Solana skips slots, so
// Parent is what links a block to its predecessor.
type BlockRef struct {
	Number uint64
	Hash   Hash
	Parent Hash
	Time   int64 // unix seconds, as the block header says
}

func (b BlockRef) String() string { return fmt.Sprintf("#%d %s", b.Number, b.Hash.Hex()) }

// Kind is the kind of a transfer.
type Kind uint8

// Transfer kinds. Numeric values are part of the record format.
const (
	KindNative Kind = 1 // the chain's own coin: ETH, BNB, POL, TRX, SOL, BTC…
	KindERC20  Kind = 2
	KindTRC20  Kind = 3
	KindSPL    Kind = 4
	KindTRC10  Kind = 5 // a Tron TRC10 asset, named by Transfer.Asset
)

var kindNames = [...]string{"", "native", "erc20", "trc20", "spl", "trc10"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k >= KindNative && k <= KindTRC10 }

// IsToken reports whether the transfer moves a token rather than the native coin.
func (k Kind) IsToken() bool { return k.Valid() && k != KindNative }

// IndexNative is the Index of an EVM or Tron native transfer: the top-level
// value of a transaction, which no log index can collide with. A Tron
// TRC10 transfer of a transaction's own contract uses it too (a Tron
// transaction has one contract).
const IndexNative = ^uint32(0)

// IndexInternal is the first Index of a Tron transaction's internal
// transfers: the i-th of its internal transactions is IndexInternal+i,
// above every log index.
const IndexInternal = uint32(1) << 31

// Transfer is one movement of value into an address, as found in a block.
type Transfer struct {
	TxHash []byte  // transaction hash (Solana: the 64-byte signature)
	Index  uint32  // position inside the block or transaction, see the package doc
	Kind   Kind    // native or a token standard
	Token  Address // the token contract or mint; zero for native transfers
	From   Address // the sender; zero where the chain has none (coinbase, multi-input)
	To     Address // the recipient: what the matcher looks up
	Value  Amount  // base units

	// AddressID is the matcher's id of To; 0 when the transfer was not matched.
	AddressID uint64

	// Maturity is the confirmations the transfer needs before it can be
	// spent, and so credited: 100 for a Bitcoin coinbase output, 0 for
	// anything else.
	Maturity uint32

	// Asset names the token of a transfer whose token has no address: a
	// TRC10 asset id ("1002000"). Empty otherwise.
	Asset string

	// TokenAccount is the account an SPL token deposit landed in (Solana):
	// To is its owner, the watched address. Zero otherwise.
	TokenAccount Address
}

// SolanaIndex is the Index of a Solana instruction: outer is its place
// among the transaction's instructions; inner, 1-based, its place among
// that instruction's inner instructions (0 for the instruction itself).
func SolanaIndex(outer, inner int) uint32 { return uint32(outer)<<16 | uint32(inner) }

// SolanaPosition writes a Solana Index as "3" or, for an inner
// instruction, "3.1".
func SolanaPosition(index uint32) string {
	if inner := index & 0xffff; inner != 0 {
		return fmt.Sprintf("%d.%d", index>>16, inner)
	}
	return fmt.Sprint(index >> 16)
}

// CoinbaseMaturity is the confirmations a Bitcoin coinbase output needs
// before it can be spent.
const CoinbaseMaturity = 100

// Block is one block's reference and the transfers found in it, in block
// order. Before matching it holds every transfer; after, only matched ones.
type Block struct {
	Ref       BlockRef
	TxCount   int
	Transfers []Transfer
}

// MarshalText writes the hash as 0x-hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.Hex()), nil }

// UnmarshalText reads 0x-hex.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}
