// Package merchantapi holds the merchant API's request types, their
// validation and the query parsing, shared by apid (which rejects bad input
// before forwarding) and ledgerd's internal API (which parses the same
// input). Errors come from pkg/apierr.
package merchantapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/descriptor"
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
	// MaxIdempotencyKeys is how many Idempotency-Key answers a merchant
	// may hold at a time (each is kept 24 hours).
	MaxIdempotencyKeys = 1_000_000
	// MaxIdempotencyKeyLen is the longest Idempotency-Key.
	MaxIdempotencyKeyLen = 255
	// MaxEndpoints is how many webhook endpoints a merchant may have.
	MaxEndpoints = 20
	// DefaultSecretOverlap and MaxSecretOverlap bound how long a rotated
	// webhook secret keeps signing beside the new one.
	DefaultSecretOverlap = 24 * time.Hour
	MaxSecretOverlap     = 7 * 24 * time.Hour
)

// BindRequest is POST /api/v1/deposits/references.
type BindRequest struct {
	DepositReference string                     `json:"depositReference"`
	Currency         string                     `json:"currency"`
	ChainID          string                     `json:"chainId"`
	Metadata         map[string]json.RawMessage `json:"metadata,omitempty"`
}

// ValidateReference checks a deposit reference's form. A reference is at
// most 255 characters of printable Unicode in NFC form: letters, marks,
// numbers, punctuation, symbols and the ASCII space (not at either end).
// Refused, with INVALID_DEPOSIT_REFERENCE:
//
//   - invalid UTF-8, control characters (C0, DEL and C1, such as U+0085),
//     format characters (zero-width spaces and joiners, bidi overrides and
//     marks, the BOM), line and paragraph separators, spaces other than
//     U+0020, private-use and unassigned code points, and U+FFFD: each makes
//     two references that look the same, or one that displays as another;
//   - text not in Unicode NFC, so that "é" is one reference however typed;
//   - the characters / \ % ? # and the references "." and "..": a reference
//     is a path segment of the API (/deposits/references/{ref}), and these
//     would be read as paths, escapes, queries or fragments along the way.
func ValidateReference(ref string) error {
	if ref == "" {
		return apierr.New(apierr.ValidationFailed, "depositReference is required")
	}
	if !utf8.ValidString(ref) {
		return apierr.New(apierr.InvalidDepositReference, "depositReference is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(ref); n > MaxReferenceLen {
		return apierr.New(apierr.ReferenceTooLong, "depositReference has %d characters; the maximum is %d", n, MaxReferenceLen)
	}
	if ref == "." || ref == ".." {
		return apierr.New(apierr.InvalidDepositReference, "depositReference %q is a path segment of its own, not a name", ref)
	}
	if ref[0] == ' ' || ref[len(ref)-1] == ' ' {
		return apierr.New(apierr.InvalidDepositReference, "depositReference starts or ends with a space")
	}
	for i, c := range ref {
		if err := referenceRune(c); err != "" {
			return apierr.New(apierr.InvalidDepositReference, "depositReference has %s (U+%04X) at byte %d", err, c, i)
		}
	}
	if !norm.NFC.IsNormalString(ref) {
		return apierr.New(apierr.InvalidDepositReference, "depositReference is not in Unicode NFC form; normalise it first")
	}
	return nil
}

// referenceRune says what is wrong with c in a reference, or "".
func referenceRune(c rune) string {
	switch {
	case c == '/' || c == '\\' || c == '%' || c == '?' || c == '#':
		return fmt.Sprintf("the reserved character %q", c)
	case c == ' ':
		return ""
	case c == utf8.RuneError:
		return "the replacement character"
	case unicode.IsControl(c):
		return "a control character"
	case unicode.Is(unicode.Cf, c):
		return "an invisible format character"
	case unicode.IsSpace(c) || unicode.Is(unicode.Zl, c) || unicode.Is(unicode.Zp, c):
		return "a space other than U+0020"
	case unicode.Is(unicode.Co, c):
		return "a private-use character"
	case !unicode.IsGraphic(c):
		return "a character that is not printable"
	}
	return ""
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

// ImportRequest is POST /api/v1/addresses/import: a list of addresses, or
// a range of addresses derived from an extended public key (watch-only):
// {"protocol": "bitcoin", "descriptor": "wpkh(xpub…/0/*)", "from": 0,
// "count": 1000}. On EVM the descriptor is the account key (m/44'/60'/0')
// alone, whose children 0/i are the addresses.
type ImportRequest struct {
	Protocol   string   `json:"protocol"`
	Addresses  []string `json:"addresses,omitempty"`
	Descriptor string   `json:"descriptor,omitempty"`
	From       *uint32  `json:"from,omitempty"`
	Count      int      `json:"count,omitempty"`
	// Network overrides, for a Bitcoin descriptor, the network its key's
	// version names (a tpub serves testnet4, signet and regtest alike).
	Network string `json:"network,omitempty"`
}

// Import is a checked import: addresses of one family and, on Bitcoin, of
// one network (the encoding the pool lists them in).
type Import struct {
	Family    chain.Family
	Addresses []chain.Address
	Network   chain.Network
}

// Parse validates every address, or derives the descriptor's range; one
// invalid address rejects the request and is named. Bitcoin addresses must
// be ones a deposit can be made to (not script:<hex>, not a future witness
// version), all of one network.
func (r *ImportRequest) Parse() (Import, error) {
	fam, d, err := r.validate()
	if err != nil {
		return Import{}, err
	}
	if d != nil {
		from := uint32(0)
		if r.From != nil {
			from = *r.From
		}
		addrs, err := d.Addresses(from, r.Count)
		if err != nil {
			return Import{}, apierr.New(apierr.InvalidAddress, "descriptor: %v", err)
		}
		imp := Import{Family: fam, Addresses: addrs}
		if fam == chain.FamilyBitcoin {
			imp.Network = d.Network()
			if r.Network != "" {
				imp.Network, _ = chain.ParseNetwork(r.Network)
			}
		}
		return imp, nil
	}
	imp := Import{Family: fam, Addresses: make([]chain.Address, len(r.Addresses))}
	var nets bitcoinNets
	for i, s := range r.Addresses {
		if fam == chain.FamilyBitcoin {
			a, net, err := ParseBitcoinDepositAddress(s)
			if err != nil {
				return Import{}, apierr.New(apierr.InvalidAddress, "addresses[%d] %q: %v", i, s, err)
			}
			if err := nets.add(i, s, net); err != nil {
				return Import{}, err
			}
			imp.Addresses[i] = a
			continue
		}
		a, err := chain.ParseAddress(fam, s)
		if err != nil {
			return Import{}, apierr.New(apierr.InvalidAddress, "addresses[%d] %q: %v", i, s, err)
		}
		imp.Addresses[i] = a
	}
	imp.Network = nets.network()
	return imp, nil
}

// validate checks the request without deriving a descriptor's addresses
// (apid's check; ledgerd derives them).
func (r *ImportRequest) validate() (chain.Family, *descriptor.Descriptor, error) {
	fam, err := chain.ParseFamily(r.Protocol)
	if err != nil {
		return 0, nil, apierr.New(apierr.UnsupportedProtocol, "protocol %q (want evm, tron, solana or bitcoin)", r.Protocol)
	}
	if r.Descriptor == "" {
		if r.From != nil || r.Count != 0 || r.Network != "" {
			return 0, nil, apierr.New(apierr.ValidationFailed, "from, count and network go with a descriptor")
		}
		if len(r.Addresses) == 0 {
			return 0, nil, apierr.New(apierr.ValidationFailed, "addresses is empty (or give a descriptor, from and count)")
		}
		if len(r.Addresses) > MaxImport {
			return 0, nil, apierr.New(apierr.ValidationFailed, "%d addresses; import at most %d at a time", len(r.Addresses), MaxImport)
		}
		return fam, nil, nil
	}
	if len(r.Addresses) > 0 {
		return 0, nil, apierr.New(apierr.ValidationFailed, "give addresses or a descriptor, not both")
	}
	if r.Count < 1 || r.Count > MaxImport {
		return 0, nil, apierr.New(apierr.ValidationFailed, "count %d: derive 1 to %d addresses at a time (and page on with from)", r.Count, MaxImport)
	}
	if fam != chain.FamilyBitcoin && fam != chain.FamilyEVM {
		return 0, nil, apierr.New(apierr.ValidationFailed, "descriptors derive bitcoin and evm addresses, not %s", fam)
	}
	if r.Network != "" {
		if fam != chain.FamilyBitcoin {
			return 0, nil, apierr.New(apierr.ValidationFailed, "network is for Bitcoin descriptors")
		}
		if _, err := chain.ParseNetwork(r.Network); err != nil {
			return 0, nil, apierr.New(apierr.ValidationFailed, "%v", err)
		}
	}
	d, err := descriptor.Parse(r.Descriptor, fam)
	if err != nil {
		return 0, nil, apierr.New(apierr.InvalidAddress, "%v", err)
	}
	if r.From != nil && uint64(*r.From)+uint64(r.Count) > uint64(descriptor.Hardened) {
		return 0, nil, apierr.New(apierr.ValidationFailed, "from %d and count %d leave the non-hardened indexes", *r.From, r.Count)
	}
	if fam == chain.FamilyBitcoin && r.Network != "" {
		if n, _ := chain.ParseNetwork(r.Network); (n == chain.NetworkMainnet) != (d.Network() == chain.NetworkMainnet) {
			return 0, nil, apierr.New(apierr.ValidationFailed, "network %s does not go with a %s key", r.Network, d.Network())
		}
	}
	return fam, d, nil
}

// ParseBitcoinDepositAddress reads a Bitcoin address a deposit can be
// made to: P2PKH, P2SH, P2WPKH, P2WSH or P2TR, on any network.
func ParseBitcoinDepositAddress(s string) (chain.Address, chain.Network, error) {
	if strings.HasPrefix(s, "script:") {
		return chain.Address{}, 0, errors.New("a raw output script has no address to pay to")
	}
	a, net, err := chain.ParseBitcoinAddress(s)
	if err != nil {
		return chain.Address{}, 0, err
	}
	if t := chain.ClassifyScript(a.Bytes()); !t.Depositable() {
		return chain.Address{}, 0, fmt.Errorf("a %s output cannot take deposits (only P2PKH, P2SH, P2WPKH, P2WSH and P2TR)", t)
	}
	return a, net, nil
}

// bitcoinNets keeps an import to one network. Base58 addresses of testnet
// and regtest are alike, so they go with either; bech32 ones name theirs.
type bitcoinNets struct {
	// The first index of each kind, plus one: mainnet, tb1…, bcrt1…, and
	// base58 testnet/regtest.
	main, tb1, bcrt1, test58 int
}

func (b *bitcoinNets) add(i int, s string, net chain.Network) error {
	p := &b.test58
	switch {
	case net == chain.NetworkMainnet:
		p = &b.main
	case net == chain.NetworkRegtest:
		p = &b.bcrt1
	case strings.HasPrefix(strings.ToLower(s), "tb1"):
		p = &b.tb1
	}
	if *p == 0 {
		*p = i + 1
	}
	clash := func(x, y int) error {
		if x == 0 || y == 0 {
			return nil
		}
		return apierr.New(apierr.InvalidAddress, "addresses[%d] and addresses[%d] are of different Bitcoin networks: import each network's addresses separately", min(x, y)-1, max(x, y)-1)
	}
	if err := clash(b.main, max(b.tb1, b.bcrt1, b.test58)); err != nil {
		return err
	}
	return clash(b.tb1, b.bcrt1)
}

func (b *bitcoinNets) network() chain.Network {
	switch {
	case b.main != 0:
		return chain.NetworkMainnet
	case b.bcrt1 != 0:
		return chain.NetworkRegtest
	}
	return chain.NetworkTestnet
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
	seen := map[string]bool{}
	for _, e := range r.Events {
		if !slices.Contains(events.WebhookEventTypes, e) {
			return apierr.New(apierr.ValidationFailed, "unknown event type %q (want one of %s)", e, strings.Join(events.WebhookEventTypes, ", "))
		}
		if seen[e] {
			return apierr.New(apierr.ValidationFailed, "event type %q is listed twice", e)
		}
		seen[e] = true
	}
	return nil
}

// RotateSecretRequest is POST /api/v1/webhooks/endpoints/{id}/rotate-secret;
// its body is optional.
type RotateSecretRequest struct {
	// OverlapSeconds is how long the old secret keeps signing beside the
	// new one (default 86400, at most 604800; 0 ends it now).
	OverlapSeconds *int64 `json:"overlapSeconds,omitempty"`
}

// Overlap returns the requested overlap.
func (r *RotateSecretRequest) Overlap() (time.Duration, error) {
	if r.OverlapSeconds == nil {
		return DefaultSecretOverlap, nil
	}
	s := *r.OverlapSeconds
	if s < 0 || s > int64(MaxSecretOverlap/time.Second) {
		return 0, apierr.New(apierr.ValidationFailed, "overlapSeconds %d must be from 0 to %d", s, int64(MaxSecretOverlap/time.Second))
	}
	return time.Duration(s) * time.Second, nil
}

// MerchantRequest is POST /admin/v1/merchants.
type MerchantRequest struct {
	Name string `json:"name"`
	// Live makes an sk_live_ key (the default); false makes sk_test_.
	Live *bool `json:"live,omitempty"`
	// ToleranceBps completes the merchant's payment sessions when the
	// confirmed payments reach the amount due less this many basis points
	// of it (0 to 1000; default 0: the full amount).
	ToleranceBps uint32 `json:"toleranceBps,omitempty"`
}

// Validate checks the merchant's name and tolerance.
func (r *MerchantRequest) Validate() error {
	if r.ToleranceBps > 1000 {
		return apierr.New(apierr.ValidationFailed, "toleranceBps %d: at most 1000 (10%%)", r.ToleranceBps)
	}
	if n := strings.TrimSpace(r.Name); n == "" || len(n) > 200 || n != r.Name {
		return apierr.New(apierr.ValidationFailed, "name must be 1 to 200 characters without spaces around it")
	}
	for _, c := range r.Name {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) {
			return apierr.New(apierr.ValidationFailed, "name has a control or format character (U+%04X)", c)
		}
	}
	return nil
}

// IsLive reports whether the merchant is live (the default).
func (r *MerchantRequest) IsLive() bool { return r.Live == nil || *r.Live }

// ReassignAddressRequest is POST /admin/v1/addresses/reassign.
type ReassignAddressRequest struct {
	Protocol   string `json:"protocol"`
	Address    string `json:"address"`
	MerchantID string `json:"merchantId"`
}

var merchantIDPattern = regexp.MustCompile(`^mer_[0-9a-f]{16}$`)

// Parse checks the request.
func (r *ReassignAddressRequest) Parse() (chain.Address, string, error) {
	fam, err := chain.ParseFamily(r.Protocol)
	if err != nil {
		return chain.Address{}, "", apierr.New(apierr.UnsupportedProtocol, "protocol %q (want evm, tron, solana or bitcoin)", r.Protocol)
	}
	a, err := chain.ParseAddress(fam, r.Address)
	if err != nil {
		return chain.Address{}, "", apierr.New(apierr.InvalidAddress, "address %q: %v", r.Address, err)
	}
	if !merchantIDPattern.MatchString(r.MerchantID) {
		return chain.Address{}, "", apierr.New(apierr.ValidationFailed, "merchantId %q is not a merchant id (mer_…)", r.MerchantID)
	}
	return a, r.MerchantID, nil
}

// ValidateIdempotencyKey checks an Idempotency-Key: 1 to 255 printable
// ASCII characters.
func ValidateIdempotencyKey(k string) error {
	if len(k) > MaxIdempotencyKeyLen {
		return apierr.New(apierr.ValidationFailed, "Idempotency-Key is longer than %d characters", MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return apierr.New(apierr.ValidationFailed, "Idempotency-Key has a character that is not printable ASCII at %d", i)
		}
	}
	return nil
}

// ParseCursor reads a listing's cursor: a nextCursor it answered before.
func ParseCursor(q url.Values) (string, error) {
	c := q.Get("cursor")
	if len(c) > MaxCursorLen || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return "", apierr.New(apierr.InvalidPagination, "cursor is not a nextCursor")
	}
	return c, nil
}

