package history

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// ReferenceAddress is one binding in GET /deposits/references/{ref}.
type ReferenceAddress struct {
	Currency  string         `json:"currency"`
	ChainID   string         `json:"chainId"`
	Protocol  string         `json:"protocol"`
	Address   string         `json:"address"`
	CreatedAt events.APITime `json:"createdAt"`
}

// ReferenceView is GET /deposits/references/{ref}.
type ReferenceView struct {
	DepositReference string                     `json:"depositReference"`
	Addresses        []ReferenceAddress         `json:"addresses"`
	TotalDeposits    int64                      `json:"totalDeposits"`
	TotalAmount      map[string]string          `json:"totalAmount"`
	Metadata         map[string]json.RawMessage `json:"metadata"`
}

// GetReference returns a reference with its active bindings and totals.
func GetReference(r store.Reader, table *assets.Config, merchant, reference, chainID string) (*ReferenceView, error) {
	ref, err := registry.GetReference(r, merchant, reference)
	if err != nil {
		return nil, err
	}
	v := &ReferenceView{DepositReference: ref.Reference, Addresses: []ReferenceAddress{}, Metadata: ref.Metadata}
	if v.Metadata == nil {
		v.Metadata = map[string]json.RawMessage{}
	}
	bound, err := registry.ActiveBindings(r, ref, chainID)
	if err != nil {
		return nil, err
	}
	for _, bd := range bound {
		v.Addresses = append(v.Addresses, ReferenceAddress{Currency: bd.Currency, ChainID: string(bd.ChainID),
			Protocol: bd.Address.Family.String(), Address: bd.Address.Address().Checksummed(), CreatedAt: events.APITime{Time: bd.CreatedAt}})
	}
	stats, totals, err := referenceTotals(r, table, merchant, reference)
	if err != nil {
		return nil, err
	}
	v.TotalDeposits, v.TotalAmount = stats.Deposits, totals
	return v, nil
}

// referenceTotals reads a reference's stats and its balance totals per
// currency.
func referenceTotals(r store.Reader, table *assets.Config, merchant, reference string) (store.RefStats, map[string]string, error) {
	a, err := store.GetAccount(r, merchant, reference)
	if err != nil {
		return a.RefStats, nil, err
	}
	totals := map[string]string{}
	for _, b := range balanceViews(table, []refAccount{{reference, &a}}, "") {
		totals[b.Currency] = b.total
	}
	return a.RefStats, totals, nil
}

// ReferenceSummary is one row of GET /deposits/references.
type ReferenceSummary struct {
	DepositReference string            `json:"depositReference"`
	Protocols        []string          `json:"protocols"`
	AddressCount     int               `json:"addressCount"`
	TotalDeposits    int64             `json:"totalDeposits"`
	TotalAmount      map[string]string `json:"totalAmount"`
	LastDepositAt    *events.APITime   `json:"lastDepositAt"`
}

// ListReferences lists a merchant's references, optionally searching.
func ListReferences(r store.Reader, table *assets.Config, merchant string, p merchantapi.Page, search string) ([]ReferenceSummary, merchantapi.Pagination, error) {
	var refs []store.Reference
	search = strings.ToLower(search)
	err := registry.ScanReferences(r, merchant, func(ref *store.Reference) (bool, error) {
		if search == "" || strings.Contains(strings.ToLower(ref.Reference), search) {
			refs = append(refs, *ref)
		}
		return true, nil
	})
	if err != nil {
		return nil, merchantapi.Pagination{}, err
	}
	lo, hi, pg := merchantapi.Paginate(p, len(refs))
	out := make([]ReferenceSummary, 0, hi-lo)
	for _, ref := range refs[lo:hi] {
		s := ReferenceSummary{DepositReference: ref.Reference, Protocols: []string{}, AddressCount: len(ref.Bindings)}
		fams := map[string]bool{}
		for _, bd := range ref.Bindings {
			if spec, err := table.Chain(bd.ChainID); err == nil {
				fams[spec.Family.String()] = true
			}
		}
		for f := range fams {
			s.Protocols = append(s.Protocols, f)
		}
		sort.Strings(s.Protocols)
		stats, totals, err := referenceTotals(r, table, merchant, ref.Reference)
		if err != nil {
			return nil, pg, err
		}
		s.TotalDeposits, s.TotalAmount = stats.Deposits, totals
		if !stats.LastDepositAt.IsZero() {
			s.LastDepositAt = &events.APITime{Time: stats.LastDepositAt}
		}
		out = append(out, s)
	}
	return out, pg, nil
}
