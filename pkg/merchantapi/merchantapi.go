// Package merchantapi holds the merchant API's request types, their
// validation and the query parsing, shared by apid (which rejects bad input
// before forwarding) and ledgerd's internal API (which parses the same
// input). Errors come from pkg/apierr.
package merchantapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
)

// MaxBody is the largest request body accepted.
const MaxBody = 1 << 20

// Limits.
const (
	MaxReferenceLen  = 255
	MaxMetadataKeys  = 10
	MaxImport        = 10_000
	DefaultPageLimit = 20
	MaxPageLimit     = 100
	MaxWebhookURLLen = 2048
)

// DecodeJSON reads one JSON object, strictly: malformed JSON, a body that is
// not one object, or trailing data is INVALID_JSON.
func DecodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(r, MaxBody+1))
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return apierr.New(apierr.ValidationFailed, "field %q must be a %s", te.Field, te.Type)
		case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return apierr.New(apierr.InvalidJSON, "request body is not valid JSON: %v", err)
		}
		return apierr.New(apierr.InvalidJSON, "request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return apierr.New(apierr.InvalidJSON, "request body has data after the JSON object")
	}
	return nil
}

// BindRequest is POST /api/v1/deposits/references.
type BindRequest struct {
	DepositReference string                     `json:"depositReference"`
	Currency         string                     `json:"currency"`
	ChainID          string                     `json:"chainId"`
	Metadata         map[string]json.RawMessage `json:"metadata,omitempty"`
}

// ValidateReference checks a deposit reference's form.
func ValidateReference(ref string) error {
	if ref == "" {
		return apierr.New(apierr.ValidationFailed, "depositReference is required")
	}
	if len(ref) > MaxReferenceLen {
		return apierr.New(apierr.ReferenceTooLong, "depositReference has %d characters; the maximum is %d", len(ref), MaxReferenceLen)
	}
	for _, c := range ref {
		if c < 0x20 || c == 0x7f {
			return apierr.New(apierr.ValidationFailed, "depositReference contains a control character")
		}
	}
	return nil
}

// Validate checks a bind request against the asset table.
func (r *BindRequest) Validate(table *assets.Config) (*assets.Chain, *assets.Asset, error) {
	if err := ValidateReference(r.DepositReference); err != nil {
		return nil, nil, err
	}
	if len(r.Metadata) > MaxMetadataKeys {
		return nil, nil, apierr.New(apierr.TooManyMetadataKeys, "metadata has %d keys; the maximum is %d", len(r.Metadata), MaxMetadataKeys)
	}
	if r.ChainID == "" {
		return nil, nil, apierr.New(apierr.ValidationFailed, "chainId is required")
	}
	if r.Currency == "" {
		return nil, nil, apierr.New(apierr.ValidationFailed, "currency is required")
	}
	spec, err := table.Chain(chain.ID(r.ChainID))
	if err != nil {
		return nil, nil, apierr.New(apierr.UnsupportedChain, "unknown chainId %q", r.ChainID)
	}
	asset, err := table.Currency(spec.ID, r.Currency)
	if err != nil {
		return nil, nil, apierr.New(apierr.UnsupportedCurrency, "currency %q is not supported on %s", r.Currency, spec.ID)
	}
	return spec, asset, nil
}

// ImportRequest is POST /api/v1/addresses/import.
type ImportRequest struct {
	Protocol  string   `json:"protocol"`
	Addresses []string `json:"addresses"`
}

