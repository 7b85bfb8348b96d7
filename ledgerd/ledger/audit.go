package ledger

import (
	"encoding/json"
	"fmt"

	"github.com/inflowhq/inflow/ledgerd/store"
)

// Audit recomputes every balance from the deposits and compares it with the
// stored balance rows: pending is the sum of pending and confirmed deposits,
// available the sum of completed ones, orphaned deposits count nowhere. It
// also checks each deposit's index entries against its status.
func Audit(r store.Reader) error {
	want := map[string]*store.Balance{}
	err := store.Scan(r, []byte("D/"), false, func(_, v []byte) (bool, error) {
		var d store.Deposit
		if err := json.Unmarshal(v, &d); err != nil {
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
		open, err := store.Has(r, openKey(d.Chain, d.BlockNumber, d.ID))
		if err != nil {
			return false, err
		}
		if isOpen := d.Status == store.StatusPending || d.Status == store.StatusConfirmed; open != isOpen {
			return false, fmt.Errorf("deposit %s is %s but its open index entry exists=%v", d.ID, d.Status, open)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	err = store.Scan(r, []byte("B/"), false, func(k, v []byte) (bool, error) {
		var got store.Balance
		if err := json.Unmarshal(v, &got); err != nil {
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
