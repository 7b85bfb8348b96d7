package sessions

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/inflowhq/inflow/ledgerd/history"
	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
	"github.com/inflowhq/inflow/pkg/payuri"
)

// Config configures a Service.
type Config struct {
	// PublicURL is the base of checkoutUrl and qrCodeUrl (the API's public
	// address).
	PublicURL string
	// Grace is how long a session keeps its addresses after it ends, so
	// that a late payment is still the customer's (default: the cooldown).
	Grace  time.Duration
	Logger *slog.Logger
	Now    func() time.Time
	// Emit stores an event in b for the merchant's webhook endpoints
	// (webhook.Service.Enqueue); Emitted runs after the batch is durable.
	Emit func(b *store.Batch, merchant, id, typ string, body []byte, extra ...string) (int, error)
	// AllowLoopbackHTTP accepts http://127.0.0.1 notification URLs (dev
	// mode), as webhook endpoints do.
	AllowLoopbackHTTP bool
	Emitted           func()
}

// Service keeps the payment sessions: it makes them (binding an address
// of their own per protocol, under the customer's reference), follows
// their payments from the customer's deposits at those addresses, and
// ends and releases them.
type Service struct {
	db     *store.DB
	reg    *registry.Registry
	table  *assets.Config
	chains []chain.ID
	o      Config
}

// New makes the service over ledgerd's store, for the chains it follows.
func New(db *store.DB, reg *registry.Registry, table *assets.Config, chains []chain.ID, o Config) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Grace <= 0 {
		o.Grace = reg.Cooldown()
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	return &Service{db: db, reg: reg, table: table, chains: chains, o: o}
}

// SetPublicURL sets the base of checkoutUrl once the API's address is known.
func (s *Service) SetPublicURL(u string) { s.o.PublicURL = strings.TrimRight(u, "/") }

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "ps_" + hex.EncodeToString(b)
}

// Create makes a session in b.
func (s *Service) Create(b *store.Batch, m *store.Merchant, req *merchantapi.PaymentSessionRequest) (*View, error) {
	expiresIn, err := req.Validate(m.Live, s.o.AllowLoopbackHTTP)
	if err != nil {
		return nil, err
	}
	var chainIDs []chain.ID
	for _, c := range req.ChainIDs {
		id := chain.ID(c)
		if !contains(s.chains, id) {
			return nil, apierr.New(apierr.UnsupportedChain, "chain %q is not followed here (followed: %s)", c, joinIDs(s.chains))
		}
		chainIDs = append(chainIDs, id)
	}
	codes := make([]string, 0, len(req.Amounts))
	for c := range req.Amounts {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	var reqs []Request
	for _, c := range codes {
		reqs = append(reqs, Request{Code: c, Amount: req.Amounts[c]})
	}
	opts, err := Options(s.table, s.chains, chainIDs, reqs)
	switch {
	case errors.Is(err, ErrBadAmount):
		return nil, apierr.New(apierr.InvalidAmount, "%v", err)
	case errors.Is(err, ErrUnknownCurrency), errors.Is(err, ErrNoOption):
		return nil, apierr.New(apierr.UnsupportedCurrency, "%v", err)
	case err != nil:
		return nil, err
	}
	if len(opts) == 0 {
		return nil, apierr.New(apierr.UnsupportedCurrency, "no chain offered carries a currency")
	}
	now := s.o.Now().UTC()
	sess := &store.Session{ID: newID(), Merchant: m.ID, Customer: store.SessionCustomer(req.Customer), Product: req.Product,
		ReturnURL: req.ReturnURL, NotificationURL: req.NotificationURL, Metadata: req.Metadata, Status: StatusCreated, CreatedAt: now,
		ToleranceBps: m.ToleranceBps,
		ExpiresAt:    now.Add(time.Duration(expiresIn) * time.Second), Option: -1,
		Timeline: []store.SessionEvent{{Type: StatusCreated, At: now}}, Payments: []store.SessionPayment{}, LatePayments: []store.SessionPayment{}}
	byFam := map[chain.Family]uint64{}
	for _, o := range opts {
		spec, _ := s.table.Chain(o.Chain)
		id, ok := byFam[spec.Family]
		if !ok {
			pa, err := s.reg.BindSession(b, m.ID, req.Customer.ID, sess.ID, spec.Family, o.Chain, o.Currency)
			if err != nil {
				return nil, err
			}
			id = pa.ID
			byFam[spec.Family] = id
			sess.Addresses = append(sess.Addresses, store.SessionAddress{Family: spec.Family, ID: id, ChainID: o.Chain})
		}
		due := ""
		if !o.Due.IsZero() {
			due = o.Due.String()
		}
		sess.Options = append(sess.Options, store.SessionOption{Currency: o.Currency, ChainID: o.Chain, Decimals: o.Decimals, Due: due, Address: id})
	}
	secret := ""
	if req.NotificationURL != "" {
		ep, err := s.reg.CreateSessionEndpoint(b, m.ID, sess.ID, req.NotificationURL)
		if err != nil {
			return nil, err
		}
		sess.NotificationEndpoint, secret = ep.ID, ep.Secret
	}
	if err := s.put(b, sess); err != nil {
		return nil, err
	}
	if err := b.Set(store.SessionIDKey(sess.ID), []byte(m.ID), nil); err != nil {
		return nil, err
	}
	if err := b.Set(store.OpenSessionKey(sess.ID), nil, nil); err != nil {
		return nil, err
	}
	v, err := s.view(b, sess)
	if err != nil {
		return nil, err
	}
	v.NotificationSecret = secret // shown once
	return v, nil
}

func (s *Service) put(b *store.Batch, sess *store.Session) error {
	return b.PutJSON(store.SessionKey(sess.Merchant, sess.ID), sess)
}

// load reads a session of a merchant ("" finds its merchant by id).
func (s *Service) load(rd store.Reader, merchant, id string) (*store.Session, error) {
	if !merchantapi.ValidSessionID(id) {
		return nil, apierr.New(apierr.SessionNotFound, "no payment session %q", id)
	}
	if merchant == "" {
		m, err := store.GetRaw(rd, store.SessionIDKey(id))
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.New(apierr.SessionNotFound, "no payment session %q", id)
		} else if err != nil {
			return nil, err
		}
		merchant = string(m)
	}
	sess := &store.Session{}
	err := store.GetJSON(rd, store.SessionKey(merchant, id), sess)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierr.New(apierr.SessionNotFound, "no payment session %q", id)
	}
	return sess, err
}

