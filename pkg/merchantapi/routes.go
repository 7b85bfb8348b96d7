package merchantapi

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
)

// The route table. Every route of the merchant API is declared here once:
// its method and path, how its input is validated, its parameters, its
// answer and its errors. apid's mux, the OpenAPI document and /docs, and
// the forwarding to ledgerd's internal API all come from it, and ledgerd
// serves exactly its routes' internal paths (tests hold both to it).
//
// Forwarding is structural, never by string: apid builds the internal path
// from the route's template, with each path parameter validated for its
// kind and escaped as one segment (Route.Upstream). A parameter can
// therefore never add, remove or climb out of segments of the internal
// path, whatever it decodes to.

// Auth is who may call a route.
type Auth int

// Who may call.
const (
	// AuthMerchant routes take a merchant's API key (X-API-Key or
	// Authorization: Bearer) and act inside that merchant's objects.
	AuthMerchant Auth = iota
	// AuthAdmin routes take the operator's X-Admin-Key; ledgerd checks it
	// too, with a credential of its own.
	AuthAdmin
)

// IDKind is what a path parameter names; it decides its validation.
type IDKind int

// Path parameter kinds.
const (
	IDReference IDKind = iota + 1 // a deposit reference (ValidateReference)
	IDDeposit                     // dep_ and 24 or 32 hex digits
	IDEndpoint                    // we_ and 16 hex digits
	IDEvent                       // evt_ and 24 hex digits
	IDSession                     // ps_ and 32 hex digits
	IDMerchant                    // mer_ and 16 hex digits
	IDAPIKey                      // key_ and 16 hex digits
	IDChain                       // a chain id: lower-case letters, digits and dashes
)

// Param is a path or query parameter.
type Param struct {
	Name, In, Type, Desc string
	Required             bool
	Enum                 []string
	Kind                 IDKind // path parameters only
}

// Input is what a route's validation sees of a request.
type Input struct {
	Query  url.Values
	Body   []byte
	Path   func(name string) string
	Assets *assets.Config
	// LoopbackWebhooks accepts http://127.0.0.1 webhook URLs (dev mode).
	LoopbackWebhooks bool
}

// Route is one endpoint of the merchant API.
type Route struct {
	Name    string // operationId: unique, stable
	Method  string
	Path    string // public path template, e.g. /api/v1/deposits/{id}
	Summary string
	Params  []Param
	Body    string // request body schema ("" for none)
	// BodyOptional: the body may be left out.
	BodyOptional bool
	Status       int    // success status
	Response     string // answer schema
	Errors       []apierr.Code
	Auth         Auth
	// Stream answers with a stream (exports): no response timeout, and a
	// write deadline of its own.
	Stream bool
	// Validate checks the request before it is forwarded; ledgerd parses
	// the same input again with the same functions.
	Validate func(*Input) error
}

// Pattern is the route's pattern on apid's mux.
func (rt *Route) Pattern() string { return rt.Method + " " + rt.Path }

// InternalPath is the route's path template on ledgerd's internal API.
func (rt *Route) InternalPath() string {
	if rest, ok := strings.CutPrefix(rt.Path, "/admin/v1"); ok {
		return "/internal/v1/admin" + rest
	}
	return "/internal/v1" + strings.TrimPrefix(rt.Path, "/api/v1")
}

// InternalPattern is the route's pattern on ledgerd's internal mux.
func (rt *Route) InternalPattern() string { return rt.Method + " " + rt.InternalPath() }

// PathParams are the route's path parameters, in path order.
func (rt *Route) PathParams() []Param {
	var out []Param
	for _, p := range rt.Params {
		if p.In == "path" {
			out = append(out, p)
		}
	}
	return out
}

// CheckPath validates every path parameter of the route.
func (rt *Route) CheckPath(value func(string) string) error {
	for _, p := range rt.PathParams() {
		if err := ValidatePathID(p.Kind, value(p.Name)); err != nil {
			return err
		}
	}
	return nil
}

// Upstream builds the internal path of a request to this route: each path
// parameter is validated for its kind and escaped as a single segment.
func (rt *Route) Upstream(value func(string) string) (string, error) {
	if err := rt.CheckPath(value); err != nil {
		return "", err
	}
	segs := strings.Split(rt.InternalPath(), "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, "{"); ok {
			segs[i] = url.PathEscape(value(strings.TrimSuffix(name, "}")))
		}
	}
	return strings.Join(segs, "/"), nil
}

