package solbench

import "testing"

// TestCorpusAgrees: both sides (and both encodings) find the same
// transfers in every block, and the blocks hold what they should.
func TestCorpusAgrees(t *testing.T) {
	c, err := Build(2, 300, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Txs < 2*300 || c.Transfers < 2*80 {
		t.Fatalf("%d transfers in %d transactions", c.Transfers, c.Txs)
	}
}

func BenchmarkExtract(b *testing.B) {
	c, err := Build(2, 1500, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	for name, side := range map[string]func(*Block) (int, error){"inflow-base64": Inflow(c), "inflow-json": InflowJSON(c), "solana-go": Baseline} {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				for _, blk := range c.Blocks {
					if _, err := side(blk); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
