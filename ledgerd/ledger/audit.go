package ledger

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/inflowhq/inflow/ledgerd/store"
)

// Audit recomputes every account from the deposits and compares it with the
// stored account rows: a balance's pending is the sum of its pending and
// confirmed deposits, available the sum of completed ones, orphaned deposits
// count nowhere, and an account's deposit count is its deposits that are not
// orphaned. It also checks that each deposit is in the merchant and block
// indexes.
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
	want := map[string]*store.Account{}
	err = store.ScanDeposits(r, func(d *store.Deposit) error {
		k := string(store.AccountKey(d.Merchant, d.Ref()))
		a := want[k]
		if a == nil {
			a = &store.Account{}
			want[k] = a
		}
		b := a.Balance(d.Currency, d.Chain)
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
		if d.Status != store.StatusOrphaned {
			a.Deposits++
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
	err = store.Scan(r, []byte("RB/"), false, func(k, v []byte) (bool, error) {
		got, err := store.DecodeAccount(v)
		if err != nil {
			return false, err
		}
		w := want[string(k)]
		if w == nil {
			w = &store.Account{}
		}
		if got.Deposits != w.Deposits {
			return false, fmt.Errorf("account %q: stored %d deposits, the deposits say %d", k, got.Deposits, w.Deposits)
		}
		for _, b := range got.Balances {
			wb := w.Balance(b.Currency, b.Chain)
			if b.Pending.Cmp(wb.Pending) != 0 || b.Available.Cmp(wb.Available) != 0 {
				return false, fmt.Errorf("account %q, %s on %s: stored pending=%s available=%s, deposits say pending=%s available=%s",
					k, b.Currency, b.Chain, b.Pending, b.Available, wb.Pending, wb.Available)
			}
		}
		for _, wb := range w.Balances {
			if b := got.Balance(wb.Currency, wb.Chain); b.Pending.IsZero() && b.Available.IsZero() && (!wb.Pending.IsZero() || !wb.Available.IsZero()) {
				return false, fmt.Errorf("account %q has no balance of %s on %s, deposits say pending=%s available=%s",
					k, wb.Currency, wb.Chain, wb.Pending, wb.Available)
			}
		}
		seen[string(k)] = true
		return true, nil
	})
	if err != nil {
		return err
	}
	for k, w := range want {
		if !seen[k] && (w.Deposits != 0 || slices.ContainsFunc(w.Balances, func(b store.AccountBalance) bool { return !b.Pending.IsZero() || !b.Available.IsZero() })) {
			return fmt.Errorf("deposits make account %q (%d deposits) but no row exists", k, w.Deposits)
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
