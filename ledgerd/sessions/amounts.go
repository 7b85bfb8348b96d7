// Package sessions is the payment sessions' accounting: which ways of
// paying a session offers (its options, from the currency codes a merchant
// asks for), and what the payments made so far make of it (Evaluate).
//
// It is pure: no store, no clock of its own. The session records, the
// API and the checkout page that build on it are issue 19's remaining
// work (see the README's status of the payment-session flows).
//
// Invariants: amounts are exact base units of their asset, never floats;
// a session's options are paid independently (a payment counts only for
// the option of its own chain and currency: 10 USDT on Tron and 5 USDT
// on Ethereum do not make 15 of either); a status never moves back.
package sessions

import (
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
)

// Statuses of a session, in the order they move.
const (
	StatusCreated   = "created"
	StatusPending   = "pending"   // the checkout page was opened
	StatusInitiated = "initiated" // a payment is seen
	StatusAttempted = "attempted" // confirmed payments fall short, or a counted one was orphaned
	StatusCompleted = "completed"
	StatusExpired   = "expired"
)

var rank = map[string]int{StatusCreated: 0, StatusPending: 1, StatusInitiated: 2, StatusAttempted: 3, StatusCompleted: 4, StatusExpired: 4}

// Errors of this package.
var (
	ErrUnknownCurrency = errors.New("sessions: unknown currency")
	ErrBadAmount       = errors.New("sessions: bad amount")
	ErrNoOption        = errors.New("sessions: no enabled chain carries the currency")
)

// Option is one way to pay a session: an asset on a chain, and the amount
// due in it (zero for an open-amount session).
type Option struct {
	Chain    chain.ID
	Currency string
	Decimals uint8
	Due      chain.Amount
}

// Request is one entry of a session's amounts: a currency code and an
// amount in its units.
type Request struct {
	Code   string
	Amount string
}

// stablecoins are paid at par for USD.
var stablecoins = map[string]bool{"USDT": true, "USDC": true, "DAI": true, "USDC.E": true}

