package store

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/inflowhq/inflow/pkg/chain"
)

// Index rows of tagged ids are written compactly, in runs of one tag, and
// read back in the order written; a row with any other id keeps the
// earlier form; the earlier forms still read; a damaged row is an error.
func TestIndexRowForms(t *testing.T) {
	tagged := []string{
		"dep_00000000018b888d001d81cfd6ef329a",
		"dep_00000000018b888d00ffffffffffffff",
		"dep_00000000018c00000000000000000001",
		"dep_00000000018b888d0000000000000000", // back to the first tag: a new run
	}
	key := []byte("DB/x\x00first")
	row := AppendIDs(nil, tagged)
	// A 0 byte, then three runs: 2 ids, 1 id, 1 id.
	if want := 1 + (8 + 1 + 2*8) + (8 + 1 + 8) + (8 + 1 + 8); len(row) != want {
		t.Fatalf("compact row of %d bytes, want %d", len(row), want)
	}
	got, err := IndexIDs(key, row, 4)
	if err != nil || !slices.Equal(got, tagged) {
		t.Fatalf("read back %v, %v", got, err)
	}

	mixed := []string{tagged[0], "dep_0123456789abcdef01234567", "dep_00000000018B888D001D81CFD6EF329A"}
	row = AppendIDs(nil, mixed)
	if row[0] != 36 {
		t.Fatalf("a row with an untagged id starts with %d, want the first id's length", row[0])
	}
	if got, err := IndexIDs(key, row, 4); err != nil || !slices.Equal(got, mixed) {
		t.Fatalf("read back %v, %v", got, err)
	}
	if got, err := IndexIDs([]byte("DM/m\x00\x00\x00\x00\x00\x00\x00\x00\x01dep_x"), nil, 13); err != nil || fmt.Sprint(got) != "[dep_x]" {
		t.Fatalf("a row of the one-id form read as %v, %v", got, err)
	}

	row = AppendIDs(nil, tagged)
	for _, cut := range []int{1, 5, 9, 12, len(row) - 1} {
		if got, err := IndexIDs(key, row[:cut], 4); err == nil {
			t.Errorf("a row cut at %d bytes read as %v", cut, got)
		}
	}
}

// A tagged id is dep_ and 32 lower-case hex digits; any other form is kept
// as text, so that it reads back as it was written.
func TestRawID(t *testing.T) {
	for _, c := range []struct {
		id string
		ok bool
	}{
		{"dep_00000000018b888d001d81cfd6ef329a", true},
		{"dep_ffffffffffffffffffffffffffffffff", true},
		{"dep_00000000018B888D001D81CFD6EF329A", false}, // upper case
		{"dep_00000000018b888d001d81cfd6ef329g", false},
		{"dep_00000000018b888d001d81cfd6ef329:", false}, // the byte after '9'
		{"dep_00000000018b888d001d81cfd6ef329`", false}, // the byte before 'a'
		{"dep_00000000018b888d001d81cfd6ef329", false},
		{"dep_0123456789abcdef01234567", false}, // an id from before block tags
		{"xyz_00000000018b888d001d81cfd6ef329a", false},
	} {
		raw, ok := rawID(c.id)
		if ok != c.ok {
			t.Errorf("rawID(%q) ok = %v, want %v", c.id, ok, c.ok)
			continue
		}
		if ok && IDOfRaw(raw[:]) != c.id {
			t.Errorf("rawID(%q) = %x, which spells %s", c.id, raw, IDOfRaw(raw[:]))
		}
	}
}

func testDeposit() Deposit {
	ref := "alice"
	conf := time.Unix(1_700_000_100, 5).UTC()
	addr := make([]byte, 20)
	for i := range addr {
		addr[i] = byte(i + 1)
	}
	return Deposit{ID: "dep_00000000018b888d001d81cfd6ef329a", Merchant: "mer_e139fafcd92c0738", Reference: &ref, Chain: "ethereum", Family: chain.FamilyEVM,
		Currency: "USDT", Decimals: 6, Amount: chain.AmountFromUint64(1_500_000), AddressID: 77, Address: addr, TxHash: []byte("0123456789abcdef0123456789abcdef"),
		Index: 3, BlockNumber: 21_000_000, BlockHash: chain.Hash{1, 2, 3}, BlockTime: 1_700_000_000, Status: StatusConfirmed,
		DetectedAt: time.Unix(1_700_000_001, 7).UTC(), ConfirmedAt: &conf, Replaces: "dep_00000000018b888dffffffffffffffffff"}
}

