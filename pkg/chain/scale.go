package chain

import "math/big"

// One currency can have different decimals on different chains (USDT has 6
// on Ethereum and 18 on BNB Chain), so quantities of a currency are added
// and compared in base units brought to one scale first. This is the one
// place that does it: balances, analytics and sorting by amount use it.

var pow10 = func() (t [78]*big.Int) {
	for i := range t {
		t[i] = new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(i)), nil)
	}
	return t
}()

// tenTo is 10^n.
func tenTo(n uint8) *big.Int {
	if int(n) < len(pow10) {
		return pow10[n]
	}
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// Rescale returns v base units at from decimals as base units at to
// decimals, to ≥ from; v is not changed.
func Rescale(v *big.Int, from, to uint8) *big.Int {
	out := new(big.Int).Set(v)
	if to > from {
		out.Mul(out, tenTo(to-from))
	}
	return out
}

// CompareScaled compares a at ad decimals with b at bd decimals, in
// currency units.
func CompareScaled(a *big.Int, ad uint8, b *big.Int, bd uint8) int {
	top := max(ad, bd)
	return Rescale(a, ad, top).Cmp(Rescale(b, bd, top))
}

// Sum is an exact sum of quantities of one currency at mixed decimals. The
// zero value is an empty sum.
type Sum struct {
	units map[uint8]*big.Int // decimals → base units
}

// Add adds v base units at decimals.
func (s *Sum) Add(v *big.Int, decimals uint8) {
	if s.units == nil {
		s.units = map[uint8]*big.Int{}
	}
	if u := s.units[decimals]; u != nil {
		u.Add(u, v)
	} else {
		s.units[decimals] = new(big.Int).Set(v)
	}
}

// AddAmount adds an amount of base units at decimals.
func (s *Sum) AddAmount(a Amount, decimals uint8) { s.Add(a.Big(), decimals) }

// Total is the sum in base units at the largest decimals added.
func (s *Sum) Total() (*big.Int, uint8) {
	var top uint8
	for d := range s.units {
		top = max(top, d)
	}
	total := new(big.Int)
	for d, u := range s.units {
		total.Add(total, Rescale(u, d, top))
	}
	return total, top
}

// Decimal is the sum as a decimal string in currency units, without
// trailing zeros ("0" when empty).
func (s *Sum) Decimal() string {
	total, top := s.Total()
	return FormatDecimal(total.String(), top)
}
