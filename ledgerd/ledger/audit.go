package ledger

import (
	"bytes"
	"fmt"

	"github.com/inflowhq/inflow/ledgerd/store"
)

// Audit recomputes every balance from the deposits and compares it with the
// stored balance rows: pending is the sum of pending and confirmed deposits,
// available the sum of completed ones, orphaned deposits count nowhere. It
// also checks that each deposit is in the merchant and block indexes.
func Audit(r store.Reader) error {
	// DB/<chain>0<number><hash><first id> and DM/<merchant>0<detected><first id>
	byBlock, err := indexed(r, "DB/", 8+32)
	if err != nil {
		return err
	}
	byMerchant, err := indexed(r, "DM/", 8)
	if err != nil {
		return err
	}
	want := map[string]*store.Balance{}
	err = store.ScanDeposits(r, func(d *store.Deposit) error {
		k := string(BalanceKey(d.Merchant, d.Ref(), d.Currency, d.Chain))
		b := want[k]
		if b == nil {
			b = &store.Balance{}
			want[k] = b
		}
		var ok = true
		switch d.Status {
		case store.StatusPending, store.StatusConfirmed:
			b.Pending, ok = b.Pending.Add(d.Amount)
		case store.StatusCompleted:
			b.Available, ok = b.Available.Add(d.Amount)
		case store.StatusOrphaned:
		default:
			return fmt.Errorf("deposit %s has status %q", d.ID, d.Status)
		}
		if !ok {
			return fmt.Errorf("balance overflow at %s", d.ID)
		}
		if !byBlock[d.ID] || !byMerchant[d.ID] {
			return fmt.Errorf("deposit %s: in the block index %v, in the merchant index %v", d.ID, byBlock[d.ID], byMerchant[d.ID])
		}
		return nil
	})
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	err = store.Scan(r, []byte("B/"), false, func(k, v []byte) (bool, error) {
		got, err := store.DecodeBalance(v)
		if err != nil {
			return false, err
		}
		w := want[string(k)]
		if w == nil {
			w = &store.Balance{}
		}
		if got.Pending.Cmp(w.Pending) != 0 || got.Available.Cmp(w.Available) != 0 {
			return false, fmt.Errorf("balance %q: stored pending=%s available=%s, deposits say pending=%s available=%s",
				k, got.Pending, got.Available, w.Pending, w.Available)
		}
		seen[string(k)] = true
		return true, nil
	})
	if err != nil {
		return err
	}
	for k, w := range want {
		if !seen[k] && (!w.Pending.IsZero() || !w.Available.IsZero()) {
			return fmt.Errorf("deposits make balance %q (pending=%s available=%s) but no row exists", k, w.Pending, w.Available)
		}
	}
	return nil
}

// indexed returns every deposit id an index names. Its keys are the prefix,
// a name without 0x00, 0x00, fixed bytes of length fixed, and the first id.
func indexed(r store.Reader, prefix string, fixed int) (map[string]bool, error) {
	out := map[string]bool{}
	err := store.Scan(r, []byte(prefix), false, func(k, v []byte) (bool, error) {
		sep := bytes.IndexByte(k, 0)
		if sep < 0 || len(k) < sep+1+fixed {
			return false, fmt.Errorf("index key %q", k)
		}
		ids, err := store.IndexIDs(k, v, sep+1+fixed)
		if err != nil {
			return false, err
		}
		for _, id := range ids {
			out[id] = true
		}
		return true, nil
	})
	return out, err
}
