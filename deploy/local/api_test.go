package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

type apiError struct {
	Error      string `json:"error"`
	Message    string `json:"message"`
	Code       string `json:"code"`
	StatusCode int    `json:"statusCode"`
}

// TestTenancy: every endpoint called with another merchant's key on this
// merchant's objects answers 404, and lists show nothing of theirs.
func TestTenancy(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	s, a := startStack(t)
	admin := &client{t: t, base: s.APIURL}
	var created struct{ MerchantID, APIKey string }
	req, _ := http.NewRequest("POST", s.APIURL+"/admin/v1/merchants", strings.NewReader(`{"name":"other shop"}`))
	req.Header.Set("X-Admin-Key", s.AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != 201 || !strings.HasPrefix(created.APIKey, "sk_live_") {
		t.Fatalf("create merchant: %d %+v", resp.StatusCode, created)
	}
	if st := admin.do("POST", "/admin/v1/merchants", map[string]any{"name": "x"}, nil); st != 401 {
		t.Errorf("admin without X-Admin-Key: %d", st)
	}
	b := &client{t: t, base: s.APIURL, key: created.APIKey}

	// Merchant A's objects: a reference, an endpoint, a deposit and its event.
	rc := newReceiver(t)
	var ep struct{ ID, Secret string }
	a.do("POST", "/api/v1/webhooks/endpoints", map[string]any{"url": rc.srv.URL}, &ep)
	var bind struct{ Address string }
	a.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "alice", "currency": "USDT", "chainId": "evm-devnet"}, &bind)
	admin.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": bind.Address, "currency": "USDT", "amount": "1"}, nil)
	admin.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 1}, nil)
	var dep string
	eventually(t, "A's deposit", func() bool {
		var l depositList
		a.do("GET", "/api/v1/deposits", nil, &l)
		if len(l.Data) > 0 {
			dep = l.Data[0].DepositID
		}
		return dep != ""
	})
	var evt string
	eventually(t, "A's delivery", func() bool {
		var dl struct{ Data []struct{ EventID string } }
		a.do("GET", "/api/v1/webhooks/endpoints/"+ep.ID+"/deliveries", nil, &dl)
		if len(dl.Data) > 0 {
			evt = dl.Data[0].EventID
		}
		return evt != ""
	})

	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/deposits/references/alice"},
		{"DELETE", "/api/v1/deposits/references/alice"},
		{"DELETE", "/api/v1/deposits/references/alice?chainId=evm-devnet"},
		{"GET", "/api/v1/deposits/" + dep},
		{"GET", "/api/v1/balances?depositReference=alice"},
		{"GET", "/api/v1/webhooks/endpoints/" + ep.ID},
		{"DELETE", "/api/v1/webhooks/endpoints/" + ep.ID},
		{"GET", "/api/v1/webhooks/endpoints/" + ep.ID + "/deliveries"},
		{"POST", "/api/v1/webhooks/events/" + evt + "/replay"},
	} {
		var e apiError
		if st := b.do(c.method, c.path, nil, &e); st != 404 || e.StatusCode != 404 {
			t.Errorf("%s %s with another merchant's key: %d %+v, want 404", c.method, c.path, st, e)
		}
	}
	for _, path := range []string{"/api/v1/deposits", "/api/v1/deposits/references", "/api/v1/addresses", "/api/v1/webhooks/endpoints", "/api/v1/balances"} {
		var l struct{ Data []any }
		if st := b.do("GET", path, nil, &l); st != 200 || len(l.Data) != 0 {
			t.Errorf("GET %s as the other merchant: %d, %d rows", path, st, len(l.Data))
		}
	}
	// B's own pool is empty: A's addresses are never handed to B.
	var e apiError
	if st := b.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "alice", "currency": "USDT", "chainId": "evm-devnet"}, &e); st != 503 || e.Code != "NO_AVAILABLE_ADDRESSES" {
		t.Errorf("bind for B: %d %+v", st, e)
	}
	// A's objects are untouched.
	if st := a.do("GET", "/api/v1/deposits/references/alice", nil, nil); st != 200 {
		t.Errorf("A's reference after B's attempts: %d", st)
	}
	if st := a.do("GET", "/api/v1/webhooks/endpoints/"+ep.ID, nil, nil); st != 200 {
		t.Errorf("A's endpoint after B's attempts: %d", st)
	}
	var replay struct{ Deliveries int }
	if st := a.do("POST", "/api/v1/webhooks/events/"+evt+"/replay", nil, &replay); st != 202 || replay.Deliveries != 1 {
		t.Errorf("A's replay: %d %+v", st, replay)
	}
}

