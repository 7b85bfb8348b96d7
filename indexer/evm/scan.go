package evm

var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := byte(0); i < 10; i++ {
		t['0'+i] = i
	}
	for i := byte(0); i < 6; i++ {
		t['a'+i] = 10 + i
		t['A'+i] = 10 + i
	}
	return
}()

func trim0x(b []byte) ([]byte, bool) {
	if len(b) >= 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		return b[2:], true
	}
	return b, false
}

// quantity parses a 0x hex quantity of at most 64 bits.
func quantity(b []byte) (uint64, bool) {
	h, ok := trim0x(b)
	if !ok || len(h) == 0 || len(h) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range h {
		d := hexVal[c]
		if d == 0xff {
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}

// fixedHex decodes exactly len(dst) bytes of 0x hex.
func fixedHex(dst, b []byte) bool {
	h, ok := trim0x(b)
	if !ok || len(h) != 2*len(dst) {
		return false
	}
	return rawHex(dst, h)
}

// rawHex decodes len(dst) bytes from the hex digits h (no 0x; exactly
// twice as many).
func rawHex(dst, h []byte) bool {
	if len(h) != 2*len(dst) {
		return false
	}
	// One check at the end: an invalid digit is 0xff in hexVal, and any
	// such byte survives the or.
	var bad byte
	for i := range dst {
		hi, lo := hexVal[h[2*i]], hexVal[h[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo
	}
	return bad <= 15
}

// word256 parses a hex quantity of at most 256 bits into 32 big-endian bytes.
// It accepts both quantities ("0x1") and fixed-width data ("0x00…01").
func word256(dst *[32]byte, b []byte) bool {
	h, ok := trim0x(b)
	if !ok || len(h) == 0 {
		return false
	}
	for len(h) > 64 { // leading zero digits beyond 256 bits
		if h[0] != '0' {
			return false
		}
		h = h[1:]
	}
	*dst = [32]byte{}
	j := 63 // nibble position in dst, from the right
	for i := len(h) - 1; i >= 0; i-- {
		d := hexVal[h[i]]
		if d > 15 {
			return false
		}
		if j%2 == 1 {
			dst[j/2] |= d
		} else {
			dst[j/2] |= d << 4
		}
		j--
	}
	return true
}