var (
	depositIDPattern  = regexp.MustCompile(`^dep_([0-9a-f]{24}|[0-9a-f]{32})$`)
	endpointIDPattern = regexp.MustCompile(`^we_[0-9a-f]{16}$`)
	eventIDPattern    = regexp.MustCompile(`^evt_[0-9a-f]{24}$`)
	apiKeyIDPattern   = regexp.MustCompile(`^key_[0-9a-f]{16}$`)
	chainIDPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
)

// ValidatePathID checks a path parameter. An id of the wrong form names no
// object, and is that object's not-found error; a reference of the wrong
// form is INVALID_DEPOSIT_REFERENCE. Either way nothing that holds "/",
// "%", "..", a control character or invalid UTF-8 gets past.
func ValidatePathID(kind IDKind, v string) error {
	switch kind {
	case IDReference:
		return ValidateReference(v)
	case IDDeposit:
		if !depositIDPattern.MatchString(v) {
			return apierr.New(apierr.DepositNotFound, "no deposit %q", v)
		}
	case IDEndpoint:
		if !endpointIDPattern.MatchString(v) {
			return apierr.New(apierr.EndpointNotFound, "no webhook endpoint %q", v)
		}
	case IDEvent:
		if !eventIDPattern.MatchString(v) {
			return apierr.New(apierr.EventNotFound, "no event %q", v)
		}
	case IDSession:
		if !ValidSessionID(v) {
			return apierr.New(apierr.SessionNotFound, "no payment session %q", v)
		}
	case IDMerchant:
		if !merchantIDPattern.MatchString(v) {
			return apierr.New(apierr.MerchantNotFound, "no merchant %q", v)
		}
	case IDAPIKey:
		if !apiKeyIDPattern.MatchString(v) {
			return apierr.New(apierr.APIKeyNotFound, "no API key %q", v)
		}
	case IDChain:
		if !chainIDPattern.MatchString(v) {
			return apierr.New(apierr.UnsupportedChain, "unknown chainId %q", v)
		}
	default:
		return apierr.New(apierr.Internal, "path parameter of unknown kind %d", kind)
	}
	return nil
}

var (
	pPage     = Param{Name: "page", In: "query", Type: "integer", Desc: "Page number, from 1 (default 1)"}
	pLimit    = Param{Name: "limit", In: "query", Type: "integer", Desc: "Items per page, 1 to 100 (default 20)"}
	pRef      = Param{Name: "ref", In: "path", Type: "string", Desc: "Deposit reference (max 255 characters)", Required: true, Kind: IDReference}
	pChain    = Param{Name: "chainId", In: "query", Type: "string", Desc: "Chain id, e.g. ethereum-sepolia"}
	pDeposit  = Param{Name: "id", In: "path", Type: "string", Desc: "Deposit id (dep_…)", Required: true, Kind: IDDeposit}
	pEndpoint = Param{Name: "id", In: "path", Type: "string", Desc: "Webhook endpoint id (we_…)", Required: true, Kind: IDEndpoint}
	pEvent    = Param{Name: "id", In: "path", Type: "string", Desc: "Event id (evt_…)", Required: true, Kind: IDEvent}
	pFrom     = Param{Name: "from", In: "query", Type: "string", Desc: "Detected at or after: RFC 3339 time or date (UTC midnight)"}
	pTo       = Param{Name: "to", In: "query", Type: "string", Desc: "Detected before: RFC 3339 time or date (UTC midnight)"}
	pCursor   = Param{Name: "cursor", In: "query", Type: "string", Desc: "The nextCursor of the page before: the page after it (page is then not used)"}
)

func page(in *Input) error { _, err := ParsePage(in.Query); return err }

// decode is the validation of a route whose body is a T with a Validate.
func decode[T any, P interface {
	*T
	check(*Input) error
}](in *Input) error {
	var v T
	if err := UnmarshalStrict(in.Body, &v); err != nil {
		return err
	}
	return P(&v).check(in)
}