// Get returns a merchant's session.
func (s *Service) Get(merchant, id string) (*View, error) {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	sess, err := s.load(snap, merchant, id)
	if err != nil {
		return nil, err
	}
	return s.view(snap, sess)
}

// List returns a merchant's sessions, newest first, by customer and status.
func (s *Service) List(merchant, customer, status string, p merchantapi.Page) ([]*View, merchantapi.Pagination, error) {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	var all []*store.Session
	err := store.Scan(snap, store.SessionPrefix(merchant), false, func(_, v []byte) (bool, error) {
		sess := &store.Session{}
		if err := json.Unmarshal(v, sess); err != nil {
			return false, err
		}
		if (customer == "" || sess.Customer.ID == customer) && (status == "" || sess.Status == status) {
			all = append(all, sess)
		}
		return true, nil
	})
	if err != nil {
		return nil, merchantapi.Pagination{}, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].CreatedAt.After(all[j].CreatedAt) })
	total := len(all)
	from := min((p.Page-1)*p.Limit, total)
	to := min(from+p.Limit, total)
	out := []*View{}
	for _, sess := range all[from:to] {
		v, err := s.view(snap, sess)
		if err != nil {
			return nil, merchantapi.Pagination{}, err
		}
		out = append(out, v)
	}
	pages := (total + p.Limit - 1) / p.Limit
	return out, merchantapi.Pagination{Page: p.Page, Limit: p.Limit, Total: total, TotalPages: pages, HasMore: to < total}, nil
}

