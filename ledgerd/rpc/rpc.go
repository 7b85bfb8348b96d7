// Package rpc is ledgerd's internal API: the merchant API's semantics,
// served to apid over HTTP. It serves exactly the internal paths of the
// route table in pkg/merchantapi (and two of its own for apid: the key
// lookup and the chain states), and nothing else.
//
// Every request carries the shared internal token. A merchant route acts
// for the merchant apid authenticated (X-Inflow-Merchant): every handler
// works inside that merchant's objects, so another merchant's object is
// simply not found. An admin route needs the operator's admin key as well
// (X-Inflow-Admin-Key), which ledgerd checks against its own: the internal
// token alone does not make a caller an operator. Path parameters are
// validated again here, and a path that is not canonical is refused with
// 400, never redirected.
//
// POSTs carrying an Idempotency-Key are answered once: the first response is
// stored with a hash of the request in the same batch as the operation, a
// repeat with the same request gets the stored response, and the same key
// with another request is refused (422). Records expire after 24 hours
// (SweepIdempotency), and a merchant holds at most
// merchantapi.MaxIdempotencyKeys of them at a time.
//
// The internal API must not be exposed: bind it to loopback or a private
// network.
package rpc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/inflowhq/inflow/ledgerd/history"
	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/sessions"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/ledgerd/webhook"
	"github.com/inflowhq/inflow/pkg/analytics"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// Headers between apid and ledgerd.
const (
	HeaderMerchant = "X-Inflow-Merchant"
	HeaderKeyHash  = "X-Inflow-Key-Hash"
	HeaderToken    = "X-Inflow-Internal-Token"
	HeaderAdminKey = "X-Inflow-Admin-Key"
)

// IdempotencyTTL is how long an Idempotency-Key's answer is kept.
const IdempotencyTTL = 24 * time.Hour

// Server is the internal API.
type Server struct {
	db       *store.DB
	reg      *registry.Registry
	hooks    *webhook.Service
	assets   *assets.Config
	token    string
	adminKey string
	devHTTP  bool
	log      *slog.Logger
	now      func() time.Time
	onChange func()
	resume   func(ctx context.Context, id chain.ID, reason, by string) (store.ChainState, error)

	sessions *sessions.Service
	enabled  []chain.ID

	handlers map[string]handler
	locks    keyLocks
	maxIdem  uint64
}

// Options configures the server.
type Options struct {
	// Token is the shared secret apid sends; it must be set.
	Token string
	// AdminKey guards the admin routes; empty disables them.
	AdminKey          string
	AllowLoopbackHTTP bool // webhook endpoints on loopback http (dev mode)
	Logger            *slog.Logger
	Now               func() time.Time
	OnChange          func() // called after a write that queued outbox rows
	// MaxIdempotencyKeys bounds the live Idempotency-Key records of one
	// merchant (default merchantapi.MaxIdempotencyKeys).
	MaxIdempotencyKeys uint64
	// Sessions serves the payment-session routes.
	Sessions *sessions.Service
	// Chains are the chains this ledgerd consumes (default: every chain of
	// the table): GET /chains lists them, and a bind needs one of its
	// protocol.
	Chains []chain.ID
	// Resume ends a chain's halt (the ledger's consumer does it, between
	// batches); nil refuses the route.
	Resume func(ctx context.Context, id chain.ID, reason, by string) (store.ChainState, error)
}

// ErrNoToken is New's refusal to serve without a token.
var ErrNoToken = errors.New("rpc: the internal API needs a token (--internal-token-file or $INFLOW_INTERNAL_TOKEN); without one anyone who reaches it is trusted")

