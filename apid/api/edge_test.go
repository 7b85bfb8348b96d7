package api_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	pathpkg "path"
	"strings"
	"testing"

	"github.com/inflowhq/inflow/apid/api"
	"github.com/inflowhq/inflow/ledgerd/rpc"
	"github.com/inflowhq/inflow/ledgerd/rpc/rpctest"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/merchantapi"
	"github.com/inflowhq/inflow/pkg/ops"
)

// edge is apid in process in front of ledgerd's internal API in process.
type edge struct {
	t      *testing.T
	ledger *rpctest.Ledger
	srv    *api.Server
	url    string
}

func newEdge(t *testing.T, mod func(*api.Config)) *edge {
	t.Helper()
	return edgeOn(t, rpctest.Start(t, rpctest.Options{}), mod, false)
}

// edgeOn serves an apid over ledger l: its API handler, or with mounted
// the whole public handler (api.Mount: the checkout pages too).
func edgeOn(t *testing.T, l *rpctest.Ledger, mod func(*api.Config), mounted bool) *edge {
	t.Helper()
	cfg := api.Config{LedgerURL: l.URL, InternalToken: rpctest.Token, AllowLoopbackWebhooks: true, Registerer: ops.NewRegistry()}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	if mounted {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		h, _ = api.Mount(ctx, srv, ops.NewRegistry())
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &edge{t: t, ledger: l, srv: srv, url: hs.URL}
}

type answer struct {
	status int
	body   []byte
	hdr    http.Header
}

func (a answer) code() string {
	var e struct{ Code string }
	json.Unmarshal(a.body, &e)
	return e.Code
}

// raw sends a request whose path is written as is (escapes included).
func (e *edge) raw(method, path string, hdr map[string]string, body string) answer {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+"/", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	u, _ := req.URL.Parse(path)
	if u == nil || u.Path == "" {
		// A path url.Parse refuses (a raw control character): send it
		// opaque.
		req.URL.Opaque = path
	} else {
		req.URL = req.URL.ResolveReference(u)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, b, resp.Header}
}

func key(k string) map[string]string { return map[string]string{"X-API-Key": k} }

func addr(i int) chain.Address {
	h := sha256.Sum256(fmt.Appendf(nil, "edge-%d", i))
	var a [20]byte
	copy(a[:], h[:])
	return chain.EVMAddress(a)
}

// attacks are the forms a path parameter takes to climb out of its segment.
var attacks = []string{
	"..%2F", "..%2F..%2F..%2F..%2Fmetrics", "..%2F..%2Fadmin%2Fmerchants%3F", "..%2F..%2F..%2F..%2Fdebug%2Fpprof%2Fgoroutine",
	"%2e%2e", "%2E%2E%2F%2E%2E", "%2e%2e%2f%2e%2e%2fadmin%2fmerchants", "..", "%00", "%25", "%2525", "a%00b", "%2F", "a%2F..%2F..",
	"..%5C..%5Cadmin", "%3F", "%23", "%0d%0aX-Inflow-Admin-Key:%20x", "%C0%AE%C0%AE%2F", "%ff",
}

// TestTraversal walks every route that takes a path parameter with each
// attack form in it, with a merchant's key and an admin key at hand, and
// checks that every request answers 4xx with a JSON error, that nothing but
// a key lookup or the route's own internal path with a well-formed id
// reached ledgerd, and that no merchant was made.
func TestTraversal(t *testing.T) {
	e := newEdge(t, func(c *api.Config) { c.AuthFailureBurst = 10_000; c.IPBurst = 100_000; c.Burst = 100_000 })
	_, k := e.ledger.Merchant(t, "shop")
	before, _ := e.ledger.Reg.FindMerchantByName("x")
	if before != nil {
		t.Fatal("merchant x exists before the test")
	}
	for _, rt := range merchantapi.Routes {
		if len(rt.PathParams()) == 0 {
			continue
		}
		for _, a := range attacks {
			path := rt.Path
			for _, p := range rt.PathParams() {
				path = strings.Replace(path, "{"+p.Name+"}", a, 1)
			}
			// The route's own method with no body (what passes every
			// other check), and with the body that would make a merchant.
			for _, body := range []string{"", `{"name":"x","live":true}`} {
				method := rt.Method
				hdr := key(k)
				hdr["X-Admin-Key"] = rpctest.AdminKey
				hdr["Content-Type"] = "application/json"
				got := e.raw(method, path, hdr, body)
				if got.status < 400 || got.status >= 500 {
					t.Errorf("%s %s: %d %s, want 4xx", method, path, got.status, got.body)
				}
				if ct := got.hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("%s %s: Content-Type %q: not a JSON error", method, path, ct)
				}
				for _, s := range e.ledger.Seen() {
					if s.Path == "/internal/v1/auth" {
						continue
					}
					t.Errorf("%s %s reached ledgerd as %s %s", method, path, s.Method, s.Path)
				}
			}
		}
	}
	if m, _ := e.ledger.Reg.FindMerchantByName("x"); m != nil {
		t.Fatalf("a merchant was made through a path parameter: %+v", m)
	}
}