// A deposit row reads back as written, without its id in the row; a row of
// version 1, as the previous release wrote it, still reads; a row cut short
// or with bytes after its last field is an error.
func TestDepositForms(t *testing.T) {
	d := testDeposit()
	max := d
	max.Amount, _ = chain.ParseAmount("115792089237316195423570985008687907853269984665640564039457584007913129639935")
	max.Index, max.AddressID, max.BlockNumber, max.BlockTime = 1<<32-1, 1<<64-1, 1<<64-1, -1
	max.Reference, max.ConfirmedAt, max.Replaces = nil, nil, ""
	zero := d
	zero.Amount = chain.Amount{}
	coinbase := d // a Bitcoin coinbase output on regtest
	coinbase.Family, coinbase.Maturity, coinbase.Network = chain.FamilyBitcoin, 100, chain.NetworkRegtest
	spl := d // a Solana SPL deposit, with its token account
	spl.Family, spl.TokenAccount = chain.FamilySolana, make([]byte, 32)
	spl.TokenAccount[5] = 9
	late := spl // one that came during its reference's cooldown (version 3)
	late.AfterUnbind = true
	for _, want := range []Deposit{d, max, zero, coinbase, spl, late} {
		row := want.Encode()
		if bytes.Contains(row, []byte(want.ID)) {
			t.Errorf("the row holds the id its key names")
		}
		var got Deposit
		if err := DecodeDeposit(want.ID, row, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("read back\n%+v\nwant\n%+v", got, want)
		}
		for _, bad := range [][]byte{row[:len(row)-1], append(row[:len(row):len(row)], 0)} {
			if err := DecodeDeposit(want.ID, bad, &got); err == nil {
				t.Errorf("a row of %d bytes (of %d) read", len(bad), len(row))
			}
		}
	}
	v1, _ := hex.DecodeString("011301010600000003000000000000004d0000000001406f40000000006553f10017979cfe71c4ca0717979d157ea0e8050102030000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000016e360246465705f3030303030303030303138623838386430303164383163666436656633323961146d65725f6531333966616663643932633037333808657468657265756d0455534454140102030405060708090a0b0c0d0e0f101112131420303132333435363738396162636465663031323334353637383961626364656605616c696365266465705f30303030303030303031386238383864666666666666666666666666666666666666")
	var got Deposit
	if err := DecodeDeposit(d.ID, v1, &got); err != nil || !reflect.DeepEqual(got, d) {
		t.Errorf("a version 1 row read as\n%+v, %v\nwant\n%+v", got, err, d)
	}
	if v := late.Encode()[0]; v != codecV3 {
		t.Errorf("an after-unbind row is version %d, want 3", v)
	}
	if v := spl.Encode()[0]; v != codecV2 {
		t.Errorf("a row without later flags is version %d, want 2", v)
	}
	// No id (38 bytes), an amount in 4 bytes instead of 32, and varints.
	if v2 := d.Encode(); len(v1)-len(v2) < 38+28+15 {
		t.Errorf("a deposit row of %d bytes, against %d in version 1", len(v2), len(v1))
	}
}

// An account reads back as written; one of version 1 still reads.
func TestAccountForms(t *testing.T) {
	var want Account
	want.Deposits, want.LastDepositAt = 12, time.Unix(1_700_000_001, 7).UTC()
	*want.Balance("USDT", "ethereum") = Balance{Pending: chain.AmountFromUint64(1_500_000), Available: chain.AmountFromUint64(42)}
	*want.Balance("ETH", "base") = Balance{Available: chain.AmountFromUint64(1)}
	row := want.AppendEncode(nil)
	got, err := DecodeAccount(row)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("read back %+v, %v; want %+v", got, err, want)
	}
	if len(row) > 50 {
		t.Errorf("an account of two balances in %d bytes", len(row))
	}
	for _, bad := range [][]byte{row[:len(row)-1], append(row[:len(row):len(row)], 0)} {
		if _, err := DecodeAccount(bad); err == nil {
			t.Errorf("an account row of %d bytes (of %d) read", len(bad), len(row))
		}
	}
	v1, _ := hex.DecodeString("01000000000000000c17979cfe71c4ca070203455448046261736500000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001045553445408657468657265756d000000000000000000000000000000000000000000000000000000000016e360000000000000000000000000000000000000000000000000000000000000002a")
	if got, err := DecodeAccount(v1); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("a version 1 account read as %+v, %v; want %+v", got, err, want)
	}
}