// New makes the internal API.
func New(db *store.DB, reg *registry.Registry, hooks *webhook.Service, table *assets.Config, o Options) (*Server, error) {
	if o.Token == "" {
		return nil, ErrNoToken
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OnChange == nil {
		o.OnChange = func() {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxIdempotencyKeys == 0 {
		o.MaxIdempotencyKeys = merchantapi.MaxIdempotencyKeys
	}
	s := &Server{maxIdem: o.MaxIdempotencyKeys, db: db, reg: reg, hooks: hooks, assets: table, token: o.Token, adminKey: o.AdminKey, devHTTP: o.AllowLoopbackHTTP,
		log: o.Logger, now: o.Now, onChange: o.OnChange, locks: keyLocks{m: map[string]*keyLock{}}, sessions: o.Sessions, enabled: o.Chains, resume: o.Resume}
	if len(s.enabled) == 0 {
		for _, c := range table.Chains {
			s.enabled = append(s.enabled, c.ID)
		}
	}
	s.handlers = s.routes()
	for i := range merchantapi.Routes {
		if _, ok := s.handlers[merchantapi.Routes[i].Name]; !ok {
			return nil, fmt.Errorf("rpc: no handler for route %s", merchantapi.Routes[i].Name)
		}
	}
	return s, nil
}

// A handler serves one route. Exactly one of its fields is set.
type handler struct {
	// read answers from the store.
	read func(r *http.Request, merchant string) (any, error)
	// write runs in one batch, with the idempotency record of the request
	// when it has one; after runs once the batch is durable.
	write func(b *store.Batch, r *http.Request, merchant string, body []byte) (any, error)
	// check, when set, runs before the write's batch: what it writes is
	// kept even when it refuses the request.
	check func(r *http.Request, merchant string, body []byte) error
	after func()
	// stream writes its answer itself.
	stream func(w http.ResponseWriter, r *http.Request, merchant string)
}

func (s *Server) routes() map[string]handler {
	an := analytics.HTTP{Store: history.Embedded{Reader: func() store.Reader { return s.db }}, Assets: s.assets, Log: s.log}
	return map[string]handler{
		"createDepositReference": {write: s.bind, after: s.onChange},
		"listDepositReferences":  {read: s.listReferences},
		"getDepositReference":    {read: s.getReference},
		"deleteDepositReference": {write: s.unbind, after: s.onChange},
		"listDeposits":           {read: s.listDeposits},
		"getDeposit":             {read: s.getDeposit},
		"importAddresses":        {write: s.importAddresses, check: s.refuseConflicts, after: s.onChange},
		"listAddresses":          {read: s.listAddresses},
		"listBalances":           {read: s.balances},
		"createWebhookEndpoint":  {write: s.createEndpoint},
		"listWebhookEndpoints":   {read: s.listEndpoints},
		"getWebhookEndpoint":     {read: s.getEndpoint},
		"deleteWebhookEndpoint":  {write: s.deleteEndpoint},
		"rotateWebhookSecret":    {write: s.rotateSecret},
		"listWebhookDeliveries":  {read: s.deliveries},
		"replayWebhookEvent":     {write: s.replay, after: s.hooks.Wake},
		"depositAnalytics":       {stream: an.Deposits},
		"latencyAnalytics":       {stream: an.Latency},
		"exportDeposits":         {stream: an.Export},
		"createMerchant":         {write: s.createMerchant},
		"resumeChain":            {stream: s.resumeChain},
		"listMerchants":          {read: s.listMerchants},
		"listApiKeys":            {read: s.listKeys},
		"createApiKey":           {write: s.createKey},
		"revokeApiKey":           {write: s.revokeKey},
		"listMerchantApiKeys":    {read: s.listKeys},
		"createMerchantApiKey":   {write: s.createKey},
		"revokeMerchantApiKey":   {write: s.revokeKey},
		"listAddressConflicts":   {read: s.listConflicts},
		"reassignAddress":        {write: s.reassign},
		"createPaymentSession":   {write: s.createSession, after: s.onChange},
		"listPaymentSessions":    {read: s.listSessions},
		"getPaymentSession":      {read: s.getSession},
		"listChains":             {read: s.listChains},
		"walletAddress":          {write: s.channel, after: s.onChange},
		"createChannel":          {write: s.channel, after: s.onChange},
		"listChannels":           {read: s.listChannels},
	}
}

// Handler routes the internal API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /internal/v1/auth", s.auth)
	mux.HandleFunc("GET /internal/v1/chain-states", s.chains)
	mux.HandleFunc("GET /internal/v1/checkout/{sessionId}", s.checkout)
	mux.HandleFunc("POST /internal/v1/checkout/{sessionId}/opened", s.checkoutOpened)
	for i := range merchantapi.Routes {
		rt := &merchantapi.Routes[i]
		mux.Handle(rt.InternalPattern(), s.serve(rt, s.handlers[rt.Name]))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apierr.Write(w, apierr.New(apierr.NotFound, "no internal route %s %s", r.Method, r.URL.EscapedPath()))
	})
	return s.checkToken(canonical(mux))
}

// canonical refuses a path with ".", ".." or empty segments instead of
// letting the mux redirect it to the cleaned path: a redirect would carry
// a request somewhere it was not addressed.
func canonical(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		if c := path.Clean(p); c != p && c+"/" != p {
			apierr.Write(w, apierr.New(apierr.InvalidParameter, "the path %q is not canonical", p))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) checkToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(HeaderToken)), []byte(s.token)) != 1 {
			apierr.Write(w, apierr.New(apierr.Unauthorized, "internal API token missing or wrong"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

var merchantIDPattern = regexp.MustCompile(`^mer_[0-9a-f]{16}$`)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// serve runs one route: who may call it, its path parameters, then its
// handler.
func (s *Server) serve(rt *merchantapi.Route, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var merchant string
		switch rt.Auth {
		case merchantapi.AuthAdmin:
			if s.adminKey == "" {
				apierr.Write(w, apierr.New(apierr.Unauthorized, "the admin API is disabled on this ledgerd (no admin key)"))
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.Header.Get(HeaderAdminKey)), []byte(s.adminKey)) != 1 {
				apierr.Write(w, apierr.New(apierr.Unauthorized, "X-Admin-Key missing or wrong"))
				return
			}
		default:
			merchant = r.Header.Get(HeaderMerchant)
			if !merchantIDPattern.MatchString(merchant) {
				apierr.Write(w, apierr.New(apierr.Unauthorized, "no merchant"))
				return
			}
		}
		if err := rt.CheckPath(r.PathValue); err != nil {
			apierr.Write(w, err)
			return
		}
		switch {
		case h.stream != nil:
			h.stream(w, r, merchant)
		case h.read != nil:
			v, err := h.read(r, merchant)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			writeJSON(w, rt.Status, v)
		default:
			s.write(w, r, rt, h, merchant)
		}
	})
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if e := apierr.From(err); e.Code == apierr.Internal {
		s.log.Error("internal API", "path", r.URL.EscapedPath(), "err", err)
	}
	apierr.Write(w, err)
}