// TestInternalTraversal sends the same forms straight to ledgerd's internal
// API, with its token and a merchant: every one is refused with 4xx, none is
// redirected, and an admin route needs the admin key besides the token.
func TestInternalTraversal(t *testing.T) {
	l := rpctest.Start(t, rpctest.Options{})
	m, _ := l.Merchant(t, "shop")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest(method, l.URL+"/", strings.NewReader(`{"name":"x"}`))
		u, err := req.URL.Parse(path)
		if err != nil {
			req.URL.Opaque = path
		} else {
			req.URL = req.URL.ResolveReference(u)
		}
		req.Header.Set(rpc.HeaderToken, rpctest.Token)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, rt := range merchantapi.Routes {
		if len(rt.PathParams()) == 0 {
			continue
		}
		for _, a := range append(attacks, "..%2F..%2Fadmin%2Fmerchants", "../../admin/merchants", "./x/..") {
			path := rt.InternalPath()
			for _, p := range rt.PathParams() {
				path = strings.Replace(path, "{"+p.Name+"}", a, 1)
			}
			for _, method := range []string{rt.Method, http.MethodPost} {
				st, body := send(method, path, map[string]string{rpc.HeaderMerchant: m})
				if st < 400 || st >= 500 {
					t.Errorf("internal %s %s: %d %s, want 4xx", method, path, st, body)
				}
			}
		}
	}
	if st, _ := send("POST", "/internal/v1/admin/merchants", nil); st != 401 {
		t.Errorf("admin route with the internal token alone: %d, want 401", st)
	}
	if st, _ := send("POST", "/internal/v1/admin/merchants", map[string]string{rpc.HeaderAdminKey: "wrong-admin-key-0123456789"}); st != 401 {
		t.Errorf("admin route with a wrong admin key: %d, want 401", st)
	}
	if st, body := send("POST", "/internal/v1/admin/merchants", map[string]string{rpc.HeaderAdminKey: rpctest.AdminKey}); st != 201 {
		t.Errorf("admin route with the admin key: %d %s", st, body)
	}
	for _, p := range []string{"/internal/v1/../metrics", "/internal/v1/deposits/./x", "/internal//v1/deposits"} {
		if st, _ := send("GET", p, map[string]string{rpc.HeaderMerchant: m}); st != 400 && st != 404 {
			t.Errorf("GET %s: %d, want 400 or 404 and no redirect", p, st)
		}
	}
}

// TestNoRedirects: a ledgerd that answers a redirect is not followed: the
// method, body and token never go where the redirect points.
func TestNoRedirects(t *testing.T) {
	e := newEdge(t, nil)
	_, k := e.ledger.Merchant(t, "shop")
	e.ledger.Intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/internal/v1/deposits/references/alice" {
			http.Redirect(w, r, "/internal/v1/admin/merchants", http.StatusTemporaryRedirect)
			return true
		}
		return false
	}
	got := e.raw("DELETE", "/api/v1/deposits/references/alice", key(k), "")
	if got.status != 503 {
		t.Errorf("a redirect from ledgerd: %d %s, want 503", got.status, got.body)
	}
	for _, s := range e.ledger.Seen() {
		if strings.Contains(s.Path, "admin") {
			t.Errorf("the redirect was followed: %s %s", s.Method, s.Path)
		}
	}
}

