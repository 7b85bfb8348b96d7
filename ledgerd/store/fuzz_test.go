package store

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/inflowhq/inflow/pkg/chain"
)

// The store's record codecs read rows back from disk: a row of any shape
// is an error or a record, never a panic, and a record read re-encodes to
// a row that reads as the same record.

func FuzzDecodeDeposit(f *testing.F) {
	d := testDeposit()
	f.Add(d.Encode())
	late := d
	late.AfterUnbind, late.Maturity, late.Network, late.TokenAccount = true, 100, chain.NetworkRegtest, make([]byte, 32)
	f.Add(late.Encode())
	f.Add([]byte(`{"id":"dep_1","amount":"5","status":"pending"}`))
	f.Add([]byte{codecV2, 0xff, 0, 1, 6})
	f.Fuzz(func(t *testing.T, row []byte) {
		var got Deposit
		if err := DecodeDeposit(d.ID, row, &got); err != nil {
			return
		}
		if row[0] == '{' {
			return // the JSON form of the first versions: not written any more
		}
		if _, ok := statusIndex(got.Status); !ok {
			t.Fatalf("decoded status %q", got.Status)
		}
		var again Deposit
		if err := DecodeDeposit(d.ID, got.Encode(), &again); err != nil {
			t.Fatalf("re-encoded row does not read: %v", err)
		}
		if row[0] == codecV1 {
			got.ID = d.ID // a version 1 row names its own id
			again.ID = d.ID
		}
		if !reflect.DeepEqual(normal(got), normal(again)) {
			t.Fatalf("read\n%+v\nre-encoded and read\n%+v", got, again)
		}
	})
}

// normal makes equal deposits compare equal: times by instant, empty
// slices as nil.
func normal(d Deposit) Deposit {
	for _, p := range []**time.Time{&d.ConfirmedAt, &d.CompletedAt, &d.OrphanedAt} {
		if *p != nil {
			t := (*p).UTC()
			*p = &t
		}
	}
	d.DetectedAt = d.DetectedAt.UTC()
	if len(d.Address) == 0 {
		d.Address = nil
	}
	if len(d.TxHash) == 0 {
		d.TxHash = nil
	}
	if len(d.TokenAccount) == 0 {
		d.TokenAccount = nil
	}
	return d
}

func statusIndex(s string) (int, bool) {
	for i, v := range statusCodes {
		if v == s {
			return i, true
		}
	}
	return 0, false
}

func FuzzDecodeAccount(f *testing.F) {
	var a Account
	a.Deposits, a.LastDepositAt = 3, time.Unix(1_700_000_000, 0).UTC()
	*a.Balance("USDT", "ethereum") = Balance{Pending: chain.AmountFromUint64(7), Available: chain.AmountFromUint64(9)}
	f.Add(a.AppendEncode(nil))
	f.Add([]byte{codecV1})
	f.Fuzz(func(t *testing.T, row []byte) {
		got, err := DecodeAccount(row)
		if err != nil {
			return
		}
		again, err := DecodeAccount(got.AppendEncode(nil))
		if err != nil {
			t.Fatalf("re-encoded account does not read: %v", err)
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("read %+v, re-encoded and read %+v", got, again)
		}
	})
}

func FuzzDecodeBlockStatus(f *testing.F) {
	f.Add(BlockStatus{Status: StatusConfirmed, Confirmed: 1_700_000_000_000_000_000}.AppendEncode(nil))
	f.Fuzz(func(t *testing.T, row []byte) {
		got, err := DecodeBlockStatus(row)
		if err != nil {
			return
		}
		again, err := DecodeBlockStatus(got.AppendEncode(nil))
		if err != nil || !reflect.DeepEqual(got, again) {
			t.Fatalf("read %+v, re-encoded and read %+v, %v", got, again, err)
		}
	})
}

func FuzzDecodeOutboxRow(f *testing.F) {
	f.Add(OutboxRow{Kind: OutboxEvent, Key: []byte("dep_1"), Value: []byte(`{}`)}.Encode())
	f.Add(OutboxRow{Kind: OutboxAddress, Key: []byte{1, 2}}.Encode())
	f.Fuzz(func(t *testing.T, row []byte) {
		got, err := DecodeOutboxRow(row)
		if err != nil {
			return
		}
		if !bytes.Equal(got.Encode(), row) {
			// One row, one spelling: a row that reads is the row its
			// record writes.
			t.Fatalf("row %x reads as %+v, which writes %x", row, got, got.Encode())
		}
	})
}