// write runs a write in one batch, with the idempotency record of a POST
// that carries an Idempotency-Key.
func (s *Server) write(w http.ResponseWriter, r *http.Request, rt *merchantapi.Route, h handler, merchant string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, merchantapi.MaxBody+1))
	if err != nil {
		apierr.Write(w, apierr.New(apierr.InvalidJSON, "cannot read body: %v", err))
		return
	}
	if len(body) > merchantapi.MaxBody {
		apierr.Write(w, apierr.New(apierr.PayloadTooLarge, "request body is larger than %d bytes", merchantapi.MaxBody))
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if r.Method != http.MethodPost {
		key = ""
	}
	owner := merchant
	if owner == "" {
		owner = "admin"
	}
	var reqHash string
	if key != "" {
		if err := merchantapi.ValidateIdempotencyKey(key); err != nil {
			apierr.Write(w, err)
			return
		}
		sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.EscapedPath()+"?"+r.URL.RawQuery+"\n"), body...))
		reqHash = hex.EncodeToString(sum[:])
		release := s.locks.lock(owner + "\x00" + key)
		defer release()
		if prev, ok, err := s.idempotent(s.db, owner, key); err != nil {
			s.fail(w, r, err)
			return
		} else if ok {
			if prev.RequestHash != reqHash {
				apierr.Write(w, apierr.New(apierr.IdempotencyKeyReused, "Idempotency-Key %q was used with another request", key))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(prev.Status)
			w.Write(prev.Body)
			return
		}
	}
	var out []byte
	if h.check != nil {
		err = h.check(r, merchant, body)
	}
	if err == nil {
		err = s.db.Write(func(b *store.Batch) error {
			v, err := h.write(b, r, merchant, body)
			if err != nil {
				return err
			}
			if out, err = json.Marshal(v); err != nil {
				return err
			}
			if key == "" {
				return nil
			}
			return s.remember(b, owner, key, store.IdemRecord{RequestHash: reqHash, Status: rt.Status, Body: out, CreatedAt: s.now().UTC()})
		})
	}
	if err != nil {
		if e := apierr.From(err); key != "" && e.StatusCode < 500 && e.Code != apierr.LimitExceeded {
			// A refusal wrote nothing: remembering it, in a batch of its
			// own, gives a retry the same answer.
			body, _ := json.Marshal(e)
			if rerr := s.db.Write(func(b *store.Batch) error {
				return s.remember(b, owner, key, store.IdemRecord{RequestHash: reqHash, Status: e.StatusCode, Body: body, CreatedAt: s.now().UTC()})
			}); rerr != nil {
				s.log.Warn("store the idempotency record of a refusal", "err", rerr)
			}
		}
		s.fail(w, r, err)
		return
	}
	if h.after != nil {
		h.after()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rt.Status)
	w.Write(append(out, '\n'))
}

const idemCount = "idempotency"

// idempotent reads a live idempotency record.
func (s *Server) idempotent(rd store.Reader, owner, key string) (store.IdemRecord, bool, error) {
	var rec store.IdemRecord
	err := store.GetJSON(rd, store.IdempotencyKey(owner, key), &rec)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return rec, false, nil
	case err != nil:
		return rec, false, err
	}
	return rec, s.now().Sub(rec.CreatedAt) < IdempotencyTTL, nil
}

// remember stores an idempotency record in b, with its expiry index row,
// within the merchant's bound.
func (s *Server) remember(b *store.Batch, owner, key string, rec store.IdemRecord) error {
	k := store.IdempotencyKey(owner, key)
	var old store.IdemRecord
	err := store.GetJSON(b, k, &old)
	switch {
	case err == nil:
		// An expired record is replaced; its index row is left for the
		// sweep, which checks the time.
	case errors.Is(err, store.ErrNotFound):
		n, err := counter(b, store.MerchantCountKey(owner, idemCount))
		if err != nil {
			return err
		}
		if n >= s.maxIdem {
			return apierr.New(apierr.LimitExceeded, "%d Idempotency-Keys are held for this merchant (the most for %s); send requests without one, or wait", n, IdempotencyTTL)
		}
		if err := b.Set(store.MerchantCountKey(owner, idemCount), binary.BigEndian.AppendUint64(nil, n+1), nil); err != nil {
			return err
		}
	default:
		return err
	}
	if err := b.PutJSON(k, rec); err != nil {
		return err
	}
	return b.Set(store.IdempotencyExpiryKey(rec.CreatedAt, owner, key), nil, nil)
}

