package api

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
)

// Examples. Every route's request body and answer has one in the OpenAPI
// document and on /docs: a route's own (merchantapi.Route.Example, for
// request bodies), or one made from the schema, with a realistic value per
// field name. @redocly/cli lint checks each against its schema.

// sampleValues are the example values of fields, by name.
var sampleValues = map[string]any{
	"address": "0x71C7656EC7ab88b098defB751B7401B5f6d8976F", "amount": "25.5", "amountDue": "25.5", "amountReceived": "25.5",
	"apiKey": "sk_test_4f3c2a1b0e9d8c7b6a5f4e3d2c1b0a99", "at": "2026-12-01T12:00:05.000Z", "available": "100",
	"blockNumber": 7_123_456, "chainId": "ethereum-sepolia", "checkoutUrl": "https://pay.example.com/checkout/ps_0123456789abcdef0123456789abcdef",
	"claimantMerchantId": "mer_0123456789abcdef", "code": "DEPOSIT_REFERENCE_NOT_FOUND", "confirmations": 3, "contract": "0xaA8E23Fb1079EA71e0a56F48a2aA51851D8433D0",
	"createdAt": "2026-12-01T12:00:00.000Z", "creditDepth": 3, "currency": "USDT", "customerId": "user_alice_123", "decimals": 6,
	"deliveries": 1, "depositId": "dep_00000000018b888d001d81cfd6ef329a", "depositReference": "user_alice_123",
	"detectedAt": "2026-12-01T12:00:12.000Z", "confirmedAt": "2026-12-01T12:00:48.000Z", "completedAt": "2026-12-01T12:15:00.000Z",
	"durationMs": 84, "email": "alice@example.com", "endpointId": "we_0123456789abcdef", "error": "Not found",
	"eventId": "evt_0123456789abcdef01234567", "eventType": "deposit.confirmed", "expiresAt": "2026-12-01T13:00:00.000Z",
	"expiresIn": 3600, "finality": "tag", "finalityDepth": 0, "finalized": 7_123_420, "firstSeenAt": "2026-12-01T12:00:00.000Z",
	"lastSeenAt": "2026-12-01T12:05:00.000Z", "lastDepositAt": "2026-12-01T12:00:12.000Z", "id": "we_0123456789abcdef",
	"imported": 2, "duplicates": 0, "key": "2026-12-01", "live": false, "maxReorgDepth": 64, "merchantId": "mer_0123456789abcdef",
	"message": "No deposit reference found for 'user_alice_123'", "name": "Alice's shop", "network": "mainnet",
	"nextAttemptAt": "2026-12-01T12:01:00.000Z", "orphanedAt": nil, "overlapSeconds": 86400, "ownerMerchantId": "mer_fedcba9876543210",
	"p50": 36.2, "p90": 41.0, "p99": 58.7, "paymentUri": "ethereum:0xaA8E23Fb1079EA71e0a56F48a2aA51851D8433D0@11155111/transfer?address=0x71C7656EC7ab88b098defB751B7401B5f6d8976F&uint256=25500000",
	"pending": "25.5", "prefix": "sk_test_4f3c", "previousMerchantId": "mer_fedcba9876543210", "product": "pro-plan",
	"protocol": "evm", "qrCodeURL": "/qr/ethereum-sepolia/0x71C7656EC7ab88b098defB751B7401B5f6d8976F.png",
	"qrCodeUrl": "/qr/ethereum-sepolia/0x71C7656EC7ab88b098defB751B7401B5f6d8976F.png", "returnUrl": "https://shop.example.com/thanks",
	"notificationUrl": "https://shop.example.com/hooks/sessions", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	"sessionId": "ps_0123456789abcdef0123456789abcdef", "statusCode": 404, "success": true, "testnet": true, "tip": 7_123_456,
	"tokenId": "", "toleranceBps": 50, "totalAmount": map[string]any{"USDT": "25.5"}, "totalDeposits": 1, "txHash": "0x9fc76417374aa880d4449a1f7f31ec597f00b1f6f3dd2d66f4c9c6c445836d8b",
	"unboundAddresses": 1, "url": "https://shop.example.com/hooks/inflow", "addressCount": 1, "count": 1, "mode": "live",
	"page": 1, "limit": 20, "total": 1, "totalPages": 1, "hasMore": false, "halted": false, "from": 0,
	"type": "deposit.confirmed", "metadata": map[string]any{"userId": "alice"},
	"amounts": map[string]any{"USDT": "25.5"},
}

// exampleSkip are fields an example leaves out: ones only some answers have.
var exampleSkip = []string{"warning", "afterUnbind", "tokenAccount", "previousSecretExpiresAt", "haltReason", "notificationSecret",
	"descriptor", "count", "nextCursor", "replaces", "network", "from"}

// example makes a value of a schema of the document.
func example(schema map[string]any, all map[string]any, depth int) any {
	if r, ok := schema["$ref"].(string); ok {
		sub, _ := all[strings.TrimPrefix(r, "#/components/schemas/")].(map[string]any)
		if sub == nil || depth > 6 {
			return nil
		}
		return example(sub, all, depth+1)
	}
	if e, ok := schema["example"]; ok {
		return e
	}
	if enum, ok := schema["enum"].([]string); ok && len(enum) > 0 {
		return enum[0]
	}
	typ := schema["type"]
	if ts, ok := typ.([]string); ok {
		typ = ts[0]
	}
	switch typ {
	case "object":
		props, _ := schema["properties"].(map[string]any)
		if props == nil {
			if ap, ok := schema["additionalProperties"].(map[string]any); ok {
				return map[string]any{"USDT": example(ap, all, depth+1)}
			}
			return map[string]any{}
		}
		out := map[string]any{}
		names := make([]string, 0, len(props))
		for n := range props {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if slices.Contains(exampleSkip, n) {
				continue
			}
			p, _ := props[n].(map[string]any)
			if v, ok := sampleValues[n]; ok && fits(p, v) {
				out[n] = v
				continue
			}
			out[n] = example(p, all, depth+1)
		}
		return out
	case "array":
		items, _ := schema["items"].(map[string]any)
		if items == nil {
			return []any{}
		}
		return []any{example(items, all, depth+1)}
	case "string":
		if schema["format"] == "date-time" {
			return "2026-12-01T12:00:00.000Z"
		}
		if schema["pattern"] != nil {
			return "25.5"
		}
		return "string"
	case "integer":
		if m, ok := schema["minimum"]; ok {
			return m
		}
		return 1
	case "number":
		return 1.5
	case "boolean":
		return true
	}
	return nil
}

// fits reports whether a sample value is of a type the property allows.
func fits(p map[string]any, v any) bool {
	if p == nil {
		return true
	}
	if _, ok := p["enum"]; ok {
		return false
	}
	var types []string
	switch t := p["type"].(type) {
	case string:
		types = []string{t}
	case []string:
		types = t
	default:
		return true // a $ref: the sample stands
	}
	kind := "string"
	switch v.(type) {
	case nil:
		kind = "null"
	case bool:
		kind = "boolean"
	case int:
		kind = "integer"
	case float64:
		kind = "number"
	case map[string]any:
		kind = "object"
	}
	return slices.Contains(types, kind) || kind == "integer" && slices.Contains(types, "number")
}

// exampleJSON is the example of a route's body or answer as indented JSON.
func exampleJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
