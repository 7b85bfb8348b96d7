// Package rpc is ledgerd's internal API: the merchant API's semantics,
// served to apid over HTTP. apid authenticates the caller and passes the
// merchant id in X-Inflow-Merchant; every handler works inside that
// merchant's objects, so another merchant's object is simply not found.
//
// POSTs carrying an Idempotency-Key are answered once: the first response is
// stored with a hash of the request, a repeat with the same request gets the
// stored response, and the same key with another request is refused (422).
// The internal API must not be exposed: bind it to loopback or a private
// network, and set a shared token for apid.
package rpc

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/inflowhq/inflow/ledgerd/history"
	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/ledgerd/webhook"
	"github.com/inflowhq/inflow/pkg/analytics"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// Headers between apid and ledgerd.
const (
	HeaderMerchant = "X-Inflow-Merchant"
	HeaderKeyHash  = "X-Inflow-Key-Hash"
	HeaderToken    = "X-Inflow-Internal-Token"
)

// Server is the internal API.
type Server struct {
	db       *store.DB
	reg      *registry.Registry
	hooks    *webhook.Service
	assets   *assets.Config
	token    string
	devHTTP  bool
	log      *slog.Logger
	onChange func()

	idemMu sync.Mutex
	idem   map[string]*sync.Mutex
}

// Options configures the server.
type Options struct {
	Token             string // shared secret apid sends; empty accepts any caller
	AllowLoopbackHTTP bool   // webhook endpoints on loopback http (dev mode)
	Logger            *slog.Logger
	OnChange          func() // called after a write that queued outbox rows
}

// New makes the internal API.
func New(db *store.DB, reg *registry.Registry, hooks *webhook.Service, table *assets.Config, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OnChange == nil {
		o.OnChange = func() {}
	}
	return &Server{db: db, reg: reg, hooks: hooks, assets: table, token: o.Token, devHTTP: o.AllowLoopbackHTTP,
		log: o.Logger, onChange: o.OnChange, idem: map[string]*sync.Mutex{}}
}

// Handler routes the internal API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	m := func(pattern string, fn func(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error)) {
		mux.HandleFunc(pattern, s.merchantHandler(fn))
	}
	mux.HandleFunc("GET /internal/v1/auth", s.auth)
	mux.HandleFunc("POST /internal/v1/admin/merchants", s.createMerchant)
	mux.HandleFunc("GET /internal/v1/chains", s.chains)
	m("POST /internal/v1/deposits/references", s.bind)
	m("GET /internal/v1/deposits/references", s.listReferences)
	m("GET /internal/v1/deposits/references/{ref}", s.getReference)
	m("DELETE /internal/v1/deposits/references/{ref}", s.unbind)
	m("GET /internal/v1/deposits", s.listDeposits)
	m("GET /internal/v1/deposits/{id}", s.getDeposit)
	m("POST /internal/v1/addresses/import", s.importAddresses)
	m("GET /internal/v1/addresses", s.listAddresses)
	m("GET /internal/v1/balances", s.balances)
	m("POST /internal/v1/webhooks/endpoints", s.createEndpoint)
	m("GET /internal/v1/webhooks/endpoints", s.listEndpoints)
	m("GET /internal/v1/webhooks/endpoints/{id}", s.getEndpoint)
	m("DELETE /internal/v1/webhooks/endpoints/{id}", s.deleteEndpoint)
	m("GET /internal/v1/webhooks/endpoints/{id}/deliveries", s.deliveries)
	m("POST /internal/v1/webhooks/events/{id}/replay", s.replay)
	an := analytics.HTTP{Store: history.Embedded{Reader: func() store.Reader { return s.db }}, Assets: s.assets, Log: s.log}
	raw := func(pattern string, fn func(w http.ResponseWriter, r *http.Request, merchant string)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			merchant := r.Header.Get(HeaderMerchant)
			if merchant == "" {
				apierr.Write(w, apierr.New(apierr.Unauthorized, "no merchant"))
				return
			}
			fn(w, r, merchant)
		})
	}
	raw("GET /internal/v1/analytics/deposits", an.Deposits)
	raw("GET /internal/v1/analytics/latency", an.Latency)
	raw("GET /internal/v1/deposits/export", an.Export)
	return s.checkToken(mux)
}