func counter(rd store.Reader, k []byte) (uint64, error) {
	v, err := store.GetRaw(rd, k)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("count %q of %d bytes", k, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// SweepIdempotency deletes the idempotency records older than
// IdempotencyTTL, a bounded number per batch; it returns how many.
func (s *Server) SweepIdempotency() (int, error) {
	cutoff := s.now().Add(-IdempotencyTTL).UnixNano()
	type row struct {
		index   []byte
		created int64
		owner   string
		key     string
	}
	total := 0
	for {
		var rows []row
		err := store.Scan(s.db, store.IdempotencyExpiryPrefix(), false, func(k, _ []byte) (bool, error) {
			created, owner, key, ok := store.IdempotencyExpiryOf(k)
			if ok && created >= cutoff {
				return false, nil
			}
			rows = append(rows, row{append([]byte(nil), k...), created, owner, key})
			return len(rows) < 1000, nil
		})
		if err != nil || len(rows) == 0 {
			return total, err
		}
		err = s.db.Write(func(b *store.Batch) error {
			for _, x := range rows {
				if err := b.Delete(x.index, nil); err != nil {
					return err
				}
				k := store.IdempotencyKey(x.owner, x.key)
				var rec store.IdemRecord
				if err := store.GetJSON(b, k, &rec); err != nil {
					if errors.Is(err, store.ErrNotFound) {
						continue
					}
					return err
				}
				if rec.CreatedAt.UnixNano() != x.created {
					continue // replaced since: its own index row expires it
				}
				if err := b.Delete(k, nil); err != nil {
					return err
				}
				ck := store.MerchantCountKey(x.owner, idemCount)
				n, err := counter(b, ck)
				if err != nil {
					return err
				}
				if err := b.Set(ck, binary.BigEndian.AppendUint64(nil, max(n, 1)-1), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += len(rows)
	}
}

// keyLocks serialises requests with the same idempotency key. An entry
// lives only while a request holds or waits for it, so the map is bounded
// by the requests in flight.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func (l *keyLocks) lock(k string) (release func()) {
	l.mu.Lock()
	e := l.m[k]
	if e == nil {
		e = &keyLock{}
		l.m[k] = e
	}
	e.refs++
	l.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, k)
		}
		l.mu.Unlock()
	}
}

// held is how many keys have an entry (for tests).
func (l *keyLocks) held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
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

func (s *Server) chains(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{}
	for _, c := range s.assets.Chains {
		st, err := store.GetChainState(s.db, c.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if st.Tip != 0 || st.Halted {
			out[string(c.ID)] = st
		}
	}
	writeJSON(w, 200, out)
}

// decode reads a strict JSON body (re-checked here: apid checked it too).
func decode[T any](body []byte) (*T, error) {
	var v T
	if err := merchantapi.UnmarshalStrict(body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

func (s *Server) createMerchant(b *store.Batch, r *http.Request, _ string, body []byte) (any, error) {
	req, err := decode[merchantapi.MerchantRequest](body)
	if err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	m, key, err := s.reg.CreateMerchant(b, req.Name, req.IsLive(), "")
	if err != nil {
		return nil, err
	}
	if req.ToleranceBps > 0 {
		m.ToleranceBps = req.ToleranceBps
		if err := b.PutJSON(store.MerchantKey(m.ID), m); err != nil {
			return nil, err
		}
	}
	s.log.Info("merchant created by the operator", "merchant", m.ID, "live", m.Live)
	return map[string]any{"merchantId": m.ID, "name": m.Name, "apiKey": key, "toleranceBps": m.ToleranceBps}, nil
}

// keyOwner is the merchant whose keys a key route acts on: the caller's,
// or on an admin route the {merchantId} of the path, which must exist.
func (s *Server) keyOwner(rd store.Reader, r *http.Request, merchant string) (string, bool, error) {
	id := r.PathValue("merchantId")
	if id == "" {
		return merchant, false, nil
	}
	if _, err := s.reg.MerchantIn(rd, id); err != nil {
		return "", true, err
	}
	return id, true, nil
}

func viewKey(k store.APIKey) map[string]any {
	return map[string]any{"id": k.ID, "prefix": k.Prefix, "createdAt": events.APITime{Time: k.CreatedAt}}
}

func (s *Server) listKeys(r *http.Request, merchant string) (any, error) {
	owner, _, err := s.keyOwner(s.db, r, merchant)
	if err != nil {
		return nil, err
	}
	keys, err := s.reg.Keys(s.db, owner)
	if err != nil {
		return nil, err
	}
	data := make([]any, 0, len(keys))
	for _, k := range keys {
		data = append(data, viewKey(k))
	}
	return map[string]any{"data": data}, nil
}

func (s *Server) createKey(b *store.Batch, r *http.Request, merchant string, _ []byte) (any, error) {
	owner, admin, err := s.keyOwner(b, r, merchant)
	if err != nil {
		return nil, err
	}
	rec, key, err := s.reg.CreateKey(b, owner)
	if err != nil {
		return nil, err
	}
	s.log.Info("API key created", "merchant", owner, "key", rec.ID, "by_operator", admin)
	v := viewKey(rec)
	v["apiKey"] = key
	return v, nil
}

func (s *Server) revokeKey(b *store.Batch, r *http.Request, merchant string, _ []byte) (any, error) {
	owner, admin, err := s.keyOwner(b, r, merchant)
	if err != nil {
		return nil, err
	}
	rec, err := s.reg.RevokeKey(b, owner, r.PathValue("keyId"), admin)
	if err != nil {
		return nil, err
	}
	return map[string]any{"success": true, "id": rec.ID}, nil
}

// resumeChain hands the resumption to the ledger's consumer and answers
// once it is done (it writes nothing of its own in a batch).
func (s *Server) resumeChain(w http.ResponseWriter, r *http.Request, _ string) {
	fail := func(err error) { apierr.Write(w, err) }
	body, err := io.ReadAll(io.LimitReader(r.Body, merchantapi.MaxBody))
	if err != nil {
		fail(apierr.New(apierr.InvalidJSON, "cannot read the body"))
		return
	}
	req, err := decode[merchantapi.ResumeRequest](body)
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		fail(err)
		return
	}
	id := chain.ID(r.PathValue("chainId"))
	if _, err := s.assets.Chain(id); err != nil || !slices.Contains(s.enabled, id) {
		fail(apierr.New(apierr.UnsupportedChain, "ledgerd does not consume %q; it consumes %s", id, s.enabledText()))
		return
	}
	if s.resume == nil {
		fail(apierr.New(apierr.Unavailable, "this ledgerd cannot resume chains"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	st, err := s.resume(ctx, id, req.Reason, "admin API from "+r.RemoteAddr)
	switch {
	case errors.Is(err, ledger.ErrNotHalted):
		fail(apierr.New(apierr.ChainNotHalted, "%s is not halted", id))
		return
	case errors.Is(err, ledger.ErrCannotResume):
		fail(apierr.New(apierr.CannotResume, "%v", err))
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	last := st.Resumes[len(st.Resumes)-1]
	writeJSON(w, 200, map[string]any{"chainId": id, "resumed": true, "acceptReorg": st.AcceptReorg, "haltReason": last.HaltReason,
		"tip": st.Tip, "finalized": st.Finalized, "resumes": st.Resumes})
}

func (s *Server) listMerchants(r *http.Request, _ string) (any, error) {
	ms, err := s.reg.Merchants()
	if err != nil {
		return nil, err
	}
	data := make([]any, 0, len(ms))
	for _, m := range ms {
		data = append(data, map[string]any{"merchantId": m.ID, "name": m.Name, "live": m.Live, "toleranceBps": m.ToleranceBps,
			"createdAt": events.APITime{Time: m.CreatedAt}})
	}
	return map[string]any{"data": data}, nil
}

func (s *Server) bind(b *store.Batch, r *http.Request, merchant string, body []byte) (any, error) {
	req, err := decode[merchantapi.BindRequest](body)
	if err != nil {
		return nil, err
	}
	spec, _, err := req.Validate(s.assets)
	if err == nil && !s.familyEnabled(spec.Family) {
		// Nothing would ever see a deposit to the address.
		return nil, apierr.New(apierr.ChainNotEnabled, "no chain of protocol %s is followed here; the chains followed are %s", spec.Family, s.enabledText())
	}
	resp, err := s.reg.Bind(b, merchant, *req)
	if err == nil && !slices.Contains(s.enabled, spec.ID) {
		var same []string
		for _, id := range s.enabled {
			if c, err := s.assets.Chain(id); err == nil && c.Family == spec.Family {
				same = append(same, string(id))
			}
		}
		resp.Warning = fmt.Sprintf("%s is not followed here: a deposit to this address is seen only on %s, the chains of protocol %s followed", spec.ID, strings.Join(same, ", "), spec.Family)
	}
	return resp, err
}

func (s *Server) listReferences(r *http.Request, merchant string) (any, error) {
	q := r.URL.Query()
	p, err := merchantapi.ParsePage(q)
	if err != nil {
		return nil, err
	}
	search, err := merchantapi.ParseSearch(q)
	if err != nil {
		return nil, err
	}
	cursor, err := merchantapi.ParseCursor(q)
	if err != nil {
		return nil, err
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	data, pg, err := history.ListReferences(snap, s.assets, merchant, p, search, cursor)
	if err != nil {
		return nil, err
	}
	return map[string]any{"data": data, "pagination": pg}, nil
}

func (s *Server) getReference(r *http.Request, merchant string) (any, error) {
	ch, err := merchantapi.ParseChainFilter(r.URL.Query(), s.assets)
	if err != nil {
		return nil, err
	}
	return history.GetReference(s.db, s.assets, merchant, r.PathValue("ref"), ch)
}

func (s *Server) unbind(b *store.Batch, r *http.Request, merchant string, _ []byte) (any, error) {
	ch, err := merchantapi.ParseChainFilter(r.URL.Query(), s.assets)
	if err != nil {
		return nil, err
	}
	return s.reg.Unbind(b, merchant, r.PathValue("ref"), ch)
}

func (s *Server) listDeposits(r *http.Request, merchant string) (any, error) {
	q := r.URL.Query()
	p, err := merchantapi.ParsePage(q)
	if err != nil {
		return nil, err
	}
	dq, err := merchantapi.ParseDepositQuery(q, s.assets)
	if err != nil {
		return nil, err
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	data, pg, err := history.Deposits(snap, merchant, history.Filter{Reference: dq.Reference, Status: dq.Status,
		Currency: dq.Currency, ChainID: dq.ChainID, SortBy: dq.SortBy, Desc: dq.Desc}, p, dq.Cursor)
	if err != nil {
		return nil, err
	}
	return map[string]any{"data": data, "pagination": pg}, nil
}

func (s *Server) getDeposit(r *http.Request, merchant string) (any, error) {
	return history.Get(s.db, merchant, r.PathValue("id"))
}

func (s *Server) importAddresses(b *store.Batch, r *http.Request, merchant string, body []byte) (any, error) {
	req, err := decode[merchantapi.ImportRequest](body)
	if err != nil {
		return nil, err
	}
	imp, err := req.Parse()
	if err != nil {
		return nil, err
	}
	return s.reg.Import(b, merchant, imp)
}

// refuseConflicts refuses an import with an address in another merchant's
// pool, and records the conflict for the operator in a batch of its own.
func (s *Server) refuseConflicts(r *http.Request, merchant string, body []byte) error {
	req, err := decode[merchantapi.ImportRequest](body)
	if err != nil {
		return err
	}
	imp, err := req.Parse()
	if err != nil {
		return err
	}
	return s.reg.RefuseConflicts(merchant, imp)
}

func (s *Server) listAddresses(r *http.Request, merchant string) (any, error) {
	q := r.URL.Query()
	p, err := merchantapi.ParsePage(q)
	if err != nil {
		return nil, err
	}
	status, fam, err := merchantapi.ParseAddressQuery(q)
	if err != nil {
		return nil, err
	}
	data, pg, err := s.reg.ListAddresses(s.db, merchant, status, fam, p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"data": data, "pagination": pg}, nil
}

func (s *Server) balances(r *http.Request, merchant string) (any, error) {
	bq, err := merchantapi.ParseBalanceQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	if bq.Product != "" {
		if s.sessions == nil {
			return nil, apierr.New(apierr.Unavailable, "payment sessions are not served by this ledgerd")
		}
		data, err := s.sessions.ProductBalances(merchant, bq.Reference, bq.Product, bq.Currency)
		if err != nil {
			return nil, err
		}
		return map[string]any{"data": data}, nil
	}
	if bq.Reference != nil {
		// A reference that does not exist is not found, not empty.
		if _, err := registry.GetReference(s.db, merchant, *bq.Reference); err != nil {
			return nil, err
		}
	}
	data, err := history.Balances(s.db, s.assets, merchant, bq.Reference, bq.Currency)
	if err != nil {
		return nil, err
	}
	return map[string]any{"data": data}, nil
}

type endpointView struct {
	ID                      string   `json:"id"`
	URL                     string   `json:"url"`
	Events                  []string `json:"events"`
	Secret                  string   `json:"secret,omitempty"`
	PreviousSecretExpiresAt string   `json:"previousSecretExpiresAt,omitempty"`
	CreatedAt               string   `json:"createdAt"`
}

const apiTime = "2006-01-02T15:04:05.000Z"

func (s *Server) viewEndpoint(ep *store.Endpoint, withSecret bool) endpointView {
	v := endpointView{ID: ep.ID, URL: ep.URL, Events: ep.Events, CreatedAt: ep.CreatedAt.UTC().Format(apiTime)}
	if withSecret {
		v.Secret = ep.Secret
	}
	if len(ep.Secrets(s.now())) > 1 {
		v.PreviousSecretExpiresAt = ep.PreviousSecretUntil.UTC().Format(apiTime)
	}
	return v
}

func (s *Server) createEndpoint(b *store.Batch, r *http.Request, merchant string, body []byte) (any, error) {
	req, err := decode[merchantapi.EndpointRequest](body)
	if err != nil {
		return nil, err
	}
	if err := req.Validate(s.devHTTP); err != nil {
		return nil, err
	}
	ep, err := s.reg.CreateEndpoint(b, merchant, req.URL, req.Events)
	if err != nil {
		return nil, err
	}
	return s.viewEndpoint(ep, true), nil
}

func (s *Server) rotateSecret(b *store.Batch, r *http.Request, merchant string, body []byte) (any, error) {
	req := &merchantapi.RotateSecretRequest{}
	if len(body) > 0 {
		var err error
		if req, err = decode[merchantapi.RotateSecretRequest](body); err != nil {
			return nil, err
		}
	}
	overlap, err := req.Overlap()
	if err != nil {
		return nil, err
	}
	ep, err := s.reg.RotateSecret(b, merchant, r.PathValue("id"), overlap)
	if err != nil {
		return nil, err
	}
	return s.viewEndpoint(ep, true), nil
}

func (s *Server) listEndpoints(r *http.Request, merchant string) (any, error) {
	eps, err := registry.EndpointsOf(s.db, merchant)
	if err != nil {
		return nil, err
	}
	out := make([]endpointView, len(eps))
	for i := range eps {
		out[i] = s.viewEndpoint(&eps[i], false)
	}
	return map[string]any{"data": out}, nil
}

func (s *Server) getEndpoint(r *http.Request, merchant string) (any, error) {
	ep, err := registry.GetEndpoint(s.db, merchant, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return s.viewEndpoint(ep, false), nil
}

func (s *Server) deleteEndpoint(b *store.Batch, r *http.Request, merchant string, _ []byte) (any, error) {
	id := r.PathValue("id")
	if err := s.reg.DeleteEndpoint(b, merchant, id); err != nil {
		return nil, err
	}
	return map[string]any{"success": true, "id": id}, nil
}

func (s *Server) deliveries(r *http.Request, merchant string) (any, error) {
	ep, err := registry.GetEndpoint(s.db, merchant, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	p, err := merchantapi.ParsePage(r.URL.Query())
	if err != nil {
		return nil, err
	}
	data, pg, err := s.hooks.Deliveries(ep.ID, p)
	if err != nil {
		return nil, err
	}
	out := make([]DeliveryView, len(data))
	for i := range data {
		out[i] = viewDelivery(&data[i])
	}
	return map[string]any{"data": out, "pagination": pg}, nil
}

// DeliveryView is a delivery as the API shows it: the Delivery schema,
// times in the API's milliseconds, and nothing of the store's own (its
// merchant).
type DeliveryView struct {
	ID            string          `json:"id"`
	EndpointID    string          `json:"endpointId"`
	EventID       string          `json:"eventId"`
	EventType     string          `json:"eventType"`
	Status        string          `json:"status"`
	CreatedAt     events.APITime  `json:"createdAt"`
	NextAttemptAt *events.APITime `json:"nextAttemptAt"`
	Attempts      []AttemptView   `json:"attempts"`
}

// AttemptView is one attempt of a DeliveryView.
type AttemptView struct {
	At         events.APITime `json:"at"`
	StatusCode int            `json:"statusCode,omitempty"`
	Error      string         `json:"error,omitempty"`
	DurationMs int64          `json:"durationMs"`
}

func viewDelivery(d *store.Delivery) DeliveryView {
	v := DeliveryView{ID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID, EventType: d.EventType, Status: d.Status,
		CreatedAt: events.APITime{Time: d.CreatedAt}, NextAttemptAt: events.TimePtr(d.NextAt), Attempts: make([]AttemptView, len(d.Attempts))}
	for i, a := range d.Attempts {
		v.Attempts[i] = AttemptView{At: events.APITime{Time: a.At}, StatusCode: a.StatusCode, Error: a.Error, DurationMs: a.DurationMs}
	}
	return v
}

func (s *Server) replay(b *store.Batch, r *http.Request, merchant string, _ []byte) (any, error) {
	id := r.PathValue("id")
	n, err := s.hooks.Replay(b, merchant, id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"eventId": id, "deliveries": n}, nil
}

func (s *Server) listConflicts(r *http.Request, _ string) (any, error) {
	p, err := merchantapi.ParsePage(r.URL.Query())
	if err != nil {
		return nil, err
	}
	data, pg, err := s.reg.Conflicts(p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"data": data, "pagination": pg}, nil
}

func (s *Server) reassign(b *store.Batch, r *http.Request, _ string, body []byte) (any, error) {
	req, err := decode[merchantapi.ReassignAddressRequest](body)
	if err != nil {
		return nil, err
	}
	a, to, err := req.Parse()
	if err != nil {
		return nil, err
	}
	return s.reg.Reassign(b, a, to)
}

func (s *Server) createSession(b *store.Batch, r *http.Request, merchant string, body []byte) (any, error) {
	if s.sessions == nil {
		return nil, apierr.New(apierr.Unavailable, "payment sessions are not served by this ledgerd")
	}
	req, err := decode[merchantapi.PaymentSessionRequest](body)
	if err != nil {
		return nil, err
	}
	m, err := s.reg.Merchant(merchant)
	if err != nil {
		return nil, err
	}
	return s.sessions.Create(b, m, req)
}

func (s *Server) getSession(r *http.Request, merchant string) (any, error) {
	if s.sessions == nil {
		return nil, apierr.New(apierr.Unavailable, "payment sessions are not served by this ledgerd")
	}
	return s.sessions.Get(merchant, r.PathValue("sessionId"))
}

// checkout serves a session's checkout view (any merchant's: the page has
// no key, its id is the capability) for apid's hosted checkout page.
func (s *Server) checkout(w http.ResponseWriter, r *http.Request) {
	id, ok := s.checkoutID(w, r)
	if !ok {
		return
	}
	v, err := s.sessions.Checkout(id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// checkoutOpened records that a session's checkout page was opened.
func (s *Server) checkoutOpened(w http.ResponseWriter, r *http.Request) {
	id, ok := s.checkoutID(w, r)
	if !ok {
		return
	}
	if err := s.sessions.Opened(id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) checkoutID(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.sessions == nil {
		apierr.Write(w, apierr.New(apierr.Unavailable, "payment sessions are not served by this ledgerd"))
		return "", false
	}
	id := r.PathValue("sessionId")
	if !merchantapi.ValidSessionID(id) {
		apierr.Write(w, apierr.New(apierr.SessionNotFound, "no payment session"))
		return "", false
	}
	return id, true
}

func (s *Server) listSessions(r *http.Request, merchant string) (any, error) {
	if s.sessions == nil {
		return nil, apierr.New(apierr.Unavailable, "payment sessions are not served by this ledgerd")
	}
	q := r.URL.Query()
	p, err := merchantapi.ParsePage(q)
	if err != nil {
		return nil, err
	}
	status := q.Get("status")
	if status != "" && !slices.Contains(merchantapi.SessionStatuses, status) {
		return nil, apierr.New(apierr.InvalidParameter, "status %q: want one of %s", status, strings.Join(merchantapi.SessionStatuses, ", "))
	}
	data, pg, err := s.sessions.List(merchant, q.Get("customerId"), status, p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"data": data, "pagination": pg}, nil
}

func (s *Server) channel(b *store.Batch, r *http.Request, merchant string, body []byte) (any, error) {
	if s.sessions == nil {
		return nil, apierr.New(apierr.Unavailable, "channels are not served by this ledgerd")
	}
	req, err := decode[merchantapi.ChannelRequest](body)
	if err != nil {
		return nil, err
	}
	ch, err := s.sessions.Channel(b, merchant, req)
	if err != nil {
		return nil, err
	}
	return map[string]any{"data": ch}, nil
}

func (s *Server) listChannels(r *http.Request, merchant string) (any, error) {
	if s.sessions == nil {
		return nil, apierr.New(apierr.Unavailable, "channels are not served by this ledgerd")
	}
	customer := r.URL.Query().Get("customerId")
	if customer != "" {
		if err := merchantapi.ValidateReference(customer); err != nil {
			return nil, err
		}
	}
	data, err := s.sessions.Channels(merchant, customer)
	if err != nil {
		return nil, err
	}
	return map[string]any{"data": data}, nil
}

// familyEnabled says whether a chain of the family is consumed here.
func (s *Server) familyEnabled(f chain.Family) bool {
	for _, id := range s.enabled {
		if spec, err := s.assets.Chain(id); err == nil && spec.Family == f {
			return true
		}
	}
	return false
}

func (s *Server) enabledText() string {
	out := make([]string, len(s.enabled))
	for i, id := range s.enabled {
		out[i] = string(id)
	}
	return strings.Join(out, ", ")
}

func (s *Server) listChains(r *http.Request, _ string) (any, error) {
	type currency struct {
		Currency string `json:"currency"`
		Decimals uint8  `json:"decimals"`
		Contract string `json:"contract,omitempty"`
		TokenID  string `json:"tokenId,omitempty"`
	}
	type view struct {
		ChainID    string     `json:"chainId"`
		Name       string     `json:"name"`
		Protocol   string     `json:"protocol"`
		Testnet    bool       `json:"testnet"`
		Currencies []currency `json:"currencies"`
		Policy     struct {
			CreditDepth   uint64 `json:"creditDepth"`
			Finality      string `json:"finality"`
			FinalityDepth uint64 `json:"finalityDepth,omitempty"`
			MaxReorgDepth uint64 `json:"maxReorgDepth"`
		} `json:"policy"`
		Indexing struct {
			Tip        uint64 `json:"tip"`
			Finalized  uint64 `json:"finalized"`
			Halted     bool   `json:"halted"`
			HaltReason string `json:"haltReason,omitempty"`
		} `json:"indexing"`
	}
	out := []view{}
	for _, id := range s.enabled {
		spec, err := s.assets.Chain(id)
		if err != nil {
			continue
		}
		v := view{ChainID: string(spec.ID), Name: spec.Name, Protocol: spec.Family.String(), Testnet: spec.Testnet, Currencies: []currency{}}
		for _, a := range spec.Assets {
			v.Currencies = append(v.Currencies, currency{Currency: a.Currency, Decimals: a.Decimals, Contract: a.Contract, TokenID: a.TokenID})
		}
		v.Policy.CreditDepth, v.Policy.Finality, v.Policy.FinalityDepth, v.Policy.MaxReorgDepth = spec.Policy.CreditDepth, string(spec.Policy.Finality),
			spec.Policy.FinalityDepth, spec.Policy.MaxReorgDepth
		st, err := store.GetChainState(s.db, id)
		if err != nil {
			return nil, err
		}
		v.Indexing.Tip, v.Indexing.Finalized, v.Indexing.Halted, v.Indexing.HaltReason = st.Tip, st.Finalized, st.Halted, st.HaltReason
		out = append(out, v)
	}
	return map[string]any{"data": out}, nil
}
