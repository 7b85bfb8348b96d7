package main

import (
	"encoding/base64"
	"math/big"
	"net/http/httptest"

	"github.com/chromedp/chromedp"

	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/inflowhq/inflow/pkg/testenv/browser"
	"github.com/inflowhq/inflow/pkg/testenv/qrtest"
)

type sessionView struct {
	SessionID      string `json:"sessionId"`
	Status         string `json:"status"`
	CheckoutURL    string `json:"checkoutUrl"`
	ExpiresAt      string `json:"expiresAt"`
	AmountDue      *string
	AmountReceived string
	Currency       *string
	PaymentOptions []struct {
		Currency, ChainID, Protocol, Address string
		Amount                               *string
		PaymentURI                           string `json:"paymentUri"`
		QRCodeURL                            string `json:"qrCodeUrl"`
	} `json:"paymentOptions"`
	Payments, LatePayments []struct {
		DepositID, Amount, Currency, Status string
	}
	Timeline           []struct{ Type, At string }
	NotificationSecret string `json:"notificationSecret"`
}

func (v sessionView) timeline() string {
	var out []string
	for _, e := range v.Timeline {
		out = append(out, e.Type)
	}
	return strings.Join(out, " ")
}

// sessionSeen returns the session events received for a session, by type,
// with their data.
func (rc *receiver) sessionSeen(id string) map[string]map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]map[string]any{}
	for _, ev := range rc.events {
		if d, _ := ev["data"].(map[string]any); d["sessionId"] == id {
			out[ev["type"].(string)] = d
		}
	}
	return out
}

