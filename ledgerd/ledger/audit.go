package ledger

import (
	"fmt"

	"github.com/inflowhq/inflow/ledgerd/store"
)

// Audit recomputes every balance from the deposits and compares it with the
// stored balance rows: pending is the sum of pending and confirmed deposits,
// available the sum of completed ones, orphaned deposits count nowhere. It
// also checks that each deposit is in the merchant and block indexes.
func Audit(r store.Reader) error {
	want := map[string]*store.Balance{}
	err := store.Scan(r, []byte("D/"), false, func(_, v []byte) (bool, error) {
		var d store.Deposit
		if err := store.DecodeDeposit(v, &d); err != nil {
			return false, err
		}
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
			return false, fmt.Errorf("deposit %s has status %q", d.ID, d.Status)
		}
		if !ok {
			return false, fmt.Errorf("balance overflow at %s", d.ID)
		}
		for _, k := range [][]byte{blockIndexKey(d.Chain, d.BlockNumber, d.BlockHash, d.ID), merchantIndexKey(&d)} {
			ok, err := store.Has(r, k)
			if err != nil {
				return false, err
			}
			if !ok {
				return false, fmt.Errorf("deposit %s is missing its index entry %q", d.ID, k)
			}
		}
		return true, nil
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
