package tron

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/inflowhq/inflow/pkg/chain"
	devtron "github.com/inflowhq/inflow/pkg/devnet/tron"
)

// TestClientOnDevnet reads the devnet through the gRPC client: the head,
// the solidified block, and a block's TRX, TRC10 and TRC20 transfers, with
// the failed USDT transfers in it giving nothing.
func TestClientOnDevnet(t *testing.T) {
	d, err := devtron.Start(devtron.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := Dial(Options{URL: d.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	to := devtron.DevAddresses(3)[2]
	trx, _ := d.Transfer(to.String(), "TRX", "1.5")
	usdt, _ := d.Transfer(to.String(), "USDT", "7.25")
	btt, _ := d.Transfer(to.String(), "BTT", "2")
	d.TransferFailing(to.String(), false)
	d.TransferFailing(to.String(), true)
	head, _ := d.Mine(22)
	if got, err := c.Head(ctx); err != nil || got != head {
		t.Fatalf("head %d %v, want %d", got, err, head)
	}
	fin, err := c.Finalized(ctx)
	if err != nil || fin.Number != head-devtron.SolidityLag {
		t.Fatalf("finalized %v %v", fin, err)
	}
	if id, _ := d.BlockID(fin.Number); id != fin.Hash {
		t.Error("the finalized block's id is not the devnet's")
	}
	b, err := c.FetchBlock(ctx, head-21)
	if err != nil {
		t.Fatal(err)
	}
	if b.TxCount != 5 || len(b.Transfers) != 3 {
		t.Fatalf("%d transactions, %d transfers: %+v", b.TxCount, len(b.Transfers), b.Transfers)
	}
	want := map[string]string{trx: "native 1500000", usdt: "trc20 7250000", btt: "trc10 2000000"}
	for _, tr := range b.Transfers {
		id := hex.EncodeToString(tr.TxHash)
		if got := tr.Kind.String() + " " + tr.Value.String(); got != want[id] || tr.To != to {
			t.Errorf("%s: %s to %s, want %s", id, got, tr.To, want[id])
		}
		if tr.Kind == chain.KindTRC20 && (tr.Token.String() != "TDpb5Me1roYN1uTj1jS3kaaePU8E3tJuEE" || tr.Index != 0) {
			t.Errorf("USDT transfer %+v", tr)
		}
		if tr.Kind == chain.KindTRC10 && tr.Asset != devtron.BTTID {
			t.Errorf("BTT transfer %+v", tr)
		}
	}
	hdr, err := c.Header(ctx, head-21)
	if err != nil || hdr != b.Ref {
		t.Errorf("header %v %v, block %v", hdr, err, b.Ref)
	}
	if _, err := c.FetchBlock(ctx, head+1); !errors.Is(err, ErrNotFound) {
		t.Errorf("a block above the head: %v", err)
	}
	for _, bad := range []string{"http://" + d.Addr(), "grpc://", "grpc://u@" + d.Addr(), d.Addr()} {
		if _, err := Dial(Options{URL: bad}); err == nil {
			t.Errorf("Dial(%q) accepted", bad)
		}
	}
}