func httpGet(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// TestPaymentSessionLifecycle is a payment session on the EVM devnet
// through the all-in-one command: created, pending once its checkout page
// is opened, initiated when a payment is seen, attempted when an
// underpayment confirms, completed by the top-up; the payments are the
// customer's deposits (their reference is the customer id); bad input is
// refused with a code and makes nothing; another merchant sees nothing.
func TestPaymentSessionLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := startInflow(t, "--admin-key", "adm_sessionsessionsession1")
	devnet := &client{t: t, base: c.base}
	rc := newReceiver(t)
	var ep struct{ ID, Secret string }
	if st := c.do("POST", "/api/v1/webhooks/endpoints", map[string]any{"url": rc.srv.URL + "/hooks"}, &ep); st != 201 {
		t.Fatalf("create endpoint: %d", st)
	}
	rc.secret, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(ep.Secret, "whsec_"))
	var e struct{ Code string }
	for _, bad := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"customer": map[string]any{"id": "cust_ada"}, "amounts": map[string]any{"USDT": "0"}, "returnUrl": "http://127.0.0.1:9/"}, "INVALID_AMOUNT"},
		{map[string]any{"customer": map[string]any{"id": "cust_ada"}, "amounts": map[string]any{"USDT": "-2"}, "returnUrl": "http://127.0.0.1:9/"}, "INVALID_AMOUNT"},
		{map[string]any{"customer": map[string]any{"id": "cust_ada"}, "amounts": map[string]any{"USDT": "1.0000001"}, "returnUrl": "http://127.0.0.1:9/"}, "INVALID_AMOUNT"},
		{map[string]any{"customer": map[string]any{"id": "cust_ada"}, "amounts": map[string]any{"XYZ": "1"}, "returnUrl": "http://127.0.0.1:9/"}, "UNSUPPORTED_CURRENCY"},
		{map[string]any{"customer": map[string]any{"id": "cust_ada"}, "amounts": map[string]any{"EUR": "10"}, "returnUrl": "http://127.0.0.1:9/"}, "RATE_UNAVAILABLE"},
		{map[string]any{"customer": map[string]any{"id": "cust_ada"}, "amounts": map[string]any{"USDT": "1"}, "returnUrl": "http://127.0.0.1:9/", "expiresIn": 30}, "VALIDATION_ERROR"},
		{map[string]any{"customer": map[string]any{"id": "cust_ada"}, "amounts": map[string]any{"USDT": "1"}, "returnUrl": "http://127.0.0.1:9/", "expiresIn": 8 * 24 * 3600}, "VALIDATION_ERROR"},
		{map[string]any{"customer": map[string]any{"id": "cust_ada"}, "amounts": map[string]any{"USDT": "1"}, "returnUrl": "http://127.0.0.1:9/",
			"metadata": map[string]any{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1, "g": 1, "h": 1, "i": 1, "j": 1, "k": 1}}, "TOO_MANY_METADATA_KEYS"},
		{map[string]any{"customer": map[string]any{"id": ""}, "returnUrl": "http://127.0.0.1:9/"}, "VALIDATION_ERROR"},
		{map[string]any{"customer": map[string]any{"id": "cust_ada"}, "returnUrl": "ftp://x/"}, "VALIDATION_ERROR"},
		{map[string]any{"customer": map[string]any{"id": "cust_ada"}, "amounts": map[string]any{"BTC": "1"}, "chainIds": []string{"ethereum"}, "returnUrl": "http://127.0.0.1:9/"}, "UNSUPPORTED_CHAIN"},
	} {
		if st := c.do("POST", "/api/v1/payment-sessions", bad.body, &e); st != 400 || e.Code != bad.code {
			t.Errorf("%v: %d %s, want 400 %s", bad.body, st, e.Code, bad.code)
		}
	}
	var list struct {
		Data []sessionView
	}
	if c.do("GET", "/api/v1/payment-sessions", nil, &list); len(list.Data) != 0 {
		t.Fatalf("refused requests made sessions: %+v", list.Data)
	}
	var ps sessionView
	notified := newReceiver(t)
	st := c.do("POST", "/api/v1/payment-sessions", map[string]any{"customer": map[string]any{"id": "cust_ada", "email": "ada@example.com"},
		"product": "plan-pro", "amounts": map[string]any{"USDT": "15.5"}, "chainIds": []string{"evm-devnet"}, "returnUrl": "http://127.0.0.1:9/thanks",
		"notificationUrl": notified.srv.URL + "/notify", "expiresIn": 900, "metadata": map[string]any{"order": "o-1"}}, &ps)
	if !strings.HasPrefix(ps.NotificationSecret, "whsec_") {
		t.Fatalf("no notification secret in the answer: %+v", ps)
	}
	notified.secret, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(ps.NotificationSecret, "whsec_"))
	if st != 201 || ps.Status != "created" || !strings.HasPrefix(ps.SessionID, "ps_") || len(ps.SessionID) != 35 || ps.CheckoutURL != c.base+"/checkout/"+ps.SessionID ||
		len(ps.PaymentOptions) != 1 || ps.timeline() != "created" {
		t.Fatalf("create: %d %+v", st, ps)
	}
	o := ps.PaymentOptions[0]
	if o.Currency != "USDT" || o.ChainID != "evm-devnet" || o.Protocol != "evm" || o.Amount == nil || *o.Amount != "15.5" ||
		o.PaymentURI != "ethereum:0x00000000000000000000000000000000000A5D70@1337/transfer?address="+o.Address+"&uint256=15500000" ||
		o.QRCodeURL != c.base+"/checkout/"+ps.SessionID+"/qr/0.png" {
		t.Errorf("payment option %+v", o)
	}
	get := func() sessionView {
		var v sessionView
		if st := c.do("GET", "/api/v1/payment-sessions/"+ps.SessionID, nil, &v); st != 200 {
			t.Fatalf("get: %d", st)
		}
		return v
	}
	// The checkout page: opening it makes the session pending.
	code, ctype, page := httpGet(t, ps.CheckoutURL)
	if code != 200 || !strings.HasPrefix(ctype, "text/html") || !strings.Contains(string(page), o.Address) {
		t.Fatalf("checkout page: %d %s", code, ctype)
	}
	if v := get(); v.Status != "pending" {
		t.Fatalf("after the page opened: %s", v.Status)
	}
	if code, ctype, _ := httpGet(t, o.QRCodeURL); code != 200 || ctype != "image/png" {
		t.Errorf("QR code: %d %s", code, ctype)
	}
	send := func(amount string) {
		var r struct{ TxHash string }
		if st := devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": o.Address, "currency": "USDT", "amount": amount}, &r); st != 200 {
			t.Fatalf("transfer: %d", st)
		}
	}
	mine := func(n int) {
		if st := devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": n}, nil); st != 200 {
			t.Fatalf("mine: %d", st)
		}
	}
	waitFor := func(status string) sessionView {
		t.Helper()
		var v sessionView
		eventually(t, "session "+status, func() bool { v = get(); return v.Status == status })
		return v
	}
	send("10")
	mine(1)
	waitFor("initiated")
	mine(3) // credit depth 3: the 10 confirms, short of 15.5
	v := waitFor("attempted")
	if v.AmountReceived != "10" || v.AmountDue == nil || *v.AmountDue != "15.5" {
		t.Errorf("attempted: received %s of %v", v.AmountReceived, v.AmountDue)
	}
	send("5.5")
	mine(1)
	mine(3)
	v = waitFor("completed")
	if v.AmountReceived != "15.5" || len(v.Payments) != 2 || v.timeline() != "created pending initiated attempted completed" {
		t.Errorf("completed: received %s, payments %+v, timeline %s", v.AmountReceived, v.Payments, v.timeline())
	}
	_, _, sb := httpGet(t, c.base+"/checkout/"+ps.SessionID+"/status")
	var pub map[string]any
	json.Unmarshal(sb, &pub)
	if pub["status"] != "completed" || pub["returnUrl"] != "http://127.0.0.1:9/thanks?sessionId="+ps.SessionID || pub["customer"] != nil || pub["metadata"] != nil {
		t.Errorf("public status %v", pub)
	}
	// Signed webhooks for every status reached, with the amounts.
	eventually(t, "the session's webhooks", func() bool {
		got := rc.sessionSeen(ps.SessionID)
		return got["payment_session.pending"] != nil && got["payment_session.initiated"] != nil && got["payment_session.attempted"] != nil &&
			got["payment_session.completed"] != nil
	})
	done := rc.sessionSeen(ps.SessionID)["payment_session.completed"]
	if done["amountReceived"] != "15.5" || done["amountDue"] != "15.5" || done["status"] != "completed" {
		t.Errorf("payment_session.completed data: %v", done)
	}
	if att := rc.sessionSeen(ps.SessionID)["payment_session.attempted"]; att["amountReceived"] != "10" {
		t.Errorf("payment_session.attempted data: %v", att)
	}
	rc.mu.Lock()
	if len(rc.bad) > 0 {
		t.Errorf("webhooks that failed verification: %v", rc.bad)
	}
	rc.mu.Unlock()
	// The session's notificationUrl gets the same events, signed with the
	// session's own secret; the secret is never shown again, and the
	// merchant's endpoints do not list it.
	eventually(t, "the notificationUrl's events", func() bool {
		got := notified.sessionSeen(ps.SessionID)
		return got["payment_session.pending"] != nil && got["payment_session.completed"] != nil
	})
	notified.mu.Lock()
	if len(notified.bad) > 0 {
		t.Errorf("notifications that failed verification: %v", notified.bad)
	}
	notified.mu.Unlock()
	if v := get(); v.NotificationSecret != "" {
		t.Error("the notification secret is shown again")
	}
	var eps struct{ Data []struct{ ID, URL string } }
	c.do("GET", "/api/v1/webhooks/endpoints", nil, &eps)
	if len(eps.Data) != 1 {
		t.Errorf("the merchant's endpoints: %+v", eps.Data)
	}
	// The payments are the customer's deposits: their reference is the
	// customer id, and their balance holds them.
	var deps depositList
	c.do("GET", "/api/v1/deposits?depositReference=cust_ada", nil, &deps)
	if len(deps.Data) != 2 {
		t.Errorf("the customer's deposits: %+v", deps.Data)
	}
	var bal struct {
		Data []struct{ Currency, Pending, Available, Total string }
	}
	c.do("GET", "/api/v1/balances?depositReference=cust_ada", nil, &bal)
	if len(bal.Data) != 1 || bal.Data[0].Currency != "USDT" {
		t.Errorf("balances %+v", bal)
	}
	// By customer (the same as by reference) and by product.
	var byCust, byProduct struct {
		Data []struct{ Product, DepositReference, Currency, Pending, Available string }
	}
	c.do("GET", "/api/v1/balances?customerId=cust_ada", nil, &byCust)
	if len(byCust.Data) != 1 || byCust.Data[0].Currency != "USDT" {
		t.Errorf("balances by customer %+v", byCust)
	}
	c.do("GET", "/api/v1/balances?product=plan-pro&customerId=cust_ada", nil, &byProduct)
	if len(byProduct.Data) != 1 || byProduct.Data[0].Product != "plan-pro" || byProduct.Data[0].Currency != "USDT" {
		t.Fatalf("balances by product %+v", byProduct)
	}
	if p := byProduct.Data[0]; new(big.Rat).Add(rat(p.Pending), rat(p.Available)).Cmp(rat("15.5")) != 0 {
		t.Errorf("the product's balance %+v, want 15.5 in all", p)
	}
	// Another merchant sees none of it.
	admin := &client{t: t, base: c.base}
	var m struct{ APIKey string }
	req, _ := http.NewRequest("POST", c.base+"/admin/v1/merchants", strings.NewReader(`{"name":"other","live":false}`))
	req.Header.Set("X-Admin-Key", "adm_sessionsessionsession1")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	_ = admin
	if m.APIKey == "" {
		t.Fatalf("a second merchant: %d", resp.StatusCode)
	}
	other := &client{t: t, base: c.base, key: m.APIKey}
	if st := other.do("GET", "/api/v1/payment-sessions/"+ps.SessionID, nil, &e); st != 404 || e.Code != "PAYMENT_SESSION_NOT_FOUND" {
		t.Errorf("another merchant's get: %d %s", st, e.Code)
	}
	var ol struct{ Data []sessionView }
	if other.do("GET", "/api/v1/payment-sessions?customerId=cust_ada", nil, &ol); len(ol.Data) != 0 {
		t.Errorf("another merchant lists %d sessions", len(ol.Data))
	}
	var och struct{ Data []struct{ Address string } }
	c.do("POST", "/api/v1/wallet/address", map[string]any{"customerId": "cust_ada", "currency": "USDT"}, nil)
	if other.do("GET", "/api/v1/channels", nil, &och); len(och.Data) != 0 {
		t.Errorf("another merchant lists %d channels", len(och.Data))
	}
	// A live merchant's returnUrl must be https.
	req, _ = http.NewRequest("POST", c.base+"/admin/v1/merchants", strings.NewReader(`{"name":"live-shop","live":true}`))
	req.Header.Set("X-Admin-Key", "adm_sessionsessionsession1")
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var lm struct{ APIKey string }
	json.NewDecoder(resp.Body).Decode(&lm)
	resp.Body.Close()
	live := &client{t: t, base: c.base, key: lm.APIKey}
	// A merchant's tolerance: 1% short completes.
	req, _ = http.NewRequest("POST", c.base+"/admin/v1/merchants", strings.NewReader(`{"name":"tolerant","live":false,"toleranceBps":100}`))
	req.Header.Set("X-Admin-Key", "adm_sessionsessionsession1")
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tm struct{ APIKey string }
	json.NewDecoder(resp.Body).Decode(&tm)
	resp.Body.Close()
	tol := &client{t: t, base: c.base, key: tm.APIKey}
	if st := tol.do("POST", "/api/v1/addresses/import", map[string]any{"protocol": "evm", "addresses": []string{"0x7a16fF8270133F063aAb6C9977183D9e72835428"}}, nil); st != 200 && st != 201 {
		t.Fatalf("import: %d", st)
	}
	var tps sessionView
	if st := tol.do("POST", "/api/v1/payment-sessions", map[string]any{"customer": map[string]any{"id": "cust_tol"}, "amounts": map[string]any{"USDT": "100"},
		"chainIds": []string{"evm-devnet"}, "returnUrl": "http://127.0.0.1:9/"}, &tps); st != 201 {
		t.Fatalf("the tolerant merchant's session: %d", st)
	}
	devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": tps.PaymentOptions[0].Address, "currency": "USDT", "amount": "99"}, nil)
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 4}, nil)
	eventually(t, "99 of 100 completing within a 1% tolerance", func() bool {
		var v sessionView
		tol.do("GET", "/api/v1/payment-sessions/"+tps.SessionID, nil, &v)
		return v.Status == "completed"
	})
	if st := live.do("POST", "/api/v1/payment-sessions", map[string]any{"customer": map[string]any{"id": "c1"}, "amounts": map[string]any{"USDT": "1"},
		"returnUrl": "http://shop.example/back"}, &e); st != 400 || e.Code != "VALIDATION_ERROR" {
		t.Errorf("a live merchant's http returnUrl: %d %s", st, e.Code)
	}
	if st := c.do("GET", "/api/v1/payment-sessions/ps_"+strings.Repeat("0", 32), nil, &e); st != 404 {
		t.Errorf("an unknown session: %d", st)
	}
	if st := c.do("GET", "/api/v1/payment-sessions/..%2Fx", nil, &e); st != 404 {
		t.Errorf("a malformed id: %d", st)
	}
	var mine2 struct{ Data []sessionView }
	if c.do("GET", "/api/v1/payment-sessions?customerId=cust_ada&status=completed", nil, &mine2); len(mine2.Data) != 1 {
		t.Errorf("list by customer and status: %d", len(mine2.Data))
	}
}

