// Package checkout is the hosted checkout page of a payment session: a
// small server-rendered page a customer opens on a phone, with no
// framework, and the public JSON status it follows live.
//
//	GET /checkout/{sessionId}                  the page (opening it moves a created session to pending)
//	GET /checkout/{sessionId}/status           {status, expiresAt, amountDue, amountReceived, payments, returnUrl}
//	GET /checkout/{sessionId}/qr/{option}.png  the QR code of an option's payment URI
//
// No API key guards them: the session id (128 random bits or more) is the
// capability. So the pages carry nothing of the merchant (no merchant id,
// customer, metadata or notification URL), send no Referer (the id is in
// the URL), are never cached, and are never framed. The sessions
// themselves come from a Source (ledgerd's, through apid); the page only
// shows what the Source says.
package checkout

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/merchantapi"
	"github.com/inflowhq/inflow/pkg/payuri"
)

// ErrNotFound is a Source's answer for a session it does not have.
var ErrNotFound = errors.New("checkout: no such session")

// View, Option and Payment are the session as the page shows it
// (merchantapi's, which ledgerd's internal API serves).
type (
	View    = merchantapi.CheckoutView
	Option  = merchantapi.CheckoutOption
	Payment = merchantapi.CheckoutPayment
)

// Source gives the sessions.
type Source interface {
	// Checkout returns the session's view, or ErrNotFound.
	Checkout(ctx context.Context, sessionID string) (*View, error)
	// Opened records that the page was opened (created → pending).
	Opened(ctx context.Context, sessionID string) error
}

// Options configure the handler.
type Options struct {
	Logger *slog.Logger
	// PollInterval is how often the page asks for its status (default 2s).
	PollInterval time.Duration
}