// ParseSearch reads the search of GET /api/v1/deposits/references.
func ParseSearch(q url.Values) (string, error) {
	s := q.Get("search")
	if utf8.RuneCountInString(s) > MaxReferenceLen || !utf8.ValidString(s) {
		return "", apierr.New(apierr.InvalidParameter, "search must be valid UTF-8 of at most %d characters", MaxReferenceLen)
	}
	return s, nil
}

// BalanceQuery is the filter of GET /api/v1/balances.
type BalanceQuery struct {
	Reference *string // nil: every reference (customerId is the same: a customer's id is their reference)
	Currency  string
	// Product sums the payments of the payment sessions for a product
	// (of the customer, with customerId).
	Product string
}

// ParseBalanceQuery reads GET /api/v1/balances.
func ParseBalanceQuery(q url.Values) (BalanceQuery, error) {
	var b BalanceQuery
	if q.Has("depositReference") && q.Has("customerId") && q.Get("depositReference") != q.Get("customerId") {
		return b, apierr.New(apierr.InvalidParameter, "depositReference and customerId name the same thing; give one")
	}
	for _, name := range []string{"depositReference", "customerId"} {
		if q.Has(name) {
			ref := q.Get(name)
			if err := ValidateReference(ref); err != nil {
				return b, err
			}
			b.Reference = &ref
		}
	}
	b.Product = q.Get("product")
	if len(b.Product) > 255 {
		return b, apierr.New(apierr.InvalidParameter, "product: at most 255 characters")
	}
	b.Currency = q.Get("currency")
	if len(b.Currency) > 16 {
		return b, apierr.New(apierr.UnsupportedCurrency, "unknown currency %q", b.Currency)
	}
	return b, nil
}

