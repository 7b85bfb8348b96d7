// Package api is apid: the merchant REST API. It is stateless and thin: it
// authenticates the caller (X-API-Key or Authorization: Bearer), applies a
// rate limit per client address and per key, rejects bad input with a
// catalogued error, and forwards the request to ledgerd's internal API with
// the merchant's id. It serves the OpenAPI document at /openapi.json and a
// docs page at /docs. It never imports Pebble or a chain SDK; run as many
// replicas as load needs.
//
// Every route comes from the table in pkg/merchantapi. A request is
// forwarded to the internal path its route declares, built from the route's
// template with each path parameter validated and escaped as one segment,
// never by pasting the request's path; apid never follows a redirect from
// ledgerd. Operator endpoints (/metrics, /debug/pprof) are not on this
// handler: they are served on the operator address (Ops).
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/inflowhq/inflow/pkg/analytics"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/merchantapi"
	"github.com/inflowhq/inflow/pkg/ops"
)

// Headers between apid and ledgerd.
const (
	HeaderMerchant = "X-Inflow-Merchant"
	HeaderKeyHash  = "X-Inflow-Key-Hash"
	HeaderToken    = "X-Inflow-Internal-Token"
	HeaderAdminKey = "X-Inflow-Admin-Key"
)

// Config configures apid.
type Config struct {
	// LedgerURL is ledgerd's internal API, e.g. http://127.0.0.1:9201.
	LedgerURL string
	// InternalToken is sent to ledgerd.
	InternalToken string
	// AdminKey, when set, is checked here before an admin request is
	// forwarded; ledgerd checks its own admin key either way.
	AdminKey string
	// RateLimit is requests per second per API key (default 50), with
	// Burst (default 100).
	RateLimit float64
	Burst     int
	// IPRateLimit is requests per second per client address (an IPv6
	// client counts by its /64), checked before authentication (default
	// 200, burst IPBurst, default 400).
	IPRateLimit float64
	IPBurst     int
	// AuthFailureRate is how many failed authentications (unknown API key,
	// wrong admin key) a client address may make per second, with a burst
	// of AuthFailureBurst (defaults 1 and 20). Past it, its requests are
	// refused with 429 before any key is looked up.
	AuthFailureRate  float64
	AuthFailureBurst int
	// TrustedProxies are the addresses of reverse proxies in front of apid:
	// for a request from one of them, the client is the last address in
	// X-Forwarded-For that is not a trusted proxy.
	TrustedProxies []netip.Prefix
	// KeyCache and UnknownKeyCache are how many known and unknown API keys
	// apid remembers (defaults 100,000 and 20,000), each in its own LRU.
	KeyCache, UnknownKeyCache int
	// AllowLoopbackWebhooks accepts http://127.0.0.1 webhook URLs (dev mode).
	AllowLoopbackWebhooks bool
	Assets                *assets.Config
	// History answers the analytics and export endpoints (ClickHouse); nil
	// forwards them to ledgerd, which answers from its own store.
	History    analytics.Store
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// ConsoleSecret signs the console's sign-in cookies and login links
	// (at least 32 bytes); empty makes a random one, so that sessions end
	// when apid restarts and each replica signs its own.
	ConsoleSecret []byte
	// IndexerOps is the indexer's operator address (http://127.0.0.1:9101):
	// the console reads each chain's node head and lag from its /metrics.
	// Empty: the console shows the ledger's view alone.
	IndexerOps string
}

// Cache sizes: bounded, so that a flood of keys or addresses costs a fixed
// amount of memory. Unknown keys have a cache of their own, so that a flood
// of invalid keys evicts only other invalid keys.
const (
	knownKeys     = 100_000
	unknownKeys   = 20_000
	limitedKeys   = 100_000
	limitedIPs    = 100_000
	knownKeyTTL   = 30 * time.Second
	unknownKeyTTL = 10 * time.Second
	// StreamTimeout is how long a streamed answer (an export) may take.
	StreamTimeout = analytics.ExportTimeout
)

// Server is apid.
type Server struct {
	cfg    Config
	client *http.Client
	stream *http.Client // for exports: no overall timeout, the request's context ends it
	log    *slog.Logger

	known    *lru.Cache[[32]byte, authEntry]
	unknown  *lru.Cache[[32]byte, time.Time]
	keyLimit *lru.Cache[[32]byte, *rate.Limiter]
	ipLimit  *lru.Cache[netip.Addr, *ipLimiter]

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	refused  *prometheus.CounterVec

	console consoleState
}

