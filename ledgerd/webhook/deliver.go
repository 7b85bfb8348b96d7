package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// Options configures delivery.
type Options struct {
	Base    time.Duration // first backoff; default 1s
	Max     time.Duration // longest backoff; default 1h
	MaxAge  time.Duration // retries stop after this; default 72h
	Timeout time.Duration // per attempt; default 10s
	Workers int           // parallel attempts; default 16
	// AllowLoopbackHTTP lets endpoints on loopback addresses be called, over
	// http too: the all-in-one dev mode only.
	AllowLoopbackHTTP bool
	Now               func() time.Time
	Logger            *slog.Logger
	Registerer        prometheus.Registerer
}

func (o *Options) defaults() {
	if o.Base == 0 {
		o.Base = time.Second
	}
	if o.Max == 0 {
		o.Max = time.Hour
	}
	if o.MaxAge == 0 {
		o.MaxAge = 72 * time.Hour
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Workers == 0 {
		o.Workers = 16
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Service dispatches and sends webhooks.
type Service struct {
	db     *store.DB
	o      Options
	client *http.Client
	wake   chan struct{}

	mu       sync.Mutex
	inflight map[string]bool
	// epoch counts the sender's rounds; ended holds the epoch in which
	// each recent attempt ended (guarded by mu).
	epoch     uint64
	ended     map[string]uint64
	fresh     map[string]fresh         // guarded by mu
	endpoints map[string]endpointEntry // guarded by mu

	queue                               prometheus.Gauge
	attempts, failures, succeeded, dead prometheus.Counter
}

// New makes the webhook service.
func New(db *store.DB, o Options) (*Service, error) {
	o.defaults()
	s := &Service{db: db, o: o, wake: make(chan struct{}, 1), inflight: map[string]bool{}, ended: map[string]uint64{}, fresh: map[string]fresh{},
		endpoints: map[string]endpointEntry{}}
	dialer := &net.Dialer{Timeout: o.Timeout, Control: s.guard}
	s.client = &http.Client{
		Timeout: o.Timeout,
		Transport: &http.Transport{
			// As many idle connections to a host as attempts run at once:
			// fewer closes and redials one for every attempt past them.
			DialContext: dialer.DialContext, MaxIdleConnsPerHost: o.Workers, IdleConnTimeout: 60 * time.Second,
			TLSHandshakeTimeout: o.Timeout, ResponseHeaderTimeout: o.Timeout, Proxy: nil,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	s.queue = prometheus.NewGauge(prometheus.GaugeOpts{Name: "inflow_ledgerd_webhook_queue_depth", Help: "Deliveries waiting for an attempt."})
	c := func(n, h string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "inflow_ledgerd_webhook_" + n, Help: h})
	}
	s.attempts = c("attempts_total", "Delivery attempts.")
	s.failures = c("delivery_failures_total", "Failed delivery attempts.")
	s.succeeded = c("deliveries_succeeded_total", "Deliveries that succeeded.")
	s.dead = c("deliveries_failed_total", "Deliveries that gave up after MaxAge.")
	if o.Registerer != nil {
		for _, col := range []prometheus.Collector{s.queue, s.attempts, s.failures, s.succeeded, s.dead} {
			if err := o.Registerer.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// ErrBlockedAddress is the SSRF guard's refusal.
var ErrBlockedAddress = errors.New("webhook: endpoint resolves to a non-public address")

// guard runs at dial time on the resolved address.
func (s *Service) guard(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, address)
	}
	if s.o.AllowLoopbackHTTP && ip.IsLoopback() {
		return nil
	}
	if !merchantapi.PublicIP(ip) {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, ip)
	}
	return nil
}

func (s *Service) wakeUp() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func deliveryID(eventID, endpointID, nonce string) string {
	h := sha256.Sum256([]byte(eventID + "\x00" + endpointID + "\x00" + nonce))
	return "wd_" + hex.EncodeToString(h[:12])
}

// enqueue creates a delivery of an event to an endpoint, unless one with the
// same id exists (a redelivered event).
func (s *Service) enqueue(b *store.Batch, ep *store.Endpoint, ev *events.DepositEvent, nonce string) (bool, error) {
	return s.enqueueID(b, ep, ev.ID, ev.Type, nonce)
}

func (s *Service) enqueueID(b *store.Batch, ep *store.Endpoint, eventID, eventType, nonce string) (bool, error) {
	d, err := s.enqueueNew(b, ep, eventID, eventType, nonce)
	return d != nil, err
}

// enqueueNew is enqueueID returning the delivery it made (nil if it
// existed).
func (s *Service) enqueueNew(b *store.Batch, ep *store.Endpoint, eventID, eventType, nonce string) (*store.Delivery, error) {
	id := deliveryID(eventID, ep.ID, nonce)
	k := store.DeliveryKey(id)
	if ok, err := store.Has(b, k); err != nil || ok {
		return nil, err
	}
	now := s.o.Now().UTC()
	d := &store.Delivery{ID: id, EndpointID: ep.ID, Merchant: ep.Merchant, EventID: eventID, EventType: eventType,
		Status: "pending", Attempts: []store.Attempt{}, CreatedAt: now, NextAt: &now}
	if err := b.PutJSON(k, d); err != nil {
		return nil, err
	}
	if err := b.Set(store.DeliveryLogKey(ep.ID, now, id), nil, nil); err != nil {
		return nil, err
	}
	return d, b.Set(store.DueKey(now, id), nil, nil)
}

func subscribed(ep *store.Endpoint, typ string) bool {
	for _, e := range ep.Events {
		if e == typ {
			return true
		}
	}
	return false
}

// Enqueue stores an event other than a deposit's (a payment session's) in
// b and makes its deliveries to the merchant's endpoints subscribed to its
// type, and to the extra endpoints named (a session's own); body is the
// signed payload. Wake the sender once b is committed.
func (s *Service) Enqueue(b *store.Batch, merchant, eventID, eventType string, body []byte, extra ...string) (int, error) {
	if err := b.Set(store.EventKey(eventID), body, nil); err != nil {
		return 0, err
	}
	eps, err := registry.EndpointsOf(b, merchant)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range eps {
		if !subscribed(&eps[i], eventType) {
			continue
		}
		ok, err := s.enqueueID(b, &eps[i], eventID, eventType, "")
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	for _, id := range extra {
		var ep store.Endpoint
		if err := store.GetJSON(b, store.EndpointKey(merchant, id), &ep); err != nil {
			return n, err
		}
		ok, err := s.enqueueID(b, &ep, eventID, eventType, "")
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// Dispatch consumes inflow.deposits and creates deliveries until ctx ends.
func (s *Service) Dispatch(ctx context.Context, cfg kafka.Config) error {
	offsets, err := store.Offsets(s.db, []string{kafka.TopicDeposits})
	if err != nil {
		return err
	}
	cl, err := kafka.NewConsumer(cfg, []string{kafka.TopicDeposits}, offsets)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		// Deliveries are created no faster than the sender makes their
		// first attempts: while maxFresh wait for theirs, the events wait
		// in inflow.deposits, where they are as durable as here.
		for s.freshCount() > maxFresh-pollRecords {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
		fs := cl.PollRecords(ctx, pollRecords)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err) })
		if ferr != nil {
			s.o.Logger.Warn("webhook dispatcher", "err", ferr)
			continue
		}
		// What routing needs of an event: the body is delivered as it is.
		type header struct {
			ID         string `json:"id"`
			Type       string `json:"type"`
			MerchantID string `json:"merchantId"`
			body       []byte
		}
		var evs []header
		next := map[int32]int64{}
		fs.EachRecord(func(r *kafka.Record) {
			next[r.Partition] = r.Offset + 1
			var ev header
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				s.o.Logger.Error("webhook dispatcher: skipping an event that does not decode", "offset", r.Offset, "err", err)
				return
			}
			ev.body = r.Value
			evs = append(evs, ev)
		})
		if len(next) == 0 {
			continue
		}
		var made []fresh
		err := s.db.Write(func(b *store.Batch) error {
			made = made[:0]
			eps := map[string][]store.Endpoint{}
			for i := range evs {
				ev := &evs[i]
				list, ok := eps[ev.MerchantID]
				if !ok {
					var err error
					if list, err = registry.EndpointsOf(b, ev.MerchantID); err != nil {
						return err
					}
					eps[ev.MerchantID] = list
				}
				for j := range list {
					if !subscribed(&list[j], ev.Type) {
						continue
					}
					d, err := s.enqueueNew(b, &list[j], ev.ID, ev.Type, "")
					if err != nil {
						return err
					}
					if d != nil {
						made = append(made, fresh{d, ev.body})
					}
				}
			}
			for p, o := range next {
				if err := b.SetOffset(kafka.TopicDeposits, p, o); err != nil {
					return err
				}
			}
			// Kept before the batch is visible, so that the first attempt
			// (the first reader of its due row) finds them.
			s.keepFresh(made)
			return nil
		})
		if err != nil {
			s.dropFresh(made)
			return err
		}
		if len(made) > 0 {
			s.wakeUp()
		}
	}
}

// fresh is a delivery just created, with its event's body: its first
// attempt needs to read neither from the database.
type fresh struct {
	d    *store.Delivery
	body []byte
}

// pollRecords is the most events the dispatcher takes at once.
const pollRecords = 2048

// maxFresh bounds the deliveries kept for their first attempt (about 20 MB
// of deliveries and bodies): the dispatcher waits while it is reached, and
// a poll that goes past it leaves the rest to be read from the database,
// as after a restart.
const maxFresh = 16384

// keepFresh remembers deliveries committed a moment ago for their first
// attempt.
func (s *Service) keepFresh(made []fresh) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range made {
		if len(s.fresh) >= maxFresh {
			return
		}
		s.fresh[f.d.ID] = f
	}
}

// endpointEntry is a cached endpoint and the DB's EndpointsGen it was read
// under.
type endpointEntry struct {
	ep  store.Endpoint
	gen uint64
}

// endpoint reads an endpoint, from the cache while no batch has written an
// endpoint since it was read.
func (s *Service) endpoint(merchant, id string) (store.Endpoint, error) {
	gen := s.db.EndpointsGen()
	k := merchant + "\x00" + id
	s.mu.Lock()
	e, ok := s.endpoints[k]
	s.mu.Unlock()
	if ok && e.gen == gen {
		return e.ep, nil
	}
	var ep store.Endpoint
	if err := store.GetJSON(s.db, store.EndpointKey(merchant, id), &ep); err != nil {
		return ep, err
	}
	s.mu.Lock()
	if len(s.endpoints) >= maxEndpoints {
		clear(s.endpoints)
	}
	s.endpoints[k] = endpointEntry{ep, gen}
	s.mu.Unlock()
	return ep, nil
}

// maxEndpoints bounds the endpoint cache; past it, it starts again.
const maxEndpoints = 4096

func (s *Service) freshCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.fresh)
}

