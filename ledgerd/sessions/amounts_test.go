package sessions

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
)

var local = []chain.ID{"evm-devnet", "bitcoin-regtest", "tron-devnet", "solana-localnet"}

func TestOptions(t *testing.T) {
	table := assets.Default()
	names := func(os []Option) string {
		var out []string
		for _, o := range os {
			out = append(out, fmt.Sprintf("%s/%s/%s", o.Chain, o.Currency, o.Due.Decimal(o.Decimals)))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		reqs   []Request
		chains []chain.ID
		want   string
		err    error
	}{
		{reqs: []Request{{"USDT", "15.5"}}, want: "evm-devnet/USDT/15.5 solana-localnet/USDT/15.5 tron-devnet/USDT/15.5"},
		{reqs: []Request{{"USDT", "15.5"}}, chains: []chain.ID{"tron-devnet"}, want: "tron-devnet/USDT/15.5"},
		// A seed code on a chain that is not enabled: its family's enabled
		// chains carrying the currency stand in.
		{reqs: []Request{{"tUSDT", "2"}}, want: "tron-devnet/USDT/2"},
		{reqs: []Request{{"BTC", "0.001"}}, want: "bitcoin-regtest/BTC/0.001"},
		{reqs: []Request{{"SOL", "1"}, {"sUSDT", "3"}}, want: "solana-localnet/SOL/1 solana-localnet/USDT/3"},
		{reqs: []Request{{"USD", "10"}}, want: "evm-devnet/USDT/10 evm-devnet/DAI/10 solana-localnet/USDT/10 tron-devnet/USDT/10"},
		{reqs: []Request{{"XYZ", "1"}}, err: ErrUnknownCurrency},
		{reqs: []Request{{"BTC", "1"}}, chains: []chain.ID{"evm-devnet"}, err: ErrNoOption},
		{reqs: []Request{{"USDT", "0"}}, err: ErrBadAmount},
		{reqs: []Request{{"USDT", "-1"}}, err: ErrBadAmount},
		{reqs: []Request{{"USDT", "1.0000001"}}, err: ErrBadAmount},
		{reqs: []Request{{"BTC", "0.000000001"}}, err: ErrBadAmount},
	} {
		got, err := Options(table, local, tc.chains, tc.reqs)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%v: %v %s, want %v", tc.reqs, err, names(got), tc.err)
			}
			continue
		}
		if err != nil || names(got) != tc.want {
			t.Errorf("%v on %v: %q %v\n want %q", tc.reqs, tc.chains, names(got), err, tc.want)
		}
	}
	open, err := Options(table, []chain.ID{"tron-devnet"}, nil, nil)
	if err != nil || len(open) < 2 {
		t.Fatalf("open-amount options %v %v", open, err)
	}
	for _, o := range open {
		if !o.Due.IsZero() {
			t.Errorf("an open-amount option has an amount: %+v", o)
		}
	}
}

// TestExactDecimals (property): any amount with at most the asset's
// decimals is taken exactly; one more decimal is refused, never rounded.
func TestExactDecimals(t *testing.T) {
	table := assets.Default()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, cur := range []struct {
		chain chain.ID
		code  string
	}{{"evm-devnet", "USDT"}, {"bitcoin-regtest", "BTC"}, {"solana-localnet", "SOL"}, {"evm-devnet", "DAI"}} {
		a, err := table.Currency(cur.chain, cur.code)
		if err != nil {
			t.Fatal(err)
		}
		for range 500 {
			whole := rng.Uint64N(1_000_000)
			k := rng.IntN(int(a.Decimals) + 1)
			frac := ""
			for range k {
				frac += string(rune('0' + rng.IntN(10)))
			}
			s := fmt.Sprint(whole)
			if k > 0 {
				s += "." + frac
			}
			want := new(big.Int).SetUint64(whole)
			want.Mul(want, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(a.Decimals)), nil))
			if k > 0 {
				f, _ := new(big.Int).SetString(frac, 10)
				want.Add(want, f.Mul(f, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(int(a.Decimals)-k)), nil)))
			}
			opts, err := Options(table, []chain.ID{cur.chain}, nil, []Request{{cur.code, s}})
			if want.Sign() == 0 {
				if !errors.Is(err, ErrBadAmount) {
					t.Errorf("%s %s (zero): %v", s, cur.code, err)
				}
				continue
			}
			if err != nil || len(opts) != 1 || opts[0].Due.Big().Cmp(want) != 0 {
				t.Fatalf("%s %s: %v %v, want %s base units", s, cur.code, opts, err, want)
			}
			over := fmt.Sprintf("%d.%s%d", whole, frac+strings.Repeat("0", int(a.Decimals)-k), 1+rng.IntN(9))
			if _, err := Options(table, []chain.ID{cur.chain}, nil, []Request{{cur.code, over}}); !errors.Is(err, ErrBadAmount) {
				t.Fatalf("%s %s (one decimal too many): %v", over, cur.code, err)
			}
		}
	}
}

func amt(v uint64) chain.Amount { return chain.AmountFromUint64(v) }

