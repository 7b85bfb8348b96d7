package evm

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/bits"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/inflowhq/inflow/pkg/chain"
)

// TestRawHTTPAnswers: the raw batch path reads a node's answers as the RPC
// client did: a null block is ErrNotFound, an error member is the node's
// error, and a malformed or failed answer is an error, never a block.
func TestRawHTTPAnswers(t *testing.T) {
	cases := map[string]struct {
		status int
		body   string
		want   string
	}{
		"null block":      {200, `[{"jsonrpc":"2.0","id":1,"result":null},{"jsonrpc":"2.0","id":2,"result":null}]`, "not found"},
		"error member":    {200, `[{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"header not found"}},{"jsonrpc":"2.0","id":2,"result":null}]`, "header not found"},
		"truncated":       {200, `[{"jsonrpc":"2.0","id":1,"result":{"number":"0x1"`, "malformed"},
		"not an array":    {200, `{"jsonrpc":"2.0","id":1,"result":null}`, "malformed"},
		"no block answer": {200, `[{"jsonrpc":"2.0","id":2,"result":[]}]`, "no result for the block"},
		"server error":    {502, `bad gateway`, "502"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				w.Write([]byte(c.body))
			}))
			defer srv.Close()
			cl, err := Dial(context.Background(), srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			b, err := cl.FetchBlock(context.Background(), 1)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("FetchBlock = %v, %v; want an error with %q", b, err, c.want)
			}
			if name == "null block" && !errors.Is(err, ErrNotFound) {
				t.Errorf("a null block is %v, not ErrNotFound", err)
			}
		})
	}
}

// batch is the answer a node gives to the client's batch for block b and
// receipts r.
func batch(b, r []byte) []byte {
	return []byte(`[{"jsonrpc":"2.0","id":1,"result":` + string(b) + `},{"jsonrpc":"2.0","id":2,"result":` + string(r) + `}]`)
}