// dropFresh forgets deliveries whose batch failed.
func (s *Service) dropFresh(made []fresh) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range made {
		delete(s.fresh, f.d.ID)
	}
}

// takeFresh returns the delivery and body kept for id's first attempt, and
// forgets them: only the first attempt may use them, the delivery changing
// with every attempt.
func (s *Service) takeFresh(id string) (fresh, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.fresh[id]
	delete(s.fresh, id)
	return f, ok
}

// Replay delivers one stored event again to every subscribed endpoint of its
// merchant, in b, and returns how many deliveries it made. Wake the sender
// once b is committed.
func (s *Service) Replay(b *store.Batch, merchant, eventID string) (int, error) {
	var ev events.DepositEvent
	if err := store.GetJSON(b, store.EventKey(eventID), &ev); err != nil || ev.MerchantID != merchant {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			return 0, apierr.New(apierr.EventNotFound, "no event %q", eventID)
		}
		return 0, err
	}
	n := 0
	nonce := strconv.FormatInt(s.o.Now().UnixNano(), 10)
	eps, err := registry.EndpointsOf(b, merchant)
	if err != nil {
		return 0, err
	}
	for i := range eps {
		if !subscribed(&eps[i], ev.Type) {
			continue
		}
		ok, err := s.enqueue(b, &eps[i], &ev, nonce)
		if err != nil {
			return 0, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// Wake tells the sender there may be deliveries due.
func (s *Service) Wake() { s.wakeUp() }

// Deliveries lists an endpoint's deliveries, newest first.
func (s *Service) Deliveries(endpointID string, p merchantapi.Page) ([]store.Delivery, merchantapi.Pagination, error) {
	var ids []string
	err := store.Scan(s.db, store.DeliveryLogPrefix(endpointID), true, func(k, _ []byte) (bool, error) {
		ids = append(ids, store.DeliveryLogID(endpointID, k))
		return true, nil
	})
	if err != nil {
		return nil, merchantapi.Pagination{}, err
	}
	lo, hi, pg := merchantapi.Paginate(p, len(ids))
	out := make([]store.Delivery, 0, hi-lo)
	for _, id := range ids[lo:hi] {
		var d store.Delivery
		if err := store.GetJSON(s.db, store.DeliveryKey(id), &d); err != nil {
			return nil, pg, err
		}
		out = append(out, d)
	}
	return out, pg, nil
}

// countEvery is how often the sender counts the queue, reading all of it.
var countEvery = 5 * time.Second

// Send attempts due deliveries until ctx ends.
//
// The attempts' bookkeeping (the delivery's new state, its place in the
// queue) is group-committed: a worker hands its write to one committer and
// waits for it, and the committer writes whatever has gathered meanwhile in
// one synced batch. Each write alone was a synced commit under the DB's
// writer lock, which capped delivery at one fsync per attempt however many
// workers ran.
func (s *Service) Send(ctx context.Context) error {
	sem := make(chan struct{}, s.o.Workers)
	var wg sync.WaitGroup
	g := newGroupCommit(s.db, s.o.Workers)
	defer g.close()
	defer wg.Wait()
	t := time.NewTicker(min(s.o.Base/2, 250*time.Millisecond))
	defer t.Stop()
	var counted time.Time
	var from []byte // where a round between counts begins
	for {
		now := s.o.Now()
		type dueRow struct {
			key []byte
			id  string
		}
		var due []dueRow
		// The queue is in due-time order: a round reads only the due rows
		// (256 at most), so a long queue of retries costs nothing between
		// them. Its depth, for the gauge, is counted every 5 s, over the
		// whole queue.
		//
		// Between counts a round begins a second before the first row the
		// last round found due (or before that round's time): the rows
		// before it were attempted and deleted, and reading from the start
		// would step over each of their tombstones every round. A row
		// enqueued with an earlier time than that, by a batch that took
		// over a second to commit, is found by the next count.
		count := time.Since(counted) >= countEvery || from == nil
		lower := store.DuePrefix()
		if !count {
			lower = from
		}
		// A round's epoch is taken before its scan: an attempt that ends
		// after that may have deleted a row the scan still read.
		s.mu.Lock()
		s.epoch++
		epoch := s.epoch
		for id, e := range s.ended {
			if e < epoch {
				delete(s.ended, id)
			}
		}
		s.mu.Unlock()
		depth := 0
		err := store.ScanFrom(s.db, store.DuePrefix(), lower, func(k, _ []byte) (bool, error) {
			depth++
			at, id, ok := store.DueOf(k)
			if ok && at <= now.UnixNano() && len(due) < 256 {
				due = append(due, dueRow{append([]byte(nil), k...), id})
				return true, nil
			}
			return count, nil
		})
		if err != nil {
			return err
		}
		if count {
			s.queue.Set(float64(depth))
			counted = time.Now()
		}
		lowAt := now.UnixNano()
		if len(due) > 0 {
			at, _, _ := store.DueOf(due[0].key)
			lowAt = min(lowAt, at)
		}
		from = store.DueFrom(lowAt - int64(time.Second))
		started := 0
		for _, row := range due {
			id := row.id
			s.mu.Lock()
			// In flight, or its attempt ended after this round's scan
			// began: the row read may be one that attempt replaced.
			busy := s.inflight[id] || s.ended[id] >= epoch
			if !busy {
				s.inflight[id] = true
			}
			s.mu.Unlock()
			if busy {
				continue
			}
			started++
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			wg.Add(1)
			go func(qkey []byte, id string) {
				defer wg.Done()
				defer func() { <-sem }()
				defer func() {
					s.mu.Lock()
					delete(s.inflight, id)
					s.ended[id] = s.epoch
					s.mu.Unlock()
				}()
				if err := s.attempt(ctx, g, qkey, id); err != nil && ctx.Err() == nil {
					s.o.Logger.Warn("webhook attempt bookkeeping failed", "delivery", id, "err", err)
				}
			}(row.key, id)
		}
		if len(due) == 256 && started > 0 {
			// A full round: more rows are due behind it.
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		case <-t.C:
		}
	}
}

// Backoff is the delay before attempt n+1 after n failed attempts: full
// jitter over [d/2, d] with d = Base·2^(n-1), capped at Max.
func (s *Service) Backoff(n int) time.Duration {
	d := s.o.Base
	for i := 1; i < n && d < s.o.Max; i++ {
		d *= 2
	}
	d = min(d, s.o.Max)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (s *Service) attempt(ctx context.Context, g *groupCommit, qkey []byte, id string) error {
	var d store.Delivery
	var body []byte
	var evErr error
	if f, ok := s.takeFresh(id); ok {
		d, body = *f.d, f.body
	} else {
		if err := store.GetJSON(s.db, store.DeliveryKey(id), &d); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return g.write(func(b *store.Batch) error { return b.Delete(qkey, nil) })
			}
			return err
		}
		body, evErr = store.GetRaw(s.db, store.EventKey(d.EventID))
	}
	ep, epErr := s.endpoint(d.Merchant, d.EndpointID)
	start := s.o.Now()
	att := store.Attempt{At: start.UTC()}
	var retryAfter time.Duration
	switch {
	case errors.Is(epErr, store.ErrNotFound):
		// The endpoint was deleted: nothing to deliver to.
		d.Status, d.NextAt = "cancelled", nil
		return g.write(func(b *store.Batch) error {
			if err := b.Delete(qkey, nil); err != nil {
				return err
			}
			return b.PutJSON(store.DeliveryKey(id), d)
		})
	case epErr != nil:
		return epErr
	case evErr != nil:
		return evErr
	}
	s.attempts.Inc()
	var detail error
	att.StatusCode, retryAfter, detail = s.post(ctx, &ep, d.EventID, body)
	if detail != nil {
		// The merchant sees what kind of failure it was; the operator's
		// log has the detail, which may name internal resolvers and
		// addresses.
		att.Error = Reason(detail)
	}
	att.DurationMs = s.o.Now().Sub(start).Milliseconds()
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the delivery stays due
	}
	d.Attempts = append(d.Attempts, att)
	ok := att.Error == "" && att.StatusCode >= 200 && att.StatusCode < 300
	var next time.Time
	switch {
	case ok:
		d.Status, d.NextAt = "succeeded", nil
		s.succeeded.Inc()
	case s.o.Now().Sub(d.CreatedAt) >= s.o.MaxAge:
		d.Status, d.NextAt = "failed", nil
		s.failures.Inc()
		s.dead.Inc()
	default:
		s.failures.Inc()
		delay := max(s.Backoff(len(d.Attempts)), min(retryAfter, s.o.Max))
		next = s.o.Now().Add(delay).UTC()
		d.NextAt = &next
	}
	if !ok {
		// One line per failed attempt: what failed, and what happens next.
		attrs := []any{"delivery", id, "event", d.EventType, "endpoint", ep.ID, "merchant", d.Merchant, "attempt", len(d.Attempts)}
		if detail != nil {
			attrs = append(attrs, "reason", att.Error, "err", detail)
		} else {
			attrs = append(attrs, "status", att.StatusCode)
		}
		if d.NextAt != nil {
			attrs = append(attrs, "next_attempt", next.Format(time.RFC3339))
		} else {
			attrs = append(attrs, "gave_up_after", s.o.MaxAge)
		}
		s.o.Logger.Warn("webhook attempt failed", attrs...)
	}
	return g.write(func(b *store.Batch) error {
		if err := b.Delete(qkey, nil); err != nil {
			return err
		}
		if d.NextAt != nil {
			if err := b.Set(store.DueKey(next, id), nil, nil); err != nil {
				return err
			}
		}
		return b.PutJSON(store.DeliveryKey(id), d)
	})
}

// post makes one attempt: status code, the server's Retry-After, or an error.
func (s *Service) post(ctx context.Context, ep *store.Endpoint, eventID string, body []byte) (int, time.Duration, error) {
	hdr, err := Headers(ep.Secrets(s.o.Now()), eventID, s.o.Now(), body)
	if err != nil {
		return 0, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	var ra time.Duration
	if v := resp.Header.Get("Retry-After"); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
			ra = time.Duration(secs) * time.Second
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return resp.StatusCode, ra, nil
	}
	return resp.StatusCode, 0, nil
}

// Reason is what a merchant is told of a failed attempt: the kind of
// failure, never the resolver, address or internal error text behind it.
func Reason(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	switch {
	case errors.Is(err, ErrBlockedAddress):
		return "the endpoint resolves to a non-public address"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "the endpoint's host name does not resolve"
		}
		return "the endpoint's host name could not be resolved"
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return "the endpoint did not answer in time"
	case errors.As(err, &certErr), errors.As(err, &recErr):
		return "the TLS handshake with the endpoint failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the endpoint refused the connection"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "the endpoint closed the connection"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "the endpoint could not be reached"
	}
	return "the request to the endpoint failed"
}
