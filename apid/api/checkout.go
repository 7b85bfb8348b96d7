package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/inflowhq/inflow/apid/checkout"
)

// checkoutSource gives the hosted checkout page ledgerd's sessions through
// its internal API (GET /internal/v1/checkout/{id}, POST …/opened), so
// any apid replica serves the page.
type checkoutSource struct{ s *Server }

// maxCheckoutView bounds the answer read: a view is a few kB.
const maxCheckoutView = 1 << 20

func (c checkoutSource) Checkout(ctx context.Context, id string) (*checkout.View, error) {
	resp, err := c.call(ctx, http.MethodGet, id, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, checkout.ErrNotFound
	default:
		return nil, fmt.Errorf("ledgerd answered %d for a checkout view", resp.StatusCode)
	}
	v := &checkout.View{}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxCheckoutView)).Decode(v); err != nil {
		return nil, fmt.Errorf("ledgerd's checkout view: %w", err)
	}
	return v, nil
}

func (c checkoutSource) Opened(ctx context.Context, id string) error {
	resp, err := c.call(ctx, http.MethodPost, id, "/opened")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("ledgerd answered %d for a checkout page opened", resp.StatusCode)
	}
	return nil
}

// call asks ledgerd about one session; the id, already checked for its
// form, is still escaped as one path segment.
func (c checkoutSource) call(ctx context.Context, method, id, suffix string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	req, err := http.NewRequestWithContext(ctx, method, c.s.cfg.LedgerURL+"/internal/v1/checkout/"+url.PathEscape(id)+suffix, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set(HeaderToken, c.s.cfg.InternalToken)
	resp, err := c.s.client.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("ledgerd unreachable: %w", err)
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error { err := c.ReadCloser.Close(); c.cancel(); return err }

// public wraps a handler in the request metrics and the per-address rate
// limit: every route of the API goes through it (route adds the key
// checks), and so do the pages that need no key (the checkout page, the QR
// codes).
func (s *Server) public(route func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := route(r)
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		defer func() {
			s.requests.WithLabelValues(name, strconv.Itoa(rec.status)).Inc()
			s.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
		}()
		if limited(rec, s.ipLimiter(s.clientAddr(r)).all, fmt.Sprintf("rate limit of %.0f requests per second from one address exceeded", s.cfg.IPRateLimit)) {
			s.refused.WithLabelValues("ip_rate").Inc()
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// checkoutHandlers are the hosted checkout page and the address QR codes,
// behind the rate limit.
func (s *Server) checkoutHandlers(mux *http.ServeMux) {
	mux.Handle("/checkout/", s.public(checkoutRoute, checkout.Handler(checkoutSource{s}, checkout.Options{Logger: s.log.With("component", "checkout")})))
	mux.Handle("/qr/", s.public(func(*http.Request) string { return "GET /qr/{chainId}/{address}.png" }, checkout.AddressQR(s.cfg.Assets)))
}

// checkoutRoute is the metrics label of a request under /checkout/: one of
// the three pages, never the path itself.
func checkoutRoute(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/status"):
		return "GET /checkout/{sessionId}/status"
	case strings.Contains(p, "/qr/"):
		return "GET /checkout/{sessionId}/qr/{option}.png"
	}
	return "GET /checkout/{sessionId}"
}
