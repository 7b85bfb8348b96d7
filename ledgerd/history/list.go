package history

import (
	"bytes"
	"container/heap"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// The deposit listing in detection order, at exchange scale. A page costs
// about its length, plus the deposits it skips to reach its offset (a
// cursor skips none), whatever the merchant's history holds; its total is
// exact and costs one row.
//
// The order is (detectedAt, deposit id), ascending or descending. A
// listing reads one of these sources, each in that order:
//
//   - every deposit of the merchant: its detection rows (DM/);
//   - a reference's deposits (LR/) and an asset's (LA/, merged over the
//     assets a currency or chain filter names), with their unindexed tail:
//     the detection rows still queued for the listing indexer (LQ/);
//   - its open deposits (LO/) and its orphaned ones (LX/).
//
// It takes the smallest source that holds every match, counting that a
// filter the source does not imply costs a deposit read per deposit
// scanned. A status is read per block (BS/), not per deposit. The total is
// the count of matches in the reference's account or the merchant's totals
// row, which the ledger keeps by currency, chain and status; knowing it,
// the listing scans from the end nearer its page: open deposits are the
// newest, so pending and confirmed ones are found from the newest end,
// asked in either order. Both are read in one snapshot.

// Listing is a deposit listing query.
type Listing struct {
	Merchant  string
	Reference *string
	Status    string
	Currency  string // any case
	ChainID   string
	Desc      bool
	Page      merchantapi.Page
	// Cursor continues a listing after the last deposit of a page (its
	// nextCursor); Page.Page is then not used.
	Cursor string
}

// item is one deposit in a listing: when it was detected and its id, as
// the 16 raw bytes of a tagged id or the text of any other.
type item struct {
	detected int64
	raw      [16]byte
	text     string
}

func (it *item) id() string {
	if it.text != "" {
		return it.text
	}
	return store.IDOfRaw(it.raw[:])
}

func (it *item) tag() []byte { return it.raw[:8] }

// cmp orders items by (detected, id).
func (it *item) cmp(o *item) int {
	if it.detected != o.detected {
		if it.detected < o.detected {
			return -1
		}
		return 1
	}
	if it.text == "" && o.text == "" {
		return bytes.Compare(it.raw[:], o.raw[:])
	}
	return strings.Compare(it.id(), o.id())
}

// stream yields items in order (descending when desc).
type stream interface {
	next() (item, bool, error)
	close() error
}

// rowStream reads a listing's rows under one prefix: each row's key is the
// prefix, the detection time and the rest; its value lists ids.
type rowStream struct {
	it      *pebble.Iterator
	n       int // prefix length
	desc    bool
	started bool
	buf     []item
	pos     int
	err     error
}

func newRowStream(r store.Reader, prefix []byte, desc bool, after *item) (*rowStream, error) {
	o := &pebble.IterOptions{LowerBound: prefix, UpperBound: store.PrefixEnd(prefix)}
	if after != nil {
		// Rows detected at the cursor's time may hold deposits on either
		// side of it: start at them, and skip to it.
		if desc {
			o.UpperBound = store.ListingFrom(prefix, after.detected+1)
		} else {
			o.LowerBound = store.ListingFrom(prefix, after.detected)
		}
	}
	it, err := r.NewIter(o)
	if err != nil {
		return nil, err
	}
	return &rowStream{it: it, n: len(prefix), desc: desc}, nil
}

func (s *rowStream) next() (item, bool, error) {
	for s.pos >= len(s.buf) {
		if s.err != nil {
			return item{}, false, s.err
		}
		var valid bool
		switch {
		case !s.started && s.desc:
			valid = s.it.Last()
		case !s.started:
			valid = s.it.First()
		case s.desc:
			valid = s.it.Prev()
		default:
			valid = s.it.Next()
		}
		s.started = true
		if !valid {
			return item{}, false, s.it.Error()
		}
		k, v := s.it.Key(), s.it.Value()
		if len(k) < s.n+8 {
			return item{}, false, fmt.Errorf("history: listing key %q", k)
		}
		detected := store.ListingDetected(k, s.n)
		s.buf, s.pos = s.buf[:0], 0
		err := store.EachIndexID(k, v, s.n+8, func(raw []byte, text string) bool {
			x := item{detected: detected, text: text}
			copy(x.raw[:], raw)
			s.buf = append(s.buf, x)
			return true
		})
		if err != nil {
			return item{}, false, err
		}
		if s.desc {
			slices.Reverse(s.buf)
		}
	}
	s.pos++
	return s.buf[s.pos-1], true, nil
}

func (s *rowStream) close() error { return s.it.Close() }

// sliceStream yields a sorted slice.
type sliceStream struct {
	items []item
	pos   int
}

func (s *sliceStream) next() (item, bool, error) {
	if s.pos >= len(s.items) {
		return item{}, false, nil
	}
	s.pos++
	return s.items[s.pos-1], true, nil
}

func (s *sliceStream) close() error { return nil }

// mergeStream merges streams in order.
type mergeStream struct {
	h    mergeHeap
	all  []stream
	init bool
}

type head struct {
	x item
	s stream
}

type mergeHeap struct {
	heads []head
	desc  bool
}

func (h mergeHeap) Len() int { return len(h.heads) }
func (h mergeHeap) Less(i, j int) bool {
	c := h.heads[i].x.cmp(&h.heads[j].x)
	if h.desc {
		return c > 0
	}
	return c < 0
}
func (h mergeHeap) Swap(i, j int) { h.heads[i], h.heads[j] = h.heads[j], h.heads[i] }
func (h *mergeHeap) Push(x any)   { h.heads = append(h.heads, x.(head)) }
func (h *mergeHeap) Pop() any {
	x := h.heads[len(h.heads)-1]
	h.heads = h.heads[:len(h.heads)-1]
	return x
}

func newMerge(desc bool, streams ...stream) stream {
	if len(streams) == 1 {
		return streams[0]
	}
	return &mergeStream{h: mergeHeap{desc: desc}, all: streams}
}

func (m *mergeStream) next() (item, bool, error) {
	if !m.init {
		m.init = true
		for _, s := range m.all {
			x, ok, err := s.next()
			if err != nil {
				return item{}, false, err
			}
			if ok {
				m.h.heads = append(m.h.heads, head{x, s})
			}
		}
		heap.Init(&m.h)
	}
	if m.h.Len() == 0 {
		return item{}, false, nil
	}
	top := m.h.heads[0]
	x, ok, err := top.s.next()
	if err != nil {
		return item{}, false, err
	}
	if ok {
		m.h.heads[0].x = x
		heap.Fix(&m.h, 0)
	} else {
		heap.Pop(&m.h)
	}
	return top.x, true, nil
}

func (m *mergeStream) close() error {
	var errs []error
	for _, s := range m.all {
		errs = append(errs, s.close())
	}
	return errors.Join(errs...)
}

// cursor is a position in a listing, and what listing it is of.
type cursor struct {
	Detected int64  `json:"d"`
	ID       string `json:"i"`
	Desc     bool   `json:"o,omitempty"`
	Query    string `json:"q"`
}

func (q *Listing) fingerprint() string {
	ref := "\x00"
	if q.Reference != nil {
		ref = *q.Reference
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s\x00%s", q.Merchant, ref, q.Status, strings.ToUpper(q.Currency), q.ChainID))
	return hex.EncodeToString(h[:6])
}

func (q *Listing) encodeCursor(x *item) string {
	b, _ := json.Marshal(cursor{Detected: x.detected, ID: x.id(), Desc: q.Desc, Query: q.fingerprint()})
	return base64.RawURLEncoding.EncodeToString(b)
}

func (q *Listing) decodeCursor() (*item, error) {
	bad := apierr.New(apierr.InvalidPagination, "cursor %q is not a nextCursor of this listing", q.Cursor)
	b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
	if err != nil || len(b) > 512 {
		return nil, bad
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Query != q.fingerprint() || c.Desc != q.Desc {
		return nil, bad
	}
	x := &item{detected: c.Detected}
	if raw, ok := store.AppendRawID(nil, c.ID); ok {
		copy(x.raw[:], raw)
	} else if strings.HasPrefix(c.ID, "dep_") && len(c.ID) < 64 {
		x.text = c.ID
	} else {
		return nil, bad
	}
	return x, nil
}

// plan is a listing's source, and what it must still check of each deposit.
type plan struct {
	streams func(desc bool, after *item) ([]stream, error)
	size    int64
	// checkRef and checkAsset: the source holds other references' or
	// assets' deposits too.
	checkRef, checkAsset bool
}

func (p plan) cost() int64 {
	if p.checkRef || p.checkAsset {
		return 10 * p.size
	}
	return p.size
}

// statuses reads deposit statuses for a listing, once per block.
type statuses struct {
	r    store.Reader
	tags map[[8]byte]string
	dr   *store.DepositReader
}

func (s *statuses) of(x *item) (string, error) {
	if x.text != "" {
		d, err := s.dr.Get(x.text)
		if err != nil {
			return "", err
		}
		return d.Status, nil
	}
	t := [8]byte(x.raw[:8])
	if st, ok := s.tags[t]; ok {
		return st, nil
	}
	st, err := store.StatusOfTag(s.r, x.tag())
	if err != nil {
		return "", fmt.Errorf("status of deposit %s: %w", x.id(), err)
	}
	s.tags[t] = st
	return st, nil
}

// List returns a page of a merchant's deposits in detection order.
func List(r store.Reader, q Listing) ([]events.Deposit, merchantapi.Pagination, error) {
	pg := merchantapi.Pagination{Page: q.Page.Page, Limit: q.Page.Limit}
	var after *item
	if q.Cursor != "" {
		var err error
		if after, err = q.decodeCursor(); err != nil {
			return nil, pg, err
		}
		pg.Page = 0
	}
	var acct store.Account
	var err error
	if q.Reference != nil {
		acct, err = store.GetAccount(r, q.Merchant, *q.Reference)
	} else {
		acct, err = store.GetTotals(r, q.Merchant)
	}
	if err != nil {
		return nil, pg, err
	}
	total := acct.CountOf(q.Currency, chain.ID(q.ChainID), q.Status)
	pg.Total = int(total)
	pg.TotalPages = int((total + int64(q.Page.Limit) - 1) / int64(q.Page.Limit))
	out := []events.Deposit{}
	offset := int64(q.Page.Page-1) * int64(q.Page.Limit)
	if after != nil {
		offset = 0
	}
	if total == 0 || offset >= total {
		return out, pg, nil
	}
	totals, err := store.GetTotals(r, q.Merchant)
	if err != nil {
		return nil, pg, err
	}
	p := q.plan(r, &acct, &totals)
	// Scan from the end nearer the page, or, for open deposits, from the
	// newest.
	limit := int64(q.Page.Limit)
	want := min(limit, total-offset)
	desc := q.Desc
	if after == nil {
		switch q.Status {
		case store.StatusPending, store.StatusConfirmed:
			desc = true // open deposits are the newest
		default:
			if total-offset-want < offset {
				desc = !q.Desc // the other end is nearer
			}
		}
	}
	start := offset
	if desc != q.Desc {
		start = total - offset - want
	}
	streams, err := p.streams(desc, after)
	if err != nil {
		return nil, pg, err
	}
	src := newMerge(desc, streams...)
	defer src.close()
	st := &statuses{r: r, tags: map[[8]byte]string{}, dr: &store.DepositReader{R: r}}
	dr := &store.DepositReader{R: r}
	var page []item
	extra := int64(0)
	if after != nil {
		extra = 1 // one more, to know whether there is a next page
	}
	var pos int64
	for int64(len(page)) < want+extra {
		x, ok, err := src.next()
		if err != nil {
			return nil, pg, err
		}
		if !ok {
			break
		}
		if after != nil && (desc && x.cmp(after) >= 0 || !desc && x.cmp(after) <= 0) {
			continue
		}
		if q.Status != "" {
			s, err := st.of(&x)
			if err != nil {
				return nil, pg, err
			}
			if s != q.Status {
				continue
			}
		}
		if p.checkRef || p.checkAsset {
			d, err := dr.Get(x.id())
			if err != nil {
				return nil, pg, err
			}
			if p.checkRef && d.Ref() != *q.Reference || p.checkAsset && !q.assetMatch(d.Chain, d.Currency) {
				continue
			}
		}
		if pos >= start {
			page = append(page, x)
		}
		pos++
	}
	if desc != q.Desc {
		slices.Reverse(page)
	}
	more := false
	if after != nil {
		more = int64(len(page)) > want
		page = page[:min(int64(len(page)), want)]
	} else {
		more = offset+int64(len(page)) < total
	}
	pg.HasMore = more
	if more && len(page) > 0 {
		pg.NextCursor = q.encodeCursor(&page[len(page)-1])
	}
	t := &tips{r: r, m: map[chain.ID]uint64{}}
	for i := range page {
		d, err := dr.Get(page[i].id())
		if err != nil {
			return nil, pg, err
		}
		out = append(out, d.View(t.of(d.Chain)))
	}
	return out, pg, nil
}

func (q *Listing) assetMatch(id chain.ID, currency string) bool {
	return (q.ChainID == "" || string(id) == q.ChainID) && (q.Currency == "" || strings.EqualFold(currency, q.Currency))
}

// plan picks the listing's source.
func (q *Listing) plan(r store.Reader, acct, totals *store.Account) plan {
	m := q.Merchant
	prefixStream := func(prefixes ...[]byte) func(bool, *item) ([]stream, error) {
		return func(desc bool, after *item) ([]stream, error) {
			var out []stream
			for _, p := range prefixes {
				s, err := newRowStream(r, p, desc, after)
				if err != nil {
					for _, o := range out {
						o.close()
					}
					return nil, err
				}
				out = append(out, s)
			}
			return out, nil
		}
	}
	all := plan{streams: prefixStream(store.MerchantIndexPrefix(m)), size: totals.CountOf("", "", ""),
		checkRef: q.Reference != nil, checkAsset: q.Currency != "" || q.ChainID != ""}
	best := all
	consider := func(p plan) {
		if p.cost() < best.cost() {
			best = p
		}
	}
	hasAsset := q.Currency != "" || q.ChainID != ""
	if q.Reference != nil {
		ref := *q.Reference
		consider(plan{streams: q.withTail(r, prefixStream(store.ListRefPrefix(m, ref)), func(d *store.Deposit) bool { return d.Ref() == ref }),
			size: acct.CountOf("", "", ""), checkAsset: hasAsset})
	}
	if hasAsset {
		var prefixes [][]byte
		var size int64
		for _, e := range totals.Balances {
			if q.assetMatch(e.Chain, e.Currency) {
				prefixes = append(prefixes, store.ListAssetPrefix(m, e.Chain, e.Currency))
				size += e.Counts[0] + e.Counts[1] + e.Counts[2] + e.Counts[3]
			}
		}
		consider(plan{streams: q.withTail(r, prefixStream(prefixes...), func(d *store.Deposit) bool { return q.assetMatch(d.Chain, d.Currency) }),
			size: size, checkRef: q.Reference != nil})
	}
	switch q.Status {
	case store.StatusPending, store.StatusConfirmed:
		consider(plan{streams: prefixStream(store.ListOpenPrefix(m)), size: totals.CountOf("", "", store.StatusPending) + totals.CountOf("", "", store.StatusConfirmed),
			checkRef: q.Reference != nil, checkAsset: hasAsset})
	case store.StatusOrphaned:
		consider(plan{streams: prefixStream(store.ListOrphanedPrefix(m)), size: totals.CountOf("", "", store.StatusOrphaned),
			checkRef: q.Reference != nil, checkAsset: hasAsset})
	}
	return best
}

// withTail adds to an indexed source the deposits of the detection rows
// still queued for the listing indexer that match.
func (q *Listing) withTail(r store.Reader, indexed func(bool, *item) ([]stream, error), match func(*store.Deposit) bool) func(bool, *item) ([]stream, error) {
	return func(desc bool, after *item) ([]stream, error) {
		tail, err := q.tail(r, match)
		if err != nil {
			return nil, err
		}
		out, err := indexed(desc, after)
		if err != nil {
			return nil, err
		}
		if len(tail) > 0 {
			if desc {
				slices.Reverse(tail)
			}
			out = append(out, &sliceStream{items: tail})
		}
		return out, nil
	}
}

// tail reads the merchant's queued detection rows and returns their
// deposits that match, in order.
func (q *Listing) tail(r store.Reader, match func(*store.Deposit) bool) ([]item, error) {
	var out []item
	dr := &store.DepositReader{R: r}
	err := store.ScanListQueue(r, func(_, v []byte) (bool, error) {
		rows, err := store.QueuedRows(v)
		if err != nil {
			return false, err
		}
		for _, dm := range rows {
			merchant, detected, _, ok := store.MerchantIndexOf(dm)
			if !ok || merchant != q.Merchant {
				continue
			}
			val, err := store.GetRaw(r, dm)
			if err != nil {
				return false, fmt.Errorf("queued detection row: %w", err)
			}
			ids, err := store.IndexIDs(dm, val, len(store.MerchantIndexPrefix(merchant))+store.MerchantIndexFixed)
			if err != nil {
				return false, err
			}
			for _, id := range ids {
				d, err := dr.Get(id)
				if err != nil {
					return false, err
				}
				if !match(d) {
					continue
				}
				x := item{detected: detected}
				if raw, ok := store.AppendRawID(nil, id); ok {
					copy(x.raw[:], raw)
				} else {
					x.text = id
				}
				out = append(out, x)
			}
		}
		return true, nil
	})
	slices.SortFunc(out, func(a, b item) int { return a.cmp(&b) })
	return out, err
}
