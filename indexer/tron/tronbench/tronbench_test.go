package tronbench

import "testing"

// TestCorpusAgrees: both sides find the same transfers in every block.
func TestCorpusAgrees(t *testing.T) {
	c, err := Build(4, 350, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.Transfers < 4*300 || c.Txs != 1400 {
		t.Fatalf("%d transfers in %d transactions", c.Transfers, c.Txs)
	}
}

func BenchmarkExtract(b *testing.B) {
	c, err := Build(8, 350, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("inflow-grpc", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, blk := range c.Blocks {
				if _, err := Inflow(blk); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("http-json", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, blk := range c.Blocks {
				if _, err := Baseline(blk); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
