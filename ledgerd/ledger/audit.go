package ledger

import (
	"fmt"
	"slices"

	"github.com/inflowhq/inflow/ledgerd/store"
)

// Audit recomputes every account from the deposits and compares it with the
// stored account rows: a balance's pending is the sum of its pending and
// confirmed deposits, available the sum of completed ones, orphaned deposits
// count nowhere, an account's deposit count is its deposits that are not
// orphaned, and its counts by status are its deposits in each. A merchant's
// totals row is its accounts added up. It also checks that each deposit is
// in the merchant and block indexes, and that the listings of open and of
// orphaned deposits hold exactly those.
func Audit(r store.Reader) error {
	byBlock, err := indexed(r, store.ScanBlockIndex)
	if err != nil {
		return err
	}
	byMerchant, err := indexed(r, store.ScanMerchantIndex)
	if err != nil {
		return err
	}
	listedOpen, err := listed(r, store.ScanListOpen)
	if err != nil {
		return err
	}
	listedOrphaned, err := listed(r, store.ScanListOrphaned)
	if err != nil {
		return err
	}
	want := map[string]*store.Account{}
	wantTotals := map[string]*store.Account{}
	err = store.ScanDeposits(r, func(d *store.Deposit) error {
		k := string(store.AccountKey(d.Merchant, d.Ref()))
		a := want[k]
		if a == nil {
			a = &store.Account{}
			want[k] = a
		}
		t := wantTotals[d.Merchant]
		if t == nil {
			t = &store.Account{}
			wantTotals[d.Merchant] = t
		}
		for _, row := range []*store.Account{a, t} {
			e := row.Entry(d.Currency, d.Chain)
			var ok = true
			switch d.Status {
			case store.StatusPending, store.StatusConfirmed:
				e.Pending, ok = e.Pending.Add(d.Amount)
			case store.StatusCompleted:
				e.Available, ok = e.Available.Add(d.Amount)
			case store.StatusOrphaned:
			default:
				return fmt.Errorf("deposit %s has status %q", d.ID, d.Status)
			}
			if !ok {
				return fmt.Errorf("balance overflow at %s", d.ID)
			}
			e.Count("", d.Status)
			if d.Status != store.StatusOrphaned {
				row.Deposits++
			}
		}
		lr := listRowOf(d)
		isOpen := d.Status == store.StatusPending || d.Status == store.StatusConfirmed
		if got, in := listedOpen[d.ID]; in != isOpen || in && got != lr {
			return fmt.Errorf("deposit %s (%s): in the listing of open deposits %v, as %+v (want %+v)", d.ID, d.Status, in, got, lr)
		}
		if got, in := listedOrphaned[d.ID]; in != (d.Status == store.StatusOrphaned) || in && got != lr {
			return fmt.Errorf("deposit %s (%s): in the listing of orphans %v, as %+v (want %+v)", d.ID, d.Status, in, got, lr)
		}
		delete(listedOpen, d.ID)
		delete(listedOrphaned, d.ID)
		if !byBlock[d.ID] || !byMerchant[d.ID] {
			return fmt.Errorf("deposit %s: in the block index %v, in the merchant index %v", d.ID, byBlock[d.ID], byMerchant[d.ID])
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id := range listedOpen {
		return fmt.Errorf("the listing of open deposits names %s, which is not an open deposit", id)
	}
	for id := range listedOrphaned {
		return fmt.Errorf("the listing of orphans names %s, which is not an orphaned deposit", id)
	}
	if err := compareAccounts(r, store.AccountPrefix(), func(k []byte) string { return string(k) }, want); err != nil {
		return err
	}
	return compareAccounts(r, store.MerchantTotalsPrefix(), func(k []byte) string { return string(k[len(store.MerchantTotalsPrefix()):]) }, wantTotals)
}

// compareAccounts checks the account rows under prefix against want, by
// the name name gives each key.
func compareAccounts(r store.Reader, prefix []byte, name func([]byte) string, want map[string]*store.Account) error {
	seen := map[string]bool{}
	err := store.Scan(r, prefix, false, func(k, v []byte) (bool, error) {
		got, err := store.DecodeAccount(v)
		if err != nil {
			return false, err
		}
		w := want[name(k)]
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
			if we := w.Entry(b.Currency, b.Chain); b.Counts != we.Counts {
				return false, fmt.Errorf("account %q, %s on %s: stored deposits by status %v, deposits say %v", k, b.Currency, b.Chain, b.Counts, we.Counts)
			}
		}
		for _, wb := range w.Balances {
			if b := got.Balance(wb.Currency, wb.Chain); b.Pending.IsZero() && b.Available.IsZero() && (!wb.Pending.IsZero() || !wb.Available.IsZero()) {
				return false, fmt.Errorf("account %q has no balance of %s on %s, deposits say pending=%s available=%s",
					k, wb.Currency, wb.Chain, wb.Pending, wb.Available)
			}
		}
		seen[name(k)] = true
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

// listed returns the row of every deposit a listing names.
func listed(r store.Reader, scan func(store.Reader, func(merchant string, detected int64, tag string, ids []string) error) error) (map[string]listRow, error) {
	out := map[string]listRow{}
	err := scan(r, func(merchant string, detected int64, tag string, ids []string) error {
		for _, id := range ids {
			if _, dup := out[id]; dup {
				return fmt.Errorf("deposit %s is listed twice", id)
			}
			out[id] = listRow{merchant, detected, tag}
		}
		return nil
	})
	return out, err
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
