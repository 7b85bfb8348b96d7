package chain

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/holiman/uint256"
)

// Amount is a non-negative integer in base units (wei, sun, lamports,
// satoshis, token units), up to 2^256-1. The zero value is 0.
type Amount struct{ v uint256.Int }

// AmountFromUint64 returns n base units.
func AmountFromUint64(n uint64) Amount {
	var a Amount
	a.v.SetUint64(n)
	return a
}

// AmountFromBytes reads a big-endian unsigned integer of at most 32 bytes.
func AmountFromBytes(b []byte) (Amount, error) {
	if len(b) > 32 {
		return Amount{}, fmt.Errorf("%w: %d bytes exceed 256 bits", ErrBadAmount, len(b))
	}
	var a Amount
	a.v.SetBytes(b)
	return a, nil
}

// AmountFromBig converts a non-negative big.Int of at most 256 bits.
func AmountFromBig(b *big.Int) (Amount, error) {
	var a Amount
	if b.Sign() < 0 {
		return Amount{}, fmt.Errorf("%w: negative", ErrBadAmount)
	}
	if overflow := a.v.SetFromBig(b); overflow {
		return Amount{}, fmt.Errorf("%w: exceeds 256 bits", ErrBadAmount)
	}
	return a, nil
}

// ParseAmount parses a base-10 integer of base units.
func ParseAmount(s string) (Amount, error) {
	var a Amount
	if s == "" || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		return Amount{}, fmt.Errorf("%w: %q", ErrBadAmount, s)
	}
	if err := a.v.SetFromDecimal(s); err != nil {
		return Amount{}, fmt.Errorf("%w: %q: %v", ErrBadAmount, s, err)
	}
	return a, nil
}

// ParseHexAmount parses a 0x-prefixed hex quantity.
func ParseHexAmount(s string) (Amount, error) {
	var a Amount
	if err := a.v.SetFromHex(s); err != nil {
		return Amount{}, fmt.Errorf("%w: %q: %v", ErrBadAmount, s, err)
	}
	return a, nil
}

// String is the base-10 form.
func (a Amount) String() string { return a.v.Dec() }

// IsZero reports whether the amount is 0.
func (a Amount) IsZero() bool { return a.v.IsZero() }

// Cmp compares a and b: -1, 0 or +1.
func (a Amount) Cmp(b Amount) int { return a.v.Cmp(&b.v) }

// Add returns a+b, and false if the sum overflows 256 bits.
func (a Amount) Add(b Amount) (Amount, bool) {
	var r Amount
	_, overflow := r.v.AddOverflow(&a.v, &b.v)
	return r, !overflow
}

// Sub returns a-b, and false if b > a.
func (a Amount) Sub(b Amount) (Amount, bool) {
	var r Amount
	_, underflow := r.v.SubOverflow(&a.v, &b.v)
	return r, !underflow
}

// Bytes returns the minimal big-endian encoding (empty for zero).
func (a Amount) Bytes() []byte {
	if a.v.IsZero() {
		return nil
	}
	return a.v.Bytes()
}

// Bytes32 returns the 32-byte big-endian encoding.
func (a Amount) Bytes32() [32]byte { return a.v.Bytes32() }

// Big returns the amount as a big.Int.
func (a Amount) Big() *big.Int { return a.v.ToBig() }

// MarshalText implements encoding.TextMarshaler as a base-10 string.
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.v.Dec()), nil }

// UnmarshalText implements encoding.TextUnmarshaler from a base-10 string.
func (a *Amount) UnmarshalText(b []byte) error {
	v, err := ParseAmount(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Decimal writes the amount in currency units with the given decimals,
// exactly, without trailing zeros: 1500000 with 6 decimals is "1.5".
func (a Amount) Decimal(decimals uint8) string { return FormatDecimal(a.v.Dec(), decimals) }

// FormatDecimal writes a base-10 integer of base units (digits only) in
// currency units with the given decimals, without trailing zeros.
func FormatDecimal(digits string, decimals uint8) string {
	s := digits
	if decimals == 0 {
		return s
	}
	d := int(decimals)
	if len(s) <= d {
		s = strings.Repeat("0", d-len(s)+1) + s
	}
	whole, frac := s[:len(s)-d], strings.TrimRight(s[len(s)-d:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// ParseDecimal reads an amount written in currency units ("1.5") into base
// units with the given decimals. More fractional digits than decimals is an
// error, never a rounding.
func ParseDecimal(s string, decimals uint8) (Amount, error) {
	if s == "" || strings.ContainsAny(s, "+-eE ") {
		return Amount{}, fmt.Errorf("%w: %q", ErrBadAmount, s)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if hasDot && frac == "" || whole == "" {
		return Amount{}, fmt.Errorf("%w: %q", ErrBadAmount, s)
	}
	if len(frac) > int(decimals) {
		return Amount{}, fmt.Errorf("%w: %q has more than %d decimals", ErrBadAmount, s, decimals)
	}
	digits := whole + frac + strings.Repeat("0", int(decimals)-len(frac))
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return Amount{}, nil
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return Amount{}, fmt.Errorf("%w: %q", ErrBadAmount, s)
		}
	}
	return ParseAmount(digits)
}