// Parse validates every address; one invalid address rejects the request
// and is named.
func (r *ImportRequest) Parse() (chain.Family, []chain.Address, error) {
	fam, err := chain.ParseFamily(r.Protocol)
	if err != nil {
		return 0, nil, apierr.New(apierr.UnsupportedProtocol, "protocol %q (want evm, tron, solana or bitcoin)", r.Protocol)
	}
	if len(r.Addresses) == 0 {
		return 0, nil, apierr.New(apierr.ValidationFailed, "addresses is empty")
	}
	if len(r.Addresses) > MaxImport {
		return 0, nil, apierr.New(apierr.ValidationFailed, "%d addresses; import at most %d at a time", len(r.Addresses), MaxImport)
	}
	out := make([]chain.Address, len(r.Addresses))
	for i, s := range r.Addresses {
		a, err := chain.ParseAddress(fam, s)
		if err != nil {
			return 0, nil, apierr.New(apierr.InvalidAddress, "addresses[%d] %q: %v", i, s, err)
		}
		out[i] = a
	}
	return fam, out, nil
}

// EndpointRequest is POST /api/v1/webhooks/endpoints.
type EndpointRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events,omitempty"`
}

// Validate checks the URL's form: https (or http to a loopback host when
// allowLoopbackHTTP, for the all-in-one dev mode), and no literal private
// address. The address a name resolves to is checked again at dial time.
func (r *EndpointRequest) Validate(allowLoopbackHTTP bool) error {
	if r.URL == "" || len(r.URL) > MaxWebhookURLLen {
		return apierr.New(apierr.InvalidWebhookURL, "url is required (at most %d characters)", MaxWebhookURLLen)
	}
	u, err := url.Parse(r.URL)
	if err != nil || u.Host == "" || u.User != nil {
		return apierr.New(apierr.InvalidWebhookURL, "url %q is not an absolute URL without credentials", r.URL)
	}
	host := u.Hostname()
	loopback := host == "localhost"
	if ip := net.ParseIP(host); ip != nil {
		loopback = ip.IsLoopback()
	}
	switch {
	case u.Scheme == "https" && !loopback:
	case allowLoopbackHTTP && (u.Scheme == "http" || u.Scheme == "https") && loopback:
	case u.Scheme != "https":
		return apierr.New(apierr.InvalidWebhookURL, "url must use https")
	default:
		return apierr.New(apierr.InvalidWebhookURL, "url must point at a public host")
	}
	if ip := net.ParseIP(host); ip != nil && !loopback && !PublicIP(ip) {
		return apierr.New(apierr.InvalidWebhookURL, "url must point at a public address, not %s", ip)
	}
	for _, e := range r.Events {
		ok := false
		for _, t := range events.DepositEventTypes {
			ok = ok || e == t
		}
		if !ok {
			return apierr.New(apierr.ValidationFailed, "unknown event type %q (want one of %s)", e, strings.Join(events.DepositEventTypes, ", "))
		}
	}
	return nil
}

// PublicIP reports whether ip is a public unicast address: not loopback,
// private, link-local, CGNAT, multicast, unspecified or documentation space.
func PublicIP(ip net.IP) bool {
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, n := range blocked {
		if n.Contains(ip) {
			return false
		}
	}
	return true
}

var blocked = func() []*net.IPNet {
	var out []*net.IPNet
	for _, s := range []string{"100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32", "64:ff9b::/96", "2001:db8::/32", "::ffff:0:0/96"} {
		_, n, _ := net.ParseCIDR(s)
		out = append(out, n)
	}
	return out
}()

// Page is a page request; pages count from 1.
type Page struct{ Page, Limit int }

// Pagination is the pagination block of list answers.
type Pagination struct {
	Page       int  `json:"page"`
	Limit      int  `json:"limit"`
	Total      int  `json:"total"`
	TotalPages int  `json:"totalPages"`
	HasMore    bool `json:"hasMore"`
}

// Paginate slices n items for a page.
func Paginate(p Page, n int) (lo, hi int, pg Pagination) {
	pages := (n + p.Limit - 1) / p.Limit
	lo = min((p.Page-1)*p.Limit, n)
	hi = min(lo+p.Limit, n)
	return lo, hi, Pagination{Page: p.Page, Limit: p.Limit, Total: n, TotalPages: pages, HasMore: hi < n}
}