// TestExtractInPlace: the one-pass reading of a batch answer gives, for
// every recorded mainnet block, exactly the block the general path (split,
// then extract) gives, compact or indented; and any other shape of answer
// is left to the general path, which reads it or says what is wrong.
func TestExtractInPlace(t *testing.T) {
	n := 0
	for name, blocks := range fixtureChains(t) {
		for _, fb := range blocks {
			b, r := fb.Block, fb.Receipts
			var want Extractor
			wb, err := want.Extract(b, r)
			if err != nil {
				t.Fatalf("%s %d: %v", name, fb.Number, err)
			}
			var indented bytes.Buffer
			if err := json.Indent(&indented, batch(b, r), "", "  "); err != nil {
				t.Fatal(err)
			}
			for _, answer := range [][]byte{batch(b, r), indented.Bytes()} {
				var x Extractor
				got := &chain.Block{}
				if !x.extractInPlace(answer, got) {
					t.Fatalf("%s %d: the usual answer was not read in place", name, fb.Number)
				}
				if !reflect.DeepEqual(got, wb) {
					t.Fatalf("%s %d: in place %d transfers, split %d", name, fb.Number, len(got.Transfers), len(wb.Transfers))
				}
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no fixture blocks")
	}
	blk := `{"number":"0x1","hash":"0x` + zeros(64) + `","parentHash":"0x` + zeros(64) + `","timestamp":"0x5","transactions":[]}`
	if !new(Extractor).extractInPlace([]byte(`[{"jsonrpc":"2.0","id":1,"result":`+blk+`},{"jsonrpc":"2.0","id":2,"result":[]}]`), &chain.Block{}) {
		t.Fatal("an empty block was not read in place")
	}
	for name, answer := range map[string]string{
		"receipts first":      `[{"jsonrpc":"2.0","id":2,"result":[]},{"jsonrpc":"2.0","id":1,"result":` + blk + `}]`,
		"string ids":          `[{"jsonrpc":"2.0","id":"1","result":` + blk + `},{"jsonrpc":"2.0","id":"2","result":[]}]`,
		"result before id":    `[{"jsonrpc":"2.0","result":` + blk + `,"id":1},{"jsonrpc":"2.0","id":2,"result":[]}]`,
		"null block":          `[{"jsonrpc":"2.0","id":1,"result":null},{"jsonrpc":"2.0","id":2,"result":[]}]`,
		"null receipts":       `[{"jsonrpc":"2.0","id":1,"result":` + blk + `},{"jsonrpc":"2.0","id":2,"result":null}]`,
		"error member":        `[{"jsonrpc":"2.0","id":1,"result":` + blk + `},{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"no"}}]`,
		"member after result": `[{"jsonrpc":"2.0","id":1,"result":` + blk + `,"x":1},{"jsonrpc":"2.0","id":2,"result":[]}]`,
		"third answer":        `[{"jsonrpc":"2.0","id":1,"result":` + blk + `},{"jsonrpc":"2.0","id":2,"result":[]},{"id":3}]`,
		"trailing bytes":      `[{"jsonrpc":"2.0","id":1,"result":` + blk + `},{"jsonrpc":"2.0","id":2,"result":[]}] x`,
		"receipts for none":   `[{"jsonrpc":"2.0","id":1,"result":` + blk + `},{"jsonrpc":"2.0","id":2,"result":[{"transactionHash":"0x` + zeros(64) + `","logs":[]}]}]`,
		"truncated":           `[{"jsonrpc":"2.0","id":1,"result":` + blk[:40],
	} {
		if new(Extractor).extractInPlace([]byte(answer), &chain.Block{}) {
			t.Errorf("%s: read in place", name)
		}
	}
}

// BenchmarkExtractInPlace reads every recorded mainnet block's batch answer
// as a node sends it (compact JSON) in one pass: the rescan's per-block CPU
// besides the socket (go run ./bench backfill measures it against the node).
// Beside it, in the same run, the floor of any reader that looks at every
// string: a walk from quote to quote that records nothing (the first eight
// bytes of each string in one word, the rest with IndexByte, as jsonscan
// does). The extractor's distance from it is what finding fields, decoding
// them and checking the structure cost.
func BenchmarkExtractInPlace(b *testing.B) {
	answers, _, size := compactAnswers(b)
	b.Run("extract", func(b *testing.B) { benchExtract(b, answers, size) })
	b.Run("strings-only-floor", func(b *testing.B) {
		b.SetBytes(size)
		n := 0
		for b.Loop() {
			for _, a := range answers {
				n += quoteWalk(a)
			}
		}
		if n == 0 {
			b.Fatal("no strings")
		}
	})
}

// compactAnswers is every fixture block's batch answer as a node sends it
// (compact JSON), the blocks' numbers, and their size in all.
func compactAnswers(b *testing.B) (answers [][]byte, numbers []uint64, size int64) {
	for _, blocks := range fixtureChains(b) {
		for _, fb := range blocks {
			var c bytes.Buffer
			if err := json.Compact(&c, batch(fb.Block, fb.Receipts)); err != nil {
				b.Fatal(err)
			}
			answers = append(answers, c.Bytes())
			numbers = append(numbers, fb.Number)
			size += int64(c.Len())
		}
	}
	if len(answers) == 0 {
		b.Fatal("no fixture blocks")
	}
	return answers, numbers, size
}

// benchExtract reads every answer in place, in full.
func benchExtract(b *testing.B, answers [][]byte, size int64) {
	var x Extractor
	out := &chain.Block{}
	b.SetBytes(size)
	for b.Loop() {
		for _, a := range answers {
			if !x.extractInPlace(a, out) {
				b.Fatal("not read in place")
			}
		}
	}
}

// quoteWalk counts the strings in b (escapes ignored: the answers have none).
func quoteWalk(b []byte) int {
	n, i := 0, 0
	for {
		for i < len(b) && b[i] != '"' {
			i++
		}
		if i++; i >= len(b) {
			return n
		}
		if i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			const lo, hi = 0x0101010101010101, 0x8080808080808080
			x := w ^ (lo * '"')
			if q := (x - lo) &^ x & hi; q != 0 {
				i += bits.TrailingZeros64(q)/8 + 1
				n++
				continue
			}
			i += 8
		}
		k := bytes.IndexByte(b[i:], '"')
		if k < 0 {
			return n
		}
		i += k + 1
		n++
	}
}
