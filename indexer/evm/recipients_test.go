package evm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/inflowhq/inflow/indexer/evm/fixturerpc"
	devevm "github.com/inflowhq/inflow/pkg/devnet/evm"
)

// TestRecipients: for every recorded mainnet block, compact and indented,
// the recipients read without extracting are every recipient the full
// extraction gives (and the block's reference and transaction count are
// its); the addresses found beyond those are transfers the extraction
// drops (failed, zero value, removed) and nothing else.
func TestRecipients(t *testing.T) {
	n := 0
	for name, blocks := range fixtureChains(t) {
		for _, fb := range blocks {
			var full Extractor
			want, err := full.Extract(fb.Block, fb.Receipts)
			if err != nil {
				t.Fatalf("%s %d: %v", name, fb.Number, err)
			}
			var indented bytes.Buffer
			if err := json.Indent(&indented, batch(fb.Block, fb.Receipts), "", "  "); err != nil {
				t.Fatal(err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, batch(fb.Block, fb.Receipts)); err != nil {
				t.Fatal(err)
			}
			for _, answer := range [][]byte{compact.Bytes(), indented.Bytes()} {
				var x Extractor
				ref, txs, got, ok := x.recipients(answer, want.Ref.Number, nil)
				if !ok {
					t.Fatalf("%s %d: the usual answer's recipients were not read", name, fb.Number)
				}
				if ref != want.Ref || txs != want.TxCount {
					t.Fatalf("%s %d: ref %+v, %d txs; the extraction's %+v, %d", name, fb.Number, ref, txs, want.Ref, want.TxCount)
				}
				found := map[[20]byte]int{}
				for _, a := range got {
					found[a]++
				}
				for _, tr := range want.Transfers {
					if found[[20]byte([]byte(tr.To.Raw()))] == 0 {
						t.Fatalf("%s %d: recipient %x of transfer %x/%d not found", name, fb.Number, tr.To.Raw(), tr.TxHash, tr.Index)
					}
				}
				if len(got) < len(want.Transfers) {
					t.Fatalf("%s %d: %d recipients for %d transfers", name, fb.Number, len(got), len(want.Transfers))
				}
				if _, _, _, ok := x.recipients(answer, want.Ref.Number+1, got); ok {
					t.Fatalf("%s %d: read as block %d", name, fb.Number, want.Ref.Number+1)
				}
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no fixture blocks")
	}
}

// TestRecipientsRefused: an answer of any other shape than the usual, or
// one whose parts do not agree, is not read this way (the caller reads it
// in full, which gives the block or the error).
func TestRecipientsRefused(t *testing.T) {
	h := `"hash":"0x` + zeros(64) + `","number":"0x1","parentHash":"0x` + zeros(64) + `","timestamp":"0x5"`
	to := "0x" + strings.Repeat("ab", 20)
	tx := `{"hash":"0x` + zeros(64) + `","from":"0x` + strings.Repeat("ef", 20) + `","to":"` + to + `","value":"0x1"}`
	rc := `{"blockHash":"0x` + zeros(64) + `","contractAddress":null,"transactionHash":"0x` + zeros(64) + `","to":"` + to + `","status":"0x1","logs":[]}`
	answer := func(block, receipts string) string {
		return `[{"jsonrpc":"2.0","id":1,"result":` + block + `},{"jsonrpc":"2.0","id":2,"result":` + receipts + `}]`
	}
	blk := `{` + h + `,"transactions":[` + tx + `]}`
	good := answer(blk, `[`+rc+`]`)
	var x Extractor
	if _, txs, got, ok := x.recipients([]byte(good), 1, nil); !ok || txs != 1 || len(got) != 1 || got[0] != [20]byte(bytes.Repeat([]byte{0xab}, 20)) {
		t.Fatalf("the usual answer: %v %d %x", ok, txs, got)
	}
	for name, a := range map[string]string{
		"null block":                         answer(`null`, `[]`),
		"null receipts":                      answer(blk, `null`),
		"receipts error":                     `[{"jsonrpc":"2.0","id":1,"result":` + blk + `},{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"no"}}]`,
		"block error":                        `[{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"no"}},{"jsonrpc":"2.0","id":2,"result":[]}]`,
		"receipts first":                     `[{"jsonrpc":"2.0","id":2,"result":[` + rc + `]},{"jsonrpc":"2.0","id":1,"result":` + blk + `}]`,
		"id after result":                    `[{"jsonrpc":"2.0","result":` + blk + `,"id":1},{"jsonrpc":"2.0","id":2,"result":[` + rc + `]}]`,
		"only the block":                     `[{"jsonrpc":"2.0","id":1,"result":` + blk + `}]`,
		"third answer":                       `[{"jsonrpc":"2.0","id":1,"result":` + blk + `},{"jsonrpc":"2.0","id":2,"result":[` + rc + `]},{"jsonrpc":"2.0","id":3,"result":[]}]`,
		"member after result":                `[{"jsonrpc":"2.0","id":1,"result":` + blk + `},{"jsonrpc":"2.0","id":2,"result":[` + rc + `],"x":1}]`,
		"trailing bytes":                     good + ` x`,
		"truncated":                          good[:len(good)-3],
		"no receipt":                         answer(blk, `[]`),
		"two receipts":                       answer(blk, `[`+rc+`,`+rc+`]`),
		"another block's":                    answer(blk, `[`+strings.Replace(rc, `"blockHash":"0x`+zeros(64), `"blockHash":"0x`+zeros(63)+"1", 1)+`]`),
		"blockHash not hex":                  answer(blk, `[`+strings.Replace(rc, `"blockHash":"0x`+zeros(64), `"blockHash":"0x`+zeros(63)+"z", 1)+`]`),
		"no contractAddress":                 answer(blk, `[`+strings.Replace(rc, `"contractAddress":null,`, ``, 1)+`]`),
		"hashes only":                        answer(`{`+h+`,"transactions":["0x`+zeros(64)+`"]}`, `[`+rc+`]`),
		"transactions first":                 answer(`{"transactions":[`+tx+`],`+h+`}`, `[`+rc+`]`),
		"no timestamp":                       answer(strings.Replace(blk, `,"timestamp":"0x5"`, ``, 1), `[`+rc+`]`),
		"recipient not hex":                  answer(strings.Replace(blk, to, "0x"+strings.Repeat("zz", 20), 1), `[`+strings.Replace(rc, to, "0x"+strings.Repeat("zz", 20), 1)+`]`),
		"recipient a number":                 answer(strings.Replace(blk, `"`+to+`"`, `1`, 1), `[`+strings.Replace(rc, `"`+to+`"`, `1`, 1)+`]`),
		"escaped quote in to":                answer(strings.Replace(blk, `"to":"`+to+`"`, `"to":"`+to+`\"x"`, 1), `[`+rc+`]`),
		"topics not strings":                 answer(blk, `[`+strings.Replace(rc, `"logs":[]`, `"logs":[{"topics":[1,2,3]}]`, 1)+`]`),
		"topic escaped quote":                answer(blk, `[`+strings.Replace(rc, `"logs":[]`, `"logs":[{"topics":["a\"","b","c"]}]`, 1)+`]`),
		"another number":                     answer(strings.Replace(blk, `"number":"0x1"`, `"number":"0x2"`, 1), `[`+rc+`]`),
		"receipts imitated in a transaction": answer(`{`+h+`,"transactions":[`+strings.Replace(tx, `"value"`, `"x":[{"a":{}},{"jsonrpc":"2.0","id":2,"result":[]}],"value"`, 1)+`,`+tx+`]}`, `[`+rc+`,`+strings.Replace(rc, `"contractAddress":null,`, ``, 1)+`]`),
		"a jsonrpc in the block":             answer(`{`+h+`,"transactions":[`+strings.Replace(tx, `"value"`, `"jsonrpc":"2.0","value"`, 1)+`]}`, `[`+rc+`]`),
	} {
		if _, _, _, ok := x.recipients([]byte(a), 1, nil); ok {
			t.Errorf("%s: read", name)
		}
	}
	// A Transfer log's recipient is found, in any case of its topic; a log
	// with another first topic, or too few topics, gives none.
	pad := "0x000000000000000000000000"
	log := func(topic0 string, n int) string {
		topics := []string{`"` + topic0 + `"`, `"` + pad + strings.Repeat("11", 20) + `"`, `"` + pad + strings.Repeat("22", 20) + `"`, `"` + pad + strings.Repeat("33", 20) + `"`}
		return `{"address":"` + to + `","topics":[` + strings.Join(topics[:n], ", ") + `],"data":"0x` + zeros(64) + `","logIndex":"0x0","removed":false}`
	}
	tt := string(transferTopicHex)
	for _, c := range []struct {
		log  string
		want int
	}{
		{log(tt, 3), 2}, {log(strings.ToUpper(tt[2:]), 3), 1}, {log("0x"+strings.ToUpper(tt[2:]), 3), 2}, {log(tt, 4), 2}, {log(tt, 2), 1},
		{log("0x"+zeros(64), 3), 1}, {`{"topics":null}`, 1}, {`{"topics":[]}`, 1},
	} {
		a := answer(blk, `[`+strings.Replace(rc, `"logs":[]`, `"logs":[`+c.log+`]`, 1)+`]`)
		_, _, got, ok := x.recipients([]byte(a), 1, nil)
		if !ok || len(got) != c.want {
			t.Errorf("log %s: %v, %d recipients, want %d", c.log, ok, len(got), c.want)
		} else if c.want == 2 && got[0] != [20]byte(bytes.Repeat([]byte{0x22}, 20)) {
			t.Errorf("log %s: recipient %x", c.log, got[0])
		}
	}
}

// BenchmarkRecipients reads every recorded mainnet block's batch answer
// (compact, as a node sends it) for its recipients only, beside the full
// extraction of the same answers in the same run: what a rescan pays for
// a block that holds none of its addresses, against what it paid.
func BenchmarkRecipients(b *testing.B) {
	answers, numbers, size := compactAnswers(b)
	b.Run("recipients", func(b *testing.B) {
		var x Extractor
		var addrs [][20]byte
		b.SetBytes(size)
		for b.Loop() {
			for i, a := range answers {
				var ok bool
				if _, _, addrs, ok = x.recipients(a, numbers[i], addrs); !ok {
					b.Fatal("not read")
				}
			}
		}
	})
	b.Run("extract", func(b *testing.B) { benchExtract(b, answers, size) })
}

// TestFetchBlockFor: the real client over JSON-RPC, against every recorded
// mainnet block: a reader that wants none of a block's recipients gets its
// reference and transaction count without transfers, having been asked
// about every recipient FetchBlock gives; one that wants any gets exactly
// what FetchBlock gives. Against a node without eth_getBlockReceipts, and
// for a block the node lacks, FetchBlockFor is FetchBlock.
func TestFetchBlockFor(t *testing.T) {
	ctx := context.Background()
	for name, blocks := range fixtureChains(t) {
		srv, err := fixturerpc.Start(fixturerpc.ChainIDs[name], blocks)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Dial(ctx, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		for _, fb := range blocks {
			full, err := c.FetchBlock(ctx, fb.Number)
			if err != nil {
				t.Fatal(err)
			}
			asked := map[string]bool{}
			calls := 0
			none, err := c.FetchBlockFor(ctx, fb.Number, func(addrs [][]byte) bool {
				calls++
				for _, a := range addrs {
					asked[string(a)] = true
				}
				return false
			})
			if err != nil {
				t.Fatal(err)
			}
			if calls != 1 || none.Ref != full.Ref || none.TxCount != full.TxCount || len(none.Transfers) != 0 {
				t.Fatalf("%s %d: wanting none: %d calls, %+v, %d txs, %d transfers; FetchBlock %+v, %d txs", name, fb.Number,
					calls, none.Ref, none.TxCount, len(none.Transfers), full.Ref, full.TxCount)
			}
			for _, tr := range full.Transfers {
				if !asked[tr.To.Raw()] {
					t.Fatalf("%s %d: not asked about %x", name, fb.Number, tr.To.Raw())
				}
			}
			if len(full.Transfers) == 0 {
				continue
			}
			// Wanting one recipient only: the whole block, as FetchBlock gives it.
			one := full.Transfers[len(full.Transfers)/2].To.Raw()
			got, err := c.FetchBlockFor(ctx, fb.Number, func(addrs [][]byte) bool {
				for _, a := range addrs {
					if string(a) == one {
						return true
					}
				}
				return false
			})
			if err != nil || !reflect.DeepEqual(got, full) {
				t.Fatalf("%s %d: wanting %x: %v, %d transfers; FetchBlock %d", name, fb.Number, one, err, len(got.Transfers), len(full.Transfers))
			}
		}
		c.Close()
		srv.Close()
	}
	blocks := fixtureChains(t)["ethereum"]
	srv, err := fixturerpc.Start("0x1", blocks, fixturerpc.WithoutBlockReceipts())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := Dial(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	never := func([][]byte) bool { t.Fatal("asked without the block's receipts in one answer"); return false }
	for _, fb := range blocks[:3] {
		got, err := c.FetchBlockFor(ctx, fb.Number, never)
		want, err2 := c.FetchBlock(ctx, fb.Number)
		if err != nil || err2 != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("per-transaction receipts, block %d: %v %v", fb.Number, err, err2)
		}
	}
	if _, err := c.FetchBlockFor(ctx, 5, never); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing block: %v, want ErrNotFound", err)
	}
}

// TestFetchBlockForDevnet: go-ethereum's own answers (the devnet is its
// node) are read for their recipients: native and ERC20 payments are
// among the addresses asked about, a reader wanting none gets no
// transfers, and one wanting them gets FetchBlock's block.
func TestFetchBlockForDevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	dn, err := devevm.Start(devevm.Config{FinalityLag: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer dn.Close()
	alice := common.HexToAddress("0xa11ce00000000000000000000000000000000001")
	bob := common.HexToAddress("0xb0b0000000000000000000000000000000000002")
	for _, p := range []struct {
		to  common.Address
		cur string
	}{{alice, "ETH"}, {bob, "USDT"}, {alice, "DAI"}} {
		if _, err := dn.Send(p.to, p.cur, uint256.NewInt(1_000_000)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := dn.Mine(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := Dial(ctx, dn.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	full, err := c.FetchBlock(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Transfers) != 3 {
		t.Fatalf("block %d: %d transfers, want 3", n, len(full.Transfers))
	}
	asked := map[string]int{}
	none, err := c.FetchBlockFor(ctx, n, func(addrs [][]byte) bool {
		for _, a := range addrs {
			asked[string(a)]++
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(none.Transfers) != 0 || none.Ref != full.Ref || asked[string(alice[:])] != 2 || asked[string(bob[:])] != 1 {
		t.Fatalf("wanting none: %d transfers, %+v (want %+v), asked %v", len(none.Transfers), none.Ref, full.Ref, asked)
	}
	got, err := c.FetchBlockFor(ctx, n, func(addrs [][]byte) bool { return true })
	if err != nil || !reflect.DeepEqual(got, full) {
		t.Fatalf("wanting all: %v, %+v; FetchBlock %+v", err, got, full)
	}
}
