package descriptor

import (
	"fmt"
	"strings"
)

// The descriptor checksum of BIP380: a BCH code over the descriptor's
// characters in groups, eight characters of bech32's alphabet after '#'.

const (
	inputCharset    = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
	checksumCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
)

func descPolymod(c uint64, v int) uint64 {
	c0 := c >> 35
	c = (c&0x7ffffffff)<<5 ^ uint64(v)
	for i, g := range []uint64{0xf5dee51989, 0xa9fdca3312, 0x1bab10e32d, 0x3706b1677a, 0x644d626ffd} {
		if (c0>>i)&1 == 1 {
			c ^= g
		}
	}
	return c
}

// checksumState runs the polymod over a descriptor (without its checksum).
func checksumState(s string) (uint64, error) {
	c := uint64(1)
	cls, clsCount := 0, 0
	for i := 0; i < len(s); i++ {
		pos := strings.IndexByte(inputCharset, s[i])
		if pos < 0 {
			return 0, fmt.Errorf("%w: character %q at %d is not allowed in a descriptor", ErrSyntax, s[i], i)
		}
		c = descPolymod(c, pos&31)
		cls = cls*3 + pos>>5
		if clsCount++; clsCount == 3 {
			c = descPolymod(c, cls)
			cls, clsCount = 0, 0
		}
	}
	if clsCount > 0 {
		c = descPolymod(c, cls)
	}
	return c, nil
}

// Checksum returns the 8-character checksum of a descriptor.
func Checksum(s string) (string, error) {
	c, err := checksumState(s)
	if err != nil {
		return "", err
	}
	for range 8 {
		c = descPolymod(c, 0)
	}
	c ^= 1
	out := make([]byte, 8)
	for j := range out {
		out[j] = checksumCharset[(c>>(5*(7-j)))&31]
	}
	return string(out), nil
}

// VerifyChecksum checks a descriptor's checksum.
func VerifyChecksum(s, sum string) error {
	want, err := Checksum(s)
	if err != nil {
		return err
	}
	if sum != want {
		return fmt.Errorf("%w: #%s, the descriptor's is #%s", ErrChecksum, sum, want)
	}
	return nil
}
