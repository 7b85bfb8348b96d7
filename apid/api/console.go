package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/merchantapi"
	"github.com/prometheus/common/expfmt"
)

// The console: a web page at /console where a merchant, signed in with an
// API key, watches the engine work, and the operator, signed in with the
// admin key, watches every merchant's. It is rendered here, from ledgerd's
// internal API (and the indexer's and ledgerd's /metrics), and a little
// JavaScript (console.js) swaps in the live part every two seconds. No
// framework, nothing from another origin.
//
// A session is a cookie holding a signed token: who (a merchant's API key
// hash, or the operator) and until when. The key is checked against
// ledgerd on every request, as an API call's would be, so a revoked key
// ends its sessions within the key cache's 30 s. ConsoleLoginURL makes a
// link with such a token (make run's banner prints one for the dev key).

//go:embed console/*
var consoleFiles embed.FS

var consoleTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"short": func(s string) string {
		if len(s) > 18 {
			return s[:10] + "…" + s[len(s)-6:]
		}
		return s
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		d := time.Since(t).Round(time.Second)
		if d < 0 {
			return "in " + (-d).String()
		}
		return d.String() + " ago"
	},
}).ParseFS(consoleFiles, "console/*.html"))

const (
	consoleCookie = "inflow_console"
	// ConsoleSessionTTL is how long a console sign-in lasts.
	ConsoleSessionTTL = 12 * time.Hour
	// ConsoleLinkTTL is how long a ConsoleLoginURL link works.
	ConsoleLinkTTL = 30 * 24 * time.Hour
)

type consoleState struct{ secret []byte }

func (c *consoleState) init(secret []byte) error {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
	} else if len(secret) < 32 {
		return errors.New("apid: the console secret must have at least 32 bytes")
	}
	c.secret = secret
	return nil
}

// consoleSession is who a console token signs in, and until when.
type consoleSession struct {
	admin   bool
	keyHash [32]byte // the merchant's API key (not admin)
	until   time.Time
}

func (c *consoleState) sign(s consoleSession) string {
	payload := make([]byte, 0, 41)
	kind := byte('m')
	if s.admin {
		kind = 'a'
	}
	payload = append(payload, kind)
	payload = binary.BigEndian.AppendUint64(payload, uint64(s.until.Unix()))
	if !s.admin {
		payload = append(payload, s.keyHash[:]...)
	}
	mac := hmac.New(sha256.New, c.secret)
	mac.Write(payload)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(mac.Sum(nil))
}

func (c *consoleState) verify(tok string, now time.Time) (consoleSession, bool) {
	var s consoleSession
	p64, m64, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 200 {
		return s, false
	}
	enc := base64.RawURLEncoding.Strict() // one spelling per token
	payload, err1 := enc.DecodeString(p64)
	sum, err2 := enc.DecodeString(m64)
	if err1 != nil || err2 != nil || len(payload) < 9 {
		return s, false
	}
	mac := hmac.New(sha256.New, c.secret)
	mac.Write(payload)
	if !hmac.Equal(sum, mac.Sum(nil)) {
		return s, false
	}
	s.until = time.Unix(int64(binary.BigEndian.Uint64(payload[1:9])), 0)
	switch {
	case payload[0] == 'a' && len(payload) == 9:
		s.admin = true
	case payload[0] == 'm' && len(payload) == 41:
		copy(s.keyHash[:], payload[9:])
	default:
		return s, false
	}
	return s, now.Before(s.until)
}

// ConsoleLoginURL is a link that opens the console signed in with apiKey,
// for ConsoleLinkTTL; base is apid's public address (http://127.0.0.1:8080).
func (s *Server) ConsoleLoginURL(base, apiKey string) string {
	tok := s.console.sign(consoleSession{keyHash: sha256.Sum256([]byte(apiKey)), until: time.Now().Add(ConsoleLinkTTL)})
	return strings.TrimSuffix(base, "/") + "/console?token=" + tok
}

