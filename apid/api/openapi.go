package api

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"sort"
	"strings"

	"github.com/inflowhq/inflow/pkg/analytics"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

type op struct {
	method, path, summary string
	params                []param
	body                  string // schema name of the request body
	status                int
	resp                  string // schema name of the answer
	errors                []apierr.Code
}

type param struct {
	name, in, typ, desc string
	required            bool
	enum                []string
}

var (
	pPage   = param{name: "page", in: "query", typ: "integer", desc: "Page number, from 1 (default 1)"}
	pLimit  = param{name: "limit", in: "query", typ: "integer", desc: "Items per page, 1 to 100 (default 20)"}
	pRef    = param{name: "ref", in: "path", typ: "string", desc: "Deposit reference (max 255 characters)", required: true}
	pChain  = param{name: "chainId", in: "query", typ: "string", desc: "Chain id, e.g. ethereum-sepolia"}
	pID     = param{name: "id", in: "path", typ: "string", desc: "Object id", required: true}
	pFrom   = param{name: "from", in: "query", typ: "string", desc: "Detected at or after: RFC 3339 time or date (UTC midnight)"}
	pTo     = param{name: "to", in: "query", typ: "string", desc: "Detected before: RFC 3339 time or date (UTC midnight)"}
	authErr = []apierr.Code{apierr.Unauthorized, apierr.RateLimited}
)