type authEntry struct {
	merchant string
	until    time.Time
}

type ipLimiter struct {
	all, failures *rate.Limiter
}

// New makes apid.
func New(cfg Config) (*Server, error) {
	if cfg.LedgerURL == "" {
		return nil, errors.New("apid: ledger URL is empty")
	}
	if cfg.InternalToken == "" {
		return nil, errors.New("apid: the internal token is empty (--internal-token-file or $INFLOW_INTERNAL_TOKEN)")
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.RateLimit, 50)
	defInt(&cfg.Burst, 100)
	def(&cfg.IPRateLimit, 200)
	defInt(&cfg.IPBurst, 400)
	def(&cfg.AuthFailureRate, 1)
	defInt(&cfg.AuthFailureBurst, 20)
	defInt(&cfg.KeyCache, knownKeys)
	defInt(&cfg.UnknownKeyCache, unknownKeys)
	if cfg.Assets == nil {
		cfg.Assets = assets.Default()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s := &Server{cfg: cfg, log: cfg.Logger,
		client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: noRedirect},
		stream: &http.Client{CheckRedirect: noRedirect}}
	var err error
	if s.known, err = lru.New[[32]byte, authEntry](cfg.KeyCache); err != nil {
		return nil, fmt.Errorf("apid: key cache: %w", err)
	}
	if s.unknown, err = lru.New[[32]byte, time.Time](cfg.UnknownKeyCache); err != nil {
		return nil, fmt.Errorf("apid: unknown key cache: %w", err)
	}
	s.keyLimit, _ = lru.New[[32]byte, *rate.Limiter](limitedKeys)
	s.ipLimit, _ = lru.New[netip.Addr, *ipLimiter](limitedIPs)
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inflow_apid_http_requests_total", Help: "API requests by route and status."}, []string{"route", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "inflow_apid_http_request_seconds", Help: "API latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"route"})
	s.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inflow_apid_http_refused_total",
		Help: "Requests refused before authentication, by reason (ip_rate, auth_failures)."}, []string{"reason"})
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{s.requests, s.latency, s.refused} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	if err := s.console.init(cfg.ConsoleSecret); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler serves the API: every route of the table, /openapi.json, /docs,
// and JSON errors for everything else.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for i := range merchantapi.Routes {
		rt := &merchantapi.Routes[i]
		mux.Handle(rt.Pattern(), s.route(rt))
	}
	mux.HandleFunc("GET /openapi.json", s.openapi)
	mux.HandleFunc("GET /docs", s.docs)
	mux.HandleFunc("GET /docs/reorgs", s.reorgs)
	s.consoleRoutes(mux)
	// A declared path with a method it does not take is 405 with the
	// methods it does; anything else under /api/ and /admin/ is 404. Both
	// are JSON. (The mux alone would answer these catch-alls' 404 first.)
	paths := http.NewServeMux()
	allow := map[string][]string{}
	for i := range merchantapi.Routes {
		rt := &merchantapi.Routes[i]
		if allow[rt.Path] == nil {
			paths.HandleFunc(rt.Path, func(http.ResponseWriter, *http.Request) {})
		}
		allow[rt.Path] = append(allow[rt.Path], rt.Method)
	}
	notFound := func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := paths.Handler(r); pattern != "" {
			methods := allow[pattern]
			if slices.Contains(methods, http.MethodGet) {
				methods = append(methods, http.MethodHead)
			}
			w.Header().Set("Allow", strings.Join(methods, ", "))
			apierr.Write(w, apierr.New(apierr.MethodNotAllowed, "%s does not take %s (it takes %s)", pattern, r.Method, strings.Join(methods, ", ")))
			return
		}
		apierr.Write(w, apierr.New(apierr.NotFound, "no route %s %s", r.Method, r.URL.EscapedPath()))
	}
	mux.HandleFunc("/api/", notFound)
	mux.HandleFunc("/admin/", notFound)
	return s.recover(canonicalPaths(mux))
}

