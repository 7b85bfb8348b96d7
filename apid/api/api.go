// Package api is apid: the merchant REST API. It is stateless and thin: it
// authenticates the caller (X-API-Key or Authorization: Bearer), applies a
// rate limit per key, rejects bad input with a catalogued error, and forwards
// the request to ledgerd's internal API with the merchant's id. It serves the
// OpenAPI document at /openapi.json and a docs page at /docs. It never
// imports Pebble or a chain SDK; run as many replicas as load needs.
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
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/inflowhq/inflow/pkg/analytics"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/merchantapi"
	"github.com/inflowhq/inflow/pkg/ops"
)

// Config configures apid.
type Config struct {
	// LedgerURL is ledgerd's internal API, e.g. http://127.0.0.1:9201.
	LedgerURL string
	// InternalToken is sent to ledgerd.
	InternalToken string
	// AdminKey guards /admin/v1; empty disables the admin API.
	AdminKey string
	// RateLimit is requests per second per API key (default 50), with
	// Burst (default 100).
	RateLimit float64
	Burst     int
	// AllowLoopbackWebhooks accepts http://127.0.0.1 webhook URLs (dev mode).
	AllowLoopbackWebhooks bool
	Assets                *assets.Config
	// History answers the analytics and export endpoints (ClickHouse); nil
	// forwards them to ledgerd, which answers from its own store.
	History    analytics.Store
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Server is apid.
type Server struct {
	cfg    Config
	client *http.Client
	stream *http.Client // for exports: no overall timeout, the request's context ends it
	log    *slog.Logger

	mu       sync.Mutex
	auth     map[[32]byte]authEntry
	limiters map[[32]byte]*rate.Limiter

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

type authEntry struct {
	merchant string
	err      error
	until    time.Time
}

// New makes apid.
func New(cfg Config) (*Server, error) {
	if cfg.LedgerURL == "" {
		return nil, errors.New("apid: ledger URL is empty")
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = 50
	}
	if cfg.Burst == 0 {
		cfg.Burst = 100
	}
	if cfg.Assets == nil {
		cfg.Assets = assets.Default()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, client: &http.Client{Timeout: 30 * time.Second}, stream: &http.Client{},
		auth: map[[32]byte]authEntry{}, limiters: map[[32]byte]*rate.Limiter{}}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inflow_apid_http_requests_total", Help: "API requests by route and status."}, []string{"route", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "inflow_apid_http_request_seconds", Help: "API latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"route"})
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{s.requests, s.latency} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// route is one merchant endpoint: its validation, then forwarding.
type route struct {
	pattern  string
	validate func(r *http.Request, body []byte) error
	// local answers in apid instead of forwarding, when set.
	local func(w http.ResponseWriter, r *http.Request, merchant string)
	// stream forwards without a response timeout (exports).
	stream bool
}

var depositIDPattern = regexp.MustCompile(`^dep_([0-9a-f]{24}|[0-9a-f]{32})$`)

// Handler serves the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	table := s.cfg.Assets
	// local answers a history endpoint in apid when it has a history store
	// (ClickHouse); without one the route forwards to ledgerd.
	local := func(serve func(analytics.HTTP, http.ResponseWriter, *http.Request, string)) func(http.ResponseWriter, *http.Request, string) {
		if s.cfg.History == nil {
			return nil
		}
		h := analytics.HTTP{Store: s.cfg.History, Assets: table, Log: s.log}
		return func(w http.ResponseWriter, r *http.Request, merchant string) { serve(h, w, r, merchant) }
	}
	page := func(r *http.Request, _ []byte) error { _, err := merchantapi.ParsePage(r.URL.Query()); return err }
	routes := []route{
		{pattern: "POST /api/v1/deposits/references", validate: func(r *http.Request, b []byte) error {
			var req merchantapi.BindRequest
			if err := merchantapi.DecodeJSON(bytes.NewReader(b), &req); err != nil {
				return err
			}
			_, _, err := req.Validate(table)
			return err
		}},
		{pattern: "GET /api/v1/deposits/references", validate: func(r *http.Request, b []byte) error {
			if len(r.URL.Query().Get("search")) > merchantapi.MaxReferenceLen {
				return apierr.New(apierr.InvalidParameter, "search is longer than %d characters", merchantapi.MaxReferenceLen)
			}
			return page(r, b)
		}},
		{pattern: "GET /api/v1/deposits/references/{ref}", validate: s.refAndChain},
		{pattern: "DELETE /api/v1/deposits/references/{ref}", validate: s.refAndChain},
		{pattern: "GET /api/v1/deposits", validate: func(r *http.Request, b []byte) error {
			if err := page(r, b); err != nil {
				return err
			}
			_, err := merchantapi.ParseDepositQuery(r.URL.Query(), table)
			return err
		}},
		{pattern: "GET /api/v1/deposits/{id}", validate: func(r *http.Request, _ []byte) error {
			if !depositIDPattern.MatchString(r.PathValue("id")) {
				return apierr.New(apierr.DepositNotFound, "no deposit %q", r.PathValue("id"))
			}
			return nil
		}},
		{pattern: "POST /api/v1/addresses/import", validate: func(r *http.Request, b []byte) error {
			var req merchantapi.ImportRequest
			if err := merchantapi.DecodeJSON(bytes.NewReader(b), &req); err != nil {
				return err
			}
			_, _, err := req.Parse()
			return err
		}},
		{pattern: "GET /api/v1/addresses", validate: func(r *http.Request, b []byte) error {
			if err := page(r, b); err != nil {
				return err
			}
			_, _, err := merchantapi.ParseAddressQuery(r.URL.Query())
			return err
		}},
		{pattern: "GET /api/v1/balances", validate: func(r *http.Request, _ []byte) error {
			if q := r.URL.Query(); q.Has("depositReference") {
				return merchantapi.ValidateReference(q.Get("depositReference"))
			}
			return nil
		}},
		{pattern: "POST /api/v1/webhooks/endpoints", validate: func(r *http.Request, b []byte) error {
			var req merchantapi.EndpointRequest
			if err := merchantapi.DecodeJSON(bytes.NewReader(b), &req); err != nil {
				return err
			}
			return req.Validate(s.cfg.AllowLoopbackWebhooks)
		}},
		{pattern: "GET /api/v1/webhooks/endpoints", validate: nil},
		{pattern: "GET /api/v1/webhooks/endpoints/{id}", validate: nil},
		{pattern: "DELETE /api/v1/webhooks/endpoints/{id}", validate: nil},
		{pattern: "GET /api/v1/webhooks/endpoints/{id}/deliveries", validate: page},
		{pattern: "POST /api/v1/webhooks/events/{id}/replay"},
		{pattern: "GET /api/v1/analytics/deposits", local: local(analytics.HTTP.Deposits), validate: func(r *http.Request, _ []byte) error {
			_, err := analytics.ParseQuery(r.URL.Query(), table)
			return err
		}},
		{pattern: "GET /api/v1/analytics/latency", local: local(analytics.HTTP.Latency), validate: func(r *http.Request, _ []byte) error {
			_, err := merchantapi.ParseChainFilter(r.URL.Query(), table)
			return err
		}},
		{pattern: "GET /api/v1/deposits/export", local: local(analytics.HTTP.Export), stream: true, validate: func(r *http.Request, _ []byte) error {
			_, err := analytics.ParseExportQuery(r.URL.Query())
			return err
		}},
	}
	for _, rt := range routes {
		mux.Handle(rt.pattern, s.merchant(rt))
	}
	mux.HandleFunc("POST /admin/v1/merchants", s.admin)
	mux.HandleFunc("GET /openapi.json", s.openapi)
	mux.HandleFunc("GET /docs", s.docs)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		apierr.Write(w, apierr.New(apierr.NotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	return s.recover(mux)
}

func (s *Server) refAndChain(r *http.Request, _ []byte) error {
	if err := merchantapi.ValidateReference(r.PathValue("ref")); err != nil {
		return err
	}
	_, err := merchantapi.ParseChainFilter(r.URL.Query(), s.cfg.Assets)
	return err
}

func (s *Server) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
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

func (s *Server) merchant(rt route) http.Handler {
	name := rt.pattern
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		defer func() {
			s.requests.WithLabelValues(name, strconv.Itoa(rec.status)).Inc()
			s.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
		}()
		key := apiKey(r)
		if key == "" {
			apierr.Write(rec, apierr.New(apierr.Unauthorized, "send your API key in X-API-Key or Authorization: Bearer"))
			return
		}
		h := sha256.Sum256([]byte(key))
		merchant, err := s.authenticate(r.Context(), h)
		if err != nil {
			apierr.Write(rec, err)
			return
		}
		if res := s.limiter(h).Reserve(); !res.OK() || res.Delay() > 0 {
			wait := res.Delay()
			res.Cancel()
			rec.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(wait.Seconds(), 1)))))
			apierr.Write(rec, apierr.New(apierr.RateLimited, "rate limit of %.0f requests per second exceeded", s.cfg.RateLimit))
			return
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
		if rt.validate != nil {
			if err := rt.validate(r, body); err != nil {
				apierr.Write(rec, err)
				return
			}
		}
		if rt.local != nil {
			rt.local(rec, r, merchant)
			return
		}
		client := s.client
		if rt.stream {
			client = s.stream
		}
		s.forward(rec, r, client, "/internal/v1"+strings.TrimPrefix(r.URL.Path, "/api/v1"), merchant, body)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (s *Server) limiter(h [32]byte) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.limiters[h]
	if l == nil {
		if len(s.limiters) > 100_000 {
			clear(s.limiters)
		}
		l = rate.NewLimiter(rate.Limit(s.cfg.RateLimit), s.cfg.Burst)
		s.limiters[h] = l
	}
	return l
}

