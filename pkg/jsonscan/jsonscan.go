// Package jsonscan is a forward-only reader over one JSON document for the
// extractors' hot paths: it reads the few fields an extractor needs and
// skips everything else without building values. It trusts nothing: every
// malformed input ends in an error (Scanner.Err), never a panic or an
// out-of-range read. The EVM and Solana extractors use it.
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
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
	// Most values follow their separator directly (a node's compact JSON):
	// one compare for them, the loop only for indented input.
	if s.Pos < len(s.B) && s.B[s.Pos] > ' ' {
		return
	}
	s.wsLoop()
}

func (s *Scanner) wsLoop() {
	for s.Pos < len(s.B) {
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
	if s.Pos >= len(s.B) || s.B[s.Pos] != '"' {
		s.ws()
		if s.Pos >= len(s.B) || s.B[s.Pos] != '"' {
			s.Fail(`want '"'`)
			return nil
		}
	}
	start := s.Pos + 1
	// Keys and small quantities are short: their first eight bytes are
	// looked at in one word (a quote with no backslash before it ends the
	// string there) before a longer one goes to IndexByte.
	if start+8 <= len(s.B) {
		w := binary.LittleEndian.Uint64(s.B[start:])
		q, bsl := hasByte(w, '"'), hasByte(w, '\\')
		if qz := bits.TrailingZeros64(q); q != 0 && (bsl == 0 || qz < bits.TrailingZeros64(bsl)) {
			end := start + qz/8
			s.Pos = end + 1
			return s.B[start:end]
		}
		if bsl == 0 {
			return s.strFrom(start, start+8)
		}
	}
	return s.strFrom(start, start)
}

// strFrom ends the string that begins at start, with no quote or
// backslash in [start, from).
func (s *Scanner) strFrom(start, from int) []byte {
	s.Pos = from
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

// hasByte has the high bit set in each byte of w that equals c, and in no
// byte before the first that does (bytes after it may be marked falsely,
// so only the lowest mark is to be used).
func hasByte(w uint64, c byte) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	x := w ^ (lo * uint64(c))
	return (x - lo) &^ x & hi
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
	if s.Pos < len(s.B) && s.B[s.Pos] == '"' { // most skipped values are strings
		s.Str()
		return
	}
	switch c := s.Peek(); c {
	case '"':
		s.Str()
	case '{', '[':
		s.skipNested()
	case 0:
		s.Fail("unexpected end")
	default:
		// number, true, false, null: the bytes they are made of, then a
		// separator, a close, space or the end. Anything else (a quote, say)
		// is refused here, as skipNested, which reads such a byte as the
		// start of a string, would not end the value where this does.
		start := s.Pos
		for s.Pos < len(s.B) && literal[s.B[s.Pos]] {
			s.Pos++
		}
		if s.Pos == start {
			s.Fail("want a value")
			return
		}
		if s.Pos < len(s.B) {
			switch s.B[s.Pos] {
			case ',', '}', ']', ' ', '\n', '\r', '\t':
			default:
				s.Fail("malformed number or literal")
			}
		}
	}
}

// literal marks the bytes a number, true, false or null is made of.
var literal = func() (t [256]bool) {
	for _, c := range "0123456789+-.eEtruefalsn" {
		t[c] = true
	}
	return
}()

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
	for more := s.Enter('{'); more; more = s.More('}') {
		key := s.Key()
		if s.Err != nil {
			return
		}
		before := s.Pos
		fn(key)
		if s.Pos == before && s.Err == nil {
			s.Fail("member value not consumed")
		}
	}
}

// Array iterates the elements of an array; fn must consume each element.
// A null is an empty array.
func (s *Scanner) Array(fn func()) {
	if s.Null() {
		return
	}
	for more := s.Enter('['); more; more = s.More(']') {
		before := s.Pos
		fn()
		if s.Pos == before && s.Err == nil {
			s.Fail("array element not consumed")
		}
	}
}

// Enter consumes the opening of an object ('{') or an array ('[') and
// reports whether a member or element follows; at an empty one it consumes
// the close too. With More it walks a container without a closure per
// member, for the hot paths:
//
//	for more := s.Enter('{'); more; more = s.More('}') {
//		switch string(s.Key()) { … consume the value … }
//	}
//
// A member whose value the loop leaves unread ends in an error at More.
func (s *Scanner) Enter(open byte) bool {
	if !s.Expect(open) {
		return false
	}
	if s.Peek() == open+2 { // '}' is '{'+2, ']' is '['+2
		s.Pos++
		return false
	}
	return s.Err == nil
}

// More consumes what follows a member or element: true after a comma (the
// next one follows), false at close (consumed) or on an error.
func (s *Scanner) More(close byte) bool {
	switch s.Peek() {
	case ',':
		s.Pos++
		return s.Err == nil
	case close:
		s.Pos++
		return false
	default:
		s.Fail(fmt.Sprintf("want , or %c", close))
		return false
	}
}

// Key reads an object member's key and the colon after it.
func (s *Scanner) Key() []byte {
	key := s.Str()
	if s.Pos < len(s.B) && s.B[s.Pos] == ':' { // compact JSON
		s.Pos++
		return key
	}
	if s.Err == nil {
		s.Expect(':')
	}
	return key
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