// TestPaymentSessionExpiry: a session no one pays expires (the shortest,
// 60 s), and money that reaches its address afterwards is not lost: it is
// the customer's deposit, listed in the session's latePayments, and the
// session stays expired.
func TestPaymentSessionExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: waits a minute for the session to expire")
	}
	t.Parallel()
	c := startInflow(t)
	devnet := &client{t: t, base: c.base}
	rc := newReceiver(t)
	var ep struct{ ID, Secret string }
	if st := c.do("POST", "/api/v1/webhooks/endpoints", map[string]any{"url": rc.srv.URL + "/hooks"}, &ep); st != 201 {
		t.Fatalf("create endpoint: %d", st)
	}
	rc.secret, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(ep.Secret, "whsec_"))
	var ps sessionView
	if st := c.do("POST", "/api/v1/payment-sessions", map[string]any{"customer": map[string]any{"id": "cust_bob"}, "amounts": map[string]any{"USDT": "3"},
		"chainIds": []string{"evm-devnet"}, "returnUrl": "http://127.0.0.1:9/", "expiresIn": 60}, &ps); st != 201 {
		t.Fatalf("create: %d", st)
	}
	get := func() sessionView {
		var v sessionView
		c.do("GET", "/api/v1/payment-sessions/"+ps.SessionID, nil, &v)
		return v
	}
	deadline := time.Now().Add(90 * time.Second)
	for get().Status != "expired" {
		if time.Now().After(deadline) {
			t.Fatalf("the session did not expire: %+v", get())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if st := devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": ps.PaymentOptions[0].Address, "currency": "USDT", "amount": "3"}, nil); st != 200 {
		t.Fatalf("transfer: %d", st)
	}
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 4}, nil)
	var v sessionView
	eventually(t, "the late payment", func() bool { v = get(); return len(v.LatePayments) == 1 })
	if v.Status != "expired" || len(v.Payments) != 0 || v.LatePayments[0].Amount != "3" || !strings.HasSuffix(v.timeline(), "expired late_payment") {
		t.Errorf("after the late payment: %s, payments %+v, late %+v, timeline %s", v.Status, v.Payments, v.LatePayments, v.timeline())
	}
	var deps depositList
	c.do("GET", "/api/v1/deposits?depositReference=cust_bob", nil, &deps)
	if len(deps.Data) != 1 || deps.Data[0].Amount != "3" {
		t.Errorf("the late payment is not the customer's deposit: %+v", deps.Data)
	}
	eventually(t, "payment_session.expired and .late_payment", func() bool {
		got := rc.sessionSeen(ps.SessionID)
		return got["payment_session.expired"] != nil && got["payment_session.late_payment"] != nil
	})
	if late := rc.sessionSeen(ps.SessionID)["payment_session.late_payment"]; late["status"] != "expired" {
		t.Errorf("late_payment data: %v", late)
	}
}