func (s *Server) consoleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console", s.consolePage)
	mux.HandleFunc("GET /console/live", s.consoleLive)
	mux.HandleFunc("POST /console/login", s.consoleLogin)
	mux.HandleFunc("POST /console/logout", s.consoleLogout)
	mux.HandleFunc("POST /console/replay/{id}", s.consoleReplay)
	mux.HandleFunc("GET /console/console.js", s.consoleAsset("console/console.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /console/console.css", s.consoleAsset("console/console.css", "text/css; charset=utf-8"))
}

// consoleHeaders: nothing from elsewhere, no framing, no referrer to
// another site, nothing cached.
func consoleHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin") // no-referrer would make the browser send Origin: null on the console's own forms
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

func (s *Server) consoleAsset(name, ctype string) http.HandlerFunc {
	b, err := consoleFiles.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		consoleHeaders(w)
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "max-age=300")
		w.Write(b)
	}
}

func (s *Server) setSession(w http.ResponseWriter, r *http.Request, sess consoleSession) {
	http.SetCookie(w, &http.Cookie{Name: consoleCookie, Value: s.console.sign(sess), Path: "/console", Expires: sess.until,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"})
}

// session reads the request's console session and resolves its merchant
// through ledgerd, as an API key is (revoked keys end their sessions).
func (s *Server) session(r *http.Request) (consoleSession, string, error) {
	c, err := r.Cookie(consoleCookie)
	if err != nil {
		return consoleSession{}, "", apierr.New(apierr.Unauthorized, "not signed in")
	}
	sess, ok := s.console.verify(c.Value, time.Now())
	if !ok {
		return sess, "", apierr.New(apierr.Unauthorized, "the console session ended; sign in again")
	}
	if sess.admin {
		if s.cfg.AdminKey == "" {
			return sess, "", apierr.New(apierr.Unauthorized, "this apid has no admin key")
		}
		return sess, "", nil
	}
	merchant, err := s.authenticate(r.Context(), sess.keyHash)
	return sess, merchant, err
}

// sameOrigin: a console POST must come from a console page (its cookie is
// SameSite=Lax, which a cross-site form POST does not carry either).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

type loginPage struct {
	Error string
}

func (s *Server) consolePage(w http.ResponseWriter, r *http.Request) {
	consoleHeaders(w)
	if tok := r.URL.Query().Get("token"); tok != "" {
		sess, ok := s.console.verify(tok, time.Now())
		if !ok {
			s.renderStatus(w, http.StatusUnauthorized, "login.html", loginPage{Error: "That sign-in link has expired or is not valid. Sign in with an API key."})
			return
		}
		// The session lasts a session's time, however long the link does.
		if end := time.Now().Add(ConsoleSessionTTL); sess.until.After(end) {
			sess.until = end
		}
		s.setSession(w, r, sess)
		http.Redirect(w, r, "/console", http.StatusSeeOther) // the token leaves the address bar
		return
	}
	sess, merchant, err := s.session(r)
	if err != nil {
		if apierr.From(err).Code != apierr.Unauthorized {
			s.renderStatus(w, http.StatusServiceUnavailable, "login.html", loginPage{Error: apierr.From(err).Message})
			return
		}
		if _, cerr := r.Cookie(consoleCookie); cerr == nil {
			s.render(w, "login.html", loginPage{Error: "Your session ended (or its key was revoked). Sign in again."})
			return
		}
		s.render(w, "login.html", loginPage{})
		return
	}
	view := s.consoleView(r.Context(), sess, merchant)
	s.render(w, "console.html", view)
}

func (s *Server) consoleLive(w http.ResponseWriter, r *http.Request) {
	consoleHeaders(w)
	sess, merchant, err := s.session(r)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	s.render(w, "live", s.consoleView(r.Context(), sess, merchant))
}

func (s *Server) render(w http.ResponseWriter, name string, data any) {
	s.renderStatus(w, http.StatusOK, name, data)
}

// renderStatus writes a template's page with a status (its headers set
// before the status is).
func (s *Server) renderStatus(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := consoleTemplates.ExecuteTemplate(&b, name, data); err != nil {
		s.log.Error("console template", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

func (s *Server) consoleLogin(w http.ResponseWriter, r *http.Request) {
	consoleHeaders(w)
	if !sameOrigin(r) {
		s.renderStatus(w, http.StatusForbidden, "login.html", loginPage{Error: "Sign in from the console page."})
		return
	}
	ipl := s.ipLimiter(s.clientAddr(r))
	if !ipl.all.Allow() || failuresExhausted(ipl.failures) {
		s.refused.WithLabelValues("auth_failures").Inc()
		s.renderStatus(w, http.StatusTooManyRequests, "login.html", loginPage{Error: "Too many attempts from this address; wait a minute."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	key := strings.TrimSpace(r.PostFormValue("key"))
	fail := func(status int, msg string) {
		s.renderStatus(w, status, "login.html", loginPage{Error: msg})
	}
	switch {
	case key == "":
		fail(http.StatusBadRequest, "Paste an API key (sk_…) or the admin key.")
	case s.cfg.AdminKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.AdminKey)) == 1:
		s.setSession(w, r, consoleSession{admin: true, until: time.Now().Add(ConsoleSessionTTL)})
		s.log.Info("console: operator signed in", "from", s.clientAddr(r))
		http.Redirect(w, r, "/console", http.StatusSeeOther)
	default:
		h := sha256.Sum256([]byte(key))
		if _, err := s.authenticate(r.Context(), h); err != nil {
			if apierr.From(err).Code == apierr.Unauthorized {
				ipl.failures.Allow()
				fail(http.StatusUnauthorized, "That key is not a key of this Inflow.")
				return
			}
			fail(http.StatusServiceUnavailable, apierr.From(err).Message)
			return
		}
		s.setSession(w, r, consoleSession{keyHash: h, until: time.Now().Add(ConsoleSessionTTL)})
		http.Redirect(w, r, "/console", http.StatusSeeOther)
	}
}

func (s *Server) consoleLogout(w http.ResponseWriter, r *http.Request) {
	consoleHeaders(w)
	if !sameOrigin(r) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: consoleCookie, Value: "", Path: "/console", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/console", http.StatusSeeOther)
}

// consoleReplay is the replay button: the API's replayWebhookEvent, for
// the signed-in merchant.
func (s *Server) consoleReplay(w http.ResponseWriter, r *http.Request) {
	consoleHeaders(w)
	if !sameOrigin(r) {
		apierr.Write(w, apierr.New(apierr.Unauthorized, "cross-site request"))
		return
	}
	sess, merchant, err := s.session(r)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	if sess.admin {
		apierr.Write(w, apierr.New(apierr.ValidationFailed, "the operator replays as the merchant, with its API key"))
		return
	}
	id := r.PathValue("id")
	if err := merchantapi.ValidatePathID(merchantapi.IDEvent, id); err != nil {
		apierr.Write(w, err)
		return
	}
	var out json.RawMessage
	status, err := s.internal(r.Context(), http.MethodPost, "/internal/v1/webhooks/events/"+id+"/replay", nil, merchant, false, &out)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(out)
}

// internal calls ledgerd's internal API as the merchant (or, admin, as the
// operator) and decodes a 2xx answer into out; another answer is its
// error.
func (s *Server) internal(ctx context.Context, method, path string, q url.Values, merchant string, admin bool, out any) (int, error) {
	u := s.cfg.LedgerURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set(HeaderToken, s.cfg.InternalToken)
	if merchant != "" {
		req.Header.Set(HeaderMerchant, merchant)
	}
	if admin {
		req.Header.Set(HeaderAdminKey, s.cfg.AdminKey)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, apierr.New(apierr.Unavailable, "the ledger is unreachable; try again")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, apierr.New(apierr.Unavailable, "the ledger's answer was cut short")
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		var e apierr.Error
		if json.Unmarshal(body, &e) == nil && e.Code != "" {
			return resp.StatusCode, &e
		}
		return resp.StatusCode, apierr.New(apierr.Unavailable, "the ledger answered %d", resp.StatusCode)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return resp.StatusCode, apierr.New(apierr.Unavailable, "the ledger answered badly")
		}
	}
	return resp.StatusCode, nil
}

// metrics reads a Prometheus /metrics page: the value of each series, by
// metric name and then by its "chain" label (or "" without one).
func (s *Server) metrics(ctx context.Context, base string) (map[string]map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s/metrics: %d", base, resp.StatusCode)
	}
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]float64{}
	for name, mf := range mfs {
		m := map[string]float64{}
		for _, x := range mf.GetMetric() {
			label := ""
			for _, l := range x.GetLabel() {
				if l.GetName() == "chain" {
					label = l.GetValue()
				}
			}
			switch {
			case x.Gauge != nil:
				m[label] += x.GetGauge().GetValue()
			case x.Counter != nil:
				m[label] += x.GetCounter().GetValue()
			case x.Untyped != nil:
				m[label] += x.GetUntyped().GetValue()
			}
		}
		out[name] = m
	}
	return out, nil
}

// The console's view.

type consoleView struct {
	Admin      bool
	Merchant   string
	Now        time.Time
	Chains     []consoleChain
	Deposits   []consoleDeposit
	Deliveries []consoleDelivery
	Pool       []consolePool
	PerMinute  plot
	Latency    plot
	Merchants  []consoleMerchant
	Ops        []consoleOp
	Problems   []string // what could not be read, said on the page
}

type consoleChain struct {
	ChainID, Name, Protocol string
	Tip, Finalized          uint64
	NodeHead, Lag           *uint64 // from the indexer's /metrics, when known
	Halted                  bool
	HaltReason              string
}

type consoleDeposit struct {
	DepositID        string
	DepositReference *string
	Amount, Currency string
	ChainID, Status  string
	Confirmations    uint64
	DetectedAt       time.Time
	ConfirmedAt      *time.Time
	Replaces         string
	AfterUnbind      bool
}

type consoleDelivery struct {
	ID, EndpointID, EventID, EventType, Status string
	Attempts                                   int
	LastError                                  string
	LastStatus                                 int
	NextAttemptAt                              *time.Time
	CreatedAt                                  time.Time
}

type consolePool struct {
	Protocol                   string
	Available, Bound, Cooldown int
}

type consoleMerchant struct {
	MerchantID, Name string
	Live             bool
	CreatedAt        time.Time
}

type consoleOp struct {
	Name, Value, Note string
	Bad               bool
}

// plot is a small bar chart, drawn as SVG by the template.
type plot struct {
	Title, Unit string
	Bars        []bar
	Max         float64
	Summary     string
	W, H        int
}

type bar struct {
	X, Y, W, H float64
	Label      string
}

func newPlot(title, unit string, values []float64, labels []string, summary string) plot {
	p := plot{Title: title, Unit: unit, Summary: summary, W: 300, H: 60}
	for _, v := range values {
		p.Max = max(p.Max, v)
	}
	if len(values) == 0 {
		return p
	}
	w := float64(p.W) / float64(len(values))
	for i, v := range values {
		h := 0.0
		if p.Max > 0 {
			h = v / p.Max * float64(p.H-2)
		}
		if v > 0 {
			h = max(h, 1)
		}
		p.Bars = append(p.Bars, bar{X: float64(i)*w + 0.5, Y: float64(p.H) - h, W: max(w-1, 1), H: h, Label: labels[i]})
	}
	return p
}

func (s *Server) consoleView(ctx context.Context, sess consoleSession, merchant string) consoleView {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v := consoleView{Admin: sess.admin, Merchant: merchant, Now: time.Now()}
	problem := func(what string, err error) {
		v.Problems = append(v.Problems, what+": "+err.Error())
	}
	var indexer map[string]map[string]float64
	if s.cfg.IndexerOps != "" {
		var err error
		if indexer, err = s.metrics(ctx, s.cfg.IndexerOps); err != nil {
			problem("the indexer's metrics", err)
		}
	}
	withNode := func(c *consoleChain) {
		if h, ok := indexer["inflow_indexer_follow_head_block"][c.ChainID]; ok {
			head := uint64(h)
			c.NodeHead = &head
		}
		if l, ok := indexer["inflow_indexer_follow_head_lag_blocks"][c.ChainID]; ok {
			lag := uint64(l)
			c.Lag = &lag
		}
	}
	if sess.admin {
		s.adminView(ctx, &v, withNode, problem)
		return v
	}

	var chains struct {
		Data []struct {
			ChainID, Name, Protocol string
			Indexing                struct {
				Tip, Finalized uint64
				Halted         bool
				HaltReason     string
			}
		}
	}
	if _, err := s.internal(ctx, http.MethodGet, "/internal/v1/chains", nil, merchant, false, &chains); err != nil {
		problem("chains", err)
	}
	var protocols []string
	for _, c := range chains.Data {
		cc := consoleChain{ChainID: c.ChainID, Name: c.Name, Protocol: c.Protocol, Tip: c.Indexing.Tip, Finalized: c.Indexing.Finalized,
			Halted: c.Indexing.Halted, HaltReason: c.Indexing.HaltReason}
		withNode(&cc)
		v.Chains = append(v.Chains, cc)
		if !slices.Contains(protocols, c.Protocol) {
			protocols = append(protocols, c.Protocol)
		}
	}

	var deps struct{ Data []consoleDeposit } // the API's deposit objects, the fields shown
	q := url.Values{"limit": {"100"}, "sortBy": {"detectedAt"}, "sortOrder": {"desc"}}
	if _, err := s.internal(ctx, http.MethodGet, "/internal/v1/deposits", q, merchant, false, &deps); err != nil {
		problem("deposits", err)
	}
	perMinute := make([]float64, 30)
	minuteLabels := make([]string, 30)
	start := v.Now.Truncate(time.Minute).Add(-29 * time.Minute)
	for i := range minuteLabels {
		minuteLabels[i] = start.Add(time.Duration(i) * time.Minute).UTC().Format("15:04")
	}
	var lat []float64
	var latLabels []string
	for _, d := range deps.Data {
		if len(v.Deposits) < 25 {
			v.Deposits = append(v.Deposits, d)
		}
		if i := int(d.DetectedAt.Sub(start) / time.Minute); i >= 0 && i < len(perMinute) {
			perMinute[i]++
		}
		if d.ConfirmedAt != nil && len(lat) < 30 {
			lat = append(lat, d.ConfirmedAt.Sub(d.DetectedAt).Seconds())
			latLabels = append(latLabels, d.ChainID+" "+d.DepositID)
		}
	}
	slices.Reverse(lat)
	slices.Reverse(latLabels)
	total := 0.0
	for _, n := range perMinute {
		total += n
	}
	v.PerMinute = newPlot("Deposits per minute", "deposits", perMinute, minuteLabels, fmt.Sprintf("%.0f in the last 30 minutes (of the newest 100)", total))
	latSummary := "no confirmed deposit yet"
	if len(lat) > 0 {
		sorted := slices.Clone(lat)
		sort.Float64s(sorted)
		latSummary = fmt.Sprintf("median %.1f s over the last %d confirmed", sorted[len(sorted)/2], len(sorted))
	}
	v.Latency = newPlot("Detection to confirmed", "s", lat, latLabels, latSummary)

	var eps struct{ Data []struct{ ID string } }
	if _, err := s.internal(ctx, http.MethodGet, "/internal/v1/webhooks/endpoints", nil, merchant, false, &eps); err != nil {
		problem("webhook endpoints", err)
	}
	for _, ep := range eps.Data {
		var ds struct {
			Data []struct {
				ID, EndpointID, EventID, EventType, Status string
				CreatedAt                                  time.Time
				NextAttemptAt                              *time.Time
				Attempts                                   []struct {
					StatusCode int
					Error      string
				}
			}
		}
		if _, err := s.internal(ctx, http.MethodGet, "/internal/v1/webhooks/endpoints/"+url.PathEscape(ep.ID)+"/deliveries", url.Values{"limit": {"10"}}, merchant, false, &ds); err != nil {
			problem("deliveries of "+ep.ID, err)
			continue
		}
		for _, d := range ds.Data {
			cd := consoleDelivery{ID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID, EventType: d.EventType, Status: d.Status,
				Attempts: len(d.Attempts), NextAttemptAt: d.NextAttemptAt, CreatedAt: d.CreatedAt}
			if n := len(d.Attempts); n > 0 {
				cd.LastError, cd.LastStatus = d.Attempts[n-1].Error, d.Attempts[n-1].StatusCode
			}
			v.Deliveries = append(v.Deliveries, cd)
		}
	}
	sort.Slice(v.Deliveries, func(i, j int) bool { return v.Deliveries[i].CreatedAt.After(v.Deliveries[j].CreatedAt) })
	if len(v.Deliveries) > 15 {
		v.Deliveries = v.Deliveries[:15]
	}

	sort.Strings(protocols)
	for _, p := range protocols {
		row := consolePool{Protocol: p}
		for _, st := range []struct {
			status string
			n      *int
		}{{"available", &row.Available}, {"bound", &row.Bound}, {"cooldown", &row.Cooldown}} {
			var page struct{ Pagination struct{ Total int } }
			if _, err := s.internal(ctx, http.MethodGet, "/internal/v1/addresses", url.Values{"protocol": {p}, "status": {st.status}, "limit": {"1"}}, merchant, false, &page); err != nil {
				problem("the "+p+" pool", err)
				break
			}
			*st.n = page.Pagination.Total
		}
		v.Pool = append(v.Pool, row)
	}
	return v
}

// adminView is the operator's: every merchant, every chain's state (halted
// ones first), and ledgerd's queues.
func (s *Server) adminView(ctx context.Context, v *consoleView, withNode func(*consoleChain), problem func(string, error)) {
	var ms struct {
		Data []consoleMerchant
	}
	if _, err := s.internal(ctx, http.MethodGet, "/internal/v1/admin/merchants", nil, "", true, &ms); err != nil {
		problem("merchants", err)
	}
	v.Merchants = ms.Data
	var states map[string]struct {
		Tip, Finalized uint64
		Halted         bool
		HaltReason     string
	}
	if _, err := s.internal(ctx, http.MethodGet, "/internal/v1/chain-states", nil, "", true, &states); err != nil {
		problem("chain states", err)
	}
	for id, st := range states {
		c := consoleChain{ChainID: id, Tip: st.Tip, Finalized: st.Finalized, Halted: st.Halted, HaltReason: st.HaltReason}
		if s.cfg.Assets != nil {
			if spec, err := s.cfg.Assets.Chain(chain.ID(id)); err == nil {
				c.Name, c.Protocol = spec.Name, spec.Family.String()
			}
		}
		withNode(&c)
		v.Chains = append(v.Chains, c)
	}
	sort.Slice(v.Chains, func(i, j int) bool {
		if v.Chains[i].Halted != v.Chains[j].Halted {
			return v.Chains[i].Halted
		}
		return v.Chains[i].ChainID < v.Chains[j].ChainID
	})
	led, err := s.metrics(ctx, s.cfg.LedgerURL)
	if err != nil {
		problem("ledgerd's metrics", err)
		return
	}
	val := func(name string) (float64, bool) {
		m, ok := led[name]
		if !ok {
			return 0, false
		}
		t := 0.0
		for _, x := range m {
			t += x
		}
		return t, true
	}
	add := func(name, metric, note string, bad func(float64) bool) {
		x, ok := val(metric)
		if !ok {
			v.Ops = append(v.Ops, consoleOp{Name: name, Value: "–", Note: note + " (not exported)"})
			return
		}
		v.Ops = append(v.Ops, consoleOp{Name: name, Value: fmt.Sprintf("%.0f", x), Note: note, Bad: bad(x)})
	}
	add("Outbox depth", "inflow_ledgerd_outbox_depth", "rows waiting to go to Kafka", func(x float64) bool { return x > 1000 })
	add("Webhook queue", "inflow_ledgerd_webhook_queue_depth", "deliveries waiting for an attempt", func(x float64) bool { return x > 1000 })
	add("Webhook failures", "inflow_ledgerd_webhook_delivery_failures_total", "failed attempts since ledgerd started", func(float64) bool { return false })
	add("Halted chains", "inflow_ledgerd_ledger_chain_halted", "chains whose records the ledger holds", func(x float64) bool { return x > 0 })
	if _, ok := led["inflow_history_sink_rows_total"]; ok {
		add("History sink rows", "inflow_history_sink_rows_total", "rows written to ClickHouse", func(float64) bool { return false })
	} else {
		v.Ops = append(v.Ops, consoleOp{Name: "History sink", Value: "embedded", Note: "history is ledgerd's own store: nothing lags"})
	}
}