// Checkout returns what the session's hosted checkout page shows: the
// customer's side of it, nothing of the merchant. Any merchant's session
// (the page has no key: its id is the capability).
func (s *Service) Checkout(id string) (*merchantapi.CheckoutView, error) {
	v, err := s.Get("", id)
	if err != nil {
		return nil, err
	}
	out := &merchantapi.CheckoutView{SessionID: v.SessionID, Status: v.Status, ExpiresAt: v.ExpiresAt.Time, AmountReceived: v.AmountReceived, ReturnURL: v.ReturnURL,
		Options: []merchantapi.CheckoutOption{}, Payments: []merchantapi.CheckoutPayment{}}
	if v.AmountDue != nil {
		out.AmountDue = *v.AmountDue
	}
	if v.Currency != nil {
		out.Currency = *v.Currency
	}
	for _, o := range v.PaymentOptions {
		amount := ""
		if o.Amount != nil {
			amount = *o.Amount
		}
		out.Options = append(out.Options, merchantapi.CheckoutOption{Currency: o.Currency, ChainID: o.ChainID, ChainName: o.ChainName, Protocol: o.Protocol,
			Address: o.Address, Amount: amount, PaymentURI: o.PaymentURI})
	}
	for _, p := range v.Payments {
		req := uint64(0)
		if spec, err := s.table.Chain(p.ChainID); err == nil {
			req = spec.Policy.CreditDepth
		}
		out.Payments = append(out.Payments, merchantapi.CheckoutPayment{Amount: p.Amount, Currency: p.Currency, ChainID: string(p.ChainID), Status: p.Status,
			Confirmations: p.Confirmations, Required: req})
	}
	return out, nil
}

// Opened records that the checkout page was opened: a created session is
// pending.
func (s *Service) Opened(id string) error {
	err := s.db.Write(func(b *store.Batch) error {
		sess, err := s.load(b, "", id)
		if err != nil {
			return err
		}
		if sess.Opened {
			return nil
		}
		sess.Opened = true
		if err := s.advance(b, sess, s.o.Now().UTC()); err != nil {
			return err
		}
		return s.put(b, sess)
	})
	if err == nil && s.o.Emitted != nil {
		s.o.Emitted()
	}
	return err
}

// Tick follows every open session: their payments, their status, their
// end, and the release of their addresses after the grace.
func (s *Service) Tick(ctx context.Context) error {
	var ids []string
	if err := store.Scan(s.db, store.OpenSessionPrefix(), false, func(k, _ []byte) (bool, error) {
		ids = append(ids, store.OpenSessionOf(k))
		return true, ctx.Err()
	}); err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.follow(id); err != nil {
			s.o.Logger.Warn("payment session", "session", id, "err", err)
		}
	}
	if len(ids) > 0 && s.o.Emitted != nil {
		s.o.Emitted()
	}
	return nil
}

// Run ticks every interval until ctx ends.
func (s *Service) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
				s.o.Logger.Warn("payment sessions", "err", err)
			}
		}
	}
}

// follow brings one session up to date. Its payments are read from a
// snapshot, outside the writer's lock (the ledger writes meanwhile); a
// batch is written only when something changed, and only if the session
// is still as it was read (else the next tick does it).
func (s *Service) follow(id string) error {
	snap := s.db.NewSnapshot()
	sess, err := s.load(snap, "", id)
	if err != nil {
		snap.Close()
		return err
	}
	before, _ := json.Marshal(sess)
	pays, late, err := s.collect(snap, sess)
	snap.Close()
	if err != nil {
		return err
	}
	now := s.o.Now().UTC()
	// Would anything change?
	probe := *sess
	probe.Payments, probe.LatePayments = pays, late
	st := s.evaluate(&probe, now)
	ended := st.Status == StatusCompleted || st.Status == StatusExpired
	release := ended && sess.ReleasedAt == nil && now.After(s.endedAtWith(sess, st.Status, now).Add(s.o.Grace))
	if st.Status == sess.Status && !release && samePayments(pays, sess.Payments) && samePayments(late, sess.LatePayments) {
		return nil
	}
	return s.db.Write(func(b *store.Batch) error {
		cur, err := s.load(b, "", id)
		if err != nil {
			return err
		}
		if cb, _ := json.Marshal(cur); string(cb) != string(before) {
			return nil // changed meanwhile (the page opened): the next tick
		}
		return s.apply(b, cur, pays, late, now)
	})
}