func (s *Server) checkToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get(HeaderToken)), []byte(s.token)) != 1 {
			apierr.Write(w, apierr.New(apierr.Unauthorized, "internal API token missing or wrong"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// captured records a handler's answer for idempotency.
type captured struct {
	status int
	body   bytes.Buffer
	hdr    http.Header
}

func (c *captured) Header() http.Header         { return c.hdr }
func (c *captured) Write(b []byte) (int, error) { return c.body.Write(b) }
func (c *captured) WriteHeader(code int)        { c.status = code }

func (s *Server) merchantHandler(fn func(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		merchant := r.Header.Get(HeaderMerchant)
		if merchant == "" {
			apierr.Write(w, apierr.New(apierr.Unauthorized, "no merchant"))
			return
		}
		run := func(w http.ResponseWriter, r *http.Request) {
			status, v, err := fn(w, r, merchant)
			if err != nil {
				if e := apierr.From(err); e.Code == apierr.Internal {
					s.log.Error("internal API", "path", r.URL.Path, "err", err)
				}
				apierr.Write(w, err)
				return
			}
			writeJSON(w, status, v)
		}
		key := r.Header.Get("Idempotency-Key")
		if r.Method != http.MethodPost || key == "" {
			run(w, r)
			return
		}
		if len(key) > 255 {
			apierr.Write(w, apierr.New(apierr.ValidationFailed, "Idempotency-Key is longer than 255 characters"))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, merchantapi.MaxBody+1))
		if err != nil {
			apierr.Write(w, apierr.New(apierr.InvalidJSON, "cannot read body: %v", err))
			return
		}
		sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.RequestURI()+"\n"), body...))
		reqHash := hex.EncodeToString(sum[:])
		lock := s.keyLock(merchant + "\x00" + key)
		lock.Lock()
		defer lock.Unlock()
		ik := store.Key("IK/", merchant, store.Sep, key)
		var prev store.IdemRecord
		if err := store.GetJSON(s.db, ik, &prev); err == nil {
			if prev.RequestHash != reqHash {
				apierr.Write(w, apierr.New(apierr.IdempotencyKeyReused, "Idempotency-Key %q was used with another request", key))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(prev.Status)
			w.Write(prev.Body)
			return
		} else if !errors.Is(err, store.ErrNotFound) {
			apierr.Write(w, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		c := &captured{status: 200, hdr: w.Header()}
		run(c, r)
		if c.status < 500 {
			rec := store.IdemRecord{RequestHash: reqHash, Status: c.status, Body: json.RawMessage(bytes.TrimSpace(c.body.Bytes()))}
			if err := s.db.Write(func(b *store.Batch) error { return b.PutJSON(ik, rec) }); err != nil {
				s.log.Error("store idempotency record", "err", err)
			}
		}
		w.WriteHeader(c.status)
		w.Write(c.body.Bytes())
	}
}

func (s *Server) keyLock(k string) *sync.Mutex {
	s.idemMu.Lock()
	defer s.idemMu.Unlock()
	l := s.idem[k]
	if l == nil {
		l = &sync.Mutex{}
		s.idem[k] = l
	}
	return l
}

func (s *Server) auth(w http.ResponseWriter, r *http.Request) {
	h, err := hex.DecodeString(r.Header.Get(HeaderKeyHash))
	if err != nil || len(h) != 32 {
		apierr.Write(w, apierr.New(apierr.Unauthorized, "bad key hash"))
		return
	}
	m, err := s.reg.Authenticate(h)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"merchantId": m.ID, "live": m.Live})
}

func (s *Server) createMerchant(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
		Live *bool  `json:"live"`
	}
	if err := merchantapi.DecodeJSON(r.Body, &req); err != nil {
		apierr.Write(w, err)
		return
	}
	live := req.Live == nil || *req.Live
	m, key, err := s.reg.CreateMerchant(req.Name, live, "")
	if err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"merchantId": m.ID, "name": m.Name, "apiKey": key})
}

func (s *Server) chains(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{}
	for _, c := range s.assets.Chains {
		st, err := ledger.ChainStateOf(s.db, c.ID)
		if err != nil {
			apierr.Write(w, err)
			return
		}
		if st.Tip != 0 || st.Halted {
			out[string(c.ID)] = st
		}
	}
	writeJSON(w, 200, out)
}

func (s *Server) bind(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	var req merchantapi.BindRequest
	if err := merchantapi.DecodeJSON(r.Body, &req); err != nil {
		return 0, nil, err
	}
	resp, err := s.reg.Bind(merchant, req)
	if err != nil {
		return 0, nil, err
	}
	s.onChange()
	return http.StatusCreated, resp, nil
}

func (s *Server) listReferences(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	p, err := merchantapi.ParsePage(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	search := r.URL.Query().Get("search")
	if len(search) > merchantapi.MaxReferenceLen {
		return 0, nil, apierr.New(apierr.InvalidParameter, "search is longer than %d characters", merchantapi.MaxReferenceLen)
	}
	data, pg, err := s.reg.ListReferences(merchant, p, search)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"data": data, "pagination": pg}, nil
}

func (s *Server) getReference(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	ch, err := merchantapi.ParseChainFilter(r.URL.Query(), s.assets)
	if err != nil {
		return 0, nil, err
	}
	v, err := s.reg.GetReference(merchant, r.PathValue("ref"), ch)
	return 200, v, err
}

