// Package registry owns ledgerd's non-money state, one concern a file:
//
//   - merchants.go: merchants and their API keys (stored only as SHA-256
//     hashes);
//   - pool.go: the address pool, each merchant's own, and the conflicts an
//     operator resolves when one merchant imports another's address;
//   - bindings.go: deposit references and the binding history of their
//     addresses;
//   - endpoints.go: webhook endpoints and their secrets.
//
// Balances and the reference views, which read the ledger's accounts, are
// on the read side (ledgerd/history).
//
// Every change takes the batch it is written in: an operation is one
// batch, and ledgerd's internal API writes an idempotency record in the
// same batch as the operation it answers, so that a crash between the two
// cannot let a retry run the operation twice. Do runs one operation in a
// batch of its own.
//
// Pool lifecycle: an imported address is available; binding takes the
// address of the chain's family that has been available longest (a queue,
// first in first out: imported, or back from its cooldown) and makes it
// bound; unbinding
// starts a cooldown (30 minutes by default), after which the address is
// available again. Every pool address is watched from its import on, so a
// deposit to an address bound to no one is still seen and recorded as
// unattributed. Each change of an address is queued for inflow.addresses in
// the same batch as the change. An address is in one merchant's pool only:
// importing an address in another merchant's pool is refused, and recorded
// for the operator, who can reassign it.
//
// The binding history keeps every [bound, unbound) interval per address; the
// ledger attributes a deposit to the reference whose interval holds the
// block's time.
package registry

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/events"
)

// Registry is the registry over ledgerd's store.
type Registry struct {
	db       *store.DB
	assets   *assets.Config
	cooldown time.Duration
	now      func() time.Time
	log      *slog.Logger
}

// Options configures a Registry.
type Options struct {
	Cooldown time.Duration // default 30m
	Now      func() time.Time
	Logger   *slog.Logger
}

// New makes a registry, and builds the indexes that a store written by an
// earlier version lacks.
func New(db *store.DB, table *assets.Config, o Options) (*Registry, error) {
	if o.Cooldown == 0 {
		o.Cooldown = 30 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{db: db, assets: table, cooldown: o.Cooldown, now: o.Now, log: o.Logger}
	if err := r.indexPools(); err != nil {
		return nil, err
	}
	if err := r.queuePools(); err != nil {
		return nil, err
	}
	if err := r.indexReferences(); err != nil {
		return nil, err
	}
	if err := r.indexKeys(); err != nil {
		return nil, fmt.Errorf("registry: list the API keys: %w", err)
	}
	return r, nil
}

// Write runs fn in one synced batch.
func (r *Registry) Write(fn func(b *store.Batch) error) error { return r.db.Write(fn) }

// Do runs one registry operation in a batch of its own.
func Do[T any](r *Registry, op func(b *store.Batch) (T, error)) (T, error) {
	var out T
	err := r.db.Write(func(b *store.Batch) error {
		var err error
		out, err = op(b)
		return err
	})
	return out, err
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// publishAddress queues the watch record of a pool address for inflow.addresses.
func publishAddress(b *store.Batch, pa *store.PoolAddress) error {
	rec := events.AddressRecord{Address: pa.Address(), ID: pa.ID}
	return b.QueueOutbox(store.OutboxRow{Kind: store.OutboxAddress, Key: rec.Key(), Value: rec.Value()})
}