// TestUnauthenticatedLimits: failed authentications from one address are
// limited before ledgerd is asked; the admin key too; and a flood of unknown
// keys does not push known keys out of the cache.
func TestUnauthenticatedLimits(t *testing.T) {
	e := newEdge(t, func(c *api.Config) { c.AuthFailureBurst = 20; c.AuthFailureRate = 0.001 })
	lookups := func() int {
		n := 0
		for _, s := range e.ledger.Seen() {
			if s.Path == "/internal/v1/auth" {
				n++
			}
		}
		return n
	}
	limited := 0
	for i := 0; i < 300; i++ {
		got := e.raw("GET", "/api/v1/deposits", key(fmt.Sprintf("sk_live_invalid%06d", i)), "")
		switch got.status {
		case 401:
		case 429:
			limited++
			if got.hdr.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("invalid key: %d %s", got.status, got.body)
		}
	}
	if n := lookups(); n > 21 || limited < 279 {
		t.Errorf("300 invalid keys from one address: %d reached ledgerd, %d were limited", n, limited)
	}
	// The address is limited for admin guesses too, valid key or not.
	if got := e.raw("POST", "/admin/v1/merchants", map[string]string{"X-Admin-Key": rpctest.AdminKey}, `{"name":"x"}`); got.status != 429 {
		t.Errorf("admin request from a limited address: %d", got.status)
	}

	a := newEdge(t, func(c *api.Config) { c.AuthFailureBurst = 20; c.AuthFailureRate = 0.001 })
	for i := 0; i < 100; i++ {
		got := a.raw("POST", "/admin/v1/merchants", map[string]string{"X-Admin-Key": fmt.Sprintf("guess-%04d-0123456789", i), "Content-Type": "application/json"}, `{"name":"x"}`)
		if i < 20 && got.status != 401 || i >= 21 && got.status != 429 {
			t.Fatalf("admin guess %d: %d", i, got.status)
		}
	}

	// Unknown keys live in a cache of their own.
	f := newEdge(t, func(c *api.Config) {
		c.AuthFailureBurst, c.IPBurst, c.IPRateLimit = 1<<30, 1<<30, 1e9
		c.KeyCache, c.UnknownKeyCache = 100, 100
	})
	_, k := f.ledger.Merchant(t, "shop")
	if got := f.raw("GET", "/api/v1/deposits", key(k), ""); got.status != 200 {
		t.Fatalf("valid key: %d", got.status)
	}
	f.ledger.Seen()
	for i := 0; i < 1000; i++ {
		f.srv.Authenticate(fmt.Sprintf("sk_live_flood%08d", i))
	}
	f.ledger.Seen()
	if got := f.raw("GET", "/api/v1/deposits", key(k), ""); got.status != 200 {
		t.Fatalf("valid key after the flood: %d", got.status)
	}
	for _, s := range f.ledger.Seen() {
		if s.Path == "/internal/v1/auth" {
			t.Error("a flood of unknown keys evicted a known key from the cache")
		}
	}
}

