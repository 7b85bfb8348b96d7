// Package rpctest runs ledgerd's internal API in process, over Pebble's
// in-memory filesystem, for tests of the API edge: apid in front of it, with
// every request that reaches ledgerd recorded.
package rpctest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/rpc"
	"github.com/inflowhq/inflow/ledgerd/sessions"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/ledgerd/webhook"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// Token and AdminKey are the ledger's credentials.
const (
	Token    = "rpctest-internal-token"
	AdminKey = "rpctest-admin-key-0123456789"
)

// Request is one request that reached the internal API.
type Request struct {
	Method, Path string // path as sent (escaped)
	Merchant     string
	Admin        bool // carried the right admin key
}

// Ledger is an in-process internal API.
type Ledger struct {
	DB    *store.DB
	Reg   *registry.Registry
	Hooks *webhook.Service
	RPC   *rpc.Server
	URL   string

	mu   sync.Mutex
	seen []Request
	// Intercept, when set, answers a request instead of the API (a ledgerd
	// that misbehaves).
	Intercept func(w http.ResponseWriter, r *http.Request) bool
}

// Options tune the ledger.
type Options struct {
	RPC rpc.Options // Token and AdminKey are filled in
}

// Start runs an internal API over an empty in-memory store.
func Start(t testing.TB, o Options) *Ledger {
	t.Helper()
	pdb, err := store.OpenPebble("ledger", vfs.NewMem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := store.Wrap(pdb)
	t.Cleanup(func() { db.Close() })
	table := assets.Default()
	l := &Ledger{DB: db}
	if l.Reg, err = registry.New(db, table, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	if l.Hooks, err = webhook.New(db, webhook.Options{Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	o.RPC.Token, o.RPC.AdminKey = Token, AdminKey
	if o.RPC.Sessions == nil {
		var ids []chain.ID
		for _, c := range table.Chains {
			ids = append(ids, c.ID)
		}
		o.RPC.Sessions = sessions.New(db, l.Reg, table, ids, sessions.Config{Emit: l.Hooks.Enqueue})
	}
	if l.RPC, err = rpc.New(db, l.Reg, l.Hooks, table, o.RPC); err != nil {
		t.Fatal(err)
	}
	h := l.RPC.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.seen = append(l.seen, Request{Method: r.Method, Path: r.URL.EscapedPath(), Merchant: r.Header.Get(rpc.HeaderMerchant),
			Admin: r.Header.Get(rpc.HeaderAdminKey) == AdminKey})
		icpt := l.Intercept
		l.mu.Unlock()
		if icpt != nil && icpt(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	l.URL = srv.URL
	return l
}

// Seen returns the requests that reached the API since the last call.
func (l *Ledger) Seen() []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.seen
	l.seen = nil
	return out
}

// Merchant makes a merchant and returns its id and API key.
func (l *Ledger) Merchant(t testing.TB, name string) (id, key string) {
	t.Helper()
	err := l.Reg.Write(func(b *store.Batch) error {
		m, k, err := l.Reg.CreateMerchant(b, name, true, "")
		id, key = m.ID, k
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id, key
}

// Pool imports EVM addresses into a merchant's pool.
func (l *Ledger) Pool(t testing.TB, merchant string, addrs ...chain.Address) {
	t.Helper()
	err := l.Reg.Write(func(b *store.Batch) error {
		_, err := l.Reg.Import(b, merchant, merchantapi.Import{Family: chain.FamilyEVM, Addresses: addrs})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
