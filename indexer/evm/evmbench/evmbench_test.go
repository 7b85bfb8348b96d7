package evmbench

import (
	"path/filepath"
	"testing"

	"github.com/inflowhq/inflow/pkg/testenv"
)

func corpus(tb testing.TB) *Corpus {
	c, err := Load(filepath.Join(testenv.Fixtures(tb), "evm"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(c.Blocks) < 25 {
		tb.Fatalf("only %d fixture blocks usable by both sides; skipped: %v", len(c.Blocks), c.Skipped)
	}
	return c
}

// BenchmarkExtract runs Inflow's extractor and go-ethereum's decoding side by
// side over the same real blocks: compare MB/s and transfers/s.
func BenchmarkExtract(b *testing.B) {
	c := corpus(b)
	b.Run("inflow", c.Inflow)
	b.Run("geth-baseline", c.Geth)
}

func TestCorpusAgrees(t *testing.T) {
	c := corpus(t)
	if c.Transfers == 0 {
		t.Fatal("corpus has no transfers")
	}
	for _, s := range c.Skipped {
		t.Logf("baseline cannot decode %s", s)
	}
}