// canonicalPaths answers a path with "." or ".." segments, or empty ones,
// with 400 instead of the mux's redirect to the cleaned path: a client that
// sent one is not asking for the path it would be sent to.
func canonicalPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		if c := path.Clean(p); c != p && c+"/" != p {
			apierr.Write(w, apierr.New(apierr.InvalidParameter, "the path %q is not canonical (it has ., .. or empty segments)", p))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("apid panic", "path", r.URL.Path, "panic", v)
				apierr.Write(w, apierr.New(apierr.Internal, "internal error"))
			}
		}()
		// A method the mux knows the path for but not the method answers
		// 405; give it the catalogue's body.
		next.ServeHTTP(&methodFixer{ResponseWriter: w}, r)
	})
}

// methodFixer turns the mux's plain-text 405 into a catalogued error.
type methodFixer struct {
	http.ResponseWriter
	swallow bool
}

func (m *methodFixer) WriteHeader(code int) {
	if code == http.StatusMethodNotAllowed && m.Header().Get("Content-Type") != "application/json" {
		m.swallow = true
		m.Header().Set("Content-Type", "application/json")
		m.Header().Del("X-Content-Type-Options")
		m.ResponseWriter.WriteHeader(code)
		json.NewEncoder(m.ResponseWriter).Encode(apierr.New(apierr.MethodNotAllowed, "method not allowed"))
		return
	}
	m.ResponseWriter.WriteHeader(code)
}

func (m *methodFixer) Write(b []byte) (int, error) {
	if m.swallow {
		return len(b), nil
	}
	return m.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (m *methodFixer) Unwrap() http.ResponseWriter { return m.ResponseWriter }

// apiKey reads the caller's key.
func apiKey(r *http.Request) string {
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// clientAddr is the address a request is limited by: the peer, or behind a
// trusted proxy the last untrusted address of X-Forwarded-For. An IPv6
// client counts by its /64, which one host can hold whole.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	a := ap.Addr().Unmap()
	if err != nil {
		a = netip.IPv6Unspecified()
	}
	if s.trusted(a) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			a = h.Unmap()
			if !s.trusted(a) {
				break
			}
		}
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return a
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s *Server) ipLimiter(a netip.Addr) *ipLimiter {
	if l, ok := s.ipLimit.Get(a); ok {
		return l
	}
	l := &ipLimiter{all: rate.NewLimiter(rate.Limit(s.cfg.IPRateLimit), s.cfg.IPBurst),
		failures: rate.NewLimiter(rate.Limit(s.cfg.AuthFailureRate), s.cfg.AuthFailureBurst)}
	if prev, ok, _ := s.ipLimit.PeekOrAdd(a, l); ok {
		return prev
	}
	return l
}

// limited writes a 429 for a limiter that has no token now.
func limited(w http.ResponseWriter, l *rate.Limiter, what string) bool {
	res := l.Reserve()
	if res.OK() && res.Delay() == 0 {
		return false
	}
	wait := res.Delay()
	res.Cancel()
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(wait.Seconds(), 1)))))
	apierr.Write(w, apierr.New(apierr.RateLimited, "%s", what))
	return true
}

// failuresExhausted reports, without taking a token, whether a client has
// used up its failed authentications.
func failuresExhausted(l *rate.Limiter) bool { return l.Tokens() < 1 }

