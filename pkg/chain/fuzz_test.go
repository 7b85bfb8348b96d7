package chain

import (
	"testing"
)

// Address parsers read what merchants import and bind: any text is an
// error or an address, never a panic, and an address writes text that
// parses back to it.

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"0x71C7656EC7ab88b098defB751B7401B5f6d8976F", "0x71c7656ec7ab88b098defb751b7401b5f6d8976f",
		"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "41a614f803b6fd780986a42c78ec9c7f77e6ded13c", "So11111111111111111111111111111111111111112",
		"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kdw5r5p", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
		"bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", ""} {
		for fam := byte(1); fam <= 4; fam++ {
			f.Add(fam, s)
		}
	}
	f.Fuzz(func(t *testing.T, fam byte, s string) {
		if len(s) > 512 {
			return
		}
		family := Family(fam%4 + 1)
		a, err := ParseAddress(family, s)
		if err != nil {
			return
		}
		if a.Family() != family || a.IsZero() {
			t.Fatalf("ParseAddress(%s, %q) = %v of family %s", family, s, a, a.Family())
		}
		text := a.String()
		b, err := ParseAddress(family, text)
		if err != nil || !b.Equal(a) {
			t.Fatalf("%q parses as %v, which writes %q, which parses as %v, %v", s, a, text, b, err)
		}
		if c, err := NewAddress(family, a.Bytes()); err != nil || !c.Equal(a) {
			t.Fatalf("%q: its bytes %x make %v, %v", s, a.Bytes(), c, err)
		}
	})
}

func FuzzParseBitcoinAddress(f *testing.F) {
	for _, s := range []string{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kdw5r5p", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
		"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",
		"2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc", "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297",
		"BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 512 {
			return
		}
		a, net, err := ParseBitcoinAddress(s)
		if err != nil {
			return
		}
		text := a.Text(net)
		b, net2, err := ParseBitcoinAddress(text)
		if err != nil || !b.Equal(a) || net2 != net && !sameEncoding(net, net2) {
			t.Fatalf("%q parses as %x on %s, which writes %q, which parses as %x on %s, %v", s, a.Bytes(), net, text, b.Bytes(), net2, err)
		}
	})
}

// sameEncoding: networks whose addresses are written alike (testnet,
// testnet4 and signet share their prefixes).
func sameEncoding(a, b Network) bool {
	return a.params().hrp == b.params().hrp
}
