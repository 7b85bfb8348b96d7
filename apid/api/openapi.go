package api

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/inflowhq/inflow/pkg/analytics"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

var authErr = []apierr.Code{apierr.Unauthorized, apierr.RateLimited}

func obj(props map[string]any, required ...string) map[string]any {
	o := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

var (
	str      = map[string]any{"type": "string"}
	nullStr  = map[string]any{"type": []string{"string", "null"}}
	nullNum  = map[string]any{"type": []string{"number", "null"}, "description": "Seconds; null when count is 0"}
	integer  = map[string]any{"type": "integer"}
	boolean  = map[string]any{"type": "boolean"}
	decimal  = map[string]any{"type": "string", "pattern": `^[0-9]+(\.[0-9]+)?$`, "description": "Exact decimal in currency units"}
	dateTime = map[string]any{"type": "string", "format": "date-time"}
	nullTime = map[string]any{"type": []string{"string", "null"}, "format": "date-time"}
	ref      = func(n string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + n} }
	listOf   = func(n string) map[string]any {
		return obj(map[string]any{"data": map[string]any{"type": "array", "items": ref(n)}, "pagination": ref("Pagination")})
	}
	amounts = map[string]any{"type": "object", "additionalProperties": decimal}
)

func schemas() map[string]any {
	return map[string]any{
		"Error": obj(map[string]any{"error": str, "message": str, "code": map[string]any{"type": "string", "enum": codes()}, "statusCode": integer},
			"error", "message", "code", "statusCode"),
		"Pagination": obj(map[string]any{"page": map[string]any{"type": "integer", "description": "The page asked for; 0 when paging by cursor"}, "limit": integer, "total": integer, "totalPages": integer, "hasMore": boolean,
			"nextCursor": map[string]any{"type": "string", "description": "Deposits and references: pass as cursor for the page after this one"}}),
		"BindRequest": obj(map[string]any{"depositReference": map[string]any{"type": "string", "maxLength": 255},
			"currency": str, "chainId": str, "metadata": map[string]any{"type": "object", "maxProperties": 10}}, "depositReference", "currency", "chainId"),
		"BindResponse": obj(map[string]any{"depositReference": str, "currency": str, "chainId": str, "protocol": str, "address": str,
			"metadata": map[string]any{"type": "object"}, "createdAt": dateTime,
			"warning": map[string]any{"type": "string", "description": "Present when chainId itself is not followed here (another chain of its protocol is): only the chains followed would see a deposit"}}),
		"Reference": obj(map[string]any{"depositReference": str, "addresses": map[string]any{"type": "array", "items": obj(map[string]any{
			"currency": str, "chainId": str, "protocol": str, "address": str, "createdAt": dateTime})},
			"totalDeposits": integer, "totalAmount": amounts, "metadata": map[string]any{"type": "object"}}),
		"ReferenceList": listOf("ReferenceSummary"),
		"ReferenceSummary": obj(map[string]any{"depositReference": str, "protocols": map[string]any{"type": "array", "items": str},
			"addressCount": integer, "totalDeposits": integer, "totalAmount": amounts, "lastDepositAt": nullTime}),
		"PaymentSessionRequest": obj(map[string]any{
			"customer": obj(map[string]any{"id": map[string]any{"type": "string", "maxLength": 255}, "email": str, "name": str}, "id"),
			"product":  str, "amounts": amounts, "chainIds": map[string]any{"type": "array", "items": str}, "returnUrl": str,
			"notificationUrl": map[string]any{"type": "string", "description": "https URL that receives this session's payment_session.* events, signed with the notificationSecret of the answer"},
			"expiresIn":       map[string]any{"type": "integer", "minimum": 60, "maximum": 604800, "description": "Seconds (default 3600)"},
			"metadata":        map[string]any{"type": "object", "maxProperties": 10}}, "customer", "returnUrl"),
		"PaymentSession": obj(map[string]any{"sessionId": str, "status": map[string]any{"type": "string", "enum": merchantapi.SessionStatuses},
			"checkoutUrl": str, "expiresAt": dateTime, "createdAt": dateTime, "customer": obj(map[string]any{"id": str, "email": str, "name": str}),
			"product": str, "returnUrl": str, "metadata": map[string]any{"type": "object"},
			"paymentOptions": map[string]any{"type": "array", "items": obj(map[string]any{"currency": str, "chainId": str, "protocol": str, "address": str,
				"amount": map[string]any{"type": []string{"string", "null"}, "description": "null: any amount"}, "paymentUri": str, "qrCodeUrl": str})},
			"amountDue": nullStr, "amountReceived": decimal, "currency": nullStr,
			"payments":        map[string]any{"type": "array", "items": ref("SessionPayment")},
			"latePayments":    map[string]any{"type": "array", "items": ref("SessionPayment")},
			"timeline":        map[string]any{"type": "array", "items": obj(map[string]any{"type": map[string]any{"type": "string", "example": "payment_session.pending"}, "at": dateTime})},
			"notificationUrl": str, "notificationSecret": map[string]any{"type": "string", "description": "whsec_…: in the answer that makes the session only"}}),
		"SessionPayment": obj(map[string]any{"depositId": str, "chainId": str, "currency": str, "amount": decimal, "status": str,
			"confirmations": integer, "txHash": str}),
		"PaymentSessionList": listOf("PaymentSession"),
		"ChainList": obj(map[string]any{"data": map[string]any{"type": "array", "items": obj(map[string]any{
			"chainId": str, "name": str, "protocol": str, "testnet": boolean,
			"currencies": map[string]any{"type": "array", "items": obj(map[string]any{"currency": str, "decimals": integer, "contract": str, "tokenId": str})},
			"policy":     obj(map[string]any{"creditDepth": integer, "finality": str, "finalityDepth": integer, "maxReorgDepth": integer}),
			"indexing":   obj(map[string]any{"tip": integer, "finalized": integer, "halted": boolean, "haltReason": str})})}}),
		"ChannelRequest": obj(map[string]any{"customerId": map[string]any{"type": "string", "maxLength": 255}, "currency": str}, "customerId", "currency"),
		"Channel": obj(map[string]any{"customerId": str, "address": str, "currency": str, "chainId": str, "protocol": str, "qrCodeURL": str,
			"createdAt": dateTime}),
		"ChannelAnswer":  obj(map[string]any{"data": ref("Channel")}),
		"ChannelList":    obj(map[string]any{"data": map[string]any{"type": "array", "items": ref("Channel")}}),
		"UnbindResponse": obj(map[string]any{"success": boolean, "message": str, "depositReference": str, "unboundAddresses": integer}),
		"Deposit": obj(map[string]any{"depositId": str, "depositReference": nullStr, "amount": decimal, "currency": str, "chainId": str,
			"address": str, "txHash": str, "blockNumber": integer,
			"status":        map[string]any{"type": "string", "enum": merchantapi.Statuses},
			"confirmations": integer, "detectedAt": dateTime, "confirmedAt": nullTime, "completedAt": nullTime, "orphanedAt": nullTime,
			"replaces":     map[string]any{"type": "string", "description": "The orphaned deposit this one re-mines"},
			"afterUnbind":  map[string]any{"type": "boolean", "description": "Present (true) when the deposit reached the address during the cooldown after depositReference was unbound from it: it is still that reference's. After the cooldown a deposit is unattributed (depositReference null)."},
			"tokenAccount": map[string]any{"type": "string", "description": "Solana SPL deposits: the token account the tokens landed in (address is its owner, the bound address)"}}),
		"DepositList": listOf("Deposit"),
		"ImportRequest": obj(map[string]any{"protocol": map[string]any{"type": "string", "enum": []string{"evm", "tron", "solana", "bitcoin"}},
			"addresses": map[string]any{"type": "array", "items": str, "maxItems": merchantapi.MaxImport, "description": "The addresses, or give descriptor, from and count instead."},
			"descriptor": map[string]any{"type": "string", "maxLength": 1000, "example": "wpkh([d34db33f/84'/0'/0']xpub6…/0/*)",
				"description": "Watch-only: derive the addresses from an extended public key (never a private one). Bitcoin: pkh, sh(wpkh), wpkh or tr over xpub/tpub (ypub, zpub, upub, vpub too), optionally after a key origin, ending in /*; an optional #checksum (BIP380) is checked. EVM: the account key (m/44'/60'/0') alone, whose children 0/i are the addresses."},
			"from":    map[string]any{"type": "integer", "minimum": 0, "default": 0, "description": "The first child index of the range."},
			"count":   map[string]any{"type": "integer", "minimum": 1, "maximum": merchantapi.MaxImport, "description": "How many addresses to derive (page on with from)."},
			"network": map[string]any{"type": "string", "enum": []string{"mainnet", "testnet", "testnet4", "signet", "regtest"}, "description": "Bitcoin: the network the derived addresses are listed in (default: the key's, xpub mainnet, tpub testnet)."},
		}, "protocol"),
		"ImportResult": obj(map[string]any{"protocol": str, "imported": integer, "duplicates": integer,
			"importedAddresses": map[string]any{"type": "array", "items": str}, "duplicateAddresses": map[string]any{"type": "array", "items": str}}),
		"AddressList": listOf("Address"),
		"Address":     obj(map[string]any{"address": str, "protocol": str, "status": map[string]any{"type": "string", "enum": []string{"available", "bound", "cooldown"}}, "depositReference": nullStr}),
		"BalanceList": obj(map[string]any{"data": map[string]any{"type": "array", "items": obj(map[string]any{"depositReference": str, "currency": str, "pending": decimal, "available": decimal})}}),
		"EndpointRequest": obj(map[string]any{"url": map[string]any{"type": "string", "format": "uri", "description": "https URL of a public host"},
			"events": map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": []string{"deposit.pending", "deposit.confirmed", "deposit.completed", "deposit.orphaned"}}}}, "url"),
		"Endpoint": obj(map[string]any{"id": str, "url": str, "events": map[string]any{"type": "array", "items": str},
			"secret":                  map[string]any{"type": "string", "description": "whsec_…, on creation and rotation only"},
			"previousSecretExpiresAt": map[string]any{"type": "string", "format": "date-time", "description": "After a rotation: until then, deliveries are signed with the previous secret too"},
			"createdAt":               dateTime}),
		"RotateSecretRequest": obj(map[string]any{"overlapSeconds": map[string]any{"type": "integer", "minimum": 0, "maximum": int64(merchantapi.MaxSecretOverlap / time.Second),
			"description": "How long the previous secret keeps signing beside the new one (default 86400)"}}),
		"AddressConflictList": listOf("AddressConflict"),
		"AddressConflict": obj(map[string]any{"protocol": str, "address": str, "ownerMerchantId": str, "claimantMerchantId": str,
			"attempts": integer, "firstSeenAt": dateTime, "lastSeenAt": dateTime}),
		"ReassignAddressRequest": obj(map[string]any{"protocol": map[string]any{"type": "string", "enum": []string{"evm", "tron", "solana", "bitcoin"}},
			"address": str, "merchantId": str}, "protocol", "address", "merchantId"),
		"ReassignResult": obj(map[string]any{"protocol": str, "address": str, "merchantId": str, "previousMerchantId": str, "status": str}),
		"EndpointList":   obj(map[string]any{"data": map[string]any{"type": "array", "items": ref("Endpoint")}}),
		"DeliveryList":   listOf("Delivery"),
		"Delivery": obj(map[string]any{"id": str, "endpointId": str, "eventId": str, "eventType": str,
			"status": map[string]any{"type": "string", "enum": []string{"pending", "succeeded", "failed", "cancelled"}}, "createdAt": dateTime, "nextAttemptAt": nullTime,
			"attempts": map[string]any{"type": "array", "items": obj(map[string]any{"at": dateTime, "statusCode": integer, "error": str, "durationMs": integer})}}),
		"ReplayResult": obj(map[string]any{"eventId": str, "deliveries": integer}),
		"Success":      obj(map[string]any{"success": boolean, "id": str}),
		"ResumeRequest": obj(map[string]any{"reason": map[string]any{"type": "string", "minLength": 1, "maxLength": 500,
			"description": "Why: kept in the chain's audit record"}}, "reason"),
		"ResumeResult": obj(map[string]any{"chainId": str, "resumed": boolean,
			"acceptReorg": map[string]any{"type": "boolean", "description": "The held reorg, deeper than the chain's maximum, is applied"},
			"haltReason":  str, "tip": integer, "finalized": integer,
			"resumes": map[string]any{"type": "array", "items": obj(map[string]any{"at": dateTime, "haltReason": str, "reason": str, "by": str})}}),
		"APIKey":     obj(map[string]any{"id": str, "prefix": map[string]any{"type": "string", "description": "The key's first 12 characters; empty for a key made before keys were listed"}, "createdAt": dateTime}),
		"APIKeyList": obj(map[string]any{"data": map[string]any{"type": "array", "items": ref("APIKey")}}),
		"APIKeyCreated": obj(map[string]any{"id": str, "prefix": str, "createdAt": dateTime,
			"apiKey": map[string]any{"type": "string", "description": "sk_live_… or sk_test_…, shown once"}}),
		"MerchantList": obj(map[string]any{"data": map[string]any{"type": "array", "items": obj(map[string]any{
			"merchantId": str, "name": str, "live": boolean, "toleranceBps": integer, "createdAt": dateTime})}}),
		"MerchantRequest": obj(map[string]any{"name": str, "live": map[string]any{"type": "boolean", "description": "sk_live_ key (default) or sk_test_"},
			"toleranceBps": map[string]any{"type": "integer", "minimum": 0, "maximum": 1000, "description": "Payment sessions complete at the amount due less this many basis points"}}, "name"),
		"MerchantCreated": obj(map[string]any{"merchantId": str, "name": str, "toleranceBps": integer, "apiKey": map[string]any{"type": "string", "description": "sk_live_… or sk_test_…, shown once"}}),
		"DepositStats": obj(map[string]any{"data": map[string]any{"type": "array", "items": obj(map[string]any{
			"key":      map[string]any{"type": []string{"string", "null"}, "description": "The day (2006-01-02), currency, chain id or reference; null is deposits with no reference"},
			"currency": str, "count": integer, "amount": decimal})}}),
		"LatencyList": obj(map[string]any{"data": map[string]any{"type": "array", "items": obj(map[string]any{
			"chainId": str, "detectedToConfirmed": ref("Quantiles"), "detectedToCompleted": ref("Quantiles")})}}),
		"Quantiles": obj(map[string]any{"count": integer, "p50": nullNum, "p90": nullNum, "p99": nullNum}),
		"ExportRecord": obj(map[string]any{"depositId": str, "depositReference": nullStr, "amount": decimal, "currency": str, "chainId": str,
			"address": str, "txHash": str, "blockNumber": integer, "status": map[string]any{"type": "string", "enum": merchantapi.Statuses},
			"detectedAt": dateTime, "confirmedAt": nullTime, "completedAt": nullTime, "orphanedAt": nullTime, "replaces": str}),
		"WebhookEvent": obj(map[string]any{"id": str, "type": str, "createdAt": dateTime, "merchantId": str, "data": ref("Deposit")}),
	}
}

func codes() []string {
	var out []string
	for c := range apierr.Codes() {
		out = append(out, string(c))
	}
	sort.Strings(out)
	return out
}

// bodyExample is a route's request body example: the route table's, or
// one made from its schema.
func bodyExample(o *merchantapi.Route, all map[string]any) any {
	if ex, ok := merchantapi.BodyExamples[o.Name]; ok {
		var v any
		if json.Unmarshal([]byte(ex), &v) == nil {
			return v
		}
	}
	return example(ref(o.Body), all, 0)
}

// OpenAPI returns the OpenAPI 3.1 document.
func OpenAPI() map[string]any {
	all := schemas()
	paths := map[string]any{}
	for i := range merchantapi.Routes {
		o := &merchantapi.Routes[i]
		item, _ := paths[o.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[o.Path] = item
		}
		var params []any
		for _, p := range o.Params {
			sch := map[string]any{"type": p.Type}
			if len(p.Enum) > 0 {
				sch["enum"] = p.Enum
			}
			params = append(params, map[string]any{"name": p.Name, "in": p.In, "required": p.Required, "description": p.Desc, "schema": sch})
		}
		content := map[string]any{"application/json": map[string]any{"schema": ref(o.Response), "example": example(ref(o.Response), all, 0)}}
		if o.Stream {
			content = map[string]any{"text/csv": map[string]any{"schema": map[string]any{"type": "string", "description": "Header: " + strings.Join(analytics.CSVHeader, ",")}},
				"application/x-ndjson": map[string]any{"schema": ref(o.Response), "example": example(ref(o.Response), all, 0)}}
		}
		resps := map[string]any{fmt.Sprint(o.Status): map[string]any{"description": "OK", "content": content}}
		errs := append(append([]apierr.Code(nil), o.Errors...), authErr...)
		if o.Body != "" {
			errs = append(errs, apierr.UnsupportedMediaType, apierr.PayloadTooLarge)
		}
		byStatus := map[int][]string{}
		statusOf := apierr.Codes()
		for _, c := range errs {
			byStatus[statusOf[c]] = append(byStatus[statusOf[c]], string(c))
		}
		for st, cs := range byStatus {
			slices.Sort(cs)
			resps[fmt.Sprint(st)] = map[string]any{"description": strings.Join(slices.Compact(cs), ", "),
				"content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}
		}
		entry := map[string]any{"summary": o.Summary, "responses": resps, "operationId": o.Name}
		if len(params) > 0 {
			entry["parameters"] = params
		}
		if o.Body != "" {
			entry["requestBody"] = map[string]any{"required": !o.BodyOptional,
				"content": map[string]any{"application/json": map[string]any{"schema": ref(o.Body), "example": bodyExample(o, all)}}}
		}
		if o.Auth == merchantapi.AuthAdmin {
			entry["security"] = []any{map[string]any{"adminKey": []string{}}}
		}
		item[strings.ToLower(o.Method)] = entry
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Inflow merchant API", "version": "1",
			"description": "PayIn-style Deposits API: deposit references bound to pooled addresses, deposits (pending → confirmed → completed, or orphaned), balances, address pool and webhooks. Amounts are exact decimal strings in currency units. POSTs accept an Idempotency-Key header."},
		"servers":  []any{map[string]any{"url": "/"}},
		"security": []any{map[string]any{"apiKey": []string{}}, map[string]any{"bearer": []string{}}},
		"paths":    paths,
		"components": map[string]any{
			"schemas": all,
			"securitySchemes": map[string]any{
				"apiKey":   map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"},
				"bearer":   map[string]any{"type": "http", "scheme": "bearer"},
				"adminKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-Admin-Key"},
			},
		},
		"webhooks": map[string]any{"depositEvent": map[string]any{"post": map[string]any{
			"operationId": "depositEvent",
			"summary":     "deposit.pending, deposit.confirmed, deposit.completed, deposit.orphaned; Standard Webhooks headers webhook-id, webhook-timestamp, webhook-signature (v1,base64 HMAC-SHA256 of id.timestamp.body)",
			"requestBody": map[string]any{"content": map[string]any{"application/json": map[string]any{"schema": ref("WebhookEvent"), "example": example(ref("WebhookEvent"), all, 0)}}},
			"responses":   map[string]any{"200": map[string]any{"description": "Any 2xx acknowledges; anything else is retried with exponential backoff (1 s doubling, then hourly) for 72 h"}}}}},
	}
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(OpenAPI())
}

// fieldTable writes the top-level fields of a schema: name, type, and
// description.
func fieldTable(b *strings.Builder, all map[string]any, name string) {
	sch, _ := all[name].(map[string]any)
	props, _ := sch["properties"].(map[string]any)
	if len(props) == 0 {
		return
	}
	req, _ := sch["required"].([]string)
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	slices.Sort(names)
	b.WriteString(`<table class="f"><tr><th>field</th><th>type</th><th>description</th></tr>`)
	for _, n := range names {
		p, _ := props[n].(map[string]any)
		typ := typeName(p)
		if slices.Contains(req, n) {
			typ += ", required"
		}
		desc, _ := p["description"].(string)
		if enum, ok := p["enum"].([]string); ok {
			desc = strings.TrimSpace(desc + " One of " + strings.Join(enum, ", ") + ".")
		}
		fmt.Fprintf(b, "<tr><td><code>%s</code></td><td>%s</td><td>%s</td></tr>", n, html.EscapeString(typ), html.EscapeString(desc))
	}
	b.WriteString("</table>")
}

// typeName is a schema's type as /docs writes it.
func typeName(p map[string]any) string {
	if r, ok := p["$ref"].(string); ok {
		return strings.TrimPrefix(r, "#/components/schemas/")
	}
	switch t := p["type"].(type) {
	case string:
		if t == "array" {
			if it, ok := p["items"].(map[string]any); ok {
				return "array of " + typeName(it)
			}
		}
		if f, ok := p["format"].(string); ok {
			return t + " (" + f + ")"
		}
		if _, ok := p["pattern"]; ok && t == "string" {
			return "decimal string"
		}
		return t
	case []string:
		return strings.Join(t, " or ")
	}
	return "any"
}

func (s *Server) docs(w http.ResponseWriter, r *http.Request) {
	all := schemas()
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,"><title>Inflow API</title><style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code{background:#f4f4f4;padding:0 .2rem}.m{display:inline-block;width:4.5rem;font-weight:bold}
.get{color:#0a6}.post{color:#06c}.delete{color:#c30}td,th{text-align:left;padding:.1rem .6rem .1rem 0;vertical-align:top}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:.85rem}table.f{font-size:.9rem;margin-bottom:.4rem}</style></head><body>
<h1>Inflow merchant API</h1><p>Authenticate with <code>X-API-Key: sk_…</code> or <code>Authorization: Bearer sk_…</code>.
Errors are <code>{error, message, code, statusCode}</code>. The machine-readable document is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).
Deposits can be taken back by a reorganisation: read <a href="/docs/reorgs">Reorgs, for merchants</a> before you credit on <code>deposit.confirmed</code>.</p>`)
	for i := range merchantapi.Routes {
		o := &merchantapi.Routes[i]
		m := strings.ToLower(o.Method)
		fmt.Fprintf(&b, `<h3 id="%s"><span class="m %s">%s</span><code>%s</code></h3><p>%s</p>`, o.Name, m, o.Method, html.EscapeString(o.Path), html.EscapeString(o.Summary))
		if len(o.Params) > 0 {
			b.WriteString("<table><tr><th>parameter</th><th>in</th><th>description</th></tr>")
			for _, p := range o.Params {
				desc := p.Desc
				if len(p.Enum) > 0 {
					desc += " (" + strings.Join(p.Enum, ", ") + ")"
				}
				fmt.Fprintf(&b, "<tr><td><code>%s</code></td><td>%s</td><td>%s</td></tr>", p.Name, p.In, html.EscapeString(desc))
			}
			b.WriteString("</table>")
		}
		if len(o.Errors) > 0 {
			var cs []string
			for _, c := range o.Errors {
				cs = append(cs, "<code>"+string(c)+"</code>")
			}
			fmt.Fprintf(&b, "<p>Errors: %s</p>", strings.Join(cs, " "))
		}
		if o.Body != "" {
			opt := ""
			if o.BodyOptional {
				opt = " (optional)"
			}
			fmt.Fprintf(&b, "<p><b>Request body</b>%s: <code>%s</code></p>", opt, o.Body)
			fieldTable(&b, all, o.Body)
			fmt.Fprintf(&b, "<pre>%s</pre>", html.EscapeString(exampleJSON(bodyExample(o, all))))
		}
		fmt.Fprintf(&b, "<p><b>Answer</b> %d: <code>%s</code></p>", o.Status, o.Response)
		fieldTable(&b, all, o.Response)
		fmt.Fprintf(&b, "<pre>%s</pre>", html.EscapeString(exampleJSON(example(ref(o.Response), all, 0))))
	}
	b.WriteString("</body></html>")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(b.String()))
}