// route serves one route of the table.
func (s *Server) route(rt *merchantapi.Route) http.Handler {
	name := rt.Pattern()
	return s.public(func(*http.Request) string { return name }, http.HandlerFunc(func(rec http.ResponseWriter, r *http.Request) {
		ipl := s.ipLimiter(s.clientAddr(r))
		if failuresExhausted(ipl.failures) {
			s.refused.WithLabelValues("auth_failures").Inc()
			limited(rec, ipl.failures, "too many failed authentications from this address; wait before trying again")
			return
		}
		var merchant, adminKey string
		switch rt.Auth {
		case merchantapi.AuthAdmin:
			adminKey = r.Header.Get("X-Admin-Key")
			if adminKey == "" || s.cfg.AdminKey != "" && subtle.ConstantTimeCompare([]byte(adminKey), []byte(s.cfg.AdminKey)) != 1 {
				ipl.failures.Allow()
				apierr.Write(rec, apierr.New(apierr.Unauthorized, "X-Admin-Key missing or wrong"))
				return
			}
		default:
			key := apiKey(r)
			if key == "" {
				apierr.Write(rec, apierr.New(apierr.Unauthorized, "send your API key in X-API-Key or Authorization: Bearer"))
				return
			}
			h := sha256.Sum256([]byte(key))
			var err error
			if merchant, err = s.authenticate(r.Context(), h); err != nil {
				if apierr.From(err).Code == apierr.Unauthorized {
					ipl.failures.Allow()
				}
				apierr.Write(rec, err)
				return
			}
			if limited(rec, s.keyLimiter(h), fmt.Sprintf("rate limit of %.0f requests per second exceeded", s.cfg.RateLimit)) {
				return
			}
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, merchantapi.MaxBody+1))
		if err != nil {
			apierr.Write(rec, apierr.New(apierr.InvalidJSON, "cannot read the request body: %v", err))
			return
		}
		if len(body) > merchantapi.MaxBody {
			apierr.Write(rec, apierr.New(apierr.PayloadTooLarge, "request body is larger than %d bytes", merchantapi.MaxBody))
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodDelete {
			if len(body) > 0 {
				apierr.Write(rec, apierr.New(apierr.ValidationFailed, "a %s request takes no body", r.Method))
				return
			}
		} else if err := merchantapi.CheckContentType(r.Header.Get("Content-Type"), len(body)); err != nil {
			apierr.Write(rec, err)
			return
		}
		upstream, err := rt.Upstream(r.PathValue)
		if err != nil {
			apierr.Write(rec, err)
			return
		}
		if rt.Validate != nil {
			in := &merchantapi.Input{Query: r.URL.Query(), Body: body, Path: r.PathValue, Assets: s.cfg.Assets, LoopbackWebhooks: s.cfg.AllowLoopbackWebhooks}
			if err := rt.Validate(in); err != nil {
				apierr.Write(rec, err)
				return
			}
		}
		if rt.Stream {
			// Streams have a write deadline of their own, not the
			// server's.
			if err := http.NewResponseController(rec).SetWriteDeadline(time.Now().Add(StreamTimeout)); err != nil {
				s.log.Debug("stream deadline", "err", err)
			}
		}
		if local := s.localHistory(rt); local != nil {
			local(rec, r, merchant)
			return
		}
		status := s.forward(rec, r, rt, upstream, merchant, adminKey, body)
		if rt.Auth == merchantapi.AuthAdmin && status == http.StatusUnauthorized {
			ipl.failures.Allow()
		}
		if (rt.Name == "revokeApiKey" || rt.Name == "revokeMerchantApiKey") && status == http.StatusOK {
			// The answer names the key, not its hash: forget every key, so
			// that this apid refuses the revoked one at once (the others
			// within knownKeyTTL).
			s.known.Purge()
		}
	}))
}

// localHistory answers a history route in apid when it has a history store
// (ClickHouse); without one the route forwards to ledgerd.
func (s *Server) localHistory(rt *merchantapi.Route) func(http.ResponseWriter, *http.Request, string) {
	if s.cfg.History == nil {
		return nil
	}
	h := analytics.HTTP{Store: s.cfg.History, Assets: s.cfg.Assets, Log: s.log}
	switch rt.Name {
	case "depositAnalytics":
		return h.Deposits
	case "latencyAnalytics":
		return h.Latency
	case "exportDeposits":
		return h.Export
	}
	return nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// Flush lets streamed answers (exports) reach the client as they are written.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *Server) keyLimiter(h [32]byte) *rate.Limiter {
	if l, ok := s.keyLimit.Get(h); ok {
		return l
	}
	l := rate.NewLimiter(rate.Limit(s.cfg.RateLimit), s.cfg.Burst)
	if prev, ok, _ := s.keyLimit.PeekOrAdd(h, l); ok {
		return prev
	}
	return l
}

