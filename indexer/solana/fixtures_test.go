package solana

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mr-tron/base58"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/testenv"
)

func fixture(t *testing.T, slot string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Fixtures(t), "solana", "mainnet", slot, "block.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFixtureBlocks runs the rules over the two real mainnet blocks: the
// vote and failed transactions give nothing; the Serum settle's inner SPL
// transfer gives exactly its amount between its two token accounts. That
// old block's token balances name no owner, so the transfer's owner is
// left for the client to look up (a Lookup of the destination account),
// and the sender is the instruction's authority.
func TestFixtureBlocks(t *testing.T) {
	res, err := Extract(fixture(t, "100000000"), 100000000, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := res.Block
	if b.Ref.Hash.Format(chain.FamilySolana) != "GdY1gj7F8vq1nCy4dgCZK42WV19bkfQ4cp2e9evK18ry" ||
		b.Ref.Parent.Format(chain.FamilySolana) != "7KpgQJdgXdPhzj69gCnyvyBiw9s6DZ5gmfNrhQr3XW1t" || b.Ref.Time != 1633504705 || b.TxCount != 4 {
		t.Fatalf("block ref %+v, %d transactions", b.Ref, b.TxCount)
	}
	var spl, sol []chain.Transfer
	for _, tr := range b.Transfers {
		switch tr.Kind {
		case chain.KindSPL:
			spl = append(spl, tr)
		default:
			sol = append(sol, tr)
		}
		for _, bad := range []string{"2xRnwfAMxAvv5z2eiWC1YCR6bdcPj7ebPRTKFiFZuBHvWNc8QjM33W4Ev71T8C18g3yARJcHtMzC3VWTdASDybkU",
			"xjUw3f94FvbbGkhkokevTUn6aY4bHPcbnkF7ybe3MnM6a9DEEbkrURT5DP4JtnFJtpE7nLeX4qF27inBxXxnqi6"} {
			if base58.Encode(tr.TxHash) == bad {
				t.Errorf("a transfer from the vote or failed transaction %s", bad)
			}
		}
	}
	if len(spl) != 1 {
		t.Fatalf("%d SPL transfers: %+v", len(spl), spl)
	}
	tr := spl[0]
	if tr.Value.String() != "1242000000" || tr.Token.String() != "z3dn17yLaGMKffVogeFHQ9zWVcXgqgf3PQnDsNs2g6M" ||
		chain.SolanaPosition(tr.Index) != "0.1" || !tr.To.IsZero() {
		t.Errorf("the Serum settle's transfer: %+v at %s", tr, chain.SolanaPosition(tr.Index))
	}
	if len(res.Lookups) != 1 || res.Lookups[0].Account != tr.TokenAccount || res.Lookups[0].Transfer != indexOf(b.Transfers, tr) {
		t.Errorf("lookups %+v", res.Lookups)
	}
	// The self-transfer of the last transaction is a SOL transfer from and
	// to its fee payer.
	if len(sol) != 1 || sol[0].From != sol[0].To || sol[0].From.String() != "7ivguYMpnUBMboByJbKc7z31fJMg2pXYQ4nNPziWLchZ" {
		t.Errorf("SOL transfers %+v", sol)
	}
	// The jsonParsed block's one transaction failed: nothing.
	res, err = Extract(fixture(t, "241043141"), 241043141, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Block.Transfers) != 0 || res.Block.TxCount != 1 {
		t.Errorf("the failed transaction gave %+v", res.Block.Transfers)
	}
}

func indexOf(trs []chain.Transfer, t chain.Transfer) int {
	for i := range trs {
		if string(trs[i].TxHash) == string(t.TxHash) && trs[i].Index == t.Index {
			return i
		}
	}
	return -1
}
