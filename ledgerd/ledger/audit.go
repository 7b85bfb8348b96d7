package ledger

import (
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
	byBlock, err := indexed(r, store.ScanBlockIndex)
	if err != nil {
		return err
	}
	byMerchant, err := indexed(r, store.ScanMerchantIndex)
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
	err = store.Scan(r, store.AccountPrefix(), false, func(k, v []byte) (bool, error) {
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

// indexed returns every deposit id an index names.
func indexed(r store.Reader, scan func(store.Reader, func([]string) error) error) (map[string]bool, error) {
	out := map[string]bool{}
	err := scan(r, func(ids []string) error {
		for _, id := range ids {
			out[id] = true
		}
		return nil
	})
	return out, err
}
