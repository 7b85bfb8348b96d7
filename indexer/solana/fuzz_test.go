package solana

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	devsol "github.com/inflowhq/inflow/pkg/devnet/solana"
	"github.com/inflowhq/inflow/pkg/testenv"
)

// FuzzExtract: whatever a node answers, the extractor returns an error or
// a block, never a panic, and every transfer it gives has a signature and
// a recipient's or token account's 32 bytes.
func FuzzExtract(f *testing.F) {
	if dir, ok := testenv.FixturesDir(); ok {
		for _, slot := range []string{"100000000", "241043141"} {
			if b, err := os.ReadFile(filepath.Join(dir, "solana", "mainnet", slot, "block.json")); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"blockhash":"11111111111111111111111111111111","transactions":[{"meta":{"err":null,"fee":5000,"preBalances":[1,2],"postBalances":[1,2],"innerInstructions":[{"index":0,"instructions":[{"programIdIndex":1,"accounts":[0,1],"data":"3Bxs4h24hBtQy9rw"}]}],"preTokenBalances":[],"postTokenBalances":[],"loadedAddresses":{"writable":[],"readonly":[]}},"transaction":["AQ==","base64"]}]}`))
	// A devnet block in base64 and json: every deposit path, a failure, a
	// vote, a v0 transaction.
	if d, err := devsol.Start(devsol.Config{}); err == nil {
		to := devsol.DevAddresses(1)[0].String()
		d.Mine(1)
		d.Transfer(to, "SOL", "1")
		d.Transfer(to, "USDT", "2")
		d.Transfer(to, "USDF", "3")
		d.TransferViaRouter(to, 5)
		d.TransferV0(to, 6)
		d.TransferFailing(to, 7)
		slot, _ := d.Mine(1)
		for _, enc := range []string{"base64", "json"} {
			body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"getBlock","params":[%d,{"encoding":"%s","transactionDetails":"full","rewards":false,"commitment":"confirmed","maxSupportedTransactionVersion":0}]}`, slot, enc)
			if resp, err := http.Post(d.URL(), "application/json", strings.NewReader(body)); err == nil {
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if res, _, err := envelope(raw); err == nil {
					f.Add(res)
				}
			}
		}
		d.Close()
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		res, err := Extract(raw, 7, Options{Watched: func(k []byte) bool { return len(k) == 32 && k[0]&1 == 0 }})
		if err != nil {
			return
		}
		for _, tr := range res.Block.Transfers {
			if len(tr.TxHash) != 64 {
				t.Fatalf("a transfer with a %d-byte signature", len(tr.TxHash))
			}
			if tr.To.IsZero() && tr.TokenAccount.IsZero() {
				t.Fatal("a transfer to nothing")
			}
		}
	})
}