func (s *Server) unbind(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	ch, err := merchantapi.ParseChainFilter(r.URL.Query(), s.assets)
	if err != nil {
		return 0, nil, err
	}
	v, err := s.reg.Unbind(merchant, r.PathValue("ref"), ch)
	if err == nil {
		s.onChange()
	}
	return 200, v, err
}

func (s *Server) listDeposits(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	q := r.URL.Query()
	p, err := merchantapi.ParsePage(q)
	if err != nil {
		return 0, nil, err
	}
	dq, err := merchantapi.ParseDepositQuery(q, s.assets)
	if err != nil {
		return 0, nil, err
	}
	data, pg, err := history.List(s.db, merchant, history.Filter{Reference: dq.Reference, Status: dq.Status,
		Currency: dq.Currency, ChainID: dq.ChainID, SortBy: dq.SortBy, Desc: dq.Desc}, p)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"data": data, "pagination": pg}, nil
}

func (s *Server) getDeposit(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	d, err := history.Get(s.db, merchant, r.PathValue("id"))
	return 200, d, err
}

func (s *Server) importAddresses(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	var req merchantapi.ImportRequest
	if err := merchantapi.DecodeJSON(r.Body, &req); err != nil {
		return 0, nil, err
	}
	fam, addrs, err := req.Parse()
	if err != nil {
		return 0, nil, err
	}
	res, err := s.reg.Import(merchant, fam, addrs)
	if err != nil {
		return 0, nil, err
	}
	s.onChange()
	return 200, res, nil
}

func (s *Server) listAddresses(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	q := r.URL.Query()
	p, err := merchantapi.ParsePage(q)
	if err != nil {
		return 0, nil, err
	}
	status, fam, err := merchantapi.ParseAddressQuery(q)
	if err != nil {
		return 0, nil, err
	}
	data, pg, err := s.reg.ListAddresses(merchant, status, fam, p)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"data": data, "pagination": pg}, nil
}

func (s *Server) balances(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	q := r.URL.Query()
	var ref *string
	if q.Has("depositReference") {
		v := q.Get("depositReference")
		if err := merchantapi.ValidateReference(v); err != nil {
			return 0, nil, err
		}
		ref = &v
	}
	data, err := registry.Balances(s.db, s.assets, merchant, ref, q.Get("currency"))
	if err != nil {
		return 0, nil, err
	}
	if ref != nil {
		// A reference that does not exist is not found, not empty.
		if ok, err := store.Has(s.db, store.Key("R/", merchant, store.Sep, *ref)); err != nil || !ok {
			if err != nil {
				return 0, nil, err
			}
			return 0, nil, apierr.New(apierr.DepositReferenceNotFound, "No deposit reference found for '%s'", *ref)
		}
	}
	return 200, map[string]any{"data": data}, nil
}

type endpointView struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Secret    string   `json:"secret,omitempty"`
	CreatedAt string   `json:"createdAt"`
}

func viewEndpoint(ep *store.Endpoint, withSecret bool) endpointView {
	v := endpointView{ID: ep.ID, URL: ep.URL, Events: ep.Events, CreatedAt: ep.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z")}
	if withSecret {
		v.Secret = ep.Secret
	}
	return v
}

func (s *Server) createEndpoint(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	var req merchantapi.EndpointRequest
	if err := merchantapi.DecodeJSON(r.Body, &req); err != nil {
		return 0, nil, err
	}
	if err := req.Validate(s.devHTTP); err != nil {
		return 0, nil, err
	}
	ep, err := s.reg.CreateEndpoint(merchant, req.URL, req.Events)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, viewEndpoint(ep, true), nil
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	eps, err := s.reg.Endpoints(merchant)
	if err != nil {
		return 0, nil, err
	}
	out := make([]endpointView, len(eps))
	for i := range eps {
		out[i] = viewEndpoint(&eps[i], false)
	}
	return 200, map[string]any{"data": out}, nil
}

func (s *Server) getEndpoint(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	ep, err := s.reg.Endpoint(merchant, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return 200, viewEndpoint(ep, false), nil
}

func (s *Server) deleteEndpoint(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	id := r.PathValue("id")
	if err := s.reg.DeleteEndpoint(merchant, id); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"success": true, "id": id}, nil
}

func (s *Server) deliveries(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	ep, err := s.reg.Endpoint(merchant, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	p, err := merchantapi.ParsePage(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	data, pg, err := s.hooks.Deliveries(ep.ID, p)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"data": data, "pagination": pg}, nil
}

func (s *Server) replay(w http.ResponseWriter, r *http.Request, merchant string) (int, any, error) {
	id := r.PathValue("id")
	n, err := s.hooks.Replay(merchant, id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, map[string]any{"eventId": id, "deliveries": n}, nil
}