// Page is a page request; pages count from 1.
type Page struct{ Page, Limit int }

// Pagination is the pagination block of list answers.
type Pagination struct {
	Page       int  `json:"page"`
	Limit      int  `json:"limit"`
	Total      int  `json:"total"`
	TotalPages int  `json:"totalPages"`
	HasMore    bool `json:"hasMore"`
	// NextCursor continues the listing after this page (deposits and
	// references): pass it as cursor, for pages deep in a long history.
	NextCursor string `json:"nextCursor,omitempty"`
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
	Cursor    string // a nextCursor: the page after it
}

// MaxCursorLen is the longest cursor accepted.
const MaxCursorLen = 512

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
	c, err := ParseCursor(q)
	if err != nil {
		return d, err
	}
	if c != "" && d.SortBy != "detectedAt" {
		return d, apierr.New(apierr.InvalidPagination, "cursor pages only listings sorted by detectedAt")
	}
	d.Cursor = c
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

// ResumeRequest is POST /admin/v1/chains/{chainId}/resume: the operator's
// reason, kept in the chain's audit record.
type ResumeRequest struct {
	Reason string `json:"reason"`
}

// Validate checks the request.
func (r *ResumeRequest) Validate() error {
	if n := len(strings.TrimSpace(r.Reason)); n == 0 || len(r.Reason) > 500 || !utf8.ValidString(r.Reason) {
		return apierr.New(apierr.ValidationFailed, "reason: say why, in 1 to 500 characters (it is kept in the audit record)")
	}
	return nil
}
