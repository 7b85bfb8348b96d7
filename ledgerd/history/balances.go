package history

import (
	"math/big"
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
			var pending, avail []part
			maxDec := uint8(0)
			for ; i < len(bs) && bs[i].Currency == cur; i++ {
				dec := uint8(0)
				if a, err := table.Currency(bs[i].Chain, cur); err == nil {
					dec = a.Decimals
				}
				pending = append(pending, part{bs[i].Pending, dec})
				avail = append(avail, part{bs[i].Available, dec})
				maxDec = max(maxDec, dec)
			}
			if currency != "" && !strings.EqualFold(cur, currency) {
				continue
			}
			p, a := sumParts(pending, maxDec), sumParts(avail, maxDec)
			t, _ := p.Add(a)
			out = append(out, BalanceView{DepositReference: ra.ref, Currency: cur,
				Pending: p.Decimal(maxDec), Available: a.Decimal(maxDec), total: t.Decimal(maxDec)})
		}
	}
	return out
}

type part struct {
	v   chain.Amount
	dec uint8
}

// sumParts adds amounts of different decimals, each scaled to `to` decimals.
func sumParts(ps []part, to uint8) chain.Amount {
	sum := new(big.Int)
	for _, p := range ps {
		v := p.v.Big()
		v.Mul(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(to-p.dec)), nil))
		sum.Add(sum, v)
	}
	out, err := chain.AmountFromBig(sum)
	if err != nil {
		// Scaled balances beyond 256 bits cannot come from real tokens; show
		// the largest amount rather than a wrapped one.
		out, _ = chain.ParseAmount("115792089237316195423570985008687907853269984665640564039457584007913129639935")
	}
	return out
}
