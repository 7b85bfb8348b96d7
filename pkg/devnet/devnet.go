// Package devnet is what Inflow's local chains share: the control surface
// every one of them offers (Chain) and the HTTP control API over it
// (ControlAPI), the same for every chain:
//
//	POST /devnet/<chain>/transfer {to, currency, amount} → {txHash}
//	POST /devnet/<chain>/reorg {depth, dropTransactions} → {head}
//	POST /devnet/<chain>/mine {blocks} → {head}
//
// Amounts are decimal strings in currency units. Each chain family's local
// node lives in its own package (pkg/devnet/evm, …) and imports its chain
// SDK; this package imports none.
package devnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// Chain is one local chain's control surface.
type Chain interface {
	// ID is the chain's id (evm-devnet, bitcoin-regtest, …).
	ID() chain.ID
	// Currencies are the currency codes Transfer takes.
	Currencies() []string
	// Transfer sends amount (a decimal in currency units) of currency to to
	// and returns the transaction's id as the chain writes it. It is mined
	// in the next block.
	Transfer(to, currency, amount string) (txHash string, err error)
	// Reorg replaces the newest depth blocks with a longer branch; with
	// drop, the orphaned branch's transactions are not mined again.
	Reorg(depth int, drop bool) (head uint64, err error)
	// Mine mines blocks now.
	Mine(blocks int) (head uint64, err error)
	// Head is the newest block's number.
	Head() uint64
}

// Error kinds a Chain's methods return, for the control API's codes.
var (
	// ErrBadAddress: the to address is not one of the chain's.
	ErrBadAddress = errors.New("devnet: bad address")
	// ErrBadCurrency: the chain has no such currency.
	ErrBadCurrency = errors.New("devnet: unknown currency")
	// ErrBadAmount: not a positive decimal with at most the currency's
	// decimals.
	ErrBadAmount = errors.New("devnet: bad amount")
)

func apiError(err error) error {
	switch {
	case errors.Is(err, ErrBadAddress):
		return apierr.New(apierr.InvalidAddress, "%v", err)
	case errors.Is(err, ErrBadCurrency):
		return apierr.New(apierr.UnsupportedCurrency, "%v", err)
	}
	return apierr.New(apierr.ValidationFailed, "%v", err)
}

// route serves one control endpoint: it finds the chain in the path,
// decodes the JSON body into a T, and answers fn's result as JSON.
func route[T any](mux *http.ServeMux, chains map[chain.ID]Chain, pattern string, fn func(Chain, T) (any, error)) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c, ok := chains[chain.ID(r.PathValue("chain"))]
		if !ok {
			ids := make([]string, 0, len(chains))
			for id := range chains {
				ids = append(ids, string(id))
			}
			sort.Strings(ids)
			apierr.Write(w, apierr.New(apierr.UnsupportedChain, "no local chain %q (the local chains are %s)", r.PathValue("chain"), strings.Join(ids, ", ")))
			return
		}
		var req T
		if err := merchantapi.DecodeJSON(r.Body, &req); err != nil {
			apierr.Write(w, err)
			return
		}
		v, err := fn(c, req)
		if err != nil {
			apierr.Write(w, apiError(err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	})
}

// TransferRequest is POST /devnet/<chain>/transfer.
type TransferRequest struct {
	To       string `json:"to"`
	Currency string `json:"currency"`
	Amount   string `json:"amount"`
}

// ReorgRequest is POST /devnet/<chain>/reorg.
type ReorgRequest struct {
	Depth            int  `json:"depth"`
	DropTransactions bool `json:"dropTransactions"`
}

// MineRequest is POST /devnet/<chain>/mine.
type MineRequest struct {
	Blocks int `json:"blocks"`
}

// ControlAPI serves the control API of the given chains.
func ControlAPI(chains ...Chain) http.Handler {
	byID := map[chain.ID]Chain{}
	for _, c := range chains {
		byID[c.ID()] = c
	}
	mux := http.NewServeMux()
	route(mux, byID, "POST /devnet/{chain}/transfer", func(c Chain, req TransferRequest) (any, error) {
		if req.Currency == "" {
			return nil, fmt.Errorf("%w: currency is required (%s)", ErrBadCurrency, strings.Join(c.Currencies(), ", "))
		}
		h, err := c.Transfer(req.To, req.Currency, req.Amount)
		if err != nil {
			return nil, err
		}
		return map[string]any{"txHash": h}, nil
	})
	route(mux, byID, "POST /devnet/{chain}/reorg", func(c Chain, req ReorgRequest) (any, error) {
		head, err := c.Reorg(req.Depth, req.DropTransactions)
		if err != nil {
			return nil, err
		}
		return map[string]any{"head": head}, nil
	})
	route(mux, byID, "POST /devnet/{chain}/mine", func(c Chain, req MineRequest) (any, error) {
		if req.Blocks == 0 {
			req.Blocks = 1
		}
		head, err := c.Mine(req.Blocks)
		if err != nil {
			return nil, err
		}
		return map[string]any{"head": head}, nil
	})
	mux.HandleFunc("/devnet/", func(w http.ResponseWriter, r *http.Request) {
		apierr.Write(w, apierr.New(apierr.NotFound, "no devnet route %s %s (transfer, reorg, mine)", r.Method, r.URL.EscapedPath()))
	})
	return mux
}

// ParseAmount reads a control API amount: a positive decimal with at most
// decimals digits after the point.
func ParseAmount(s string, decimals uint8) (chain.Amount, error) {
	a, err := chain.ParseDecimal(s, decimals)
	if err != nil || a.IsZero() {
		return chain.Amount{}, fmt.Errorf("%w: %q must be a positive decimal with at most %d decimals", ErrBadAmount, s, decimals)
	}
	return a, nil
}
