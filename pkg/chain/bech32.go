package chain

import (
	"errors"
	"fmt"
	"strings"
)

// Bech32 (BIP173) and bech32m (BIP350), the checksummed base32 of segwit
// addresses. Written here rather than imported: the encoding is forty lines,
// and pkg/ imports no chain SDK. The tests check it against both BIPs'
// vectors and against btcd's implementation.

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

var bech32Rev = func() (t [128]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(bech32Charset); i++ {
		t[bech32Charset[i]] = int8(i)
	}
	return
}()

// bech32Variant is the checksum constant: 1 for bech32, 0x2bc830a3 for
// bech32m.
type bech32Variant uint32

const (
	bech32Plain bech32Variant = 1
	bech32M     bech32Variant = 0x2bc830a3
)

var errBech32 = errors.New("bad bech32")

func bech32Polymod(values []byte, chk uint32) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := 0; i < 5; i++ {
			if (top>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

func bech32HRPExpand(hrp string) []byte {
	out := make([]byte, 0, 2*len(hrp)+1)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]&31)
	}
	return out
}

// bech32Decode splits a bech32 or bech32m string into its human-readable
// part (lower case) and 5-bit data without the checksum, and says which
// variant's checksum it carries.
func bech32Decode(s string) (string, []byte, bech32Variant, error) {
	if len(s) > 90 {
		return "", nil, 0, fmt.Errorf("%w: %d characters (at most 90)", errBech32, len(s))
	}
	lower, upper := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 {
			return "", nil, 0, fmt.Errorf("%w: character %#x at %d", errBech32, c, i)
		}
		lower = lower || (c >= 'a' && c <= 'z')
		upper = upper || (c >= 'A' && c <= 'Z')
	}
	if lower && upper {
		return "", nil, 0, fmt.Errorf("%w: mixed case", errBech32)
	}
	s = strings.ToLower(s)
	sep := strings.LastIndexByte(s, '1')
	if sep < 1 || sep+7 > len(s) {
		return "", nil, 0, fmt.Errorf("%w: no separator, or a checksum shorter than 6", errBech32)
	}
	hrp := s[:sep]
	data := make([]byte, 0, len(s)-sep-1)
	for i := sep + 1; i < len(s); i++ {
		v := bech32Rev[s[i]]
		if v < 0 {
			return "", nil, 0, fmt.Errorf("%w: %q is not a bech32 character", errBech32, s[i])
		}
		data = append(data, byte(v))
	}
	var variant bech32Variant
	switch bech32Polymod(data, bech32Polymod(bech32HRPExpand(hrp), 1)) {
	case uint32(bech32Plain):
		variant = bech32Plain
	case uint32(bech32M):
		variant = bech32M
	default:
		return "", nil, 0, fmt.Errorf("%w: checksum", errBech32)
	}
	return hrp, data[:len(data)-6], variant, nil
}

// bech32Encode writes hrp, 5-bit data and the variant's checksum.
func bech32Encode(hrp string, data []byte, v bech32Variant) string {
	values := append(bech32HRPExpand(hrp), data...)
	values = append(values, 0, 0, 0, 0, 0, 0)
	mod := bech32Polymod(values, 1) ^ uint32(v)
	var b strings.Builder
	b.Grow(len(hrp) + 1 + len(data) + 6)
	b.WriteString(hrp)
	b.WriteByte('1')
	for _, d := range data {
		b.WriteByte(bech32Charset[d])
	}
	for i := 0; i < 6; i++ {
		b.WriteByte(bech32Charset[(mod>>(5*(5-i)))&31])
	}
	return b.String()
}

// convertBits regroups bits: 8→5 with padding, 5→8 without (where leftover
// bits must be zero and fewer than from).
func convertBits(in []byte, from, to uint, pad bool) ([]byte, bool) {
	var acc, bits uint
	maxv := uint(1)<<to - 1
	out := make([]byte, 0, len(in)*int(from)/int(to)+1)
	for _, v := range in {
		if uint(v)>>from != 0 {
			return nil, false
		}
		acc = acc<<from | uint(v)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if pad {
		if bits > 0 {
			out = append(out, byte(acc<<(to-bits)&maxv))
		}
	} else if bits >= from || acc<<(to-bits)&maxv != 0 {
		return nil, false
	}
	return out, true
}

// decodeSegwit reads a segwit address of the given human-readable part:
// its witness version and program, checked against BIP173 and BIP350.
func decodeSegwit(hrp, s string) (byte, []byte, error) {
	got, data, variant, err := bech32Decode(s)
	if err != nil {
		return 0, nil, err
	}
	if got != hrp {
		return 0, nil, fmt.Errorf("%w: prefix %q, want %q", errBech32, got, hrp)
	}
	if len(data) < 1 {
		return 0, nil, fmt.Errorf("%w: no witness version", errBech32)
	}
	ver := data[0]
	if ver > 16 {
		return 0, nil, fmt.Errorf("%w: witness version %d", errBech32, ver)
	}
	prog, ok := convertBits(data[1:], 5, 8, false)
	if !ok {
		return 0, nil, fmt.Errorf("%w: bad padding", errBech32)
	}
	if len(prog) < 2 || len(prog) > 40 {
		return 0, nil, fmt.Errorf("%w: witness program of %d bytes", errBech32, len(prog))
	}
	if ver == 0 && len(prog) != 20 && len(prog) != 32 {
		return 0, nil, fmt.Errorf("%w: version 0 program of %d bytes (want 20 or 32)", errBech32, len(prog))
	}
	if (ver == 0) != (variant == bech32Plain) {
		return 0, nil, fmt.Errorf("%w: witness version %d with the wrong checksum variant (v0 is bech32, v1+ bech32m)", errBech32, ver)
	}
	return ver, prog, nil
}

// encodeSegwit writes a witness program as an address.
func encodeSegwit(hrp string, ver byte, prog []byte) string {
	data, _ := convertBits(prog, 8, 5, true)
	v := bech32M
	if ver == 0 {
		v = bech32Plain
	}
	return bech32Encode(hrp, append([]byte{ver}, data...), v)
}
