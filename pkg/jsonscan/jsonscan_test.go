package jsonscan

import (
	"bytes"
	"strings"
	"testing"
)

// refStr is Str written plainly, byte by byte: where the string ends and
// what it holds, or false for no string.
func refStr(b []byte) (val []byte, next int, ok bool) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	start := i + 1
	for j := start; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++ // the escaped byte, whatever it is
		case '"':
			return b[start:j], j + 1, true
		}
	}
	return nil, 0, false
}

func checkStr(t *testing.T, in []byte) {
	t.Helper()
	s := New(in)
	got := s.Str()
	want, next, ok := refStr(in)
	if ok != (s.Err == nil) {
		t.Fatalf("%q: error %v, reference reads a string: %v", in, s.Err, ok)
	}
	if ok && (!bytes.Equal(got, want) || s.Pos != next) {
		t.Fatalf("%q: read %q ending at %d, reference %q ending at %d", in, got, s.Pos, want, next)
	}
}

// TestStr: strings of every length around the eight-byte steps of the
// fast path, with quotes and backslashes at every place, read as the
// plain reader reads them.
func TestStr(t *testing.T) {
	for n := 0; n < 40; n++ {
		body := strings.Repeat("a", n)
		checkStr(t, []byte(`"`+body+`"`))
		checkStr(t, []byte(`"`+body+`","next":"value"`))
		checkStr(t, []byte(` "`+body+`"`))
		checkStr(t, []byte(`"`+body)) // unterminated
		for at := 0; at <= n; at++ {
			for _, ins := range []string{`\"`, `\\`, `\\\"`, `\\\\`, `\`} {
				checkStr(t, []byte(`"`+body[:at]+ins+body[at:]+`"`+`,"x":"\\"`))
			}
		}
	}
	for _, in := range []string{``, `x`, `"`, `""`, `"\"`, `"\\"`, `"a\"b"c"`, `"ab\\\\"cd"`, `"12345678\"12345678"`, "\"1234567\\\\\"x"} {
		checkStr(t, []byte(in))
	}
}

func FuzzStr(f *testing.F) {
	for _, s := range []string{`"0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"`, `"transactionIndex":"0x1"`, `"a\"b\\"`, `"1234567\\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkStr(t, in) })
}

// TestWalk: Enter and More walk what Object and Array walk, and refuse
// what they refuse.
func TestWalk(t *testing.T) {
	count := func(in string) (int, error) {
		s := New([]byte(in))
		n := 0
		for more := s.Enter('{'); more; more = s.More('}') {
			s.Key()
			s.Skip()
			n++
		}
		return n, s.Err
	}
	for in, want := range map[string]int{`{}`: 0, `{"a":1}`: 1, `{ "a" : "x" , "b" : [1,{"c":"}"}] }`: 2, `{"a":null,"b":true,"c":{}}`: 3, `{"a":-1.5e+3,"b":false}`: 2} {
		if n, err := count(in); err != nil || n != want {
			t.Errorf("%s: %d members, %v; want %d", in, n, err, want)
		}
	}
	for _, in := range []string{`{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `["a"]`, `{"a":1]`, `{,}`, `{"a":0"}`, `{"":0","b":"x"}`, `{"a":tru e}`} {
		if _, err := count(in); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
	s := New([]byte(`[,]`))
	s.Array(func() { s.Skip() })
	if s.Err == nil {
		t.Error("[,]: no error")
	}
}