// authenticate resolves a key hash to a merchant through ledgerd, caching
// answers briefly (30 s known, 2 s unknown).
func (s *Server) authenticate(ctx context.Context, h [32]byte) (string, error) {
	now := time.Now()
	s.mu.Lock()
	e, ok := s.auth[h]
	s.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.merchant, e.err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.LedgerURL+"/internal/v1/auth", nil)
	req.Header.Set("X-Inflow-Key-Hash", hex.EncodeToString(h[:]))
	req.Header.Set("X-Inflow-Internal-Token", s.cfg.InternalToken)
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
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.MerchantID == "" {
			return "", apierr.New(apierr.Unavailable, "the ledger answered badly; try again")
		}
		e = authEntry{merchant: v.MerchantID, until: now.Add(30 * time.Second)}
	case http.StatusUnauthorized:
		e = authEntry{err: apierr.New(apierr.Unauthorized, "unknown API key"), until: now.Add(2 * time.Second)}
	default:
		return "", apierr.New(apierr.Unavailable, "the ledger answered %d; try again", resp.StatusCode)
	}
	s.mu.Lock()
	if len(s.auth) > 100_000 {
		clear(s.auth)
	}
	s.auth[h] = e
	s.mu.Unlock()
	return e.merchant, e.err
}

// forward passes a validated request to ledgerd and relays the answer.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, client *http.Client, path, merchant string, body []byte) {
	u := s.cfg.LedgerURL + path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u, bytes.NewReader(body))
	if err != nil {
		apierr.Write(w, apierr.New(apierr.Internal, "internal error"))
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Inflow-Merchant", merchant)
	req.Header.Set("X-Inflow-Internal-Token", s.cfg.InternalToken)
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		req.Header.Set("Idempotency-Key", k)
	}
	resp, err := client.Do(req)
	if err != nil {
		s.log.Warn("ledger unreachable", "err", err)
		apierr.Write(w, apierr.New(apierr.Unavailable, "the ledger is unreachable; try again"))
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Idempotent-Replayed", "Content-Disposition"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func (s *Server) admin(w http.ResponseWriter, r *http.Request) {
	if s.cfg.AdminKey == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Admin-Key")), []byte(s.cfg.AdminKey)) != 1 {
		apierr.Write(w, apierr.New(apierr.Unauthorized, "X-Admin-Key missing or wrong"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, merchantapi.MaxBody))
	if err != nil {
		apierr.Write(w, apierr.New(apierr.InvalidJSON, "cannot read body"))
		return
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := merchantapi.DecodeJSON(bytes.NewReader(body), &req); err != nil {
		apierr.Write(w, err)
		return
	}
	if strings.TrimSpace(req.Name) == "" {
		apierr.Write(w, apierr.New(apierr.ValidationFailed, "name is required"))
		return
	}
	s.forward(w, r, s.client, "/internal/v1/admin/merchants", "", body)
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

// Mount serves the API with the operator endpoints (/healthz, /readyz,
// /metrics) on one handler; readiness follows ledgerd until ctx ends.
func Mount(ctx context.Context, srv *Server, reg *prometheus.Registry) http.Handler {
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
	opsH := ops.Handler(reg, ready)
	mux := http.NewServeMux()
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/debug/pprof/"} {
		mux.Handle(p, opsH)
	}
	mux.Handle("/", srv.Handler())
	return mux
}

// Flush lets streamed answers (exports) reach the client as they are written.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
