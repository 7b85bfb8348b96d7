package evm

import (
	"bytes"
	"errors"
	"fmt"
)

// scanner is a forward-only reader over one JSON document that extracts the
// handful of fields the extractor needs and skips everything else without
// building values. It trusts nothing: every malformed input ends in an error,
// never a panic or an out-of-range read.
type scanner struct {
	b   []byte
	pos int
	err error
}

var errSyntax = errors.New("evm: malformed JSON")

func (s *scanner) fail(what string) {
	if s.err == nil {
		s.err = fmt.Errorf("%w at byte %d: %s", errSyntax, s.pos, what)
	}
	s.pos = len(s.b)
}

func (s *scanner) ws() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\n', '\r', '\t':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.pos >= len(s.b) {
		return 0
	}
	return s.b[s.pos]
}

func (s *scanner) expect(c byte) bool {
	if s.peek() != c {
		s.fail(fmt.Sprintf("want %q", c))
		return false
	}
	s.pos++
	return true
}

// str reads a string and returns its raw bytes (escapes are left as they are;
// none of the fields read here can carry one legitimately).
func (s *scanner) str() []byte {
	if !s.expect('"') {
		return nil
	}
	start := s.pos
	for {
		i := bytes.IndexByte(s.b[s.pos:], '"')
		if i < 0 {
			s.fail("unterminated string")
			return nil
		}
		end := s.pos + i
		// Count the backslashes before the quote: an odd number escapes it.
		bs := 0
		for j := end - 1; j >= start && s.b[j] == '\\'; j-- {
			bs++
		}
		s.pos = end + 1
		if bs%2 == 0 {
			return s.b[start:end]
		}
	}
}

// null consumes a literal null and reports whether it was there.
func (s *scanner) null() bool {
	if s.peek() == 'n' && bytes.HasPrefix(s.b[s.pos:], []byte("null")) {
		s.pos += 4
		return true
	}
	return false
}

// strOrNull reads a string, or null as nil.
func (s *scanner) strOrNull() []byte {
	if s.null() {
		return nil
	}
	return s.str()
}

// skip consumes one value of any type.
func (s *scanner) skip() {
	switch c := s.peek(); c {
	case '"':
		s.str()
	case '{', '[':
		s.skipNested()
	case 0:
		s.fail("unexpected end")
	default:
		// number, true, false, null
		for s.pos < len(s.b) {
			switch s.b[s.pos] {
			case ',', '}', ']', ' ', '\n', '\r', '\t':
				return
			}
			s.pos++
		}
	}
}

// skipNested skips an object or array by counting brackets outside strings.
func (s *scanner) skipNested() {
	depth := 0
	for s.pos < len(s.b) {
		c := s.b[s.pos]
		switch c {
		case '"':
			s.str()
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.pos++
				return
			}
		}
		s.pos++
	}
	s.fail("unterminated object or array")
}

// object iterates the members of an object; fn must consume the value.
func (s *scanner) object(fn func(key []byte)) {
	if !s.expect('{') {
		return
	}
	if s.peek() == '}' {
		s.pos++
		return
	}
	for s.err == nil {
		key := s.str()
		if !s.expect(':') {
			return
		}
		before := s.pos
		fn(key)
		if s.pos == before && s.err == nil {
			s.fail("member value not consumed")
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return
		default:
			s.fail("want , or }")
		}
	}
}

// array iterates the elements of an array; fn must consume each element.
// A null is an empty array.
func (s *scanner) array(fn func()) {
	if s.null() {
		return
	}
	if !s.expect('[') {
		return
	}
	if s.peek() == ']' {
		s.pos++
		return
	}
	for s.err == nil {
		before := s.pos
		fn()
		if s.pos == before && s.err == nil {
			s.fail("array element not consumed")
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return
		default:
			s.fail("want , or ]")
		}
	}
}

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
	for i := range dst {
		hi, lo := hexVal[h[2*i]], hexVal[h[2*i+1]]
		if hi|lo == 0xff || hi > 15 || lo > 15 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
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