// TestPoolConflicts: an address in another merchant's pool is refused with
// ADDRESS_UNAVAILABLE, which does not say whose; the operator sees the
// conflict and can reassign the address.
func TestPoolConflicts(t *testing.T) {
	e := newEdge(t, nil)
	x, kx := e.ledger.Merchant(t, "x")
	v, kv := e.ledger.Merchant(t, "v")
	victim := addr(1)
	e.ledger.Pool(t, x, victim)
	body := fmt.Sprintf(`{"protocol":"evm","addresses":[%q,%q]}`, addr(2).Checksummed(), victim.Checksummed())
	got := e.raw("POST", "/api/v1/addresses/import", key(kv), body)
	if got.status != 409 || got.code() != "ADDRESS_UNAVAILABLE" || strings.Contains(string(got.body), x) {
		t.Fatalf("import of another merchant's address: %d %s", got.status, got.body)
	}
	var list struct{ Pagination struct{ Total int } }
	json.Unmarshal(e.raw("GET", "/api/v1/addresses", key(kv), "").body, &list)
	if list.Pagination.Total != 0 {
		t.Errorf("the refused import left %d addresses in v's pool", list.Pagination.Total)
	}
	admin := map[string]string{"X-Admin-Key": rpctest.AdminKey, "Content-Type": "application/json"}
	var conflicts struct {
		Data []struct {
			Address, OwnerMerchantID, ClaimantMerchantID string
			Attempts                                     int
		}
	}
	got = e.raw("GET", "/admin/v1/address-conflicts", admin, "")
	json.Unmarshal(got.body, &conflicts)
	if got.status != 200 || len(conflicts.Data) != 1 || conflicts.Data[0].OwnerMerchantID != x || conflicts.Data[0].ClaimantMerchantID != v ||
		conflicts.Data[0].Address != victim.Checksummed() || conflicts.Data[0].Attempts != 1 {
		t.Fatalf("conflicts: %d %s", got.status, got.body)
	}
	if got := e.raw("GET", "/admin/v1/address-conflicts", key(kv), ""); got.status != 401 {
		t.Errorf("conflicts with a merchant key: %d", got.status)
	}
	got = e.raw("POST", "/admin/v1/addresses/reassign", admin, fmt.Sprintf(`{"protocol":"evm","address":%q,"merchantId":%q}`, victim.Checksummed(), v))
	if got.status != 200 {
		t.Fatalf("reassign: %d %s", got.status, got.body)
	}
	json.Unmarshal(e.raw("GET", "/admin/v1/address-conflicts", admin, "").body, &conflicts)
	if len(conflicts.Data) != 0 {
		t.Errorf("conflicts after the reassignment: %+v", conflicts.Data)
	}
	var bind struct{ Address string }
	got = e.raw("POST", "/api/v1/deposits/references", key(kv), `{"depositReference":"v1","currency":"USDT","chainId":"evm-devnet"}`)
	json.Unmarshal(got.body, &bind)
	if got.status != 201 || bind.Address != victim.Checksummed() {
		t.Errorf("v's bind after the reassignment: %d %s", got.status, got.body)
	}
	if got := e.raw("POST", "/api/v1/deposits/references", key(kx), `{"depositReference":"x1","currency":"USDT","chainId":"evm-devnet"}`); got.status != 503 {
		t.Errorf("x's bind after its only address moved: %d %s", got.status, got.body)
	}
	// A bound address cannot be moved.
	got = e.raw("POST", "/admin/v1/addresses/reassign", admin, fmt.Sprintf(`{"protocol":"evm","address":%q,"merchantId":%q}`, victim.Checksummed(), x))
	if got.status != 409 || got.code() != "ADDRESS_UNAVAILABLE" {
		t.Errorf("reassign of a bound address: %d %s", got.status, got.body)
	}
}

// TestResourceBounds: endpoints per merchant and idempotency records are
// bounded, with a code.
func TestResourceBounds(t *testing.T) {
	e := newEdge(t, func(c *api.Config) { c.Burst = 1000 })
	_, k := e.ledger.Merchant(t, "shop")
	for i := 0; i < merchantapi.MaxEndpoints; i++ {
		if got := e.raw("POST", "/api/v1/webhooks/endpoints", key(k), fmt.Sprintf(`{"url":"https://example.com/h%d"}`, i)); got.status != 201 {
			t.Fatalf("endpoint %d: %d %s", i, got.status, got.body)
		}
	}
	got := e.raw("POST", "/api/v1/webhooks/endpoints", key(k), `{"url":"https://example.com/one-more"}`)
	if got.status != 409 || got.code() != "LIMIT_EXCEEDED" {
		t.Errorf("endpoint %d: %d %s", merchantapi.MaxEndpoints+1, got.status, got.body)
	}
	events := `"deposit.pending"` + strings.Repeat(`,"deposit.pending"`, 9999)
	if got := e.raw("POST", "/api/v1/webhooks/endpoints", key(k), `{"url":"https://example.com/d","events":[`+events+`]}`); got.status != 400 {
		t.Errorf("an endpoint with 10,000 copies of one event: %d", got.status)
	}

	l := rpctest.Start(t, rpctest.Options{RPC: rpc.Options{MaxIdempotencyKeys: 3}})
	m, _ := l.Merchant(t, "shop")
	post := func(idem string) (int, string) {
		req, _ := http.NewRequest("POST", l.URL+"/internal/v1/webhooks/endpoints", strings.NewReader(`{"url":"https://example.com/i"}`))
		req.Header.Set(rpc.HeaderToken, rpctest.Token)
		req.Header.Set(rpc.HeaderMerchant, m)
		req.Header.Set("Idempotency-Key", idem)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ Code string }
		json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v.Code
	}
	for i := 0; i < 3; i++ {
		if st, _ := post(fmt.Sprintf("k%d", i)); st != 201 {
			t.Fatalf("idempotent request %d: %d", i, st)
		}
	}
	if st, c := post("k3"); st != 409 || c != "LIMIT_EXCEEDED" {
		t.Errorf("a 4th Idempotency-Key over a bound of 3: %d %s", st, c)
	}
	if st, _ := post("k1"); st != 201 {
		t.Errorf("a held key still replays: %d", st)
	}
}