// collect reads the customer's deposits at the session's addresses since
// it began: its payments, and those after it expired.
func (s *Service) collect(rd store.Reader, sess *store.Session) (pays, late []store.SessionPayment, err error) {
	addrs := map[string]bool{}
	for _, a := range sess.Addresses {
		pa, err := s.reg.PoolAddress(rd, a.ID)
		if err != nil {
			return nil, nil, err
		}
		for _, o := range sess.Options {
			if o.Address == a.ID {
				spec, _ := s.table.Chain(o.ChainID)
				addrs[string(o.ChainID)+" "+spec.AddressText(pa.Address())] = true
			}
		}
	}
	ref := sess.Customer.ID
	for page := 1; ; page++ {
		data, pg, err := history.Deposits(rd, sess.Merchant, history.Filter{Reference: &ref}, merchantapi.Page{Page: page, Limit: 100}, "")
		if err != nil {
			return nil, nil, err
		}
		for _, d := range data {
			if !addrs[d.ChainID+" "+d.Address] || d.DetectedAt.Before(sess.CreatedAt) {
				continue
			}
			p := store.SessionPayment{DepositID: d.DepositID, ChainID: chain.ID(d.ChainID), Currency: d.Currency, Amount: d.Amount,
				Status: d.Status, Confirmations: d.Confirmations, TxHash: d.TxHash}
			if d.DetectedAt.After(sess.ExpiresAt) {
				late = append(late, p)
			} else {
				pays = append(pays, p)
			}
		}
		if !pg.HasMore || len(data) == 0 {
			break
		}
	}
	sort.Slice(pays, func(i, j int) bool { return pays[i].DepositID < pays[j].DepositID })
	sort.Slice(late, func(i, j int) bool { return late[i].DepositID < late[j].DepositID })
	return nonNil(pays), nonNil(late), nil
}

func samePayments(a, b []store.SessionPayment) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// apply records the payments read, the status they make, a late payment,
// and the release of the addresses once the grace is over.
func (s *Service) apply(b *store.Batch, sess *store.Session, pays, late []store.SessionPayment, now time.Time) error {
	newLate := len(late) > len(sess.LatePayments)
	sess.Payments, sess.LatePayments = pays, late
	if err := s.advance(b, sess, now); err != nil {
		return err
	}
	if newLate {
		sess.Timeline = append(sess.Timeline, store.SessionEvent{Type: "late_payment", At: now})
		if err := s.emit(b, sess, "late_payment", now); err != nil {
			return err
		}
	}
	ended := sess.Status == StatusCompleted || sess.Status == StatusExpired
	if ended && sess.ReleasedAt == nil && now.After(s.endedAt(sess).Add(s.o.Grace)) {
		for _, a := range sess.Addresses {
			if err := s.reg.ReleaseSession(b, sess.ID, a.ID); err != nil {
				return err
			}
		}
		sess.ReleasedAt = &now
		if err := b.Delete(store.OpenSessionKey(sess.ID), nil); err != nil {
			return err
		}
	}
	return s.put(b, sess)
}

// endedAtWith is when the session ended, or now if it ends now.
func (s *Service) endedAtWith(sess *store.Session, status string, now time.Time) time.Time {
	if status != sess.Status {
		return now
	}
	return s.endedAt(sess)
}

func nonNil(p []store.SessionPayment) []store.SessionPayment {
	if p == nil {
		return []store.SessionPayment{}
	}
	return p
}

// endedAt is when the session reached completed or expired.
func (s *Service) endedAt(sess *store.Session) time.Time {
	for i := len(sess.Timeline) - 1; i >= 0; i-- {
		if e := sess.Timeline[i]; e.Type == StatusCompleted || e.Type == StatusExpired {
			return e.At
		}
	}
	return sess.ExpiresAt
}

// advance evaluates the session's payments and records a status change,
// with its event.
func (s *Service) advance(b *store.Batch, sess *store.Session, now time.Time) error {
	st := s.evaluate(sess, now)
	sess.Option = st.Option
	sess.Received = st.Received.String()
	if st.Status != sess.Status {
		sess.Status = st.Status
		sess.Timeline = append(sess.Timeline, store.SessionEvent{Type: st.Status, At: now})
		return s.emit(b, sess, st.Status, now)
	}
	return nil
}

// evaluate is what the session's payments make of it now.
func (s *Service) evaluate(sess *store.Session, now time.Time) State {
	opts := make([]Option, len(sess.Options))
	for i, o := range sess.Options {
		due := chain.Amount{}
		if o.Due != "" {
			due, _ = chain.ParseAmount(o.Due)
		}
		opts[i] = Option{Chain: o.ChainID, Currency: o.Currency, Decimals: o.Decimals, Due: due}
	}
	pays := make([]Payment, 0, len(sess.Payments))
	for _, p := range sess.Payments {
		dec := uint8(0)
		for _, o := range sess.Options {
			if o.ChainID == p.ChainID && o.Currency == p.Currency {
				dec = o.Decimals
			}
		}
		v, err := chain.ParseDecimal(p.Amount, dec)
		if err != nil {
			continue
		}
		pays = append(pays, Payment{Chain: p.ChainID, Currency: p.Currency, Amount: v, Status: p.Status})
	}
	return Evaluate(sess.Status, opts, pays, sess.ToleranceBps, sess.Opened, !now.Before(sess.ExpiresAt))
}

