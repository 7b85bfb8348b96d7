package evm

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/testenv"
)

// FuzzExtract: whatever a node answers for a block and its receipts, the
// scanner returns an error or a block, never a panic; every transfer it
// gives is well formed; and an Extractor that decoded another answer
// before (it reuses its buffers) decodes this one exactly as a new one
// does. A batch answer of the two that the one-pass reader takes gives
// what the general path gives, and one read for its recipients only
// names every recipient the extraction gives.
func FuzzExtract(f *testing.F) {
	if dir, ok := testenv.FixturesDir(); ok {
		for _, c := range []string{"ethereum/1000000", "ethereum/4370006", "polygon/10000000", "ethereum/468179"} {
			b, err1 := os.ReadFile(filepath.Join(dir, "evm", c, "block.json"))
			r, err2 := os.ReadFile(filepath.Join(dir, "evm", c, "receipts.json"))
			if err1 == nil && err2 == nil && len(b)+len(r) < 256<<10 {
				f.Add(b, r)
			}
		}
	}
	f.Add([]byte(`{"number":"0x1","hash":"0x`+zeros(64)+`","parentHash":"0x`+zeros(64)+`","timestamp":"0x5","transactions":[]}`), []byte(`[]`))
	f.Fuzz(func(t *testing.T, block, receipts []byte) {
		var fresh Extractor
		got, err := fresh.Extract(block, receipts)
		// Read in place from a batch answer, the block is the one the
		// general path (split, then extract) gives, or it is left to it.
		answer := []byte(`[{"jsonrpc":"2.0","id":1,"result":` + string(block) + `},{"jsonrpc":"2.0","id":2,"result":` + string(receipts) + `}]`)
		var inPlace Extractor
		if in := (&chain.Block{}); inPlace.extractInPlace(answer, in) {
			b, r, berr, rerr, serr := split(answer)
			var general Extractor
			want, err := general.Extract(b, r)
			if berr != nil || rerr != nil || serr != nil || err != nil || !reflect.DeepEqual(in, want) {
				t.Fatalf("read in place where the general path gives %v %v %v %v", berr, rerr, serr, err)
			}
		}
		// Read for its recipients only (a rescan's first look), the
		// answer names every recipient the extraction gives.
		var rx Extractor
		n := uint64(1)
		if err == nil {
			n = got.Ref.Number
		}
		if _, _, addrs, ok := rx.recipients(answer, n, nil); ok && err == nil {
			found := map[[20]byte]bool{}
			for _, a := range addrs {
				found[a] = true
			}
			for i, tr := range got.Transfers {
				if !found[[20]byte([]byte(tr.To.Raw()))] {
					t.Fatalf("transfer %d's recipient %x is not among the %d recipients read", i, tr.To.Raw(), len(addrs))
				}
			}
		}
		if err != nil {
			return
		}
		for i, tr := range got.Transfers {
			if len(tr.TxHash) != 32 || !tr.Kind.Valid() || tr.To.Family() != chain.FamilyEVM {
				t.Fatalf("transfer %d: %+v", i, tr)
			}
			if tr.Kind == chain.KindERC20 && tr.Token.IsZero() || tr.Kind == chain.KindNative && (tr.Index != chain.IndexNative || tr.Value.IsZero()) {
				t.Fatalf("transfer %d: %+v", i, tr)
			}
		}
		// The same Extractor, used on other input first.
		var used Extractor
		used.Extract(receipts, block)
		used.Extract(block, receipts)
		again, err := used.Extract(block, receipts)
		if err != nil || !reflect.DeepEqual(got, again) {
			t.Fatalf("an Extractor that decoded before reads this differently: %v", err)
		}
	})
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}