// TestConfusingInputs: what encoding/json and a lax edge would let through
// is refused with 400 (or 415) and a code, and creates nothing.
func TestConfusingInputs(t *testing.T) {
	e := newEdge(t, nil)
	m, k := e.ledger.Merchant(t, "shop")
	e.ledger.Pool(t, m, addr(1), addr(2))
	j := key(k)
	j["Content-Type"] = "application/json"
	for _, c := range []struct {
		name, method, path, ctype, body string
		status                          int
		code                            string
	}{
		{"duplicate key", "POST", "/api/v1/deposits/references", "application/json", `{"depositReference":"a","depositReference":"b","currency":"USDT","chainId":"evm-devnet"}`, 400, "INVALID_JSON"},
		{"key in another case", "POST", "/api/v1/deposits/references", "application/json", `{"depositreference":"a","currency":"USDT","chainId":"evm-devnet"}`, 400, "VALIDATION_ERROR"},
		{"invalid UTF-8", "POST", "/api/v1/deposits/references", "application/json", "{\"depositReference\":\"a\xff\",\"currency\":\"USDT\",\"chainId\":\"evm-devnet\"}", 400, "INVALID_JSON"},
		{"zero-width character", "POST", "/api/v1/deposits/references", "application/json", `{"depositReference":"dupB\u200b","currency":"USDT","chainId":"evm-devnet"}`, 400, "INVALID_DEPOSIT_REFERENCE"},
		{"NEL", "POST", "/api/v1/deposits/references", "application/json", `{"depositReference":"a\u0085","currency":"USDT","chainId":"evm-devnet"}`, 400, "INVALID_DEPOSIT_REFERENCE"},
		{"bidi override", "POST", "/api/v1/deposits/references", "application/json", `{"depositReference":"a\u202e","currency":"USDT","chainId":"evm-devnet"}`, 400, "INVALID_DEPOSIT_REFERENCE"},
		{"slash", "POST", "/api/v1/deposits/references", "application/json", `{"depositReference":"a/b","currency":"USDT","chainId":"evm-devnet"}`, 400, "INVALID_DEPOSIT_REFERENCE"},
		{"text/plain", "POST", "/api/v1/deposits/references", "text/plain", `{"depositReference":"a","currency":"USDT","chainId":"evm-devnet"}`, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"form", "POST", "/api/v1/deposits/references", "application/x-www-form-urlencoded", `{"depositReference":"a","currency":"USDT","chainId":"evm-devnet"}`, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"address with spaces", "POST", "/api/v1/addresses/import", "application/json", fmt.Sprintf(`{"protocol":"evm","addresses":[" %s"]}`, addr(3).Checksummed()), 400, "INVALID_ADDRESS"},
		{"percent reference", "GET", "/api/v1/deposits/references/%25", "", "", 400, "INVALID_DEPOSIT_REFERENCE"},
		{"NUL endpoint", "GET", "/api/v1/webhooks/endpoints/%00", "", "", 404, "WEBHOOK_ENDPOINT_NOT_FOUND"},
		{"NUL event", "POST", "/api/v1/webhooks/events/%00/replay", "", "", 404, "EVENT_NOT_FOUND"},
		{"NUL deposit", "GET", "/api/v1/deposits/%00", "", "", 404, "DEPOSIT_NOT_FOUND"},
		{"percent deposits filter", "GET", "/api/v1/deposits?depositReference=%25", "", "", 400, "INVALID_DEPOSIT_REFERENCE"},
	} {
		hdr := key(k)
		if c.ctype != "" {
			hdr["Content-Type"] = c.ctype
		}
		got := e.raw(c.method, c.path, hdr, c.body)
		if got.status != c.status || got.code() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, got.status, got.body, c.status, c.code)
		}
	}
	var refs struct{ Pagination struct{ Total int } }
	json.Unmarshal(e.raw("GET", "/api/v1/deposits/references", key(k), "").body, &refs)
	if refs.Pagination.Total != 0 {
		t.Errorf("refused binds made %d references", refs.Pagination.Total)
	}
	// The same body, well formed, goes through.
	if got := e.raw("POST", "/api/v1/deposits/references", j, `{"depositReference":"dupB","currency":"USDT","chainId":"evm-devnet"}`); got.status != 201 {
		t.Errorf("a good bind: %d %s", got.status, got.body)
	}
}

