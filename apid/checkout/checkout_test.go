package checkout

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/inflowhq/inflow/pkg/testenv/browser"
	"github.com/inflowhq/inflow/pkg/testenv/qrtest"
)

// fake is a Source whose one session the test moves along.
type fake struct {
	mu     sync.Mutex
	v      View
	opened int
}

func (f *fake) Checkout(_ context.Context, id string) (*View, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != f.v.SessionID {
		return nil, ErrNotFound
	}
	v := f.v
	v.Payments = append([]Payment(nil), f.v.Payments...)
	return &v, nil
}

func (f *fake) Opened(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened++
	if f.v.Status == "created" {
		f.v.Status = "pending"
	}
	return nil
}

func (f *fake) set(fn func(v *View)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.v)
}

const sid = "ps_4Qm9xK2vT7nB3wL8cZ1rY6"

func newFake(returnURL string) *fake {
	return &fake{v: View{SessionID: sid, Status: "created", ExpiresAt: time.Now().Add(30 * time.Minute), AmountDue: "15.5", AmountReceived: "0",
		Currency: "USDT", ReturnURL: returnURL, Options: []Option{
			{Currency: "USDT", ChainID: "evm-devnet", ChainName: "Inflow EVM devnet", Protocol: "evm", Address: "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", Amount: "15.5",
				PaymentURI: "ethereum:0x1111111111111111111111111111111111111111@1337/transfer?address=0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359&uint256=15500000"},
			{Currency: "USDT", ChainID: "tron-devnet", ChainName: "Inflow Tron devnet", Protocol: "tron", Address: "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", Amount: "15.5",
				PaymentURI: "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"},
		}}}
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestPageAndStatus: the page's headers keep the capability in its URL
// (no Referer, no cache, no framing, a nonce CSP); opening it moves a
// created session to pending; the public status names nothing of the
// merchant; bad and unknown ids are 404 without asking the source.
func TestPageAndStatus(t *testing.T) {
	f := newFake("https://shop.example/thanks?order=7")
	srv := httptest.NewServer(Handler(f, Options{}))
	defer srv.Close()
	resp, body := get(t, srv.URL+"/checkout/"+sid)
	if resp.StatusCode != 200 || f.opened != 1 {
		t.Fatalf("page: %d, opened %d", resp.StatusCode, f.opened)
	}
	for k, want := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Frame-Options": "DENY"} {
		if resp.Header.Get(k) != want {
			t.Errorf("%s: %q", k, resp.Header.Get(k))
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'nonce-") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	page := string(body)
	for _, want := range []string{`id="status" data-status="pending"`, "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", `href="ethereum:0x1111`, `src="/checkout/` + sid + `/qr/0.png"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, `href="TR7N`) {
		t.Error("Tron's plain address is made a link")
	}
	_, sb := get(t, srv.URL+"/checkout/"+sid+"/status")
	var st map[string]any
	if err := json.Unmarshal(sb, &st); err != nil {
		t.Fatal(err)
	}
	for k := range st {
		switch k {
		case "status", "expiresAt", "amountDue", "amountReceived", "currency", "payments":
		default:
			t.Errorf("the public status has %q", k)
		}
	}
	f.set(func(v *View) { v.Status = "completed" })
	_, sb = get(t, srv.URL+"/checkout/"+sid+"/status")
	var done Status
	json.Unmarshal(sb, &done)
	if done.ReturnURL != "https://shop.example/thanks?order=7&sessionId="+sid {
		t.Errorf("return URL %q", done.ReturnURL)
	}
	for _, bad := range []string{"/checkout/short", "/checkout/" + sid + "x/status", "/checkout/" + strings.Repeat("a", 65), "/checkout/ps_4Qm9xK2vT7nB3wL8c%2F1rY6",
		"/checkout/" + sid + "/qr/9.png", "/checkout/" + sid + "/qr/x.png", "/checkout/" + sid + "/qr/0.gif"} {
		if resp, _ := get(t, srv.URL+bad); resp.StatusCode != 404 {
			t.Errorf("%s: %d", bad, resp.StatusCode)
		}
	}
}

// TestInABrowser drives the page in headless Chromium: it reads the
// address, the amount and the QR image (decoded back to the payment URI),
// sees the status change live as payments come, and follows the redirect
// to returnUrl?sessionId= on completion.
func TestInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<!doctype html><title>Thanks</title><link rel="icon" href="data:,"><h1>Thanks</h1>`)
	}))
	defer shop.Close()
	f := newFake(shop.URL + "/thanks")
	srv := httptest.NewServer(Handler(f, Options{PollInterval: 100 * time.Millisecond}))
	defer srv.Close()
	b := browser.New(t)
	if err := chromedp.Do(b.Ctx, chromedp.Navigate(srv.URL+"/checkout/"+sid)); err != nil {
		t.Fatal(err)
	}
	addr, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.getElementById("addr-0").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	amount, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.querySelector('[data-option="0"] .value').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	src, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.querySelector('[data-option="0"] img.qr').src`))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)`))
	if err != nil || !loaded {
		t.Errorf("the QR images did not load in the browser: %v", err)
	}
	if addr != f.v.Options[0].Address || amount != "15.5" {
		t.Errorf("the page shows %q and %q", addr, amount)
	}
	_, qr := get(t, src)
	if got := qrtest.DecodePNG(t, qr); got != f.v.Options[0].PaymentURI {
		t.Errorf("the QR code says %q, want %q", got, f.v.Options[0].PaymentURI)
	}
	t.Logf("screenshot: %s", b.Screenshot(t, "checkout-pending"))
	waitStatus := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.getElementById("status").dataset.status`))
			if err == nil && got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("data-status %q, want %q (%v)", got, want, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitStatus("pending")
	f.set(func(v *View) {
		v.Status = "initiated"
		v.Payments = []Payment{{Amount: "15.5", Currency: "USDT", ChainID: "evm-devnet", Status: "pending", Confirmations: 1, Required: 3}}
	})
	waitStatus("initiated")
	list, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.getElementById("payments").textContent`))
	if !strings.Contains(list, "1/3 confirmations") {
		t.Errorf("payments shown: %q", list)
	}
	t.Logf("screenshot: %s", b.Screenshot(t, "checkout-initiated"))
	f.set(func(v *View) {
		v.Status, v.AmountReceived = "completed", "15.5"
		v.Payments[0].Status, v.Payments[0].Confirmations = "confirmed", 3
	})
	waitStatus("completed")
	deadline := time.Now().Add(10 * time.Second)
	for {
		loc, _ := chromedp.Run(b.Ctx, chromedp.Location())
		if loc == shop.URL+"/thanks?sessionId="+sid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no redirect to the return URL: at %s", loc)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}
