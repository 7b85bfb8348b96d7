package chain

import "testing"

// The checksum test vectors of BIP173 (bech32) and BIP350 (bech32m).
func TestBech32Checksums(t *testing.T) {
	valid := []struct {
		s string
		v bech32Variant
	}{
		{"A12UEL5L", bech32Plain},
		{"a12uel5l", bech32Plain},
		{"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs", bech32Plain},
		{"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", bech32Plain},
		{"11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j", bech32Plain},
		{"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w", bech32Plain},
		{"?1ezyfcl", bech32Plain},
		{"A1LQFN3A", bech32M},
		{"a1lqfn3a", bech32M},
		{"an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6", bech32M},
		{"abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx", bech32M},
		{"11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8", bech32M},
		{"split1checkupstagehandshakeupstreamerranterredcaperredlc445v", bech32M},
		{"?1v759aa", bech32M},
	}
	for _, c := range valid {
		hrp, data, v, err := bech32Decode(c.s)
		if err != nil || v != c.v {
			t.Errorf("%s: variant %x, %v", c.s, v, err)
			continue
		}
		if back := bech32Encode(hrp, data, v); back != toLower(c.s) {
			t.Errorf("%s: encoded back as %s", c.s, back)
		}
	}
	invalid := []string{
		" 1nwldj5", "\x7f1axkwrx", "\x801eym55h",
		"an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
		"pzry9x0s0muk", "1pzry9x0s0muk", "x1b4n0q5v", "li1dgmt3", "de1lg7wt\xff", "A1G7SGD8", "10a06t8", "1qzzfhee",
		"\x201xj0phk", "\x7f1g6xzxy", "\x801vctc34",
		"an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",
		"qyrz8wqd2c9m", "1qyrz8wqd2c9m", "y1b0jsk6g", "lt1igcx5c0", "in1muywd", "mm1crxm3i", "au1s5cgom", "M1VUXWEZ", "16plkw9", "1p2gdwpf",
		"split1checkupstagehandshakeupstreamerranterredcaperred2y9e2w", "A12UEL5l",
	}
	for _, s := range invalid {
		if _, _, v, err := bech32Decode(s); err == nil {
			t.Errorf("%q decoded (variant %x)", s, v)
		}
	}
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}
