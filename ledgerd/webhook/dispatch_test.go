package webhook

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
)

// TestDispatchFirstAttempts: events read from inflow.deposits become
// deliveries whose first attempt uses the delivery and body the dispatcher
// kept (no database read); the receiver fails every first attempt, and
// each retry is made from the stored delivery: every delivery ends with
// both attempts on record, every body the event's bytes, signed.
func TestDispatchFirstAttempts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	kb, err := broker.Start(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	cfg := kafka.Config{Brokers: kb.Addrs()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod, err := kafka.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := kafka.EnsureTopics(ctx, prod, kafka.DepositsTopic()); err != nil {
		t.Fatal(err)
	}

	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef01234567"))
	var mu sync.Mutex
	tries := map[string]int{}
	bodies := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if verify(secret, r, body) != nil {
			w.WriteHeader(400)
			return
		}
		id := r.Header.Get("webhook-id")
		mu.Lock()
		defer mu.Unlock()
		if tries[id]++; tries[id] == 1 {
			w.WriteHeader(503)
			return
		}
		bodies[id] = body
	}))
	defer srv.Close()

	db := newStore(t)
	ep := store.Endpoint{ID: "we_1", Merchant: "m1", URL: srv.URL, Events: events.DepositEventTypes, Secret: secret}
	if err := db.Write(func(b *store.Batch) error { return b.PutJSON(store.EndpointKey("m1", "we_1"), ep) }); err != nil {
		t.Fatal(err)
	}
	s, err := New(db, Options{Base: 20 * time.Millisecond, Max: 50 * time.Millisecond, AllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	want := map[string][]byte{}
	for i := 0; i < n; i++ {
		ev := events.DepositEvent{ID: fmt.Sprintf("evt_%03d", i), Type: events.DepositPending, MerchantID: "m1",
			Data: events.Deposit{DepositID: fmt.Sprintf("dep_%03d", i), Amount: "1", Status: "pending"}}
		body, _ := json.Marshal(ev)
		// The relay stores each body before it publishes it.
		if err := db.Write(func(b *store.Batch) error { return b.Set(store.EventKey(ev.ID), body, nil) }); err != nil {
			t.Fatal(err)
		}
		want[ev.ID] = body
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: kafka.TopicDeposits, Key: []byte(ev.Data.DepositID), Value: body}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	run, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.Dispatch(run, cfg) }()
	go func() { defer wg.Done(); s.Send(run) }()
	// Until every delivery's bookkeeping says succeeded: the receiver sees
	// an attempt a moment before its result is stored.
	for {
		mu.Lock()
		done := len(bodies)
		mu.Unlock()
		stored := 0
		for id := range want {
			var d store.Delivery
			if store.GetJSON(db, store.DeliveryKey(deliveryID(id, "we_1", "")), &d) == nil && d.Status == "succeeded" {
				stored++
			}
		}
		if done == n && stored == n {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d of %d events delivered, %d stored as succeeded", done, n, stored)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	wg.Wait()
	for id, body := range want {
		if string(bodies[id]) != string(body) {
			t.Fatalf("%s: delivered %q, want %q", id, bodies[id], body)
		}
		var d store.Delivery
		if err := store.GetJSON(db, store.DeliveryKey(deliveryID(id, "we_1", "")), &d); err != nil {
			t.Fatal(err)
		}
		if d.Status != "succeeded" || len(d.Attempts) != 2 || d.Attempts[0].StatusCode != 503 || d.Attempts[1].StatusCode != 200 {
			t.Fatalf("%s: %s after %+v, want succeeded after a 503 and a 200", id, d.Status, d.Attempts)
		}
	}
	s.mu.Lock()
	left := len(s.fresh)
	s.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d deliveries still kept for a first attempt", left)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("timed out")
	}
}
