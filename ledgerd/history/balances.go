package history

import (
	"strings"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
)

// BalanceView is one row of GET /balances.
type BalanceView struct {
	DepositReference string `json:"depositReference"`
	Currency         string `json:"currency"`
	Pending          string `json:"pending"`
	Available        string `json:"available"`
	total            string
}

// Balances sums a merchant's balances per reference and currency across
// chains, exactly: each chain's base units are scaled to the largest
// decimals of that currency before adding. ref nil means every attributed
// reference.
func Balances(rd store.Reader, table *assets.Config, merchant string, ref *string, currency string) ([]BalanceView, error) {
	var accounts []refAccount
	if ref != nil {
		a, err := store.GetAccount(rd, merchant, *ref)
		if err != nil {
			return nil, err
		}
		accounts = append(accounts, refAccount{*ref, &a})
	} else {
		err := store.ScanAccounts(rd, merchant, func(ref string, a *store.Account) error {
			accounts = append(accounts, refAccount{ref, a})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return balanceViews(table, accounts, currency), nil
}

type refAccount struct {
	ref string
	a   *store.Account
}

// balanceViews sums accounts' balances per reference and currency, in
// reference and currency order.
func balanceViews(table *assets.Config, accounts []refAccount, currency string) []BalanceView {
	out := []BalanceView{}
	for _, ra := range accounts {
		if ra.ref == "" {
			continue // unattributed deposits have no reference balance
		}
		bs := ra.a.Balances // in (currency, chain) order
		for i := 0; i < len(bs); {
			cur := bs[i].Currency
			var pending, avail, total chain.Sum
			for ; i < len(bs) && bs[i].Currency == cur; i++ {
				dec := uint8(0)
				if a, err := table.Currency(bs[i].Chain, cur); err == nil {
					dec = a.Decimals
				}
				pending.AddAmount(bs[i].Pending, dec)
				avail.AddAmount(bs[i].Available, dec)
				total.AddAmount(bs[i].Pending, dec)
				total.AddAmount(bs[i].Available, dec)
			}
			if currency != "" && !strings.EqualFold(cur, currency) {
				continue
			}
			out = append(out, BalanceView{DepositReference: ra.ref, Currency: cur,
				Pending: pending.Decimal(), Available: avail.Decimal(), total: total.Decimal()})
		}
	}
	return out
}
