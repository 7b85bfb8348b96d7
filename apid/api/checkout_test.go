package api_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/inflowhq/inflow/apid/api"
	"github.com/inflowhq/inflow/ledgerd/rpc"
	"github.com/inflowhq/inflow/ledgerd/rpc/rpctest"
)

// TestCheckoutSplit serves the hosted checkout page from apid alone, over
// ledgerd's internal API (the split stack): the page, its status and its
// QR code for a session made through the merchant API; opening the page
// moves the session to pending; nothing of the merchant is in the public
// status; a malformed or unknown id is 404 and reaches ledgerd only as a
// well-formed id; and the pages are behind the per-address rate limit.
func TestCheckoutSplit(t *testing.T) {
	l := rpctest.Start(t, rpctest.Options{})
	mount := func(mod func(*api.Config)) *edge { return edgeOn(t, l, mod, true) }
	e := mount(func(c *api.Config) { c.IPBurst = 100_000 })
	m, k := l.Merchant(t, "shop")
	l.Pool(t, m, addr(1), addr(2))
	hdr := key(k)
	hdr["Content-Type"] = "application/json"
	made := e.raw("POST", "/api/v1/payment-sessions", hdr, `{"customer":{"id":"cust_ada","email":"ada@example.com"},"amounts":{"USDT":"15.5"},"chainIds":["ethereum"],"returnUrl":"https://127.0.0.1:9/thanks","metadata":{"order":"o-1"}}`)
	var ps struct {
		SessionID, Status string
		PaymentOptions    []struct{ Address string }
	}
	if json.Unmarshal(made.body, &ps); made.status != 201 || ps.Status != "created" || len(ps.PaymentOptions) != 1 {
		t.Fatalf("make a session: %d %s", made.status, made.body)
	}
	page := e.raw("GET", "/checkout/"+ps.SessionID, nil, "")
	if page.status != 200 || !strings.HasPrefix(page.hdr.Get("Content-Type"), "text/html") || !strings.Contains(string(page.body), `data-status="pending"`) ||
		!strings.Contains(string(page.body), ps.PaymentOptions[0].Address) {
		t.Fatalf("checkout page: %d %s\n%s", page.status, page.hdr.Get("Content-Type"), page.body)
	}
	if page.hdr.Get("Content-Security-Policy") == "" || page.hdr.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("checkout page headers: %v", page.hdr)
	}
	got := e.raw("GET", "/api/v1/payment-sessions/"+ps.SessionID, key(k), "")
	if json.Unmarshal(got.body, &ps); ps.Status != "pending" {
		t.Errorf("after the page was opened the session is %q, want pending", ps.Status)
	}
	st := e.raw("GET", "/checkout/"+ps.SessionID+"/status", nil, "")
	if st.status != 200 || !strings.Contains(string(st.body), `"status":"pending"`) || !strings.Contains(string(st.body), `"amountDue":"15.5"`) {
		t.Errorf("status: %d %s", st.status, st.body)
	}
	for _, private := range []string{"cust_ada", "ada@example.com", "o-1", m} {
		if strings.Contains(string(st.body), private) || strings.Contains(string(page.body), private) {
			t.Errorf("the public checkout shows %q", private)
		}
	}
	if qr := e.raw("GET", "/checkout/"+ps.SessionID+"/qr/0.png", nil, ""); qr.status != 200 || qr.hdr.Get("Content-Type") != "image/png" || !strings.HasPrefix(string(qr.body), "\x89PNG") {
		t.Errorf("QR code: %d %s", qr.status, qr.hdr.Get("Content-Type"))
	}
	if qr := e.raw("GET", "/qr/ethereum/"+addr(1).String()+".png", nil, ""); qr.status != 200 || qr.hdr.Get("Content-Type") != "image/png" {
		t.Errorf("address QR code: %d %s", qr.status, qr.hdr.Get("Content-Type"))
	}
	l.Seen()
	wellFormed := regexp.MustCompile(`^/internal/v1/(checkout/[A-Za-z0-9_-]{16,64}(/opened)?|auth)$`)
	for _, id := range append(attacks, "ps_00000000000000000000000000000000", "not-a-session-id-at-all", "x") {
		for _, p := range []string{"/checkout/" + id, "/checkout/" + id + "/status", "/checkout/" + id + "/qr/0.png"} {
			if got := e.raw("GET", p, nil, ""); got.status < 400 || got.status >= 500 {
				t.Errorf("GET %s: %d, want 4xx", p, got.status)
			}
		}
	}
	for _, s := range l.Seen() {
		if !wellFormed.MatchString(s.Path) {
			t.Errorf("a malformed id reached ledgerd as %s %s", s.Method, s.Path)
		}
	}
	// ledgerd's own routes refuse the same forms, token or not.
	for _, id := range append(attacks, "ps_00000000000000000000000000000000", "./x/..", "../../admin/merchants") {
		for _, p := range []string{"/internal/v1/checkout/" + id, "/internal/v1/checkout/" + id + "/opened"} {
			for _, method := range []string{"GET", "POST"} {
				req, err := http.NewRequest(method, l.URL+"/", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.URL.Opaque = p
				req.Header.Set(rpc.HeaderToken, rpctest.Token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Errorf("ledgerd %s %s: %d, want 4xx", method, p, resp.StatusCode)
				}
			}
		}
	}
	req, _ := http.NewRequest("GET", l.URL+"/internal/v1/checkout/"+ps.SessionID, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("ledgerd's checkout view without the internal token: %d, want 401", resp.StatusCode)
	}

	// The pages are behind the per-address limit: a client that spends
	// its burst is refused, with Retry-After, before ledgerd is asked.
	lim := mount(func(c *api.Config) { c.IPBurst, c.IPRateLimit = 5, 0.001 })
	l.Seen()
	refused := 0
	for range 20 {
		got := lim.raw("GET", "/checkout/"+ps.SessionID+"/status", nil, "")
		switch got.status {
		case 200:
		case 429:
			refused++
			if got.hdr.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		default:
			t.Fatalf("status: %d %s", got.status, got.body)
		}
	}
	asked := 0
	for _, s := range l.Seen() {
		if strings.HasPrefix(s.Path, "/internal/v1/checkout/") {
			asked++
		}
	}
	if refused != 15 || asked != 5 {
		t.Errorf("20 status requests with a burst of 5: %d refused, %d reached ledgerd", refused, asked)
	}
	if got := lim.raw("GET", "/qr/ethereum/"+addr(1).String()+".png", nil, ""); got.status != 429 {
		t.Errorf("an address QR code from a limited address: %d", got.status)
	}
}