// sessionEvent is a payment session's webhook event: the session as the
// API shows it, with its amounts due and received.
type sessionEvent struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	CreatedAt  events.APITime `json:"createdAt"`
	MerchantID string         `json:"merchantId"`
	Data       *View          `json:"data"`
}

// emit stores the event of what just happened to the session (its
// timeline's last line) for the merchant's endpoints.
func (s *Service) emit(b *store.Batch, sess *store.Session, what string, now time.Time) error {
	if s.o.Emit == nil {
		return nil
	}
	v, err := s.view(b, sess)
	if err != nil {
		return err
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d", sess.ID, what, len(sess.Timeline))))
	ev := sessionEvent{ID: "evt_" + hex.EncodeToString(h[:12]), Type: "payment_session." + what, CreatedAt: events.APITime{Time: now},
		MerchantID: sess.Merchant, Data: v}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	var extra []string
	if sess.NotificationEndpoint != "" {
		extra = append(extra, sess.NotificationEndpoint)
	}
	_, err = s.o.Emit(b, sess.Merchant, ev.ID, ev.Type, body, extra...)
	return err
}

// View is a session as the API answers it.
type View struct {
	SessionID      string                     `json:"sessionId"`
	Status         string                     `json:"status"`
	CheckoutURL    string                     `json:"checkoutUrl"`
	ExpiresAt      events.APITime             `json:"expiresAt"`
	CreatedAt      events.APITime             `json:"createdAt"`
	Customer       store.SessionCustomer      `json:"customer"`
	Product        string                     `json:"product,omitempty"`
	ReturnURL      string                     `json:"returnUrl"`
	Metadata       map[string]json.RawMessage `json:"metadata"`
	PaymentOptions []OptionView               `json:"paymentOptions"`
	AmountDue      *string                    `json:"amountDue"`
	AmountReceived string                     `json:"amountReceived"`
	Currency       *string                    `json:"currency"`
	Payments       []store.SessionPayment     `json:"payments"`
	LatePayments   []store.SessionPayment     `json:"latePayments"`
	Timeline       []TimelineEvent            `json:"timeline"`
	// NotificationSecret signs the events sent to notificationUrl; it is
	// in the answer that makes the session, and never again.
	NotificationSecret string `json:"notificationSecret,omitempty"`
	NotificationURL    string `json:"notificationUrl,omitempty"`
}

// OptionView is one way to pay.
type OptionView struct {
	Currency   string  `json:"currency"`
	ChainID    string  `json:"chainId"`
	ChainName  string  `json:"-"`
	Protocol   string  `json:"protocol"`
	Address    string  `json:"address"`
	Amount     *string `json:"amount"`
	PaymentURI string  `json:"paymentUri"`
	QRCodeURL  string  `json:"qrCodeUrl"`
}

// TimelineEvent is a status change.
type TimelineEvent struct {
	Type string         `json:"type"`
	At   events.APITime `json:"at"`
}

func (s *Service) view(rd store.Reader, sess *store.Session) (*View, error) {
	v := &View{SessionID: sess.ID, Status: sess.Status, CheckoutURL: s.o.PublicURL + "/checkout/" + sess.ID,
		ExpiresAt: events.APITime{Time: sess.ExpiresAt}, CreatedAt: events.APITime{Time: sess.CreatedAt}, Customer: sess.Customer,
		Product: sess.Product, ReturnURL: sess.ReturnURL, Metadata: sess.Metadata, Payments: sess.Payments, LatePayments: sess.LatePayments,
		AmountReceived: "0", NotificationURL: sess.NotificationURL}
	if v.Metadata == nil {
		v.Metadata = map[string]json.RawMessage{}
	}
	for i, o := range sess.Options {
		spec, err := s.table.Chain(o.ChainID)
		if err != nil {
			return nil, err
		}
		asset, err := s.table.Currency(o.ChainID, o.Currency)
		if err != nil {
			return nil, err
		}
		pa, err := s.reg.PoolAddress(rd, o.Address)
		if err != nil {
			return nil, err
		}
		addr := spec.AddressText(pa.Address())
		ov := OptionView{Currency: o.Currency, ChainID: string(o.ChainID), ChainName: spec.Name, Protocol: spec.Family.String(), Address: addr,
			QRCodeURL: s.o.PublicURL + fmt.Sprintf("/checkout/%s/qr/%d.png", sess.ID, i)}
		amount := ""
		if o.Due != "" {
			due, _ := chain.ParseAmount(o.Due)
			amount = due.Decimal(o.Decimals)
			ov.Amount = &amount
		}
		if ov.PaymentURI, err = payuri.URI(spec, asset, addr, amount); err != nil {
			return nil, err
		}
		v.PaymentOptions = append(v.PaymentOptions, ov)
	}
	best := sess.Option
	if best < 0 && len(sess.Options) > 0 {
		best = 0
	}
	if best >= 0 && best < len(sess.Options) {
		o := sess.Options[best]
		cur := o.Currency
		v.Currency = &cur
		if o.Due != "" {
			due, _ := chain.ParseAmount(o.Due)
			d := due.Decimal(o.Decimals)
			v.AmountDue = &d
		}
		if sess.Received != "" && sess.Option >= 0 {
			r, ok := new(big.Int).SetString(sess.Received, 10)
			if ok {
				a, err := chain.AmountFromBig(r)
				if err == nil {
					v.AmountReceived = a.Decimal(o.Decimals)
				}
			}
		}
	}
	for _, e := range sess.Timeline {
		v.Timeline = append(v.Timeline, TimelineEvent{Type: e.Type, At: events.APITime{Time: e.At}})
	}
	return v, nil
}

func joinIDs(ids []chain.ID) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return strings.Join(out, ", ")
}

