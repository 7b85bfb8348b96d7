package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/inflowhq/inflow/pkg/chain"
)

func sampleRecords(t testing.TB) []*Record {
	to, _ := chain.ParseAddress(chain.FamilyEVM, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
	from, _ := chain.ParseAddress(chain.FamilyEVM, "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359")
	token, _ := chain.ParseAddress(chain.FamilyEVM, "0xdac17f958d2ee523a2206206994597c13d831ec7")
	big, _ := chain.ParseAmount("115792089237316195423570985008687907853269984665640564039457584007913129639935")
	btcTo, _ := chain.ParseAddress(chain.FamilyBitcoin, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")
	tronA, _ := chain.ParseAddress(chain.FamilyTron, "TGkKgKy8dKNE6u1wmwo8Tnf5XsZrrJ8Lbz")
	tronB, _ := chain.ParseAddress(chain.FamilyTron, "TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre")
	h := chain.Hash{1, 2, 3}
	p := chain.Hash{9, 9}
	return []*Record{
		{Type: TypeBlockConnected, Chain: "ethereum", Family: chain.FamilyEVM, Number: 19_000_000, Hash: h, Parent: p, Time: 1_700_000_000,
			Transfers: []chain.Transfer{
				{TxHash: bytes.Repeat([]byte{0xaa}, 32), Index: chain.IndexNative, Kind: chain.KindNative, From: from, To: to, Value: chain.AmountFromUint64(1e18), AddressID: 7},
				{TxHash: bytes.Repeat([]byte{0xbb}, 32), Index: 12, Kind: chain.KindERC20, Token: token, From: from, To: to, Value: big, AddressID: 1 << 40},
				{TxHash: bytes.Repeat([]byte{0xcc}, 32), Index: 13, Kind: chain.KindERC20, Token: token, To: to}, // mint, zero value
			}},
		{Type: TypeBlockConnected, Chain: "evm-devnet", Family: chain.FamilyEVM, Number: 0, Hash: h, Time: -1},
		{Type: TypeBlockDisconnected, Chain: "polygon", Family: chain.FamilyEVM, Number: 5, Hash: h},
		{Type: TypeFinalized, Chain: "base-sepolia", Family: chain.FamilyEVM, Number: 1 << 62, Hash: h},
		{Type: TypeBlockRescanned, Chain: "ethereum", Family: chain.FamilyEVM, Number: 18_000_000, Hash: h, Parent: p, Time: 1_690_000_000,
			Transfers: []chain.Transfer{{TxHash: bytes.Repeat([]byte{0xab}, 32), Index: 4, Kind: chain.KindERC20, Token: token, From: from, To: to, Value: big, AddressID: 9}}},
		{Type: TypeBlockConnected, Chain: "bitcoin", Family: chain.FamilyBitcoin, Number: 800000, Hash: h, Parent: p,
			Transfers: []chain.Transfer{{TxHash: []byte{1, 2}, Index: 3, Kind: chain.KindNative, To: btcTo, Value: chain.AmountFromUint64(5000)}}},
		{Type: TypeBlockConnected, Chain: "tron", Family: chain.FamilyTron, Number: 70_000_000, Hash: h, Parent: p,
			Transfers: []chain.Transfer{{TxHash: bytes.Repeat([]byte{0xdd}, 32), Index: chain.IndexNative, Kind: chain.KindTRC10, Asset: "1002000",
				From: tronA, To: tronB, Value: chain.AmountFromUint64(8888880000)}}},
		{Type: TypeBlockConnected, Chain: "solana", Family: chain.FamilySolana, Number: 300_000_000, Hash: h, Parent: p,
			Transfers: []chain.Transfer{{TxHash: bytes.Repeat([]byte{0xee}, 64), Index: chain.SolanaIndex(3, 1), Kind: chain.KindSPL,
				Token: chain.MustAddress(chain.FamilySolana, bytes.Repeat([]byte{1}, 32)), To: chain.MustAddress(chain.FamilySolana, bytes.Repeat([]byte{2}, 32)),
				TokenAccount: chain.MustAddress(chain.FamilySolana, bytes.Repeat([]byte{3}, 32)), Value: chain.AmountFromUint64(7)}}},
		{Type: TypeBlockConnected, Chain: "bitcoin", Family: chain.FamilyBitcoin, Number: 800001, Hash: p, Parent: h,
			Transfers: []chain.Transfer{ // a coinbase output and another output of the block
				{TxHash: []byte{3}, Index: 0, Kind: chain.KindNative, To: btcTo, Value: chain.AmountFromUint64(625e6), Maturity: chain.CoinbaseMaturity},
				{TxHash: []byte{4}, Index: 1, Kind: chain.KindNative, To: btcTo, Value: chain.AmountFromUint64(1)}}},
	}
}

// TestVersions: a record is written in version 1 unless a transfer has a
// maturity, and a version 1 record reads as one with no maturity.
func TestVersions(t *testing.T) {
	for _, r := range sampleRecords(t) {
		b, _ := r.Marshal()
		want := byte(1)
		for _, tr := range r.Transfers {
			if tr.Maturity != 0 || tr.Asset != "" || !tr.TokenAccount.IsZero() {
				want = 2
			}
		}
		if b[0] != want {
			t.Errorf("%s written in version %d, want %d", r, b[0], want)
		}
	}
	r := sampleRecords(t)[7]
	b, _ := r.Marshal()
	if _, err := Unmarshal(b[:len(b)-1]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a version 2 record without its last maturity read: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, r := range sampleRecords(t) {
		b, err := r.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("%s: unmarshal: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
		if got.ID() != r.ID() {
			t.Errorf("%s: id changed across round trip", r)
		}
		// Every strict prefix is an error, never a silent partial record.
		for i := 0; i < len(b); i++ {
			if _, err := Unmarshal(b[:i]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: prefix of %d/%d bytes: err = %v", r, i, len(b), err)
			}
		}
		if _, err := Unmarshal(append(b, 0)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: trailing byte accepted: %v", r, err)
		}
	}
}

func TestIDIdentity(t *testing.T) {
	rs := sampleRecords(t)
	a := *rs[0]
	b := a
	b.Transfers = nil // the id names the event, not its payload
	if a.ID() != b.ID() {
		t.Error("same (type, chain, number, hash) gave different ids")
	}
	// A rescan's transfers are part of its identity: two rescans of one
	// block for other addresses are two events.
	for _, r := range rs {
		if r.Type == TypeBlockRescanned {
			c := *r
			c.Transfers = nil
			if c.ID() == r.ID() {
				t.Error("rescans of one block with other transfers have the same id")
			}
		}
	}
	seen := map[ID]string{}
	for _, r := range rs {
		for _, typ := range []Type{TypeBlockConnected, TypeBlockDisconnected, TypeFinalized, TypeBlockRescanned} {
			c := *r
			c.Type = typ
			if prev, dup := seen[c.ID()]; dup {
				t.Errorf("%s collides with %s", c.String(), prev)
			}
			seen[c.ID()] = c.String()
		}
	}
}

func TestRejects(t *testing.T) {
	good, _ := sampleRecords(t)[2].Marshal()
	cases := map[string][]byte{
		"empty":          nil,
		"future version": append([]byte{Version + 1}, good[1:]...),
		"version 0":      append([]byte{0}, good[1:]...),
		"unknown type":   append([]byte{1, 9}, good[2:]...),
		"unknown family": append([]byte{1, 2, 0}, good[3:]...),
	}
	for name, b := range cases {
		if _, err := Unmarshal(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	bad := &Record{Type: TypeBlockConnected, Chain: "x", Family: chain.FamilyEVM,
		Transfers: []chain.Transfer{{Kind: chain.KindNative, To: chain.MustAddress(chain.FamilySolana, make([]byte, 32))}}}
	if _, err := bad.Marshal(); err == nil {
		t.Error("a solana address in an evm record was encoded")
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, r := range sampleRecords(f) {
		b, _ := r.Marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Unmarshal(b)
		if err != nil {
			return
		}
		again, err := r.Marshal()
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		r2, err := Unmarshal(again)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encode not stable: %v", err)
		}
	})
}

func TestAddressRecord(t *testing.T) {
	a, _ := chain.ParseAddress(chain.FamilyEVM, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
	for _, r := range []AddressRecord{{Address: a, ID: 1}, {Address: a, ID: 1 << 50}, {Address: a, Removed: true}} {
		got, err := ParseAddressRecord(r.Key(), r.Value())
		if err != nil || got != r {
			t.Errorf("round trip %+v: %+v %v", r, got, err)
		}
	}
	for name, kv := range map[string][2][]byte{
		"zero id":     {a.Key(), {1, 0}},
		"bad version": {a.Key(), {7, 1}},
		"trailing":    {a.Key(), {1, 1, 1}},
		"bad key":     {{1, 2, 3}, {1, 1}},
		"empty value": {a.Key(), {}},
	} {
		if _, err := ParseAddressRecord(kv[0], kv[1]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestAPITime(t *testing.T) {
	ts := APITime{time.Date(2025, 1, 20, 15, 30, 0, 123456789, time.UTC)}
	b, err := json.Marshal(struct {
		At APITime  `json:"at"`
		P  *APITime `json:"p"`
	}{At: ts, P: &ts})
	if err != nil || string(b) != `{"at":"2025-01-20T15:30:00.123Z","p":"2025-01-20T15:30:00.123Z"}` {
		t.Fatalf("%s %v", b, err)
	}
	var back struct{ At APITime }
	if err := json.Unmarshal([]byte(`{"At":"2025-01-20T15:30:00.123Z"}`), &back); err != nil || !back.At.Equal(ts.Truncate(time.Millisecond)) {
		t.Fatalf("%v %v", back.At, err)
	}
}