var operations = []op{
	{"post", "/api/v1/deposits/references", "Bind a pooled address to a deposit reference on a chain (the address is watched on every chain of its protocol)",
		nil, "BindRequest", 201, "BindResponse", []apierr.Code{apierr.DuplicateDepositReference, apierr.NoAvailableAddresses, apierr.UnsupportedChain, apierr.UnsupportedCurrency, apierr.TooManyMetadataKeys, apierr.ReferenceTooLong, apierr.InvalidJSON, apierr.IdempotencyKeyReused}},
	{"get", "/api/v1/deposits/references", "List deposit references",
		[]param{pPage, pLimit, {name: "search", in: "query", typ: "string", desc: "Substring of the reference"}}, "", 200, "ReferenceList", []apierr.Code{apierr.InvalidPagination}},
	{"get", "/api/v1/deposits/references/{ref}", "Get a deposit reference with its addresses and totals",
		[]param{pRef, pChain}, "", 200, "Reference", []apierr.Code{apierr.DepositReferenceNotFound}},
	{"delete", "/api/v1/deposits/references/{ref}", "Unbind a reference's addresses (all, or one chain's); they cool down, then return to the pool",
		[]param{pRef, pChain}, "", 200, "UnbindResponse", []apierr.Code{apierr.DepositReferenceNotFound}},
	{"get", "/api/v1/deposits", "List deposits",
		[]param{pPage, pLimit, {name: "depositReference", in: "query", typ: "string"},
			{name: "status", in: "query", typ: "string", enum: merchantapi.Statuses},
			{name: "currency", in: "query", typ: "string"}, pChain,
			{name: "sortBy", in: "query", typ: "string", enum: merchantapi.SortFields},
			{name: "sortOrder", in: "query", typ: "string", enum: []string{"asc", "desc"}}}, "", 200, "DepositList",
		[]apierr.Code{apierr.InvalidPagination, apierr.InvalidParameter, apierr.UnsupportedChain}},
	{"get", "/api/v1/deposits/{id}", "Get one deposit", []param{pID}, "", 200, "Deposit", []apierr.Code{apierr.DepositNotFound}},
	{"post", "/api/v1/addresses/import", "Import addresses into the pool; one invalid address rejects the whole request",
		nil, "ImportRequest", 200, "ImportResult", []apierr.Code{apierr.InvalidAddress, apierr.UnsupportedProtocol, apierr.InvalidJSON}},
	{"get", "/api/v1/addresses", "List the address pool",
		[]param{pPage, pLimit, {name: "status", in: "query", typ: "string", enum: []string{"available", "bound", "cooldown"}},
			{name: "protocol", in: "query", typ: "string", enum: []string{"evm", "tron", "solana", "bitcoin"}}}, "", 200, "AddressList",
		[]apierr.Code{apierr.InvalidPagination, apierr.InvalidParameter}},
	{"get", "/api/v1/balances", "Balances per reference and currency: pending (pending and confirmed deposits) and available (completed)",
		[]param{{name: "depositReference", in: "query", typ: "string"}, {name: "currency", in: "query", typ: "string"}}, "", 200, "BalanceList",
		[]apierr.Code{apierr.DepositReferenceNotFound}},
	{"post", "/api/v1/webhooks/endpoints", "Create a webhook endpoint; the whsec_ secret is shown only here",
		nil, "EndpointRequest", 201, "Endpoint", []apierr.Code{apierr.InvalidWebhookURL, apierr.ValidationFailed}},
	{"get", "/api/v1/webhooks/endpoints", "List webhook endpoints", nil, "", 200, "EndpointList", nil},
	{"get", "/api/v1/webhooks/endpoints/{id}", "Get a webhook endpoint", []param{pID}, "", 200, "Endpoint", []apierr.Code{apierr.EndpointNotFound}},
	{"delete", "/api/v1/webhooks/endpoints/{id}", "Delete a webhook endpoint", []param{pID}, "", 200, "Success", []apierr.Code{apierr.EndpointNotFound}},
	{"get", "/api/v1/webhooks/endpoints/{id}/deliveries", "An endpoint's delivery log, newest first", []param{pID, pPage, pLimit}, "", 200, "DeliveryList", []apierr.Code{apierr.EndpointNotFound}},
	{"post", "/api/v1/webhooks/events/{id}/replay", "Deliver one event again to every subscribed endpoint", []param{pID}, "", 202, "ReplayResult", []apierr.Code{apierr.EventNotFound}},
	{"get", "/api/v1/analytics/deposits", "Deposit count and exact total per group (day, currency, chain or reference) and currency; orphaned deposits only when status=orphaned",
		[]param{{name: "groupBy", in: "query", typ: "string", enum: analytics.GroupBys, desc: "Default day (UTC, by detectedAt)"}, pFrom, pTo,
			{name: "currency", in: "query", typ: "string"}, pChain, {name: "status", in: "query", typ: "string", enum: merchantapi.Statuses}},
		"", 200, "DepositStats", []apierr.Code{apierr.InvalidParameter, apierr.UnsupportedChain, apierr.UnsupportedCurrency}},
	{"get", "/api/v1/analytics/latency", "Seconds from detection to confirmed and to completed per chain, at p50, p90 and p99, over deposits not orphaned",
		[]param{pChain}, "", 200, "LatencyList", []apierr.Code{apierr.UnsupportedChain}},
	{"get", "/api/v1/deposits/export", "Stream every deposit detected in [from, to) as CSV (with a header row) or NDJSON, ordered by detectedAt then depositId",
		[]param{{name: "format", in: "query", typ: "string", enum: []string{analytics.FormatCSV, analytics.FormatNDJSON}, desc: "Default csv"}, pFrom, pTo},
		"", 200, "ExportRecord", []apierr.Code{apierr.InvalidParameter}},
	{"post", "/admin/v1/merchants", "Create a merchant and its API key (X-Admin-Key)", nil, "MerchantRequest", 201, "MerchantCreated", nil},
}

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
		"Pagination": obj(map[string]any{"page": integer, "limit": integer, "total": integer, "totalPages": integer, "hasMore": boolean}),
		"BindRequest": obj(map[string]any{"depositReference": map[string]any{"type": "string", "maxLength": 255},
			"currency": str, "chainId": str, "metadata": map[string]any{"type": "object", "maxProperties": 10}}, "depositReference", "currency", "chainId"),
		"BindResponse": obj(map[string]any{"depositReference": str, "currency": str, "chainId": str, "protocol": str, "address": str,
			"metadata": map[string]any{"type": "object"}, "createdAt": dateTime}),
		"Reference": obj(map[string]any{"depositReference": str, "addresses": map[string]any{"type": "array", "items": obj(map[string]any{
			"currency": str, "chainId": str, "protocol": str, "address": str, "createdAt": dateTime})},
			"totalDeposits": integer, "totalAmount": amounts, "metadata": map[string]any{"type": "object"}}),
		"ReferenceList": listOf("ReferenceSummary"),
		"ReferenceSummary": obj(map[string]any{"depositReference": str, "protocols": map[string]any{"type": "array", "items": str},
			"addressCount": integer, "totalDeposits": integer, "totalAmount": amounts, "lastDepositAt": nullTime}),
		"UnbindResponse": obj(map[string]any{"success": boolean, "message": str, "depositReference": str, "unboundAddresses": integer}),
		"Deposit": obj(map[string]any{"depositId": str, "depositReference": nullStr, "amount": decimal, "currency": str, "chainId": str,
			"address": str, "txHash": str, "blockNumber": integer,
			"status":        map[string]any{"type": "string", "enum": merchantapi.Statuses},
			"confirmations": integer, "detectedAt": dateTime, "confirmedAt": nullTime, "completedAt": nullTime, "orphanedAt": nullTime,
			"replaces": map[string]any{"type": "string", "description": "The orphaned deposit this one re-mines"}}),
		"DepositList":   listOf("Deposit"),
		"ImportRequest": obj(map[string]any{"protocol": map[string]any{"type": "string", "enum": []string{"evm", "tron", "solana", "bitcoin"}}, "addresses": map[string]any{"type": "array", "items": str, "maxItems": merchantapi.MaxImport}}, "protocol", "addresses"),
		"ImportResult": obj(map[string]any{"protocol": str, "imported": integer, "duplicates": integer,
			"importedAddresses": map[string]any{"type": "array", "items": str}, "duplicateAddresses": map[string]any{"type": "array", "items": str}}),
		"AddressList": listOf("Address"),
		"Address":     obj(map[string]any{"address": str, "protocol": str, "status": map[string]any{"type": "string", "enum": []string{"available", "bound", "cooldown"}}, "depositReference": nullStr}),
		"BalanceList": obj(map[string]any{"data": map[string]any{"type": "array", "items": obj(map[string]any{"depositReference": str, "currency": str, "pending": decimal, "available": decimal})}}),
		"EndpointRequest": obj(map[string]any{"url": map[string]any{"type": "string", "format": "uri", "description": "https URL of a public host"},
			"events": map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": []string{"deposit.pending", "deposit.confirmed", "deposit.completed", "deposit.orphaned"}}}}, "url"),
		"Endpoint":     obj(map[string]any{"id": str, "url": str, "events": map[string]any{"type": "array", "items": str}, "secret": map[string]any{"type": "string", "description": "whsec_…, on creation only"}, "createdAt": dateTime}),
		"EndpointList": obj(map[string]any{"data": map[string]any{"type": "array", "items": ref("Endpoint")}}),
		"DeliveryList": listOf("Delivery"),
		"Delivery": obj(map[string]any{"id": str, "endpointId": str, "eventId": str, "eventType": str,
			"status": map[string]any{"type": "string", "enum": []string{"pending", "succeeded", "failed", "cancelled"}}, "createdAt": dateTime, "nextAttemptAt": nullTime,
			"attempts": map[string]any{"type": "array", "items": obj(map[string]any{"at": dateTime, "statusCode": integer, "error": str, "durationMs": integer})}}),
		"ReplayResult":    obj(map[string]any{"eventId": str, "deliveries": integer}),
		"Success":         obj(map[string]any{"success": boolean, "id": str}),
		"MerchantRequest": obj(map[string]any{"name": str}, "name"),
		"MerchantCreated": obj(map[string]any{"merchantId": str, "name": str, "apiKey": map[string]any{"type": "string", "description": "sk_live_… or sk_test_…, shown once"}}),
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

// OpenAPI returns the OpenAPI 3.1 document.
func OpenAPI() map[string]any {
	paths := map[string]any{}
	for _, o := range operations {
		item, _ := paths[o.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[o.path] = item
		}
		var params []any
		for _, p := range o.params {
			sch := map[string]any{"type": p.typ}
			if len(p.enum) > 0 {
				sch["enum"] = p.enum
			}
			params = append(params, map[string]any{"name": p.name, "in": p.in, "required": p.required, "description": p.desc, "schema": sch})
		}
		content := map[string]any{"application/json": map[string]any{"schema": ref(o.resp)}}
		if o.resp == "ExportRecord" {
			content = map[string]any{"text/csv": map[string]any{"schema": map[string]any{"type": "string", "description": "Header: " + strings.Join(analytics.CSVHeader, ",")}},
				"application/x-ndjson": map[string]any{"schema": ref(o.resp)}}
		}
		resps := map[string]any{fmt.Sprint(o.status): map[string]any{"description": "OK", "content": content}}
		errs := o.errors
		if !strings.HasPrefix(o.path, "/admin") {
			errs = append(append([]apierr.Code(nil), errs...), authErr...)
		} else {
			errs = append(errs, apierr.Unauthorized, apierr.ValidationFailed)
		}
		byStatus := map[int][]string{}
		all := apierr.Codes()
		for _, c := range errs {
			byStatus[all[c]] = append(byStatus[all[c]], string(c))
		}
		for st, cs := range byStatus {
			resps[fmt.Sprint(st)] = map[string]any{"description": strings.Join(cs, ", "),
				"content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}
		}
		entry := map[string]any{"summary": o.summary, "responses": resps, "operationId": opID(o)}
		if len(params) > 0 {
			entry["parameters"] = params
		}
		if o.body != "" {
			entry["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref(o.body)}}}
		}
		if strings.HasPrefix(o.path, "/admin") {
			entry["security"] = []any{map[string]any{"adminKey": []string{}}}
		}
		item[o.method] = entry
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Inflow merchant API", "version": "1",
			"description": "PayIn-style Deposits API: deposit references bound to pooled addresses, deposits (pending → confirmed → completed, or orphaned), balances, address pool and webhooks. Amounts are exact decimal strings in currency units. POSTs accept an Idempotency-Key header."},
		"servers":  []any{map[string]any{"url": "/"}},
		"security": []any{map[string]any{"apiKey": []string{}}, map[string]any{"bearer": []string{}}},
		"paths":    paths,
		"components": map[string]any{
			"schemas": schemas(),
			"securitySchemes": map[string]any{
				"apiKey":   map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"},
				"bearer":   map[string]any{"type": "http", "scheme": "bearer"},
				"adminKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-Admin-Key"},
			},
		},
		"webhooks": map[string]any{"depositEvent": map[string]any{"post": map[string]any{
			"summary":     "deposit.pending, deposit.confirmed, deposit.completed, deposit.orphaned; Standard Webhooks headers webhook-id, webhook-timestamp, webhook-signature (v1,base64 HMAC-SHA256 of id.timestamp.body)",
			"requestBody": map[string]any{"content": map[string]any{"application/json": map[string]any{"schema": ref("WebhookEvent")}}},
			"responses":   map[string]any{"200": map[string]any{"description": "Any 2xx acknowledges; anything else is retried with backoff for at least 24 h"}}}}},
	}
}

func opID(o op) string {
	parts := []string{o.method}
	for _, p := range strings.Split(o.path, "/") {
		if p == "" || p == "api" || p == "v1" || strings.HasPrefix(p, "{") {
			continue
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "_")
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(OpenAPI())
}

func (s *Server) docs(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>Inflow API</title><style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code{background:#f4f4f4;padding:0 .2rem}.m{display:inline-block;width:4.5rem;font-weight:bold}
.get{color:#0a6}.post{color:#06c}.delete{color:#c30}td,th{text-align:left;padding:.1rem .6rem .1rem 0}</style></head><body>
<h1>Inflow merchant API</h1><p>Authenticate with <code>X-API-Key: sk_…</code> or <code>Authorization: Bearer sk_…</code>.
Errors are <code>{error, message, code, statusCode}</code>. The machine-readable document is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>`)
	for _, o := range operations {
		fmt.Fprintf(&b, `<h3><span class="m %s">%s</span><code>%s</code></h3><p>%s</p>`, o.method, strings.ToUpper(o.method), html.EscapeString(o.path), html.EscapeString(o.summary))
		if len(o.params) > 0 {
			b.WriteString("<table><tr><th>parameter</th><th>in</th><th>description</th></tr>")
			for _, p := range o.params {
				desc := p.desc
				if len(p.enum) > 0 {
					desc += " (" + strings.Join(p.enum, ", ") + ")"
				}
				fmt.Fprintf(&b, "<tr><td><code>%s</code></td><td>%s</td><td>%s</td></tr>", p.name, p.in, html.EscapeString(desc))
			}
			b.WriteString("</table>")
		}
		if len(o.errors) > 0 {
			var cs []string
			for _, c := range o.errors {
				cs = append(cs, "<code>"+string(c)+"</code>")
			}
			fmt.Fprintf(&b, "<p>Errors: %s</p>", strings.Join(cs, " "))
		}
	}
	b.WriteString("</body></html>")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(b.String()))
}