// TestBadInput: bad requests answer 400 with a clear code and write nothing.
func TestBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	s, c := startStack(t)
	count := func(path string) int {
		var l struct {
			Pagination struct{ Total int }
		}
		c.do("GET", path, nil, &l)
		return l.Pagination.Total
	}
	pool, refs := count("/api/v1/addresses"), count("/api/v1/deposits/references")
	meta := map[string]any{}
	for i := 0; i < 11; i++ {
		meta[fmt.Sprintf("k%d", i)] = "v"
	}
	cases := []struct {
		name, method, path string
		body               any
		code               string
	}{
		{"bad EIP-55 checksum", "POST", "/api/v1/addresses/import", map[string]any{"protocol": "evm", "addresses": []string{
			"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"}}, "INVALID_ADDRESS"},
		{"unknown protocol", "POST", "/api/v1/addresses/import", map[string]any{"protocol": "dogecoin", "addresses": []string{"x"}}, "UNSUPPORTED_PROTOCOL"},
		{"unknown currency", "POST", "/api/v1/deposits/references", map[string]any{"depositReference": "r1", "currency": "DOGE", "chainId": "evm-devnet"}, "UNSUPPORTED_CURRENCY"},
		{"unknown chain", "POST", "/api/v1/deposits/references", map[string]any{"depositReference": "r1", "currency": "USDT", "chainId": "dogechain"}, "UNSUPPORTED_CHAIN"},
		{"more than 10 metadata keys", "POST", "/api/v1/deposits/references", map[string]any{"depositReference": "r1", "currency": "USDT", "chainId": "evm-devnet", "metadata": meta}, "TOO_MANY_METADATA_KEYS"},
		{"reference over 255 characters", "POST", "/api/v1/deposits/references", map[string]any{"depositReference": strings.Repeat("r", 256), "currency": "USDT", "chainId": "evm-devnet"}, "DEPOSIT_REFERENCE_TOO_LONG"},
		{"missing reference", "POST", "/api/v1/deposits/references", map[string]any{"currency": "USDT", "chainId": "evm-devnet"}, "VALIDATION_ERROR"},
		{"malformed JSON", "POST", "/api/v1/deposits/references", `{"depositReference": "r1", "currency": `, "INVALID_JSON"},
		{"JSON of the wrong shape", "POST", "/api/v1/deposits/references", `{"depositReference": 7}`, "VALIDATION_ERROR"},
		{"trailing data", "POST", "/api/v1/deposits/references", `{"depositReference":"r1","currency":"USDT","chainId":"evm-devnet"} {}`, "INVALID_JSON"},
		{"page 0", "GET", "/api/v1/deposits?page=0", nil, "INVALID_PAGINATION"},
		{"limit 101", "GET", "/api/v1/deposits?limit=101", nil, "INVALID_PAGINATION"},
		{"limit abc", "GET", "/api/v1/deposits/references?limit=abc", nil, "INVALID_PAGINATION"},
		{"negative page", "GET", "/api/v1/addresses?page=-1", nil, "INVALID_PAGINATION"},
		{"unknown status", "GET", "/api/v1/deposits?status=lost", nil, "INVALID_PARAMETER"},
		{"unknown sort", "GET", "/api/v1/deposits?sortBy=colour", nil, "INVALID_PARAMETER"},
		{"unknown sort order", "GET", "/api/v1/deposits?sortOrder=up", nil, "INVALID_PARAMETER"},
		{"plain-http public webhook", "POST", "/api/v1/webhooks/endpoints", map[string]any{"url": "http://example.com/hook"}, "INVALID_WEBHOOK_URL"},
		{"private-address webhook", "POST", "/api/v1/webhooks/endpoints", map[string]any{"url": "https://10.1.2.3/hook"}, "INVALID_WEBHOOK_URL"},
		{"unknown event type", "POST", "/api/v1/webhooks/endpoints", map[string]any{"url": "https://example.com/hook", "events": []string{"deposit.stolen"}}, "VALIDATION_ERROR"},
	}
	for _, tc := range cases {
		var e apiError
		st := c.do(tc.method, tc.path, tc.body, &e)
		if st != 400 || e.Code != tc.code || e.StatusCode != 400 || e.Message == "" || e.Error == "" {
			t.Errorf("%s: %d %+v, want 400 %s", tc.name, st, e, tc.code)
		}
	}
	if got := count("/api/v1/addresses"); got != pool {
		t.Errorf("bad imports changed the pool: %d → %d", pool, got)
	}
	if got := count("/api/v1/deposits/references"); got != refs {
		t.Errorf("bad binds created references: %d → %d", refs, got)
	}
	var eps struct{ Data []any }
	c.do("GET", "/api/v1/webhooks/endpoints", nil, &eps)
	if len(eps.Data) != 0 {
		t.Errorf("bad endpoints were created: %d", len(eps.Data))
	}
	if st := c.do("GET", "/api/v1/deposits/references/r1", nil, nil); st != 404 {
		t.Errorf("reference r1 exists after rejected binds: %d", st)
	}
	_ = s
}