// Options resolves a session's requested amounts into its payment options
// over the enabled chains (restricted to chainIDs when not empty):
//   - a seed code (tUSDT, eUSDC, BTC, SOL…) names one asset on one chain;
//     where that chain is not enabled, the enabled chains of the same
//     family that carry the currency stand in (a local chain in make run);
//   - a bare currency (USDT) means every enabled chain that carries it;
//   - USD means every USD stablecoin on the enabled chains, at par.
//
// With no requests, every asset of the enabled chains is an option with
// no amount (an open-amount session). An amount must be positive and have
// no more decimals than the asset.
func Options(table *assets.Config, enabled []chain.ID, chainIDs []chain.ID, reqs []Request) ([]Option, error) {
	allowed := map[chain.ID]bool{}
	for _, id := range enabled {
		if len(chainIDs) == 0 || contains(chainIDs, id) {
			allowed[id] = true
		}
	}
	var out []Option
	add := func(a *assets.Asset, amount string) error {
		due := chain.Amount{}
		if amount != "" {
			v, err := chain.ParseDecimal(amount, a.Decimals)
			if err != nil || v.IsZero() {
				return fmt.Errorf("%w: %q for %s on %s (%d decimals; it must be positive)", ErrBadAmount, amount, a.Currency, a.Chain, a.Decimals)
			}
			due = v
		}
		for _, o := range out {
			if o.Chain == a.Chain && o.Currency == a.Currency {
				return nil // named twice (USDT and USD): the first amount stands
			}
		}
		out = append(out, Option{Chain: a.Chain, Currency: a.Currency, Decimals: a.Decimals, Due: due})
		return nil
	}
	ids := make([]chain.ID, 0, len(allowed))
	for id := range allowed {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if len(reqs) == 0 {
		for _, id := range ids {
			spec, _ := table.Chain(id)
			for _, a := range spec.Assets {
				if err := add(a, ""); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	}
	for _, r := range reqs {
		n := len(out)
		switch {
		case r.Code == "USD":
			for _, id := range ids {
				spec, _ := table.Chain(id)
				for _, a := range spec.Assets {
					if stablecoins[strings.ToUpper(a.Currency)] {
						if err := add(a, r.Amount); err != nil {
							return nil, err
						}
					}
				}
			}
		default:
			if a, err := table.Code(r.Code); err == nil {
				if allowed[a.Chain] {
					if err := add(a, r.Amount); err != nil {
						return nil, err
					}
					break
				}
				spec, _ := table.Chain(a.Chain)
				for _, id := range ids {
					other, _ := table.Chain(id)
					if other.Family != spec.Family {
						continue
					}
					if oa, err := table.Currency(id, a.Currency); err == nil {
						if err := add(oa, r.Amount); err != nil {
							return nil, err
						}
					}
				}
				break
			}
			known := false
			for _, id := range ids {
				if a, err := table.Currency(id, r.Code); err == nil {
					known = true
					if err := add(a, r.Amount); err != nil {
						return nil, err
					}
				}
			}
			if !known && !knownAnywhere(table, r.Code) {
				return nil, fmt.Errorf("%w: %q", ErrUnknownCurrency, r.Code)
			}
		}
		if len(out) == n {
			return nil, fmt.Errorf("%w: %q on the chains offered", ErrNoOption, r.Code)
		}
	}
	return out, nil
}

func knownAnywhere(table *assets.Config, code string) bool {
	if _, err := table.Code(code); err == nil {
		return true
	}
	for _, spec := range table.Chains {
		if _, err := table.Currency(spec.ID, code); err == nil {
			return true
		}
	}
	return false
}

func contains(ids []chain.ID, id chain.ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// Payment is a deposit counted for a session.
type Payment struct {
	Chain    chain.ID
	Currency string
	Amount   chain.Amount
	// Status is the deposit's: pending, confirmed, completed or orphaned.
	Status string
}

// State is what a session's payments make of it.
type State struct {
	Status string
	// Option is the index of the option the figures are for: the one paid
	// furthest towards its amount due (-1: no payment in any option).
	Option int
	// Received is the confirmed (or completed) amount in that option, in
	// its base units; Seen also counts pending payments. (Sums can pass
	// 256 bits only in theory; big.Int keeps them exact regardless.)
	Received, Seen *big.Int
}

// Evaluate folds a session's payments into its state: the status it has
// reached (never below prev), and the amounts of the option paid furthest.
// A payment counts only for the option of its chain and currency.
// tolerance is the merchant's allowance in basis points of the amount due
// (0 to 10000): a session completes when the confirmed payments reach the
// amount due less it. An open-amount option completes on any confirmed
// payment. opened says the checkout page was opened; expired that the
// session's time is up (payments after it are late, not counted: the
// caller leaves them out).
func Evaluate(prev string, opts []Option, pays []Payment, toleranceBps uint32, opened, expired bool) State {
	st := State{Status: prev, Option: -1, Received: new(big.Int), Seen: new(big.Int)}
	type sums struct{ confirmed, seen *big.Int }
	per := make([]sums, len(opts))
	for i := range per {
		per[i] = sums{new(big.Int), new(big.Int)}
	}
	orphaned, anySeen := false, false
	for _, p := range pays {
		i := optionOf(opts, p)
		if i < 0 {
			continue
		}
		switch p.Status {
		case "orphaned":
			orphaned = true
		case "confirmed", "completed":
			per[i].confirmed.Add(per[i].confirmed, p.Amount.Big())
			per[i].seen.Add(per[i].seen, p.Amount.Big())
			anySeen = true
		default:
			per[i].seen.Add(per[i].seen, p.Amount.Big())
			anySeen = true
		}
	}
	// The option paid furthest: by confirmed share of its amount due,
	// then by seen share.
	best, bestC, bestS := -1, new(big.Rat), new(big.Rat)
	complete := false
	for i, o := range opts {
		c, s := share(per[i].confirmed, o.Due), share(per[i].seen, o.Due)
		if per[i].seen.Sign() == 0 {
			continue
		}
		if best < 0 || c.Cmp(bestC) > 0 || c.Cmp(bestC) == 0 && s.Cmp(bestS) > 0 {
			best, bestC, bestS = i, c, s
		}
		if reached(per[i].confirmed, o.Due, toleranceBps) {
			complete = true
			best, bestC, bestS = i, c, s
			break
		}
	}
	if best >= 0 {
		st.Option = best
		st.Received, st.Seen = per[best].confirmed, per[best].seen
	}
	next := StatusCreated
	switch {
	case complete:
		next = StatusCompleted
	case expired:
		next = StatusExpired
	case orphaned || best >= 0 && per[best].confirmed.Sign() > 0:
		next = StatusAttempted
	case anySeen:
		next = StatusInitiated
	case opened:
		next = StatusPending
	}
	if rank[next] > rank[st.Status] || next == StatusExpired && st.Status != StatusCompleted {
		st.Status = next
	}
	return st
}

func optionOf(opts []Option, p Payment) int {
	for i, o := range opts {
		if o.Chain == p.Chain && o.Currency == p.Currency {
			return i
		}
	}
	return -1
}

// share is got/due (1 for an open amount once anything is got).
func share(got *big.Int, due chain.Amount) *big.Rat {
	if due.IsZero() {
		if got.Sign() > 0 {
			return big.NewRat(1, 1)
		}
		return new(big.Rat)
	}
	return new(big.Rat).SetFrac(got, due.Big())
}

// reached says whether got covers due less toleranceBps of it (rounded
// down: the allowance never exceeds the merchant's setting).
func reached(got *big.Int, due chain.Amount, toleranceBps uint32) bool {
	if due.IsZero() {
		return got.Sign() > 0
	}
	allow := new(big.Int).Mul(due.Big(), big.NewInt(int64(min(toleranceBps, 10000))))
	allow.Div(allow, big.NewInt(10000))
	need := new(big.Int).Sub(due.Big(), allow)
	return got.Cmp(need) >= 0 && got.Sign() > 0
}