// TestTolerance (property): a session completes exactly when its confirmed
// payments reach the amount due less the tolerance (rounded down in the
// customer's disfavour: never more allowance than set); pending ones never
// complete it.
func TestTolerance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		due := 1 + rng.Uint64N(1_000_000_000)
		bps := uint32(rng.IntN(600))
		got := rng.Uint64N(due + due/10 + 1)
		opts := []Option{{Chain: "tron-devnet", Currency: "USDT", Decimals: 6, Due: amt(due)}}
		st := Evaluate(StatusPending, opts, []Payment{{"tron-devnet", "USDT", amt(got), "confirmed"}}, bps, true, false)
		need := due - due*uint64(bps)/10000
		want := got >= need && got > 0
		if (st.Status == StatusCompleted) != want {
			t.Fatalf("due %d, %d bps, got %d: %s (need %d)", due, bps, got, st.Status, need)
		}
		if !want && got > 0 && st.Status != StatusAttempted {
			t.Fatalf("an underpayment confirmed is %s, want attempted", st.Status)
		}
		if st.Received.Uint64() != got {
			t.Fatalf("received %s, want %d", st.Received, got)
		}
		// The boundary itself, and one base unit short of it.
		at := Evaluate(StatusPending, opts, []Payment{{"tron-devnet", "USDT", amt(need), "confirmed"}}, bps, true, false)
		short := Evaluate(StatusPending, opts, []Payment{{"tron-devnet", "USDT", amt(need - 1), "confirmed"}}, bps, true, false)
		if at.Status != StatusCompleted || need > 1 && short.Status == StatusCompleted {
			t.Fatalf("due %d, %d bps: %d gives %s, %d gives %s", due, bps, need, at.Status, need-1, short.Status)
		}
		pend := Evaluate(StatusPending, opts, []Payment{{"tron-devnet", "USDT", amt(due * 2), "pending"}}, bps, true, false)
		if pend.Status != StatusInitiated || pend.Received.Sign() != 0 || pend.Seen.Uint64() != due*2 {
			t.Fatalf("a pending overpayment: %+v", pend)
		}
	}
}

// TestOptionsPaidApart (property): with several options, only payments in
// an option count for it: the session completes when one option's own
// payments reach its amount, whatever was paid in the others, and the
// figures are that option's. A payment in an asset not offered counts for
// nothing.
func TestOptionsPaidApart(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	opts := []Option{
		{Chain: "tron-devnet", Currency: "USDT", Decimals: 6, Due: amt(10_000_000)},
		{Chain: "evm-devnet", Currency: "USDT", Decimals: 6, Due: amt(10_000_000)},
		{Chain: "solana-localnet", Currency: "SOL", Decimals: 9, Due: amt(2_000_000_000)},
	}
	for range 3000 {
		var pays []Payment
		sums := make([]uint64, len(opts))
		for k := rng.IntN(6); k > 0; k-- {
			i := rng.IntN(len(opts) + 1)
			v := 1 + rng.Uint64N(opts[min(i, len(opts)-1)].Due.Big().Uint64()*6/10)
			if i == len(opts) {
				pays = append(pays, Payment{"evm-devnet", "DAI", amt(v), "confirmed"}) // not offered
				continue
			}
			pays = append(pays, Payment{opts[i].Chain, opts[i].Currency, amt(v), "confirmed"})
			sums[i] += v
		}
		st := Evaluate(StatusPending, opts, pays, 0, true, false)
		complete := -1
		for i, s := range sums {
			if s >= opts[i].Due.Big().Uint64() {
				complete = i
				break
			}
		}
		if (st.Status == StatusCompleted) != (complete >= 0) {
			t.Fatalf("sums %v: %s", sums, st.Status)
		}
		if complete >= 0 && (st.Option != complete || st.Received.Uint64() != sums[complete]) {
			t.Fatalf("sums %v: option %d received %s, want option %d", sums, st.Option, st.Received, complete)
		}
		if st.Option >= 0 && st.Received.Uint64() != sums[st.Option] {
			t.Fatalf("sums %v: option %d received %s", sums, st.Option, st.Received)
		}
	}
}

// TestStatusNeverBack (property): over any run of events a session's
// status only moves forward, completed and expired are final, and an
// orphaned counted payment makes it attempted.
func TestStatusNeverBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	opts := []Option{{Chain: "tron-devnet", Currency: "USDT", Decimals: 6, Due: amt(100)}}
	for range 2000 {
		status := StatusCreated
		var pays []Payment
		opened, expired := false, false
		for step := 0; step < 12; step++ {
			switch rng.IntN(5) {
			case 0:
				opened = true
			case 1:
				pays = append(pays, Payment{"tron-devnet", "USDT", amt(1 + rng.Uint64N(60)), "pending"})
			case 2:
				if len(pays) > 0 {
					pays[rng.IntN(len(pays))].Status = "confirmed"
				}
			case 3:
				if len(pays) > 0 {
					pays[rng.IntN(len(pays))].Status = "orphaned"
				}
			case 4:
				expired = expired || rng.IntN(4) == 0
			}
			st := Evaluate(status, opts, pays, 0, opened, expired)
			if rank[st.Status] < rank[status] || (status == StatusCompleted || status == StatusExpired) && st.Status != status {
				t.Fatalf("%s went to %s", status, st.Status)
			}
			for _, p := range pays {
				if p.Status == "orphaned" && st.Status != StatusCompleted && st.Status != StatusExpired && st.Status != StatusAttempted {
					t.Fatalf("an orphaned payment left the session %s", st.Status)
				}
			}
			status = st.Status
		}
	}
}
