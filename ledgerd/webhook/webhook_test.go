package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

func newStore(t *testing.T) *store.DB {
	pdb, err := store.OpenPebble("db", vfs.NewMem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pdb.Close() })
	return store.Wrap(pdb)
}

// verify checks a Standard Webhooks request the way the specification says.
func verify(secret string, r *http.Request, body []byte) error {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, s := range strings.Fields(r.Header.Get("webhook-signature")) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

// TestReceiverFaults: the endpoint times out, answers 500 and 429, and drops
// connections; every event is still delivered, with valid signatures.
func TestReceiverFaults(t *testing.T) {
	db := newStore(t)
	var (
		mu        sync.Mutex
		delivered = map[string]int{}
		badSigs   int
		faults    = map[string]int{}
	)
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef01234567"))
	rng := rand.New(rand.NewPCG(1, 2))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		roll := rng.IntN(10)
		mu.Unlock()
		fault := ""
		switch {
		case roll == 0:
			fault = "timeout"
			time.Sleep(300 * time.Millisecond) // beyond the 150ms attempt timeout
		case roll == 1:
			fault = "500"
			w.WriteHeader(500)
		case roll == 2:
			fault = "429"
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
		case roll == 3:
			fault = "drop"
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
		}
		mu.Lock()
		defer mu.Unlock()
		if fault != "" {
			faults[fault]++
			return
		}
		if err := verify(secret, r, body); err != nil {
			badSigs++
			w.WriteHeader(400)
			return
		}
		delivered[r.Header.Get("webhook-id")]++
	}))
	defer srv.Close()

	s, err := New(db, Options{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond, Timeout: 150 * time.Millisecond, AllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	ep := store.Endpoint{ID: "we_1", Merchant: "m1", URL: srv.URL, Events: events.DepositEventTypes, Secret: secret}
	const n = 200
	var ids []string
	err = db.Write(func(b *store.Batch) error {
		if err := b.PutJSON(store.EndpointKey("m1", "we_1"), ep); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			ev := events.DepositEvent{ID: fmt.Sprintf("evt_%03d", i), Type: events.DepositPending, MerchantID: "m1",
				Data: events.Deposit{DepositID: fmt.Sprintf("dep_%03d", i), Amount: "1", Status: "pending"}}
			if err := b.Emit(ev); err != nil {
				return err
			}
			if _, err := s.enqueue(b, &ep, &ev, ""); err != nil {
				return err
			}
			ids = append(ids, ev.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Send(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		got := len(delivered)
		mu.Unlock()
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d events delivered", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The receiver has every event; the sender records the last answers
	// just after. Stopping before then would leave those deliveries due.
	for {
		ds, _, err := s.Deliveries("we_1", pageAll)
		if err != nil {
			t.Fatal(err)
		}
		open := 0
		for _, d := range ds {
			if d.Status == "pending" {
				open++
			}
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still pending after every event arrived", open)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if delivered[id] == 0 {
			t.Errorf("%s never delivered", id)
		}
	}
	if badSigs > 0 {
		t.Errorf("%d deliveries failed signature verification", badSigs)
	}
	for _, f := range []string{"timeout", "500", "429", "drop"} {
		if faults[f] == 0 {
			t.Errorf("fault %s never injected", f)
		}
	}
	// The delivery log records the failed attempts.
	ds, _, err := s.Deliveries("we_1", pageAll)
	if err != nil {
		t.Fatal(err)
	}
	retried := 0
	for _, d := range ds {
		if d.Status != "succeeded" {
			t.Errorf("delivery %s is %s", d.ID, d.Status)
		}
		if len(d.Attempts) > 1 {
			retried++
		}
	}
	t.Logf("faults injected: %v; %d deliveries needed retries", faults, retried)
	if retried == 0 {
		t.Error("no delivery was retried")
	}
}

// TestBackoff: the first retry comes within Base (≤ 5 s by default), the
// delay grows, and with the defaults retries go on for more than 24 h.
func TestBackoff(t *testing.T) {
	s, _ := New(newStore(t), Options{})
	if d := s.Backoff(1); d > 5*time.Second || d < 500*time.Millisecond {
		t.Errorf("first retry after %s", d)
	}
	var total time.Duration
	attempts := 0
	for total < 24*time.Hour {
		attempts++
		d := s.Backoff(attempts)
		if d > time.Hour {
			t.Fatalf("backoff %s above the cap", d)
		}
		total += d
	}
	if s.o.MaxAge < 24*time.Hour {
		t.Errorf("retries stop after %s", s.o.MaxAge)
	}
	t.Logf("24 h of retries takes %d attempts", attempts)
}

// TestSSRFGuard: a public-only sender refuses loopback and private targets at
// dial time, even behind a name.
func TestSSRFGuard(t *testing.T) {
	db := newStore(t)
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	s, _ := New(db, Options{Timeout: time.Second})
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	for _, u := range []string{srv.URL, "http://localhost:" + port, "http://10.0.0.1:" + port, "http://169.254.169.254/latest"} {
		ep := &store.Endpoint{URL: u, Secret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("k"))}
		code, _, err := s.post(context.Background(), ep, "evt_x", []byte("{}"))
		if errText := fmt.Sprint(err); code != 0 || !strings.Contains(errText, "non-public") {
			t.Errorf("%s: code %d err %q, want a refusal at dial time", u, code, errText)
		}
	}
	if hits != 0 {
		t.Errorf("the guarded sender reached the server %d times", hits)
	}
}

var pageAll = merchantapi.Page{Page: 1, Limit: 1000}

// deliverOne queues one event to ep and runs the sender until its delivery
// has made an attempt; it returns the delivery.
func deliverOne(t *testing.T, db *store.DB, s *Service, ep *store.Endpoint, evID string) store.Delivery {
	t.Helper()
	ev := events.DepositEvent{ID: evID, Type: events.DepositPending, MerchantID: ep.Merchant,
		Data: events.Deposit{DepositID: "dep_" + evID, Amount: "1", Status: "pending"}}
	err := db.Write(func(b *store.Batch) error {
		if err := b.PutJSON(store.EndpointKey(ep.Merchant, ep.ID), ep); err != nil {
			return err
		}
		if err := b.Emit(ev); err != nil {
			return err
		}
		_, err := s.enqueue(b, ep, &ev, "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Send(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, _, err := s.Deliveries(ep.ID, pageAll)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.EventID == evID && len(d.Attempts) > 0 {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no attempt to deliver %s", evID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSecretRotation: during the overlap after a rotation, every delivery
// carries a signature by each secret, so a receiver with either verifies it;
// after the overlap only the new secret signs.
func TestSecretRotation(t *testing.T) {
	db := newStore(t)
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { return clock }
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, body)
		mu.Unlock()
	}))
	defer srv.Close()
	s, err := New(db, Options{Timeout: time.Second, AllowLoopbackHTTP: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(db, nil, registry.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	old := registry.NewSecret()
	ep := &store.Endpoint{ID: "we_0123456789abcdef", Merchant: "mer_0123456789abcdef", URL: srv.URL, Events: events.DepositEventTypes, Secret: old}
	if err := db.Write(func(b *store.Batch) error { return b.PutJSON(store.EndpointKey(ep.Merchant, ep.ID), ep) }); err != nil {
		t.Fatal(err)
	}
	rotated, err := registry.Do(reg, func(b *store.Batch) (*store.Endpoint, error) {
		return reg.RotateSecret(b, ep.Merchant, ep.ID, time.Hour)
	})
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Secret == old || rotated.PreviousSecret != old {
		t.Fatalf("rotation: %+v", rotated)
	}
	check := func(evID string, oldValid bool) {
		t.Helper()
		d := deliverOne(t, db, s, rotated, evID)
		mu.Lock()
		r, body := got[len(got)-1], bodies[len(bodies)-1]
		mu.Unlock()
		if d.Status != "succeeded" {
			t.Fatalf("%s: %s", evID, d.Status)
		}
		if err := verify(rotated.Secret, r, body); err != nil {
			t.Errorf("%s: the new secret does not verify: %v", evID, err)
		}
		if err := verify(old, r, body); (err == nil) != oldValid {
			t.Errorf("%s: the old secret verifies: %v, want %v (signatures %q)", evID, err == nil, oldValid, r.Header.Get("webhook-signature"))
		}
	}
	check("evt_during", true)
	clock = clock.Add(time.Hour + time.Second)
	check("evt_after", false)
}

// TestFailureReasons: what a merchant sees of a failed attempt names the
// kind of failure, not the resolver or the addresses behind it.
func TestFailureReasons(t *testing.T) {
	db := newStore(t)
	var logs bytes.Buffer
	s, err := New(db, Options{Timeout: 2 * time.Second, Base: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ep := &store.Endpoint{ID: "we_0123456789abcdef", Merchant: "mer_0123456789abcdef", URL: "https://no-such-host.invalid/hooks",
		Events: events.DepositEventTypes, Secret: registry.NewSecret()}
	d := deliverOne(t, db, s, ep, "evt_dns")
	reason := d.Attempts[0].Error
	// The operator's log has one line for the failed attempt: the detail,
	// the attempt's number and when the next one is.
	line := logs.String()
	if strings.Count(line, "webhook attempt failed") != 1 || !strings.Contains(line, "attempt=1") ||
		!strings.Contains(line, "next_attempt="+d.NextAt.Format(time.RFC3339)) || !strings.Contains(line, "no-such-host.invalid") {
		t.Errorf("log of a failed attempt: %s", line)
	}
	if reason == "" || strings.Contains(reason, "lookup") || strings.Contains(reason, ":53") || strings.Contains(reason, "dial") ||
		regexp.MustCompile(`\d+\.\d+\.\d+\.\d+`).MatchString(reason) {
		t.Errorf("a failed lookup is shown as %q", reason)
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: 10.0.0.1", ErrBlockedAddress), "non-public"},
		{&net.DNSError{Err: "no such host", Name: "x", Server: "10.255.255.53:53", IsNotFound: true}, "does not resolve"},
		{&net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 443}, Err: syscall.ECONNREFUSED}, "refused"},
		{context.DeadlineExceeded, "in time"},
		{errors.New("x509: certificate signed by unknown authority at 10.1.2.3"), "failed"},
	} {
		got := Reason(c.err)
		if !strings.Contains(got, c.want) || strings.Contains(got, "10.") {
			t.Errorf("Reason(%v) = %q, want it to say %q and no address", c.err, got, c.want)
		}
	}
}
