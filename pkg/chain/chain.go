package chain

import (
	"errors"
	"fmt"
	"regexp"
)

// Family is a protocol family: chains of one family share an address space.
type Family uint8

// The protocol families. The numeric values are part of the record formats
// (events, the address topic, Pebble keys) and must never change.
const (
	FamilyUnknown Family = 0
	FamilyEVM     Family = 1
	FamilyTron    Family = 2
	FamilySolana  Family = 3
	FamilyBitcoin Family = 4
)

var familyNames = [...]string{"", "evm", "tron", "solana", "bitcoin"}

// Families lists every known family.
func Families() []Family { return []Family{FamilyEVM, FamilyTron, FamilySolana, FamilyBitcoin} }

func (f Family) String() string {
	if int(f) < len(familyNames) && f != FamilyUnknown {
		return familyNames[f]
	}
	return fmt.Sprintf("family(%d)", uint8(f))
}

// Valid reports whether f is a known family.
func (f Family) Valid() bool { return f >= FamilyEVM && f <= FamilyBitcoin }

// ParseFamily parses a family name such as "evm".
func ParseFamily(s string) (Family, error) {
	for i, n := range familyNames {
		if n != "" && n == s {
			return Family(i), nil
		}
	}
	return FamilyUnknown, fmt.Errorf("%w: %q", ErrUnknownFamily, s)
}

// MarshalText implements encoding.TextMarshaler.
func (f Family) MarshalText() ([]byte, error) {
	if !f.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownFamily, uint8(f))
	}
	return []byte(f.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *Family) UnmarshalText(b []byte) error {
	v, err := ParseFamily(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// ID is a chain id: a lowercase slug such as "ethereum", "ethereum-sepolia" or
// "evm-devnet".
type ID string

var idPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// ParseID validates a chain id slug.
func ParseID(s string) (ID, error) {
	if len(s) == 0 || len(s) > 64 || !idPattern.MatchString(s) {
		return "", fmt.Errorf("%w: %q (want a lowercase slug like \"ethereum-sepolia\")", ErrBadChainID, s)
	}
	return ID(s), nil
}

// Topic is the Kafka topic of the chain's events.
func (id ID) Topic() string { return "inflow.chain." + string(id) }

// Errors of this package.
var (
	ErrUnknownFamily = errors.New("chain: unknown protocol family")
	ErrBadChainID    = errors.New("chain: bad chain id")
	ErrBadAddress    = errors.New("chain: bad address")
	ErrChecksum      = errors.New("chain: bad EIP-55 checksum")
	ErrBadAmount     = errors.New("chain: bad amount")
)