// TestAuthLimitsIdempotency covers authentication, the per-key rate limit,
// idempotency keys and the OpenAPI document.
func TestAuthLimitsIdempotency(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	s, c := startStack(t)
	anon := &client{t: t, base: s.APIURL}
	var e apiError
	if st := anon.do("GET", "/api/v1/deposits", nil, &e); st != 401 || e.Code != "UNAUTHORIZED" {
		t.Errorf("no key: %d %+v", st, e)
	}
	wrong := &client{t: t, base: s.APIURL, key: "sk_test_nope"}
	if st := wrong.do("GET", "/api/v1/deposits", nil, &e); st != 401 {
		t.Errorf("unknown key: %d", st)
	}
	req, _ := http.NewRequest("GET", s.APIURL+"/api/v1/deposits", nil)
	req.Header.Set("Authorization", "Bearer "+s.DevAPIKey)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("Bearer auth: %v %v", resp.StatusCode, err)
	}

	// Idempotency: the same key and body give the same answer once.
	post := func(key, ref string) (int, string, string) {
		req, _ := http.NewRequest("POST", s.APIURL+"/api/v1/deposits/references",
			strings.NewReader(fmt.Sprintf(`{"depositReference":%q,"currency":"USDT","chainId":"evm-devnet"}`, ref)))
		req.Header.Set("X-API-Key", s.DevAPIKey)
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ Address, Code string }
		json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v.Address + v.Code, resp.Header.Get("Idempotent-Replayed")
	}
	st1, a1, _ := post("k-1", "idem")
	st2, a2, replayed := post("k-1", "idem")
	if st1 != 201 || st2 != 201 || a1 != a2 || replayed != "true" {
		t.Errorf("idempotent replay: %d %s / %d %s replayed=%q", st1, a1, st2, a2, replayed)
	}
	if st, code, _ := post("k-1", "other"); st != 422 || code != "IDEMPOTENCY_KEY_REUSED" {
		t.Errorf("key reused with another body: %d %s", st, code)
	}
	if st, code, _ := post("k-2", "idem"); st != 409 || code != "DUPLICATE_DEPOSIT_REFERENCE" {
		t.Errorf("second bind without the key: %d %s", st, code)
	}
	var pool struct{ Pagination struct{ Total int } }
	c.do("GET", "/api/v1/addresses?status=bound", nil, &pool)
	if pool.Pagination.Total != 1 {
		t.Errorf("%d addresses bound after one idempotent bind", pool.Pagination.Total)
	}

	// OpenAPI and docs.
	var doc map[string]any
	if st := anon.do("GET", "/openapi.json", nil, &doc); st != 200 || doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi: %d %v", st, doc["openapi"])
	}
	paths := doc["paths"].(map[string]any)
	for _, p := range []string{"/api/v1/deposits/references", "/api/v1/deposits/references/{ref}", "/api/v1/deposits", "/api/v1/deposits/{id}",
		"/api/v1/addresses/import", "/api/v1/addresses", "/api/v1/balances", "/api/v1/webhooks/endpoints", "/api/v1/webhooks/endpoints/{id}",
		"/api/v1/webhooks/endpoints/{id}/deliveries", "/api/v1/webhooks/events/{id}/replay", "/admin/v1/merchants"} {
		if paths[p] == nil {
			t.Errorf("openapi lacks %s", p)
		}
	}
	resp, err := http.Get(s.APIURL + "/docs")
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("docs: %v %v", resp.StatusCode, err)
	}
	if resp, err := http.Get(s.APIURL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz: %v %v", resp.StatusCode, err)
	}
	// /metrics and pprof are on the operator address, not the merchant API's.
	if resp, err := http.Get(s.APIOpsURL + "/metrics"); err != nil || resp.StatusCode != 200 {
		t.Errorf("operator /metrics: %v %v", resp.StatusCode, err)
	}
	for _, p := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/goroutine"} {
		if resp, err := http.Get(s.APIURL + p); err != nil || resp.StatusCode != 404 {
			t.Errorf("merchant API %s: %v %v, want 404", p, resp.StatusCode, err)
		}
	}
	eventually(t, "/readyz", func() bool {
		resp, err := http.Get(s.APIURL + "/readyz")
		return err == nil && resp.StatusCode == 200
	})

	// The rate limit answers 429 with Retry-After.
	limited := 0
	for i := 0; i < 300 && limited == 0; i++ {
		req, _ := http.NewRequest("GET", s.APIURL+"/api/v1/balances", nil)
		req.Header.Set("X-API-Key", s.DevAPIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 429 {
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Error("300 requests in a burst were never rate-limited")
	}
	var nf apiError
	if st := c.do("GET", "/api/v1/nothing-here", nil, &nf); st != 404 || nf.Code != "NOT_FOUND" {
		t.Errorf("unknown route: %d %+v", st, nf)
	}
}
