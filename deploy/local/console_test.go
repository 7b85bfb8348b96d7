package main

import (
	"encoding/base64"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/inflowhq/inflow/pkg/testenv/browser"
)

// TestConsole drives the console in headless Chromium as a new user of
// make run would: the banner's link signs in as the dev merchant; the page
// shows the chains, and a devnet payment appears and confirms on it
// without a reload, with its webhook delivery and the pool's counts; the
// replay button replays. Then the operator signs in with the admin key and
// sees the merchants and ledgerd's queues.
func TestConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	s, c := startStack(t)
	rc := newReceiver(t)
	var ep struct{ ID, Secret string }
	if st := c.do("POST", "/api/v1/webhooks/endpoints", map[string]any{"url": rc.srv.URL}, &ep); st != 201 {
		t.Fatalf("endpoint: %d", st)
	}
	rc.secret, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(ep.Secret, "whsec_"))
	devnet := &client{t: t, base: s.APIURL}
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 2}, nil)

	b := browser.NewDesktop(t)
	if !strings.Contains(s.ConsoleURL, "/console?token=") {
		t.Fatalf("console URL %q", s.ConsoleURL)
	}
	if err := chromedp.Do(b.Ctx, chromedp.Navigate(s.ConsoleURL), chromedp.WaitVisible(`#chains`)); err != nil {
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
	if loc := read(`location.href`); loc != s.APIURL+"/console" {
		t.Errorf("after the sign-in link the page is %s: the token should leave the address bar", loc)
	}
	if who := read(`document.querySelector("header .who").textContent`); !strings.Contains(who, s.MerchantID) {
		t.Errorf("signed in as %q, want the dev merchant %s", who, s.MerchantID)
	}
	eventually(t, "evm-devnet's row with the node's head", func() bool {
		row := read(`(document.querySelector('[data-chain="evm-devnet"]') || {textContent: ""}).textContent`)
		return strings.Contains(row, "evm-devnet") && strings.Contains(row, "following") && !strings.Contains(row, "–")
	})
	// A marker the page keeps only if it is never reloaded.
	read(`window.__noReload = "yes"; "ok"`)

	var bind struct{ Address string }
	if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "console_alice", "currency": "USDT", "chainId": "evm-devnet"}, &bind); st != 201 {
		t.Fatalf("bind: %d", st)
	}
	devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": bind.Address, "currency": "USDT", "amount": "12.5"}, nil)
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 1}, nil)
	row := `(Array.from(document.querySelectorAll('#deposits tr[data-deposit]')).find(r => r.textContent.includes("console_alice")) || {textContent: "", className: ""})`
	eventually(t, "the deposit on the page", func() bool {
		return strings.Contains(read(row+`.textContent`), "12.5 USDT")
	})
	t.Logf("screenshot: %s", b.Screenshot(t, "console-deposit-pending"))
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 3}, nil)
	eventually(t, "the deposit confirmed on the page", func() bool {
		cls := read(row + `.className`)
		return cls == "st-confirmed" || cls == "st-completed"
	})
	eventually(t, "its webhook delivery on the page", func() bool {
		return strings.Contains(read(`document.getElementById("webhooks").textContent`), "succeeded")
	})
	if pool := read(`document.querySelector('#pool [data-protocol="evm"]').textContent`); !strings.Contains(pool, "evm") {
		t.Errorf("pool row: %q", pool)
	}
	bound := read(`document.querySelector('#pool [data-protocol="evm"] td:nth-child(3)').textContent`)
	if bound != "1" {
		t.Errorf("the evm pool shows %s bound, want 1", bound)
	}
	if plots := read(`String(document.querySelectorAll(".plot svg rect.bar").length)`); plots == "0" {
		t.Error("the plots have no bars")
	}
	if read(`window.__noReload || "reloaded"`) != "yes" {
		t.Error("the page was reloaded: the update should be live")
	}

	// The replay button replays the event to the endpoint.
	read(`document.querySelector("button[data-replay]").click(); "ok"`)
	eventually(t, "the replay's answer", func() bool {
		return strings.Contains(read(`document.getElementById("notice").textContent`), "to 1 endpoint")
	})
	t.Logf("screenshot: %s", b.Screenshot(t, "console-merchant"))
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
	seen := len(b.Errors())

	// The operator's view, signed in through the form.
	read(`document.querySelector('header form button').click(); "ok"`)
	if err := chromedp.Do(b.Ctx, chromedp.WaitVisible(`#key`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(b.Ctx, chromedp.SendKeys(`#key`, "sk_test_not_a_key_of_this_inflow_at_all"), chromedp.Submit(`#key`), chromedp.WaitVisible(`.error`)); err != nil {
		t.Fatal(err)
	}
	if msg := read(`document.querySelector(".error").textContent`); !strings.Contains(msg, "not a key") {
		t.Errorf("a wrong key says %q", msg)
	}
	if err := chromedp.Do(b.Ctx, chromedp.SetValue(`#key`, s.AdminKey), chromedp.Submit(`#key`), chromedp.WaitVisible(`#merchants`)); err != nil {
		t.Fatal(err)
	}
	if m := read(`document.getElementById("merchants").textContent`); !strings.Contains(m, s.MerchantID) || !strings.Contains(m, "dev") {
		t.Errorf("the operator's merchants: %q", m)
	}
	eventually(t, "ledgerd's queues", func() bool {
		ops := read(`document.getElementById("ops").textContent`)
		return strings.Contains(ops, "Outbox depth") && strings.Contains(ops, "Webhook queue") && !strings.Contains(ops, "not exported")
	})
	if ch := read(`document.getElementById("chains").textContent`); !strings.Contains(ch, "evm-devnet") {
		t.Errorf("the operator's chains: %q", ch)
	}
	t.Logf("screenshot: %s", b.Screenshot(t, "console-operator"))
	// The one error expected: the wrong key's answer is a 401.
	if errs := b.Errors()[seen:]; len(errs) != 1 || !strings.Contains(errs[0], "401") {
		t.Errorf("page errors: %v", errs)
	}

	// Outside a browser: no cookie, no console; a forged or cross-site
	// request gets nothing.
	resp, err := http.Get(s.APIURL + "/console/live")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("/console/live without a session: %d", resp.StatusCode)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = hc.Get(s.ConsoleURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 {
		t.Fatalf("the sign-in link: %d", resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
			t.Errorf("cookie %s: HttpOnly %v, SameSite %v", ck.Name, ck.HttpOnly, ck.SameSite)
		}
	}
	req, _ := http.NewRequest("POST", s.APIURL+"/console/replay/evt_0123456789abcdef01234567", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("a cross-site replay: %d", resp.StatusCode)
	}
	bad := strings.Replace(s.ConsoleURL, "token=", "token=x", 1)
	resp, err = http.Get(bad)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("a forged sign-in link: %d", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("the refused link's page is %q", ct)
	}
}