// ValidID says whether s can be a session id: 16 to 64 characters of
// [A-Za-z0-9_-]. Anything else is 404 without asking the Source.
func ValidID(s string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Handler serves the page, its status and its QR codes.
func Handler(src Source, o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	h := &handler{src: src, o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkout/{id}", h.page)
	mux.HandleFunc("GET /checkout/{id}/status", h.status)
	mux.HandleFunc("GET /checkout/{id}/qr/{file}", h.qr)
	return mux
}

type handler struct {
	src Source
	o   Options
}

// secure sets the headers every answer has.
func secure(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
}

func (h *handler) view(w http.ResponseWriter, r *http.Request) (*View, bool) {
	secure(w)
	id := r.PathValue("id")
	if !ValidID(id) {
		http.NotFound(w, r)
		return nil, false
	}
	v, err := h.src.Checkout(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		http.NotFound(w, r)
		return nil, false
	case err != nil:
		h.o.Logger.Warn("checkout: session unavailable", "err", err)
		http.Error(w, "the payment session is unavailable; try again in a moment", http.StatusServiceUnavailable)
		return nil, false
	}
	return v, true
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	v, ok := h.view(w, r)
	if !ok {
		return
	}
	if v.Status == "created" {
		if err := h.src.Opened(r.Context(), v.SessionID); err != nil {
			h.o.Logger.Warn("checkout: record the page opened", "session", v.SessionID, "err", err)
		} else {
			v.Status = "pending"
		}
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	n := base64.RawStdEncoding.EncodeToString(nonce)
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src 'self' data:; style-src 'nonce-"+n+"'; script-src 'nonce-"+n+"'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, pageData{View: v, Nonce: n, Poll: h.o.PollInterval.Milliseconds(), Expires: v.ExpiresAt.UnixMilli()}); err != nil {
		h.o.Logger.Error("checkout: render", "err", err)
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	w.Write(buf.Bytes())
}

// Status is the public status: what the page needs, nothing of the
// merchant.
type Status struct {
	Status         string    `json:"status"`
	ExpiresAt      time.Time `json:"expiresAt"`
	AmountDue      string    `json:"amountDue"`
	AmountReceived string    `json:"amountReceived"`
	Currency       string    `json:"currency"`
	Payments       []Payment `json:"payments"`
	ReturnURL      string    `json:"returnUrl,omitempty"` // once completed
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	v, ok := h.view(w, r)
	if !ok {
		return
	}
	st := Status{Status: v.Status, ExpiresAt: v.ExpiresAt.UTC(), AmountDue: v.AmountDue, AmountReceived: v.AmountReceived, Currency: v.Currency,
		Payments: v.Payments}
	if st.Payments == nil {
		st.Payments = []Payment{}
	}
	if v.Status == "completed" {
		st.ReturnURL = ReturnTo(v.ReturnURL, v.SessionID)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
}

// ReturnTo is returnUrl with sessionId added to its query.
func ReturnTo(returnURL, sessionID string) string {
	u, err := url.Parse(returnURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	q := u.Query()
	q.Set("sessionId", sessionID)
	u.RawQuery = q.Encode()
	return u.String()
}

func (h *handler) qr(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	i, err := strconv.Atoi(strings.TrimSuffix(file, ".png"))
	if !strings.HasSuffix(file, ".png") || err != nil || i < 0 || i > 64 {
		secure(w)
		http.NotFound(w, r)
		return
	}
	v, ok := h.view(w, r)
	if !ok {
		return
	}
	if i >= len(v.Options) {
		http.NotFound(w, r)
		return
	}
	png, err := drawQR(v.Options[i].PaymentURI)
	if err != nil {
		http.Error(w, "QR code unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}

// A QR code costs about 3 ms of CPU and 1 MB of garbage to draw: drawn
// codes are kept (by their text; a code is a few kB), and at most one
// drawing per core runs at once, so requests for codes cannot crowd out
// the API.
var (
	qrCache, _ = lru.New[string, []byte](qrCacheSize)
	qrDrawing  = make(chan struct{}, runtime.GOMAXPROCS(0))
)

const qrCacheSize = 2048

func drawQR(text string) ([]byte, error) {
	if png, ok := qrCache.Get(text); ok {
		return png, nil
	}
	qrDrawing <- struct{}{}
	defer func() { <-qrDrawing }()
	png, err := payuri.QR(text, 320)
	if err == nil {
		qrCache.Add(text, png)
	}
	return png, err
}

// QRPath is the path of an option's QR code.
func QRPath(sessionID string, option int) string {
	return "/checkout/" + url.PathEscape(sessionID) + "/qr/" + strconv.Itoa(option) + ".png"
}

type pageData struct {
	*View
	Nonce   string
	Poll    int64
	Expires int64
}

// walletLink is an option's payment URI as a link, where it has one of
// the wallet schemes pkg/payuri writes (Tron's plain address has none, and
// is no link). html/template would refuse these schemes otherwise.
func walletLink(uri string) template.URL {
	for _, scheme := range []string{"bitcoin:", "ethereum:", "solana:"} {
		if strings.HasPrefix(uri, scheme) && !strings.ContainsAny(uri, "\"<>`\n\r ") {
			return template.URL(uri)
		}
	}
	return ""
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"qr":         QRPath,
	"walletLink": walletLink,
	"statusText": func(s string) string {
		switch s {
		case "created", "pending":
			return "Waiting for your payment"
		case "initiated":
			return "Payment seen, waiting for confirmations"
		case "attempted":
			return "Part of the amount received: please pay the rest"
		case "completed":
			return "Paid. Thank you!"
		case "expired":
			return "This payment session has expired"
		}
		return s
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,">
<title>Payment</title>
<style nonce="{{.Nonce}}">
body{font-family:system-ui,-apple-system,sans-serif;margin:0;background:#f5f6f8;color:#1c1e21}
main{max-width:28rem;margin:0 auto;padding:1rem}
h1{font-size:1.25rem;margin:.5rem 0}
#status{padding:.75rem 1rem;border-radius:.5rem;background:#fff;border-left:.35rem solid #f0ad4e;margin:.75rem 0}
#status[data-status=completed]{border-color:#28a745}#status[data-status=expired]{border-color:#dc3545}
#status[data-status=initiated],#status[data-status=attempted]{border-color:#17a2b8}
.opt{background:#fff;border-radius:.5rem;padding:1rem;margin:.75rem 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.opt h2{font-size:1rem;margin:0 0 .5rem}.amount{font-size:1.5rem;font-weight:600;margin:.25rem 0}
.addr{font-family:ui-monospace,monospace;word-break:break-all;background:#f0f1f3;padding:.5rem;border-radius:.25rem;font-size:.9rem}
button{margin:.5rem .5rem 0 0;padding:.45rem .8rem;border:1px solid #ccd;border-radius:.3rem;background:#fff;font-size:.9rem}
.qr{display:block;margin:.75rem auto;width:200px;height:200px}
.muted{color:#666;font-size:.85rem}#payments li{margin:.25rem 0}
</style></head><body><main>
<h1>Pay {{if .AmountDue}}{{.AmountDue}} {{.Currency}}{{else}}any amount{{end}}</h1>
<div id="status" data-status="{{.Status}}">{{statusText .Status}}</div>
<p class="muted">Time left: <span id="countdown" data-expires="{{.Expires}}">–</span>
{{if .AmountDue}} · received <span id="received">{{if .AmountReceived}}{{.AmountReceived}}{{else}}0{{end}}</span> {{.Currency}}{{end}}</p>
{{range $i, $o := .Options}}<section class="opt" data-option="{{$i}}">
<h2>{{$o.Currency}} on {{$o.ChainName}}</h2>
{{if $o.Amount}}<div class="amount"><span class="value">{{$o.Amount}}</span> {{$o.Currency}}</div>{{else}}<div class="amount">Any amount of {{$o.Currency}}</div>{{end}}
<div class="addr" id="addr-{{$i}}">{{$o.Address}}</div>
<button type="button" data-copy="addr-{{$i}}">Copy address</button>{{if $o.Amount}}<button type="button" data-copy-text="{{$o.Amount}}">Copy amount</button>{{end}}
{{with walletLink $o.PaymentURI}}<a class="uri" href="{{.}}">Open in wallet</a>{{end}}
<img class="qr" src="{{qr $.SessionID $i}}" alt="QR code of the payment" width="200" height="200">
</section>{{end}}
<h2 class="muted">Payments</h2><ul id="payments">{{range .Payments}}<li>{{.Amount}} {{.Currency}}: {{.Status}}, {{.Confirmations}}/{{.Required}} confirmations</li>{{else}}<li class="muted">None yet</li>{{end}}</ul>
</main>
<script nonce="{{.Nonce}}">
(function(){
var st=document.getElementById("status"),cd=document.getElementById("countdown"),rc=document.getElementById("received"),pl=document.getElementById("payments");
var exp=+cd.dataset.expires,done=false,texts={created:"Waiting for your payment",pending:"Waiting for your payment",initiated:"Payment seen, waiting for confirmations",attempted:"Part of the amount received: please pay the rest",completed:"Paid. Thank you!",expired:"This payment session has expired"};
function tick(){var s=Math.max(0,Math.floor((exp-Date.now())/1000));cd.textContent=Math.floor(s/60)+":"+("0"+s%60).slice(-2);}
tick();setInterval(tick,1000);
document.querySelectorAll("[data-copy],[data-copy-text]").forEach(function(b){b.addEventListener("click",function(){
var t=b.dataset.copyText||document.getElementById(b.dataset.copy).textContent;if(navigator.clipboard){navigator.clipboard.writeText(t);}b.textContent="Copied";});});
function show(s){st.dataset.status=s.status;st.textContent=texts[s.status]||s.status;if(rc){rc.textContent=s.amountReceived||"0";}
pl.textContent="";if(!s.payments.length){var e=document.createElement("li");e.className="muted";e.textContent="None yet";pl.appendChild(e);}
s.payments.forEach(function(p){var li=document.createElement("li");li.textContent=p.amount+" "+p.currency+": "+p.status+", "+p.confirmations+"/"+p.requiredConfirmations+" confirmations";pl.appendChild(li);});
if(s.status==="completed"&&s.returnUrl&&!done){done=true;setTimeout(function(){location.assign(s.returnUrl);},1500);}}
function poll(){if(done)return;fetch(location.pathname+"/status",{cache:"no-store"}).then(function(r){return r.ok?r.json():null;}).then(function(s){if(s)show(s);}).catch(function(){}).then(function(){
if(st.dataset.status!=="expired"&&!done)setTimeout(poll,{{.Poll}});});}
setTimeout(poll,{{.Poll}});
})();
</script></body></html>
`))

// AddressQR serves GET /qr/{chainId}/{address}.png: the QR code of an
// address of one of the chains (the Channel API's qrCodeURL). Only an
// address that parses for its chain is drawn: the endpoint draws nothing
// else.
func AddressQR(table *assets.Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /qr/{chain}/{file}", func(w http.ResponseWriter, r *http.Request) {
		secure(w)
		spec, err := table.Chain(chain.ID(r.PathValue("chain")))
		file := r.PathValue("file")
		if err != nil || !strings.HasSuffix(file, ".png") {
			http.NotFound(w, r)
			return
		}
		text := strings.TrimSuffix(file, ".png")
		var a chain.Address
		if spec.Family == chain.FamilyBitcoin {
			var net chain.Network
			if a, net, err = chain.ParseBitcoinAddress(text); err == nil && net != spec.AddressNet() {
				err = errors.New("another network's address")
			}
		} else {
			a, err = chain.ParseAddress(spec.Family, text)
		}
		if err != nil {
			http.NotFound(w, r)
			return
		}
		png, err := drawQR(spec.AddressText(a))
		if err != nil {
			http.Error(w, "QR code unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(png)
	})
	return mux
}
