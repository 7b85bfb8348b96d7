package payuri

import (
	"bytes"
	"errors"
	"image/png"
	"testing"

	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/testenv/qrtest"
)

func asset(t *testing.T, c *assets.Config, id chain.ID, cur string) (*assets.Chain, *assets.Asset) {
	t.Helper()
	spec, err := c.Chain(id)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Currency(id, cur)
	if err != nil {
		t.Fatal(err)
	}
	return spec, a
}

// TestURIs: each family's standard, with exact base units or decimals.
func TestURIs(t *testing.T) {
	c := assets.Default()
	for _, tc := range []struct {
		chain           chain.ID
		cur, to, amount string
		want            string
	}{
		{"bitcoin", "BTC", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "0.015", "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq?amount=0.015"},
		{"bitcoin", "BTC", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "", "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"},
		{"ethereum", "ETH", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "2.014", "ethereum:0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359@1?value=2014000000000000000"},
		{"ethereum", "USDT", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "15.5",
			"ethereum:0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer?address=0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359&uint256=15500000"},
		{"polygon", "USDC", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "", "ethereum:0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359@137/transfer?address=0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"},
		{"solana", "SOL", "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM", "1.25", "solana:9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM?amount=1.25"},
		{"solana", "USDT", "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM", "7",
			"solana:9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM?amount=7&spl-token=Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"},
		{"tron", "USDT", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "3", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"},
	} {
		spec, a := asset(t, c, tc.chain, tc.cur)
		got, err := URI(spec, a, tc.to, tc.amount)
		if err != nil || got != tc.want {
			t.Errorf("%s %s %s: %q %v\n want %q", tc.chain, tc.amount, tc.cur, got, err, tc.want)
		}
	}
	spec, a := asset(t, c, "ethereum", "USDT")
	for _, bad := range []string{"1.0000001", "-1", "1e6", "x", "."} {
		if _, err := URI(spec, a, "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", bad); !errors.Is(err, ErrAmount) {
			t.Errorf("amount %q: %v", bad, err)
		}
	}
}

// TestQRRoundTrip: the PNG decodes back to the URI with an independent
// decoder (gozxing).
func TestQRRoundTrip(t *testing.T) {
	uri := "ethereum:0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer?address=0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359&uint256=15500000"
	b, err := QR(uri, 256)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != 256 {
		t.Errorf("%d pixels wide", img.Bounds().Dx())
	}
	got, err := qrtest.Decode(img)
	if err != nil || got != uri {
		t.Fatalf("decoded %q %v", got, err)
	}
	if _, err := QR(uri, 10); err == nil {
		t.Error("a 10-pixel QR code was made")
	}
}
