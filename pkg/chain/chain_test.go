package chain

import (
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestParseEVMAddress(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		// EIP-55 test vectors.
		{in: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", want: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"},
		{in: "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", want: "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"},
		{in: "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", want: "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb"},
		{in: "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb", want: "0xd1220a0cf47c7b9be7a2e6ba89f429762e7b9adb"},
		{in: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", want: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"},
		{in: "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED", want: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"},
		{in: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", wantErr: ErrChecksum},
		{in: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae", wantErr: ErrBadAddress},
		{in: "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed00", wantErr: ErrBadAddress},
		{in: "0xzzaeb6053f3e94c9b9a09f33669435e7ef1beaed", wantErr: ErrBadAddress},
		{in: "", wantErr: ErrBadAddress},
	}
	for _, tt := range tests {
		a, err := ParseAddress(FamilyEVM, tt.in)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ParseAddress(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseAddress(%q): %v", tt.in, err)
			continue
		}
		if a.String() != tt.want {
			t.Errorf("ParseAddress(%q) = %s, want %s", tt.in, a, tt.want)
		}
		mixed := tt.in[2:] != strings.ToLower(tt.in[2:]) && tt.in[2:] != strings.ToUpper(tt.in[2:])
		if mixed && a.Checksummed() != tt.in {
			t.Errorf("Checksummed(%s) = %s, want %s", a, a.Checksummed(), tt.in)
		}
	}
}

func TestParseOtherFamilies(t *testing.T) {
	tests := []struct {
		fam     Family
		in      string
		wantHex string // hex of canonical bytes
		wantOut string // String(); empty means equal to in
		bad     bool
	}{
		{fam: FamilyTron, in: "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", wantHex: "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"},
		{fam: FamilyTron, in: "41a614f803b6fd780986a42c78ec9c7f77e6ded13c", wantHex: "41a614f803b6fd780986a42c78ec9c7f77e6ded13c", wantOut: "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"},
		{fam: FamilyTron, in: "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u", bad: true},
		{fam: FamilySolana, in: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", wantHex: "c6fa7af3bedbad3a3d65f36aabc97431b1bbe4c2d2f6e0e47ca60203452f5d61"},
		{fam: FamilySolana, in: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt0", bad: true},
		{fam: FamilySolana, in: "3yZe7d", bad: true},
		{fam: FamilyBitcoin, in: "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", wantHex: "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"},
		{fam: FamilyBitcoin, in: "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", wantHex: "a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87"},
		{fam: FamilyBitcoin, in: "script:0014751e76e8199196d454941c45d1b3a323f1433bd6", wantHex: "0014751e76e8199196d454941c45d1b3a323f1433bd6", wantOut: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"},
		{fam: FamilyBitcoin, in: "script:51", wantHex: "51", wantOut: "script:51"},
		{fam: FamilyBitcoin, in: "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", bad: true},
	}
	for _, tt := range tests {
		a, err := ParseAddress(tt.fam, tt.in)
		if tt.bad {
			if !errors.Is(err, ErrBadAddress) {
				t.Errorf("ParseAddress(%s, %q) error = %v, want ErrBadAddress", tt.fam, tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseAddress(%s, %q): %v", tt.fam, tt.in, err)
		}
		if got := FormatHash(FamilyTron, a.Bytes()); got != tt.wantHex {
			t.Errorf("bytes of %q = %s, want %s", tt.in, got, tt.wantHex)
		}
		want := tt.wantOut
		if want == "" {
			want = tt.in
		}
		if a.String() != want {
			t.Errorf("String(%q) = %s, want %s", tt.in, a, want)
		}
		back, err := AddressFromKey(a.Key())
		if err != nil || back != a {
			t.Errorf("key round trip of %q: %v %v", tt.in, back, err)
		}
	}
}

func TestAmount(t *testing.T) {
	max := "115792089237316195423570985008687907853269984665640564039457584007913129639935"
	tests := []struct {
		in  string
		bad bool
	}{
		{in: "0"}, {in: "1"}, {in: "1000000000000000000"}, {in: max},
		{in: "115792089237316195423570985008687907853269984665640564039457584007913129639936", bad: true},
		{in: "-1", bad: true}, {in: "1.5", bad: true}, {in: "", bad: true}, {in: "0x10", bad: true},
	}
	for _, tt := range tests {
		a, err := ParseAmount(tt.in)
		if tt.bad != (err != nil) {
			t.Errorf("ParseAmount(%q) err = %v, bad = %v", tt.in, err, tt.bad)
			continue
		}
		if err == nil && a.String() != tt.in {
			t.Errorf("ParseAmount(%q) = %s", tt.in, a)
		}
	}
	m, _ := ParseAmount(max)
	if _, ok := m.Add(AmountFromUint64(1)); ok {
		t.Error("max+1 did not report overflow")
	}
	if _, ok := AmountFromUint64(1).Sub(AmountFromUint64(2)); ok {
		t.Error("1-2 did not report underflow")
	}
	s, ok := AmountFromUint64(7).Add(AmountFromUint64(5))
	if !ok || s.String() != "12" {
		t.Errorf("7+5 = %s %v", s, ok)
	}
}

func TestParseID(t *testing.T) {
	for _, ok := range []string{"ethereum", "ethereum-sepolia", "evm-devnet", "base"} {
		if _, err := ParseID(ok); err != nil {
			t.Errorf("ParseID(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Ethereum", "eth_mainnet", "-eth", "eth-", "a b"} {
		if _, err := ParseID(bad); !errors.Is(err, ErrBadChainID) {
			t.Errorf("ParseID(%q) = %v, want ErrBadChainID", bad, err)
		}
	}
	if got := ID("polygon").Topic(); got != "inflow.chain.polygon" {
		t.Errorf("Topic = %s", got)
	}
}

func TestDecimal(t *testing.T) {
	tests := []struct {
		base string
		dec  uint8
		want string
	}{
		{"0", 6, "0"}, {"1", 6, "0.000001"}, {"1500000", 6, "1.5"}, {"100500000", 6, "100.5"},
		{"123", 0, "123"}, {"1000000000000000000", 18, "1"}, {"1", 18, "0.000000000000000001"},
	}
	for _, tt := range tests {
		a, _ := ParseAmount(tt.base)
		if got := a.Decimal(tt.dec); got != tt.want {
			t.Errorf("%s/%d = %s, want %s", tt.base, tt.dec, got, tt.want)
		}
		back, err := ParseDecimal(tt.want, tt.dec)
		if err != nil || back.String() != tt.base {
			t.Errorf("ParseDecimal(%s, %d) = %s, %v", tt.want, tt.dec, back, err)
		}
	}
	for _, bad := range []string{"", "1.", ".5", "1.0000001", "-1", "1e6", "1,5", "0x10", "1 "} {
		if _, err := ParseDecimal(bad, 6); err == nil {
			t.Errorf("ParseDecimal(%q) accepted", bad)
		}
	}
}

func TestScaledSums(t *testing.T) {
	var s Sum
	if s.Decimal() != "0" {
		t.Errorf("empty sum: %q", s.Decimal())
	}
	s.Add(big.NewInt(1_500_000), 6)                        // 1.5 USDT on a 6-decimal chain
	s.Add(new(big.Int).Mul(big.NewInt(25), tenTo(17)), 18) // 2.5 USDT on an 18-decimal chain
	s.AddAmount(AmountFromUint64(1), 18)                   // 1e-18
	if got := s.Decimal(); got != "4.000000000000000001" {
		t.Errorf("sum: %q", got)
	}
	for _, c := range []struct {
		a      int64
		ad     uint8
		b      int64
		bd     uint8
		expect int
	}{{1_000_000, 6, 1, 0, 0}, {1, 6, 1, 18, 1}, {5, 0, 6_000_000, 6, -1}} {
		if got := CompareScaled(big.NewInt(c.a), c.ad, big.NewInt(c.b), c.bd); got != c.expect {
			t.Errorf("CompareScaled(%d@%d, %d@%d) = %d", c.a, c.ad, c.b, c.bd, got)
		}
	}
}