func (r *BindRequest) check(in *Input) error         { _, _, err := r.Validate(in.Assets); return err }
func (r *ImportRequest) check(*Input) error          { _, _, err := r.validate(); return err }
func (r *EndpointRequest) check(in *Input) error     { return r.Validate(in.LoopbackWebhooks) }
func (r *RotateSecretRequest) check(*Input) error    { _, err := r.Overlap(); return err }
func (r *MerchantRequest) check(*Input) error        { return r.Validate() }
func (r *ReassignAddressRequest) check(*Input) error { _, _, err := r.Parse(); return err }
func (r *ResumeRequest) check(*Input) error          { return r.Validate() }

var (
	pMerchant = Param{Name: "merchantId", In: "path", Type: "string", Desc: "Merchant id (mer_…)", Required: true, Kind: IDMerchant}
	pAPIKey   = Param{Name: "keyId", In: "path", Type: "string", Desc: "API key id (key_…)", Required: true, Kind: IDAPIKey}
	pChainID  = Param{Name: "chainId", In: "path", Type: "string", Desc: "Chain id, e.g. ethereum", Required: true, Kind: IDChain}
)

var pSession = Param{Name: "sessionId", In: "path", Type: "string", Desc: "Payment session id (ps_…)", Required: true, Kind: IDSession}