// ParsePage reads page and limit: page ≥ 1, 1 ≤ limit ≤ 100.
func ParsePage(q url.Values) (Page, error) {
	p := Page{Page: 1, Limit: DefaultPageLimit}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1_000_000 {
			return p, apierr.New(apierr.InvalidPagination, "page %q must be a whole number from 1", s)
		}
		p.Page = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageLimit {
			return p, apierr.New(apierr.InvalidPagination, "limit %q must be a whole number from 1 to %d", s, MaxPageLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// DepositQuery is the filter of GET /api/v1/deposits.
type DepositQuery struct {
	Reference *string
	Status    string
	Currency  string
	ChainID   string
	SortBy    string
	Desc      bool
}

// Statuses are the deposit statuses.
var Statuses = []string{"pending", "confirmed", "completed", "orphaned"}

// SortFields are the accepted sortBy values.
var SortFields = []string{"detectedAt", "blockNumber", "amount", "confirmedAt", "completedAt"}

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// ParseDepositQuery reads and checks the filters of GET /api/v1/deposits.
func ParseDepositQuery(q url.Values, table *assets.Config) (DepositQuery, error) {
	var d DepositQuery
	if q.Has("depositReference") {
		ref := q.Get("depositReference")
		if err := ValidateReference(ref); err != nil {
			return d, err
		}
		d.Reference = &ref
	}
	if s := q.Get("status"); s != "" {
		if !oneOf(s, Statuses) {
			return d, apierr.New(apierr.InvalidParameter, "status %q (want one of %s)", s, strings.Join(Statuses, ", "))
		}
		d.Status = s
	}
	if s := q.Get("chainId"); s != "" {
		if _, err := table.Chain(chain.ID(s)); err != nil {
			return d, apierr.New(apierr.UnsupportedChain, "unknown chainId %q", s)
		}
		d.ChainID = s
	}
	if s := q.Get("currency"); s != "" {
		if len(s) > 16 {
			return d, apierr.New(apierr.UnsupportedCurrency, "unknown currency %q", s)
		}
		d.Currency = strings.ToUpper(s)
	}
	d.SortBy = "detectedAt"
	if s := q.Get("sortBy"); s != "" {
		if !oneOf(s, SortFields) {
			return d, apierr.New(apierr.InvalidParameter, "sortBy %q (want one of %s)", s, strings.Join(SortFields, ", "))
		}
		d.SortBy = s
	}
	d.Desc = true
	switch s := q.Get("sortOrder"); s {
	case "", "desc":
	case "asc":
		d.Desc = false
	default:
		return d, apierr.New(apierr.InvalidParameter, "sortOrder %q (want asc or desc)", s)
	}
	return d, nil
}

// ParseAddressQuery reads GET /api/v1/addresses filters.
func ParseAddressQuery(q url.Values) (status string, fam chain.Family, err error) {
	if s := q.Get("status"); s != "" {
		if !oneOf(s, []string{"available", "bound", "cooldown"}) {
			return "", 0, apierr.New(apierr.InvalidParameter, "status %q (want available, bound or cooldown)", s)
		}
		status = s
	}
	if s := q.Get("protocol"); s != "" {
		f, perr := chain.ParseFamily(s)
		if perr != nil {
			return "", 0, apierr.New(apierr.UnsupportedProtocol, "protocol %q (want evm, tron, solana or bitcoin)", s)
		}
		fam = f
	}
	return status, fam, nil
}

// ParseChainFilter reads an optional chainId.
func ParseChainFilter(q url.Values, table *assets.Config) (string, error) {
	s := q.Get("chainId")
	if s == "" {
		return "", nil
	}
	if _, err := table.Chain(chain.ID(s)); err != nil {
		return "", apierr.New(apierr.UnsupportedChain, "unknown chainId %q", s)
	}
	return s, nil
}

// ErrorString is for logs.
func ErrorString(err error) string { return fmt.Sprint(err) }
