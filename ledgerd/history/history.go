// Package history is ledgerd's read side: deposit listings and lookups,
// references with their totals, balances and analytics, answered from
// ledgerd's own store (the embedded history), and the indexer that keeps
// the listings of references and assets. Every read is of one merchant's
// rows by key, so a merchant never sees another's by construction.
//
// list.go explains how a listing stays cheap at exchange scale.
package history

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// Filter selects deposits.
type Filter struct {
	Reference *string
	Status    string
	Currency  string
	ChainID   string
	SortBy    string // detectedAt (default), blockNumber, amount, confirmedAt, completedAt
	Desc      bool
}

// Tips reads each chain's tip once per query, for confirmations.
type tips struct {
	r store.Reader
	m map[chain.ID]uint64
}

func (t *tips) of(id chain.ID) uint64 {
	if v, ok := t.m[id]; ok {
		return v
	}
	st, err := store.GetChainState(t.r, id)
	var tip uint64
	if err == nil {
		tip = st.Tip
	}
	t.m[id] = tip
	return tip
}

// Deposits answers GET /api/v1/deposits. Sorted by detection time (the
// default), it is List: a page costs about its length. Sorted by any other
// field, it is ListSorted, which reads every deposit of the merchant for
// each page; that cost is documented (README, /docs).
func Deposits(r store.Reader, merchant string, f Filter, p merchantapi.Page, cursor string) ([]events.Deposit, merchantapi.Pagination, error) {
	if f.SortBy == "" || f.SortBy == "detectedAt" {
		return List(r, Listing{Merchant: merchant, Reference: f.Reference, Status: f.Status, Currency: f.Currency, ChainID: f.ChainID,
			Desc: f.Desc, Page: p, Cursor: cursor})
	}
	if cursor != "" {
		return nil, merchantapi.Pagination{}, apierr.New(apierr.InvalidPagination, "cursor pages only listings sorted by detectedAt")
	}
	return ListSorted(r, merchant, f, p)
}

// ListSorted returns a page of a merchant's deposits in any order: it reads
// every deposit of the merchant, filters, sorts and cuts the page. It was
// the only listing before List, and the benchmark's baseline.
func ListSorted(r store.Reader, merchant string, f Filter, p merchantapi.Page) ([]events.Deposit, merchantapi.Pagination, error) {
	var ds []*store.Deposit
	desc := f.Desc
	byDetected := f.SortBy == "" || f.SortBy == "detectedAt"
	err := eachDeposit(context.Background(), r, merchant, byDetected && desc, func(d *store.Deposit) error {
		if f.Reference != nil && d.Ref() != *f.Reference {
			return nil
		}
		if f.Status != "" && d.Status != f.Status {
			return nil
		}
		if f.Currency != "" && !strings.EqualFold(d.Currency, f.Currency) {
			return nil
		}
		if f.ChainID != "" && string(d.Chain) != f.ChainID {
			return nil
		}
		ds = append(ds, d)
		return nil
	})
	if err != nil {
		return nil, merchantapi.Pagination{}, err
	}
	if !byDetected {
		less := lessBy(f.SortBy)
		sort.SliceStable(ds, func(i, j int) bool {
			if desc {
				return less(ds[j], ds[i])
			}
			return less(ds[i], ds[j])
		})
	}
	lo, hi, pg := merchantapi.Paginate(p, len(ds))
	t := &tips{r: r, m: map[chain.ID]uint64{}}
	out := make([]events.Deposit, 0, hi-lo)
	for _, d := range ds[lo:hi] {
		out = append(out, d.View(t.of(d.Chain)))
	}
	return out, pg, nil
}

func lessBy(field string) func(a, b *store.Deposit) bool {
	switch field {
	case "blockNumber":
		return func(a, b *store.Deposit) bool { return a.BlockNumber < b.BlockNumber }
	case "amount":
		// Compare in currency units: scale to the larger decimals first.
		return func(a, b *store.Deposit) bool { return cmpUnits(a, b) < 0 }
	case "confirmedAt":
		return func(a, b *store.Deposit) bool { return before(a.ConfirmedAt, b.ConfirmedAt) }
	case "completedAt":
		return func(a, b *store.Deposit) bool { return before(a.CompletedAt, b.CompletedAt) }
	}
	return func(a, b *store.Deposit) bool { return a.DetectedAt.Before(b.DetectedAt) }
}

func before(a, b *time.Time) bool { return nanos(a) < nanos(b) }

func nanos(t *time.Time) int64 {
	if t == nil {
		return -1 << 63
	}
	return t.UnixNano()
}

func cmpUnits(a, b *store.Deposit) int {
	return chain.CompareScaled(a.Amount.Big(), a.Decimals, b.Amount.Big(), b.Decimals)
}

// Get returns one deposit of a merchant; another merchant's is not found.
func Get(r store.Reader, merchant, id string) (*events.Deposit, error) {
	d, err := store.GetDeposit(r, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.New(apierr.DepositNotFound, "no deposit %q", id)
		}
		return nil, err
	}
	if d.Merchant != merchant {
		return nil, apierr.New(apierr.DepositNotFound, "no deposit %q", id)
	}
	st, err := store.GetChainState(r, d.Chain)
	if err != nil {
		return nil, err
	}
	v := d.View(st.Tip)
	return &v, nil
}