// Routes is the merchant API.
var Routes = []Route{
	{Name: "createDepositReference", Method: http.MethodPost, Path: "/api/v1/deposits/references",
		Summary: "Bind a pooled address to a deposit reference on a chain (the address is watched on every chain of its protocol)",
		Body:    "BindRequest", Status: 201, Response: "BindResponse",
		Errors: []apierr.Code{apierr.DuplicateDepositReference, apierr.NoAvailableAddresses, apierr.UnsupportedChain, apierr.UnsupportedCurrency, apierr.ChainNotEnabled,
			apierr.TooManyMetadataKeys, apierr.ReferenceTooLong, apierr.InvalidDepositReference, apierr.InvalidJSON, apierr.IdempotencyKeyReused},
		Validate: decode[BindRequest]},
	{Name: "listDepositReferences", Method: http.MethodGet, Path: "/api/v1/deposits/references", Summary: "List deposit references",
		Params: []Param{pPage, pLimit, {Name: "search", In: "query", Type: "string", Desc: "Substring of the reference, any case"}, pCursor},
		Status: 200, Response: "ReferenceList", Errors: []apierr.Code{apierr.InvalidPagination, apierr.InvalidParameter},
		Validate: func(in *Input) error {
			if _, err := ParseSearch(in.Query); err != nil {
				return err
			}
			if _, err := ParseCursor(in.Query); err != nil {
				return err
			}
			return page(in)
		}},
	{Name: "getDepositReference", Method: http.MethodGet, Path: "/api/v1/deposits/references/{ref}",
		Summary: "Get a deposit reference with its addresses and totals", Params: []Param{pRef, pChain},
		Status: 200, Response: "Reference", Errors: []apierr.Code{apierr.DepositReferenceNotFound, apierr.InvalidDepositReference, apierr.UnsupportedChain},
		Validate: chainFilter},
	{Name: "deleteDepositReference", Method: http.MethodDelete, Path: "/api/v1/deposits/references/{ref}",
		Summary: "Unbind a reference's addresses (all, or one chain's); they cool down, then return to the pool", Params: []Param{pRef, pChain},
		Status: 200, Response: "UnbindResponse", Errors: []apierr.Code{apierr.DepositReferenceNotFound, apierr.InvalidDepositReference, apierr.UnsupportedChain},
		Validate: chainFilter},
	{Name: "listDeposits", Method: http.MethodGet, Path: "/api/v1/deposits", Summary: "List deposits",
		Params: []Param{pPage, pLimit, {Name: "depositReference", In: "query", Type: "string"},
			{Name: "status", In: "query", Type: "string", Enum: Statuses},
			{Name: "currency", In: "query", Type: "string"}, pChain,
			{Name: "sortBy", In: "query", Type: "string", Enum: SortFields},
			{Name: "sortOrder", In: "query", Type: "string", Enum: []string{"asc", "desc"}}, pCursor},
		Status: 200, Response: "DepositList",
		Errors: []apierr.Code{apierr.InvalidPagination, apierr.InvalidParameter, apierr.UnsupportedChain, apierr.InvalidDepositReference},
		Validate: func(in *Input) error {
			if err := page(in); err != nil {
				return err
			}
			_, err := ParseDepositQuery(in.Query, in.Assets)
			return err
		}},
	{Name: "getDeposit", Method: http.MethodGet, Path: "/api/v1/deposits/{id}", Summary: "Get one deposit", Params: []Param{pDeposit},
		Status: 200, Response: "Deposit", Errors: []apierr.Code{apierr.DepositNotFound}},
	{Name: "importAddresses", Method: http.MethodPost, Path: "/api/v1/addresses/import",
		Summary: "Import addresses into the pool; one invalid address, or one in another merchant's pool, rejects the whole request",
		Body:    "ImportRequest", Status: 200, Response: "ImportResult",
		Errors:   []apierr.Code{apierr.InvalidAddress, apierr.UnsupportedProtocol, apierr.AddressUnavailable, apierr.InvalidJSON, apierr.ValidationFailed},
		Validate: decode[ImportRequest]},
	{Name: "listAddresses", Method: http.MethodGet, Path: "/api/v1/addresses", Summary: "List the address pool",
		Params: []Param{pPage, pLimit, {Name: "status", In: "query", Type: "string", Enum: []string{"available", "bound", "cooldown"}},
			{Name: "protocol", In: "query", Type: "string", Enum: []string{"evm", "tron", "solana", "bitcoin"}}},
		Status: 200, Response: "AddressList", Errors: []apierr.Code{apierr.InvalidPagination, apierr.InvalidParameter, apierr.UnsupportedProtocol},
		Validate: func(in *Input) error {
			if err := page(in); err != nil {
				return err
			}
			_, _, err := ParseAddressQuery(in.Query)
			return err
		}},
	{Name: "listBalances", Method: http.MethodGet, Path: "/api/v1/balances",
		Summary: "Balances per reference and currency: pending (pending and confirmed deposits) and available (completed); by customer, and by product over payment sessions",
		Params: []Param{{Name: "depositReference", In: "query", Type: "string"}, {Name: "customerId", In: "query", Type: "string", Desc: "A payment session customer's id: their deposit reference"},
			{Name: "product", In: "query", Type: "string", Desc: "Sum the payments of the payment sessions for this product"}, {Name: "currency", In: "query", Type: "string"}},
		Status: 200, Response: "BalanceList", Errors: []apierr.Code{apierr.DepositReferenceNotFound, apierr.InvalidDepositReference},
		Validate: func(in *Input) error { _, err := ParseBalanceQuery(in.Query); return err }},
	{Name: "createWebhookEndpoint", Method: http.MethodPost, Path: "/api/v1/webhooks/endpoints",
		Summary: fmt.Sprintf("Create a webhook endpoint (at most %d per merchant); the whsec_ secret is shown only here", MaxEndpoints),
		Body:    "EndpointRequest", Status: 201, Response: "Endpoint",
		Errors:   []apierr.Code{apierr.InvalidWebhookURL, apierr.ValidationFailed, apierr.LimitExceeded, apierr.InvalidJSON},
		Validate: decode[EndpointRequest]},
	{Name: "listWebhookEndpoints", Method: http.MethodGet, Path: "/api/v1/webhooks/endpoints", Summary: "List webhook endpoints",
		Status: 200, Response: "EndpointList"},
	{Name: "getWebhookEndpoint", Method: http.MethodGet, Path: "/api/v1/webhooks/endpoints/{id}", Summary: "Get a webhook endpoint",
		Params: []Param{pEndpoint}, Status: 200, Response: "Endpoint", Errors: []apierr.Code{apierr.EndpointNotFound}},
	{Name: "deleteWebhookEndpoint", Method: http.MethodDelete, Path: "/api/v1/webhooks/endpoints/{id}", Summary: "Delete a webhook endpoint",
		Params: []Param{pEndpoint}, Status: 200, Response: "Success", Errors: []apierr.Code{apierr.EndpointNotFound}},
	{Name: "rotateWebhookSecret", Method: http.MethodPost, Path: "/api/v1/webhooks/endpoints/{id}/rotate-secret",
		Summary: "Give an endpoint a new whsec_ secret (shown only here). Until the overlap ends (default 24 h, at most 7 days), every delivery is signed with both secrets, so receivers can switch without a gap",
		Params:  []Param{pEndpoint}, Body: "RotateSecretRequest", BodyOptional: true, Status: 200, Response: "Endpoint",
		Errors:   []apierr.Code{apierr.EndpointNotFound, apierr.ValidationFailed, apierr.InvalidJSON},
		Validate: optionalBody(decode[RotateSecretRequest])},
	{Name: "listWebhookDeliveries", Method: http.MethodGet, Path: "/api/v1/webhooks/endpoints/{id}/deliveries",
		Summary: "An endpoint's delivery log, newest first", Params: []Param{pEndpoint, pPage, pLimit},
		Status: 200, Response: "DeliveryList", Errors: []apierr.Code{apierr.EndpointNotFound, apierr.InvalidPagination}, Validate: page},
	{Name: "replayWebhookEvent", Method: http.MethodPost, Path: "/api/v1/webhooks/events/{id}/replay",
		Summary: "Deliver one event again to every subscribed endpoint", Params: []Param{pEvent},
		Status: 202, Response: "ReplayResult", Errors: []apierr.Code{apierr.EventNotFound}, Validate: noBody},
	{Name: "depositAnalytics", Method: http.MethodGet, Path: "/api/v1/analytics/deposits",
		Summary: "Deposit count and exact total per group (day, currency, chain or reference) and currency; orphaned deposits only when status=orphaned",
		Params: []Param{{Name: "groupBy", In: "query", Type: "string", Enum: GroupBys, Desc: "Default day (UTC, by detectedAt)"}, pFrom, pTo,
			{Name: "currency", In: "query", Type: "string"}, pChain, {Name: "status", In: "query", Type: "string", Enum: Statuses}},
		Status: 200, Response: "DepositStats", Errors: []apierr.Code{apierr.InvalidParameter, apierr.UnsupportedChain, apierr.UnsupportedCurrency},
		Validate: func(in *Input) error { _, err := ParseAnalyticsQuery(in.Query, in.Assets); return err }},
	{Name: "latencyAnalytics", Method: http.MethodGet, Path: "/api/v1/analytics/latency",
		Summary: "Seconds from detection to confirmed and to completed per chain, at p50, p90 and p99, over deposits not orphaned",
		Params:  []Param{pChain}, Status: 200, Response: "LatencyList", Errors: []apierr.Code{apierr.UnsupportedChain},
		Validate: func(in *Input) error { _, err := ParseChainFilter(in.Query, in.Assets); return err }},
	{Name: "exportDeposits", Method: http.MethodGet, Path: "/api/v1/deposits/export",
		Summary: "Stream every deposit detected in [from, to) as CSV (with a header row) or NDJSON, ordered by detectedAt then depositId",
		Params:  []Param{{Name: "format", In: "query", Type: "string", Enum: []string{FormatCSV, FormatNDJSON}, Desc: "Default csv"}, pFrom, pTo},
		Status:  200, Response: "ExportRecord", Errors: []apierr.Code{apierr.InvalidParameter}, Stream: true,
		Validate: func(in *Input) error { _, err := ParseExportQuery(in.Query); return err }},
	{Name: "createPaymentSession", Method: http.MethodPost, Path: "/api/v1/payment-sessions",
		Summary: "Make a payment session: an address of its own per protocol, the ways to pay (amounts per currency, or any amount), and a hosted checkout page",
		Body:    "PaymentSessionRequest", Status: 201, Response: "PaymentSession",
		Errors: []apierr.Code{apierr.ValidationFailed, apierr.UnsupportedCurrency, apierr.UnsupportedChain, apierr.InvalidAmount, apierr.RateUnavailable,
			apierr.TooManyMetadataKeys, apierr.NoAvailableAddresses, apierr.InvalidJSON, apierr.IdempotencyKeyReused},
		Validate: decode[PaymentSessionRequest]},
	{Name: "listPaymentSessions", Method: http.MethodGet, Path: "/api/v1/payment-sessions", Summary: "List payment sessions, newest first",
		Params: []Param{pPage, pLimit, {Name: "customerId", In: "query", Type: "string"}, {Name: "status", In: "query", Type: "string", Enum: SessionStatuses}},
		Status: 200, Response: "PaymentSessionList", Errors: []apierr.Code{apierr.InvalidPagination, apierr.InvalidParameter}},
	{Name: "getPaymentSession", Method: http.MethodGet, Path: "/api/v1/payment-sessions/{sessionId}", Summary: "Get a payment session, current",
		Params: []Param{pSession}, Status: 200, Response: "PaymentSession", Errors: []apierr.Code{apierr.SessionNotFound}},
	{Name: "listChains", Method: http.MethodGet, Path: "/api/v1/chains",
		Summary: "The chains this Inflow follows: their currencies, confirmation policies and indexing state",
		Status:  200, Response: "ChainList"},
	{Name: "walletAddress", Method: http.MethodPost, Path: "/api/v1/wallet/address",
		Summary: "The Channel API: a customer's address for a currency (a seed code such as tUSDT, or USDT), the same every time for the customer and its protocol",
		Body:    "ChannelRequest", Status: 200, Response: "ChannelAnswer",
		Errors:   []apierr.Code{apierr.ValidationFailed, apierr.UnsupportedCurrency, apierr.NoAvailableAddresses, apierr.InvalidJSON, apierr.IdempotencyKeyReused},
		Validate: decode[ChannelRequest]},
	{Name: "createChannel", Method: http.MethodPost, Path: "/api/v1/channels", Summary: "The same as POST /wallet/address: a customer's channel address",
		Body: "ChannelRequest", Status: 200, Response: "ChannelAnswer",
		Errors:   []apierr.Code{apierr.ValidationFailed, apierr.UnsupportedCurrency, apierr.NoAvailableAddresses, apierr.InvalidJSON, apierr.IdempotencyKeyReused},
		Validate: decode[ChannelRequest]},
	{Name: "listChannels", Method: http.MethodGet, Path: "/api/v1/channels", Summary: "A customer's channel addresses, one per protocol",
		Params: []Param{{Name: "customerId", In: "query", Type: "string"}}, Status: 200, Response: "ChannelList"},
	{Name: "listApiKeys", Method: http.MethodGet, Path: "/api/v1/api-keys", Summary: "The merchant's API keys: id, prefix and creation time (never the key)",
		Status: 200, Response: "APIKeyList"},
	{Name: "createApiKey", Method: http.MethodPost, Path: "/api/v1/api-keys", Summary: "Another API key for the merchant, of its mode; the key is shown only in this answer",
		Status: 201, Response: "APIKeyCreated", Errors: []apierr.Code{apierr.LimitExceeded, apierr.ValidationFailed}, Validate: noBody},
	{Name: "revokeApiKey", Method: http.MethodDelete, Path: "/api/v1/api-keys/{keyId}",
		Summary: "Revoke an API key: refused at once by this apid, within 30 s by every other. The last key cannot be revoked (create another first)",
		Params:  []Param{pAPIKey}, Status: 200, Response: "Success", Errors: []apierr.Code{apierr.APIKeyNotFound, apierr.LastAPIKey}},
	{Name: "listMerchants", Method: http.MethodGet, Path: "/admin/v1/merchants", Auth: AuthAdmin,
		Summary: "Every merchant (X-Admin-Key)", Status: 200, Response: "MerchantList"},
	{Name: "listMerchantApiKeys", Method: http.MethodGet, Path: "/admin/v1/merchants/{merchantId}/api-keys", Auth: AuthAdmin,
		Summary: "A merchant's API keys (X-Admin-Key)", Params: []Param{pMerchant}, Status: 200, Response: "APIKeyList", Errors: []apierr.Code{apierr.MerchantNotFound}},
	{Name: "createMerchantApiKey", Method: http.MethodPost, Path: "/admin/v1/merchants/{merchantId}/api-keys", Auth: AuthAdmin,
		Summary: "Another API key for a merchant (X-Admin-Key); shown only in this answer", Params: []Param{pMerchant},
		Status: 201, Response: "APIKeyCreated", Errors: []apierr.Code{apierr.MerchantNotFound, apierr.LimitExceeded, apierr.ValidationFailed}, Validate: noBody},
	{Name: "revokeMerchantApiKey", Method: http.MethodDelete, Path: "/admin/v1/merchants/{merchantId}/api-keys/{keyId}", Auth: AuthAdmin,
		Summary: "Revoke a merchant's API key, its last one too (X-Admin-Key)", Params: []Param{pMerchant, pAPIKey},
		Status: 200, Response: "Success", Errors: []apierr.Code{apierr.MerchantNotFound, apierr.APIKeyNotFound}},
	{Name: "resumeChain", Method: http.MethodPost, Path: "/admin/v1/chains/{chainId}/resume", Auth: AuthAdmin,
		Summary: "Resume a chain the ledger halted, on the operator's decision, with an audit record (X-Admin-Key): its held records are applied again; after a reorg deeper than the chain's maximum, that reorg is applied. A reorg into finalized blocks cannot be resumed",
		Params:  []Param{pChainID}, Body: "ResumeRequest", Status: 200, Response: "ResumeResult",
		Errors:   []apierr.Code{apierr.UnsupportedChain, apierr.ChainNotHalted, apierr.CannotResume, apierr.ValidationFailed, apierr.InvalidJSON},
		Validate: decode[ResumeRequest]},
	{Name: "createMerchant", Method: http.MethodPost, Path: "/admin/v1/merchants", Auth: AuthAdmin,
		Summary: "Create a merchant and its API key (X-Admin-Key)", Body: "MerchantRequest", Status: 201, Response: "MerchantCreated",
		Errors: []apierr.Code{apierr.ValidationFailed, apierr.InvalidJSON}, Validate: decode[MerchantRequest]},
	{Name: "listAddressConflicts", Method: http.MethodGet, Path: "/admin/v1/address-conflicts", Auth: AuthAdmin,
		Summary: "Addresses a merchant tried to import that are in another merchant's pool, with both merchants (X-Admin-Key)",
		Params:  []Param{pPage, pLimit}, Status: 200, Response: "AddressConflictList", Errors: []apierr.Code{apierr.InvalidPagination}, Validate: page},
	{Name: "reassignAddress", Method: http.MethodPost, Path: "/admin/v1/addresses/reassign", Auth: AuthAdmin,
		Summary: "Move an available pool address to another merchant's pool, and clear its conflicts (X-Admin-Key)",
		Body:    "ReassignAddressRequest", Status: 200, Response: "ReassignResult",
		Errors:   []apierr.Code{apierr.InvalidAddress, apierr.UnsupportedProtocol, apierr.AddressUnavailable, apierr.NotFound, apierr.ValidationFailed, apierr.InvalidJSON},
		Validate: decode[ReassignAddressRequest]},
}

