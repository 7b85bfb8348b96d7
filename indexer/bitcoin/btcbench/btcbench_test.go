package btcbench

import (
	"path/filepath"
	"testing"

	"github.com/inflowhq/inflow/pkg/testenv"
)

func corpus(tb testing.TB) *Corpus {
	c, err := Load(filepath.Join(testenv.Fixtures(tb), "bitcoin", "mainnet"))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestCorpusAgrees: both sides find the same outputs in every block.
func TestCorpusAgrees(t *testing.T) {
	c := corpus(t)
	if len(c.Blocks) != 8 || c.Outputs < 830 {
		t.Fatalf("%d blocks, %d outputs", len(c.Blocks), c.Outputs)
	}
}

// BenchmarkExtract runs the raw path and the btcjson baseline side by side.
func BenchmarkExtract(b *testing.B) {
	c := corpus(b)
	b.Run("inflow-raw", c.Inflow)
	b.Run("btcjson-verbose", c.Btcjson)
}