// FuzzForward: whatever the method and path, a request forwarded to ledgerd
// reaches a route the table declares (or the key lookup), at a canonical
// path whose parameters are well formed.
func FuzzForward(f *testing.F) {
	for _, rt := range merchantapi.Routes {
		f.Add(rt.Method, rt.Path)
		for _, a := range attacks {
			p := rt.Path
			for _, pp := range rt.PathParams() {
				p = strings.Replace(p, "{"+pp.Name+"}", a, 1)
			}
			f.Add(rt.Method, p)
		}
	}
	f.Add("GET", "/api/v1/deposits/references/user_alice?chainId=evm-devnet")
	f.Add("POST", "/api/v1/webhooks/events/evt_0123456789abcdef01234567/replay")
	f.Add("GET", "/api/v1/../../internal/v1/admin/merchants")
	f.Add("GET", "//api/v1/deposits")
	e := newEdge(&testing.T{}, func(c *api.Config) { c.AuthFailureBurst, c.IPBurst, c.Burst = 1<<30, 1<<30, 1<<30 })
	declared := http.NewServeMux()
	ok := func(http.ResponseWriter, *http.Request) {}
	declared.HandleFunc("GET /internal/v1/auth", ok)
	for _, rt := range merchantapi.Routes {
		declared.HandleFunc(rt.InternalPattern(), ok)
	}
	_, k := e.ledger.Merchant(f, "fuzz")
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, method, path string) {
		raw := method + " " + path + " HTTP/1.1\r\nHost: api\r\nX-API-Key: " + k + "\r\nX-Admin-Key: " + rpctest.AdminKey + "\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // not a request a server would read
		}
		req.RemoteAddr = "127.0.0.1:1"
		h.ServeHTTP(httptest.NewRecorder(), req)
		for _, s := range e.ledger.Seen() {
			r, err := http.NewRequest(s.Method, "http://ledger"+s.Path, nil)
			if err != nil {
				t.Fatalf("%s %q reached ledgerd as an unparsable %s %q", method, path, s.Method, s.Path)
			}
			_, pattern := declared.Handler(r)
			if pattern == "" {
				t.Fatalf("%s %q reached ledgerd at %s %s, which no route declares", method, path, s.Method, s.Path)
			}
			if c := pathpkg.Clean(s.Path); c != s.Path {
				t.Fatalf("%s %q reached ledgerd at the non-canonical %s", method, path, s.Path)
			}
		}
	})
}

// sample is a well-formed value of each path parameter kind.
var sample = map[merchantapi.IDKind]string{
	merchantapi.IDReference: "user_alice",
	merchantapi.IDDeposit:   "dep_00000000018b888d001d81cfd6ef329a",
	merchantapi.IDEndpoint:  "we_0123456789abcdef",
	merchantapi.IDEvent:     "evt_0123456789abcdef01234567",
	merchantapi.IDSession:   "ps_0123456789abcdef0123456789abcdef",
	merchantapi.IDMerchant:  "mer_0123456789abcdef",
	merchantapi.IDAPIKey:    "key_0123456789abcdef",
	merchantapi.IDChain:     "ethereum",
}