// ProductBalance is what a product's sessions were paid, per currency:
// pending (payments pending or confirmed) and available (completed).
type ProductBalance struct {
	Product          string `json:"product"`
	DepositReference string `json:"depositReference,omitempty"`
	Currency         string `json:"currency"`
	Pending          string `json:"pending"`
	Available        string `json:"available"`
}

// ProductBalances sums the payments of a merchant's sessions for a product
// (of one customer if customer is not nil), per currency across chains,
// exactly. Late payments are the customer's, not the product's.
func (s *Service) ProductBalances(merchant string, customer *string, product, currency string) ([]ProductBalance, error) {
	type sum struct {
		pending, avail *big.Rat
		decimals       uint8
	}
	sums := map[string]*sum{}
	err := store.Scan(s.db, store.SessionPrefix(merchant), false, func(_, v []byte) (bool, error) {
		sess := &store.Session{}
		if err := json.Unmarshal(v, sess); err != nil {
			return false, err
		}
		if sess.Product != product || customer != nil && sess.Customer.ID != *customer {
			return true, nil
		}
		for _, p := range sess.Payments {
			if currency != "" && !strings.EqualFold(p.Currency, currency) || p.Status == "orphaned" {
				continue
			}
			v, ok := new(big.Rat).SetString(p.Amount)
			if !ok {
				continue
			}
			dec := uint8(0)
			for _, o := range sess.Options {
				if o.ChainID == p.ChainID && o.Currency == p.Currency {
					dec = o.Decimals
				}
			}
			t := sums[p.Currency]
			if t == nil {
				t = &sum{pending: new(big.Rat), avail: new(big.Rat)}
				sums[p.Currency] = t
			}
			t.decimals = max(t.decimals, dec)
			if p.Status == "completed" {
				t.avail.Add(t.avail, v)
			} else {
				t.pending.Add(t.pending, v)
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	out := []ProductBalance{}
	curs := make([]string, 0, len(sums))
	for c := range sums {
		curs = append(curs, c)
	}
	sort.Strings(curs)
	for _, c := range curs {
		t := sums[c]
		pb := ProductBalance{Product: product, Currency: c, Pending: ratDecimal(t.pending, t.decimals), Available: ratDecimal(t.avail, t.decimals)}
		if customer != nil {
			pb.DepositReference = *customer
		}
		out = append(out, pb)
	}
	return out, nil
}

// ratDecimal writes an exact decimal with at most decimals places, no
// trailing zeros.
func ratDecimal(r *big.Rat, decimals uint8) string {
	s := r.FloatString(int(decimals))
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