func chainFilter(in *Input) error { _, err := ParseChainFilter(in.Query, in.Assets); return err }

// noBody refuses a body on a route that takes none.
func noBody(in *Input) error {
	if len(in.Body) > 0 {
		return apierr.New(apierr.ValidationFailed, "this request takes no body")
	}
	return nil
}

// optionalBody validates a body when there is one.
func optionalBody(fn func(*Input) error) func(*Input) error {
	return func(in *Input) error {
		if len(in.Body) == 0 {
			return nil
		}
		return fn(in)
	}
}

// RouteByName returns a route of the table.
func RouteByName(name string) *Route {
	for i := range Routes {
		if Routes[i].Name == name {
			return &Routes[i]
		}
	}
	return nil
}

// BodyExamples are the request bodies of the route table's examples, by
// route name: the OpenAPI document and /docs show them, and a test holds
// each to its route's own validation. A route with a body and no example
// here gets one made from its schema.
var BodyExamples = map[string]string{
	"createDepositReference": `{"depositReference": "user_alice_123", "currency": "USDC", "chainId": "ethereum-sepolia", "metadata": {"userId": "alice"}}`,
	"importAddresses":        `{"protocol": "evm", "addresses": ["0x71C7656EC7ab88b098defB751B7401B5f6d8976F", "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"]}`,
	"createWebhookEndpoint":  `{"url": "https://shop.example.com/hooks/inflow", "events": ["deposit.confirmed", "deposit.orphaned"]}`,
	"rotateWebhookSecret":    `{"overlapSeconds": 86400}`,
	"createPaymentSession": `{"customer": {"id": "user_alice_123", "email": "alice@example.com"}, "product": "pro-plan",
		"amounts": {"USDT": "25.5"}, "returnUrl": "https://shop.example.com/thanks", "expiresIn": 3600}`,
	"walletAddress":   `{"customerId": "user_alice_123", "currency": "eUSDT"}`,
	"createChannel":   `{"customerId": "user_alice_123", "currency": "eUSDT"}`,
	"createMerchant":  `{"name": "Alice's shop", "live": false, "toleranceBps": 50}`,
	"resumeChain":     `{"reason": "ticket OPS-1234: the node operator confirmed the fork; accept the reorg"}`,
	"reassignAddress": `{"protocol": "evm", "address": "0x71C7656EC7ab88b098defB751B7401B5f6d8976F", "merchantId": "mer_0123456789abcdef"}`,
}
