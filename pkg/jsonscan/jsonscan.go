// Package jsonscan is a forward-only reader over one JSON document for the
// extractors' hot paths: it reads the few fields an extractor needs and
// skips everything else without building values. It trusts nothing: every
// malformed input ends in an error (Scanner.Err), never a panic or an
// out-of-range read. The EVM and Solana extractors use it.
package jsonscan

import (
	"bytes"
	"errors"
	"fmt"
)

// Scanner reads one JSON document from B.
type Scanner struct {
	B   []byte
	Pos int
	Err error
}

// ErrSyntax is the error of malformed input.
var ErrSyntax = errors.New("jsonscan: malformed JSON")

// New starts a scanner over b.
func New(b []byte) *Scanner { return &Scanner{B: b} }

// Fail ends the scan with an error at the current position.
func (s *Scanner) Fail(what string) {
	if s.Err == nil {
		s.Err = fmt.Errorf("%w at byte %d: %s", ErrSyntax, s.Pos, what)
	}
	s.Pos = len(s.B)
}

func (s *Scanner) ws() {
	// Most values follow their separator directly: one compare for them.
	for s.Pos < len(s.B) && s.B[s.Pos] <= ' ' {
		switch s.B[s.Pos] {
		case ' ', '\n', '\r', '\t':
			s.Pos++
		default:
			return
		}
	}
}

// Peek returns the next non-space byte, or 0 at the end.
func (s *Scanner) Peek() byte {
	s.ws()
	if s.Pos >= len(s.B) {
		return 0
	}
	return s.B[s.Pos]
}

// Expect consumes the next non-space byte, which must be c.
func (s *Scanner) Expect(c byte) bool {
	if s.Peek() != c {
		s.Fail(fmt.Sprintf("want %q", c))
		return false
	}
	s.Pos++
	return true
}

// Str reads a string and returns its raw bytes (escapes are left as they are;
// none of the fields read here can carry one legitimately).
func (s *Scanner) Str() []byte {
	if !s.Expect('"') {
		return nil
	}
	start := s.Pos
	for {
		i := bytes.IndexByte(s.B[s.Pos:], '"')
		if i < 0 {
			s.Fail("unterminated string")
			return nil
		}
		end := s.Pos + i
		// Count the backslashes before the quote: an odd number escapes it.
		bs := 0
		for j := end - 1; j >= start && s.B[j] == '\\'; j-- {
			bs++
		}
		s.Pos = end + 1
		if bs%2 == 0 {
			return s.B[start:end]
		}
	}
}

// Null consumes a literal null and reports whether it was there.
func (s *Scanner) Null() bool {
	if s.Peek() == 'n' && bytes.HasPrefix(s.B[s.Pos:], []byte("null")) {
		s.Pos += 4
		return true
	}
	return false
}

// StrOrNull reads a string, or null as nil.
func (s *Scanner) StrOrNull() []byte {
	if s.Null() {
		return nil
	}
	return s.Str()
}

// Skip consumes one value of any type.
func (s *Scanner) Skip() {
	switch c := s.Peek(); c {
	case '"':
		s.Str()
	case '{', '[':
		s.skipNested()
	case 0:
		s.Fail("unexpected end")
	default:
		// number, true, false, null
		for s.Pos < len(s.B) {
			switch s.B[s.Pos] {
			case ',', '}', ']', ' ', '\n', '\r', '\t':
				return
			}
			s.Pos++
		}
	}
}

// skipNested skips an object or array by counting brackets outside strings.
func (s *Scanner) skipNested() {
	depth := 0
	for s.Pos < len(s.B) {
		c := s.B[s.Pos]
		switch c {
		case '"':
			s.Str()
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.Pos++
				return
			}
		}
		s.Pos++
	}
	s.Fail("unterminated object or array")
}

// Object iterates the members of an object; fn must consume the value.
func (s *Scanner) Object(fn func(key []byte)) {
	if !s.Expect('{') {
		return
	}
	if s.Peek() == '}' {
		s.Pos++
		return
	}
	for s.Err == nil {
		key := s.Str()
		if !s.Expect(':') {
			return
		}
		before := s.Pos
		fn(key)
		if s.Pos == before && s.Err == nil {
			s.Fail("member value not consumed")
		}
		switch s.Peek() {
		case ',':
			s.Pos++
		case '}':
			s.Pos++
			return
		default:
			s.Fail("want , or }")
		}
	}
}

// Array iterates the elements of an array; fn must consume each element.
// A null is an empty array.
func (s *Scanner) Array(fn func()) {
	if s.Null() {
		return
	}
	if !s.Expect('[') {
		return
	}
	if s.Peek() == ']' {
		s.Pos++
		return
	}
	for s.Err == nil {
		before := s.Pos
		fn()
		if s.Pos == before && s.Err == nil {
			s.Fail("array element not consumed")
		}
		switch s.Peek() {
		case ',':
			s.Pos++
		case ']':
			s.Pos++
			return
		default:
			s.Fail("want , or ]")
		}
	}
}

// Uint reads a non-negative JSON integer.
func (s *Scanner) Uint() uint64 {
	s.ws()
	start := s.Pos
	var v uint64
	for s.Pos < len(s.B) && s.B[s.Pos] >= '0' && s.B[s.Pos] <= '9' {
		d := uint64(s.B[s.Pos] - '0')
		if v > (1<<64-1-d)/10 {
			s.Fail("integer overflows 64 bits")
			return 0
		}
		v = v*10 + d
		s.Pos++
	}
	if s.Pos == start {
		s.Fail("want an integer")
		return 0
	}
	if s.Pos < len(s.B) && (s.B[s.Pos] == '.' || s.B[s.Pos] == 'e' || s.B[s.Pos] == 'E') {
		s.Fail("want an integer, not a fraction")
		return 0
	}
	return v
}

// Int reads a JSON integer that may be negative.
func (s *Scanner) Int() int64 {
	if s.Peek() == '-' {
		s.Pos++
		v := s.Uint()
		if v > 1<<63 {
			s.Fail("integer overflows 64 bits")
		}
		return -int64(v)
	}
	v := s.Uint()
	if v > 1<<63-1 {
		s.Fail("integer overflows 64 bits")
	}
	return int64(v)
}

// Raw consumes one value and returns its bytes, to be read later.
func (s *Scanner) Raw() []byte {
	s.ws()
	start := s.Pos
	s.Skip()
	if s.Err != nil {
		return nil
	}
	return s.B[start:s.Pos]
}
