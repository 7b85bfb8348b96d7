package history

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/apierr"
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
		text := bd.Address.Text()
		if spec, err := table.Chain(bd.ChainID); err == nil {
			text = spec.AddressText(bd.Address.Address())
		}
		v.Addresses = append(v.Addresses, ReferenceAddress{Currency: bd.Currency, ChainID: string(bd.ChainID),
			Protocol: bd.Address.Family.String(), Address: text, CreatedAt: events.APITime{Time: bd.CreatedAt}})
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

// ListReferences lists a merchant's references in reference order,
// optionally those holding search (any case). Its cost:
//
//   - without a search, the page, plus the references it skips to reach
//     its offset, from the nearer end (a cursor skips none); the total is a
//     count kept as references are made;
//   - with a search of three characters or more, the shortest list of
//     references that hold one of its trigrams, intersected with the
//     others' by seeking (RG/), each match checked; the total is exact;
//   - with a shorter search, every reference of the merchant.
func ListReferences(r store.Reader, table *assets.Config, merchant string, p merchantapi.Page, search, cursor string) ([]ReferenceSummary, merchantapi.Pagination, error) {
	pg := merchantapi.Pagination{Page: p.Page, Limit: p.Limit}
	after, err := decodeRefCursor(cursor, merchant, search)
	if err != nil {
		return nil, pg, err
	}
	var names []string
	var total int64
	more := false
	offset := int64(p.Page-1) * int64(p.Limit)
	if after != nil {
		offset, pg.Page = 0, 0
	}
	if search == "" {
		if total, err = registry.ReferenceCount(r, merchant); err != nil {
			return nil, pg, err
		}
		names, more, err = referencePage(r, merchant, offset, int64(p.Limit), total, after)
	} else {
		var all []string
		if all, err = searchReferences(r, merchant, search); err != nil {
			return nil, pg, err
		}
		total = int64(len(all))
		if after != nil {
			i, _ := slices.BinarySearch(all, *after+"\x00")
			all = all[i:]
		} else {
			all = all[min(offset, int64(len(all))):]
		}
		names = all[:min(len(all), p.Limit)]
		more = len(all) > p.Limit
	}
	if err != nil {
		return nil, pg, err
	}
	pg.Total, pg.TotalPages, pg.HasMore = int(total), int((total+int64(p.Limit)-1)/int64(p.Limit)), more
	if more && len(names) > 0 {
		pg.NextCursor = encodeRefCursor(names[len(names)-1], merchant, search)
	}
	out := make([]ReferenceSummary, 0, len(names))
	for _, name := range names {
		ref, err := registry.GetReference(r, merchant, name)
		if err != nil {
			return nil, pg, err
		}
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

// referencePage returns the names of a page of references, reading their
// keys from the end nearer the page (or from after a cursor).
func referencePage(r store.Reader, merchant string, offset, limit, total int64, after *string) ([]string, bool, error) {
	prefix := store.RefNamePrefix(merchant)
	o := &pebble.IterOptions{LowerBound: prefix, UpperBound: store.PrefixEnd(prefix)}
	if after != nil {
		o.LowerBound = append(store.RefNameKey(merchant, *after), 0)
	}
	it, err := r.NewIter(o)
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	var names []string
	if after == nil && offset >= total {
		return nil, false, nil
	}
	if after == nil && total-offset-limit < offset {
		// From the last: skip the references after the page.
		want := min(limit, total-offset)
		skip := total - offset - want
		n := int64(0)
		for valid := it.Last(); valid && int64(len(names)) < want; valid = it.Prev() {
			if n++; n > skip {
				names = append(names, store.ReferenceOf(it.Key(), prefix))
			}
		}
		slices.Reverse(names)
		return names, offset+int64(len(names)) < total, it.Error()
	}
	n := int64(0)
	for valid := it.First(); valid; valid = it.Next() {
		if n++; n <= offset {
			continue
		}
		if int64(len(names)) == limit {
			return names, true, nil
		}
		names = append(names, store.ReferenceOf(it.Key(), prefix))
	}
	return names, false, it.Error()
}

// searchReferences returns every reference of the merchant holding search
// (any case), in order.
func searchReferences(r store.Reader, merchant, search string) ([]string, error) {
	needle := strings.ToLower(search)
	tris := registry.Trigrams(search)
	var out []string
	if len(tris) == 0 {
		err := registry.ScanReferences(r, merchant, func(ref *store.Reference) (bool, error) {
			if strings.Contains(strings.ToLower(ref.Reference), needle) {
				out = append(out, ref.Reference)
			}
			return true, nil
		})
		return out, err
	}
	// Leapfrog over the trigrams' lists of references: each list seeks to
	// the largest reference another one is at, until all agree.
	type list struct {
		it     *pebble.Iterator
		prefix []byte
	}
	lists := make([]list, len(tris))
	for i, t := range tris {
		p := store.RefTrigramPrefix(merchant, t)
		it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: store.PrefixEnd(p)})
		if err != nil {
			for _, l := range lists[:i] {
				l.it.Close()
			}
			return nil, err
		}
		lists[i] = list{it, p}
	}
	defer func() {
		for _, l := range lists {
			l.it.Close()
		}
	}()
	at := func(l list) string { return string(l.it.Key()[len(l.prefix):]) }
	for _, l := range lists {
		if !l.it.First() {
			return nil, l.it.Error()
		}
	}
	for {
		hi := at(lists[0])
		for _, l := range lists[1:] {
			if k := at(l); k > hi {
				hi = k
			}
		}
		agree := true
		for _, l := range lists {
			if at(l) == hi {
				continue
			}
			agree = false
			if !l.it.SeekGE(append(append([]byte(nil), l.prefix...), hi...)) {
				return out, l.it.Error()
			}
		}
		if !agree {
			continue
		}
		if strings.Contains(strings.ToLower(hi), needle) {
			out = append(out, hi)
		}
		if !lists[0].it.Next() {
			return out, lists[0].it.Error()
		}
	}
}

type refCursor struct {
	After string `json:"a"`
	Query string `json:"q"`
}

func refFingerprint(merchant, search string) string {
	h := sha256.Sum256([]byte(merchant + "\x00" + strings.ToLower(search)))
	return hex.EncodeToString(h[:6])
}

func encodeRefCursor(last, merchant, search string) string {
	b, _ := json.Marshal(refCursor{After: last, Query: refFingerprint(merchant, search)})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeRefCursor(c, merchant, search string) (*string, error) {
	if c == "" {
		return nil, nil
	}
	bad := apierr.New(apierr.InvalidPagination, "cursor is not a nextCursor of this listing")
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) > 2048 {
		return nil, bad
	}
	var rc refCursor
	if err := json.Unmarshal(b, &rc); err != nil || rc.Query != refFingerprint(merchant, search) || merchantapi.ValidateReference(rc.After) != nil {
		return nil, bad
	}
	return &rc.After, nil
}