// TestRoutesServedAndDocumented: every route of the table is served by apid
// (and so by ledgerd, which answers it), is in the OpenAPI document and in
// /docs; the document has nothing else; a path the table does not declare
// is a JSON 404, and a declared path with another method a JSON 405.
func TestRoutesServedAndDocumented(t *testing.T) {
	e := newEdge(t, func(c *api.Config) { c.Burst, c.AuthFailureBurst = 10_000, 10_000 })
	_, k := e.ledger.Merchant(t, "shop")
	doc := api.OpenAPI()
	paths := doc["paths"].(map[string]any)
	documented := map[string]bool{}
	for p, item := range paths {
		for m := range item.(map[string]any) {
			documented[strings.ToUpper(m)+" "+p] = true
		}
	}
	docs := e.raw("GET", "/docs", nil, "")
	for _, rt := range merchantapi.Routes {
		if !documented[rt.Pattern()] {
			t.Errorf("%s is not in the OpenAPI document", rt.Pattern())
		}
		delete(documented, rt.Pattern())
		if !strings.Contains(string(docs.body), `id="`+rt.Name+`"`) {
			t.Errorf("%s is not on /docs", rt.Name)
		}
		path := rt.Path
		for _, p := range rt.PathParams() {
			path = strings.Replace(path, "{"+p.Name+"}", sample[p.Kind], 1)
		}
		hdr := key(k)
		if rt.Auth == merchantapi.AuthAdmin {
			hdr = map[string]string{"X-Admin-Key": rpctest.AdminKey}
		}
		got := e.raw(rt.Method, path, hdr, "")
		if got.code() == "NOT_FOUND" && got.status == 404 || got.status == 405 || got.status >= 500 {
			t.Errorf("%s %s: %d %s: not served", rt.Method, path, got.status, got.body)
		}
		reached := false
		for _, s := range e.ledger.Seen() {
			reached = reached || s.Path != "/internal/v1/auth"
		}
		if !reached && got.status != 400 {
			t.Errorf("%s %s: %d without reaching ledgerd", rt.Method, path, got.status)
		}
		if got := e.raw("PATCH", path, hdr, ""); got.status != 405 || got.code() != "METHOD_NOT_ALLOWED" {
			t.Errorf("PATCH %s: %d %s, want a JSON 405", path, got.status, got.body)
		}
	}
	for p := range documented {
		t.Errorf("the OpenAPI document has %s, which the table does not declare", p)
	}
	for _, p := range []string{"/api/v1/nothing", "/api/v1/deposits/references/a/b", "/admin/v1/nothing", "/api/v2/deposits"} {
		if got := e.raw("GET", p, key(k), ""); got.status != 404 || got.code() != "NOT_FOUND" {
			t.Errorf("GET %s: %d %s, want a JSON 404", p, got.status, got.body)
		}
	}
}

// TestDocsExamples: every route's answer, and its request body when it
// has one, carries an example in the OpenAPI document and on /docs, and
// the reorgs page for merchants is served and linked.
func TestDocsExamples(t *testing.T) {
	e := newEdge(t, nil)
	doc := api.OpenAPI()
	paths := doc["paths"].(map[string]any)
	docs := string(e.raw("GET", "/docs", nil, "").body)
	for _, rt := range merchantapi.Routes {
		op := paths[rt.Path].(map[string]any)[strings.ToLower(rt.Method)].(map[string]any)
		resp := op["responses"].(map[string]any)[fmt.Sprint(rt.Status)].(map[string]any)
		for mt, c := range resp["content"].(map[string]any) {
			if mt == "text/csv" {
				continue
			}
			if ex, ok := c.(map[string]any)["example"]; !ok || ex == nil {
				t.Errorf("%s: no example of its %s answer", rt.Name, mt)
			}
		}
		if rt.Body != "" {
			body := op["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)
			if ex, ok := body["example"]; !ok || ex == nil {
				t.Errorf("%s: no example of its request body", rt.Name)
			}
		}
		i := strings.Index(docs, `id="`+rt.Name+`"`)
		if i < 0 {
			t.Errorf("%s is not on /docs", rt.Name)
			continue
		}
		section := docs[i:]
		if j := strings.Index(section[1:], "<h3 "); j >= 0 {
			section = section[:j+1]
		}
		if strings.Count(section, "<pre>") < 1 || rt.Body != "" && (strings.Count(section, "<pre>") < 2 || !strings.Contains(section, "Request body")) {
			t.Errorf("%s: /docs shows no example of its body or answer", rt.Name)
		}
	}
	if !strings.Contains(docs, `href="/docs/reorgs"`) {
		t.Error("/docs does not link the reorgs page")
	}
	page := e.raw("GET", "/docs/reorgs", nil, "")
	for _, want := range []string{"orphaned", "replaces", "deposit.confirmed", "afterUnbind", "maxReorgDepth"} {
		if page.status != 200 || !strings.Contains(string(page.body), want) {
			t.Errorf("/docs/reorgs: %d, does not explain %s", page.status, want)
		}
	}
}
