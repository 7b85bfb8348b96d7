package evm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/inflowhq/inflow/indexer/evm/fixturerpc"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/testenv"
)

// row is one expected or extracted transfer in the fixtures' NDJSON form.
type row struct {
	TxHash   string `json:"tx_hash"`
	LogIndex *int64 `json:"log_index,omitempty"`
	Token    string `json:"token,omitempty"`
	From     string `json:"from"`
	To       string `json:"to"`
	Value    string `json:"value"`
}

func (r row) String() string {
	li := "-"
	if r.LogIndex != nil {
		li = fmt.Sprint(*r.LogIndex)
	}
	return fmt.Sprintf("%s/%s %s %s->%s %s", r.TxHash, li, r.Token, r.From, r.To, r.Value)
}

func readRows(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r row
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, r.String())
	}
	return out
}

func rowsOf(b *chain.Block, kind chain.Kind) []string {
	var out []string
	for _, t := range b.Transfers {
		if t.Kind != kind {
			continue
		}
		r := row{TxHash: chain.FormatHash(chain.FamilyEVM, t.TxHash), From: t.From.String(), To: t.To.String(), Value: t.Value.String()}
		if kind == chain.KindERC20 {
			li := int64(t.Index)
			r.LogIndex = &li
			r.Token = t.Token.String()
		}
		out = append(out, r.String())
	}
	return out
}

func diff(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if slices.Equal(g, w) {
		return
	}
	gs := map[string]int{}
	for _, x := range g {
		gs[x]++
	}
	for _, x := range w {
		if gs[x] > 0 {
			gs[x]--
		} else {
			t.Errorf("%s: missing %s", what, x)
		}
	}
	for x, n := range gs {
		for ; n > 0; n-- {
			t.Errorf("%s: unexpected %s", what, x)
		}
	}
}

func fixtureChains(t testing.TB) map[string][]*fixturerpc.Block {
	dir := filepath.Join(testenv.Fixtures(t), "evm")
	out := map[string][]*fixturerpc.Block{}
	for name := range fixturerpc.ChainIDs {
		blocks, err := fixturerpc.Load(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("load %s: %v", name, err)
		}
		out[name] = blocks
	}
	return out
}

// TestFixtures runs the real client, over JSON-RPC, against every recorded
// mainnet block and checks it yields exactly the expected rows. It runs once
// with eth_getBlockReceipts and once against a node without it.
func TestFixtures(t *testing.T) {
	chains := fixtureChains(t)
	total := 0
	for _, mode := range []string{"block-receipts", "per-tx-receipts"} {
		for name, blocks := range chains {
			var opts []fixturerpc.Option
			if mode == "per-tx-receipts" {
				opts = append(opts, fixturerpc.WithoutBlockReceipts())
			}
			srv, err := fixturerpc.Start(fixturerpc.ChainIDs[name], blocks, opts...)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Dial(context.Background(), srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			for _, fb := range blocks {
				t.Run(fmt.Sprintf("%s/%s/%d", mode, name, fb.Number), func(t *testing.T) {
					b, err := c.FetchBlock(context.Background(), fb.Number)
					if err != nil {
						t.Fatal(err)
					}
					if b.Ref.Number != fb.Number || b.Ref.Hash.Hex() != fb.Hash {
						t.Fatalf("ref = %v, want #%d %s", b.Ref, fb.Number, fb.Hash)
					}
					diff(t, "erc20", rowsOf(b, chain.KindERC20), readRows(t, filepath.Join(fb.Dir, "expected_erc20.ndjson")))
					diff(t, "native", rowsOf(b, chain.KindNative), readRows(t, filepath.Join(fb.Dir, "expected_native.ndjson")))
					total += len(b.Transfers)
				})
			}
			if mode == "per-tx-receipts" && !c.PerTransactionReceipts() {
				t.Errorf("%s: client did not switch to per-transaction receipts", name)
			}
			if mode == "block-receipts" && srv.Calls("eth_getTransactionReceipt") != 0 {
				t.Errorf("%s: per-transaction receipts fetched although eth_getBlockReceipts works", name)
			}
			c.Close()
			srv.Close()
		}
	}
	if total == 0 {
		t.Fatal("no transfers extracted at all")
	}
	// A block the node does not have is ErrNotFound, not an empty block.
	srv, _ := fixturerpc.Start("0x1", chains["ethereum"])
	defer srv.Close()
	c, _ := Dial(context.Background(), srv.URL)
	defer c.Close()
	if _, err := c.FetchBlock(context.Background(), 5); err == nil || !strings.Contains(err.Error(), ErrNotFound.Error()) {
		t.Errorf("missing block: err = %v, want ErrNotFound", err)
	}
}