// authenticate resolves a key hash to a merchant through ledgerd, caching
// answers briefly (30 s known, 10 s unknown), each kind in its own bounded
// cache.
func (s *Server) authenticate(ctx context.Context, h [32]byte) (string, error) {
	now := time.Now()
	if e, ok := s.known.Get(h); ok && now.Before(e.until) {
		return e.merchant, nil
	}
	if until, ok := s.unknown.Get(h); ok && now.Before(until) {
		return "", apierr.New(apierr.Unauthorized, "unknown API key")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.LedgerURL+"/internal/v1/auth", nil)
	req.Header.Set(HeaderKeyHash, hex.EncodeToString(h[:]))
	req.Header.Set(HeaderToken, s.cfg.InternalToken)
	resp, err := s.client.Do(req)
	if err != nil {
		return "", apierr.New(apierr.Unavailable, "the ledger is unreachable; try again")
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		var v struct {
			MerchantID string `json:"merchantId"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&v); err != nil || v.MerchantID == "" {
			return "", apierr.New(apierr.Unavailable, "the ledger answered badly; try again")
		}
		s.known.Add(h, authEntry{merchant: v.MerchantID, until: now.Add(knownKeyTTL)})
		return v.MerchantID, nil
	case http.StatusUnauthorized:
		s.unknown.Add(h, now.Add(unknownKeyTTL))
		return "", apierr.New(apierr.Unauthorized, "unknown API key")
	default:
		s.log.Warn("ledger auth answered", "status", resp.StatusCode)
		return "", apierr.New(apierr.Unavailable, "the ledger answered %d; try again", resp.StatusCode)
	}
}

// Authenticate resolves an API key as a request would (for tests and
// tools); it goes through the same caches.
func (s *Server) Authenticate(key string) (string, error) {
	return s.authenticate(context.Background(), sha256.Sum256([]byte(key)))
}

// Forget drops a key from the caches (after it is revoked).
func (s *Server) Forget(keyHash [32]byte) { s.known.Remove(keyHash); s.keyLimit.Remove(keyHash) }

// forward passes a validated request to ledgerd's internal path for it and
// relays the answer; it returns the status relayed.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, rt *merchantapi.Route, path, merchant, adminKey string, body []byte) int {
	u := s.cfg.LedgerURL + path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.Query().Encode()
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u, bytes.NewReader(body))
	if err != nil {
		s.log.Error("build upstream request", "err", err)
		apierr.Write(w, apierr.New(apierr.Internal, "internal error"))
		return http.StatusInternalServerError
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(HeaderToken, s.cfg.InternalToken)
	if merchant != "" {
		req.Header.Set(HeaderMerchant, merchant)
	}
	if adminKey != "" {
		req.Header.Set(HeaderAdminKey, adminKey)
	}
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		req.Header.Set("Idempotency-Key", k)
	}
	client := s.client
	if rt.Stream {
		client = s.stream
	}
	resp, err := client.Do(req)
	if err != nil {
		s.log.Warn("ledger unreachable", "err", err)
		apierr.Write(w, apierr.New(apierr.Unavailable, "the ledger is unreachable; try again"))
		return http.StatusServiceUnavailable
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// ledgerd never redirects a request apid built; one that does is
		// not followed (it would carry the method, body and token).
		s.log.Error("ledger answered a redirect; not followed", "path", path, "status", resp.StatusCode, "location", resp.Header.Get("Location"))
		apierr.Write(w, apierr.New(apierr.Unavailable, "the ledger answered badly; try again"))
		return http.StatusServiceUnavailable
	}
	for _, h := range []string{"Content-Type", "Idempotent-Replayed", "Content-Disposition"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	if f, ok := w.(http.Flusher); ok && rt.Stream {
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					break
				}
				f.Flush()
			}
			if err != nil {
				break
			}
		}
		return resp.StatusCode
	}
	io.Copy(w, resp.Body)
	return resp.StatusCode
}

// Ready reports whether ledgerd answers.
func (s *Server) Ready(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.LedgerURL+"/healthz", nil)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("ledgerd: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("ledgerd /healthz: %d", resp.StatusCode)
	}
	return nil
}

// Mount returns the public handler (the API, the hosted checkout pages
// and QR codes, /healthz, and a /readyz that says only whether apid is
// ready) and the operator handler (/healthz,
// /readyz with its reasons, /metrics, /debug/pprof) for the operator
// address. Readiness follows ledgerd until ctx ends.
func Mount(ctx context.Context, srv *Server, reg *prometheus.Registry) (public, operator http.Handler) {
	ready := ops.NewReadiness("ledgerd")
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			ready.Set("ledgerd", srv.Ready(cctx))
			cancel()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok := len(ready.Check()) == 0
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(map[string]bool{"ready": ok})
	})
	srv.checkoutHandlers(mux)
	mux.Handle("/", srv.Handler())
	return mux, ops.Handler(reg, ready)
}