// TestCheckoutInABrowser is the customer's side in headless Chromium: the
// checkout page of a real session on bin/inflow, its address, amount and
// QR code (decoded back to the payment URI), the status following a devnet
// payment live, and the redirect to the shop's returnUrl on completion.
func TestCheckoutInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts Chromium")
	}
	c := startInflow(t)
	devnet := &client{t: t, base: c.base}
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<!doctype html><title>Thanks</title><link rel="icon" href="data:,"><h1>Thanks</h1>`)
	}))
	defer shop.Close()
	var ps sessionView
	if st := c.do("POST", "/api/v1/payment-sessions", map[string]any{"customer": map[string]any{"id": "cust_eve"}, "amounts": map[string]any{"USDT": "7.25"},
		"chainIds": []string{"evm-devnet"}, "returnUrl": shop.URL + "/thanks"}, &ps); st != 201 {
		t.Fatalf("create: %d", st)
	}
	b := browser.New(t)
	if err := chromedp.Do(b.Ctx, chromedp.Navigate(ps.CheckoutURL)); err != nil {
		t.Fatal(err)
	}
	read := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	addr := read(`document.getElementById("addr-0").textContent`)
	amount := read(`document.querySelector('[data-option="0"] .value').textContent`)
	src := read(`document.querySelector('[data-option="0"] img.qr').src`)
	o := ps.PaymentOptions[0]
	if addr != o.Address || amount != "7.25" || src != o.QRCodeURL {
		t.Errorf("the page shows %q, %q, %q", addr, amount, src)
	}
	_, _, qr := httpGet(t, src)
	if got := qrtest.DecodePNG(t, qr); got != o.PaymentURI {
		t.Errorf("the QR code says %q, want %q", got, o.PaymentURI)
	}
	status := func() string { return read(`document.getElementById("status").dataset.status`) }
	eventually(t, "pending on the page", func() bool { return status() == "pending" })
	t.Logf("screenshot: %s", b.Screenshot(t, "checkout-devnet-pending"))
	if st := devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": addr, "currency": "USDT", "amount": "7.25"}, nil); st != 200 {
		t.Fatalf("transfer: %d", st)
	}
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 1}, nil)
	eventually(t, "initiated on the page", func() bool { return status() == "initiated" })
	t.Logf("screenshot: %s", b.Screenshot(t, "checkout-devnet-initiated"))
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 3}, nil)
	eventually(t, "the redirect to the shop", func() bool {
		loc, _ := chromedp.Run(b.Ctx, chromedp.Location())
		return loc == shop.URL+"/thanks?sessionId="+ps.SessionID
	})
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return new(big.Rat).SetInt64(-1)
	}
	return r
}

// TestChannelAddresses is the Channel API on bin/inflow: a customer's
// address per currency, the same every time for the customer and the
// currency's protocol (seed codes and bare currencies alike), its QR code,
// the listing, a payment to it credited to the customer, and bad input
// refused.
func TestChannelAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := startInflow(t)
	devnet := &client{t: t, base: c.base}
	type answer struct {
		Data struct {
			CustomerID, Address, Currency, ChainID, Protocol string
			QRCodeURL                                        string `json:"qrCodeURL"`
		}
	}
	ask := func(path, customer, currency string) answer {
		t.Helper()
		var a answer
		if st := c.do("POST", path, map[string]any{"customerId": customer, "currency": currency}, &a); st != 200 {
			t.Fatalf("%s %s %s: %d", path, customer, currency, st)
		}
		return a
	}
	usdt := ask("/api/v1/wallet/address", "cust_kim", "USDT")
	again := ask("/api/v1/wallet/address", "cust_kim", "USDT")
	dai := ask("/api/v1/channels", "cust_kim", "DAI")
	tron := ask("/api/v1/wallet/address", "cust_kim", "tUSDT") // a seed code: tron-devnet stands in for tron
	other := ask("/api/v1/wallet/address", "cust_lee", "USDT")
	if usdt.Data.Address == "" || again.Data.Address != usdt.Data.Address || dai.Data.Address != usdt.Data.Address || dai.Data.Currency != "DAI" {
		t.Errorf("one EVM address for the customer: %+v, %+v, %+v", usdt.Data, again.Data, dai.Data)
	}
	if tron.Data.ChainID != "tron-devnet" || tron.Data.Protocol != "tron" || !strings.HasPrefix(tron.Data.Address, "T") || other.Data.Address == usdt.Data.Address {
		t.Errorf("tUSDT %+v; another customer %+v", tron.Data, other.Data)
	}
	if code, ctype, qr := httpGet(t, usdt.Data.QRCodeURL); code != 200 || ctype != "image/png" || qrtest.DecodePNG(t, qr) != usdt.Data.Address {
		t.Errorf("QR code %s: %d %s", usdt.Data.QRCodeURL, code, ctype)
	}
	if code, _, _ := httpGet(t, c.base+"/qr/evm-devnet/not-an-address.png"); code != 404 {
		t.Errorf("a QR code of anything: %d", code)
	}
	var list struct {
		Data []struct{ Address, ChainID string }
	}
	c.do("GET", "/api/v1/channels?customerId=cust_kim", nil, &list)
	if len(list.Data) != 2 {
		t.Errorf("cust_kim's channels: %+v", list.Data)
	}
	var e struct{ Code string }
	if st := c.do("POST", "/api/v1/wallet/address", map[string]any{"customerId": "cust_kim", "currency": "XYZ"}, &e); st != 400 || e.Code != "UNSUPPORTED_CURRENCY" {
		t.Errorf("an unknown currency: %d %s", st, e.Code)
	}
	if st := c.do("POST", "/api/v1/wallet/address", map[string]any{"customerId": "", "currency": "USDT"}, &e); st != 400 {
		t.Errorf("no customer: %d %s", st, e.Code)
	}
	// A payment to the channel address is the customer's deposit.
	devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": usdt.Data.Address, "currency": "USDT", "amount": "12"}, nil)
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 1}, nil)
	eventually(t, "the customer's deposit", func() bool {
		var deps depositList
		c.do("GET", "/api/v1/deposits?depositReference=cust_kim", nil, &deps)
		return len(deps.Data) == 1 && deps.Data[0].Amount == "12" && deps.Data[0].Address == usdt.Data.Address
	})
}
