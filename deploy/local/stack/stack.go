// Package stack is Inflow in one process: the embedded Kafka broker, the EVM
// devnet and (unless turned off) the Bitcoin regtest node and the Tron
// devnet with their control API, the indexer, ledgerd and apid, wired the way the distributed
// daemons are but sharing nothing but loopback. The all-in-one command, its
// tests and the pipeline benchmark start it.
package stack

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/inflowhq/inflow/apid/api"
	indexer "github.com/inflowhq/inflow/indexer/daemon"
	ledgerd "github.com/inflowhq/inflow/ledgerd/daemon"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/chstore"
	"github.com/inflowhq/inflow/pkg/devnet"
	devbtc "github.com/inflowhq/inflow/pkg/devnet/bitcoin"
	devevm "github.com/inflowhq/inflow/pkg/devnet/evm"
	devsol "github.com/inflowhq/inflow/pkg/devnet/solana"
	devtron "github.com/inflowhq/inflow/pkg/devnet/tron"
	"github.com/inflowhq/inflow/pkg/httpserver"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
	"github.com/inflowhq/inflow/pkg/merchantapi"
	"github.com/inflowhq/inflow/pkg/ops"
)

// Options configures the all-in-one stack.
type Options struct {
	// Assets is the asset table; nil is the built-in one with the
	// testnet tokens of testnet-tokens.json (TestnetTable).
	Assets     *assets.Config
	DataDir    string
	HTTP       string        // merchant API and devnet control API
	RPC        string        // devnet JSON-RPC
	KafkaPort  int           // 0 picks one
	IndexerOps string        // indexer operator endpoints
	LedgerHTTP string        // ledgerd internal API and operator endpoints
	APIOps     string        // apid operator endpoints (/metrics, /debug/pprof); default 127.0.0.1:0
	BlockTime  time.Duration // devnet interval; 0 mines only on request
	// Bitcoin starts bitcoin-regtest (a real btcd) beside evm-devnet.
	Bitcoin bool
	// BitcoinRPC is btcd's JSON-RPC address (default 127.0.0.1 and a free
	// port); BitcoinBlockTime its block interval (0: only on request).
	BitcoinRPC       string
	BitcoinBlockTime time.Duration
	// Tron starts tron-devnet beside evm-devnet; TronRPC is its gRPC
	// address (default 127.0.0.1 and a free port), TronBlockTime its block
	// interval (0: only on request).
	Tron          bool
	TronRPC       string
	TronBlockTime time.Duration
	// Solana starts solana-localnet; SolanaRPC is its JSON-RPC address
	// (default 127.0.0.1 and a free port), SolanaSlotTime its slot
	// interval (0: only on request).
	Solana         bool
	SolanaRPC      string
	SolanaSlotTime time.Duration
	FinalityLag    uint64  // devnet finalized-tag lag (default 64)
	Traffic        float64 // background transfers per second
	consoleSecret  []byte  // from keys.json
	DevAPIKey      string  // the dev merchant's key; empty: the one in the data folder's keys.json, made on the first start
	AdminKey       string  // X-Admin-Key; empty: keys.json's, like DevAPIKey
	PoolSize       int     // dev addresses in the dev merchant's pool
	Cooldown       time.Duration
	WebhookRetry   time.Duration // first webhook retry delay (default 1s)
	// HTTPLimits are every listener's timeouts and caps (pkg/httpserver's
	// defaults when zero).
	HTTPLimits httpserver.Options
	// ClickHouseDSN puts history in ClickHouse: ledgerd runs the sink and
	// apid answers analytics and exports from it. Empty: ledgerd's store.
	ClickHouseDSN string
	// PublicURL is the base of payment sessions' checkoutUrl (default: the
	// merchant API's address).
	PublicURL string
	// SessionTick is how often payment sessions are brought up to date
	// (default 250ms).
	SessionTick time.Duration
	Logger      *slog.Logger
}

// Stack is Inflow running in one process.
type Stack struct {
	Devnet  *devevm.Devnet
	Bitcoin *devbtc.Devnet  // nil unless Options.Bitcoin
	Tron    *devtron.Devnet // nil unless Options.Tron
	Solana  *devsol.Devnet  // nil unless Options.Solana
	Ledger  *ledgerd.Daemon
	Indexer *indexer.Daemon
	APIURL  string
	// ConsoleURL opens the console signed in as the dev merchant.
	ConsoleURL string
	// IndexerOpsURL and LedgerURL are the indexer's operator address and
	// ledgerd's internal and operator address (both serve /metrics).
	IndexerOpsURL, LedgerURL string
	APIOpsURL                string
	DevAPIKey                string
	AdminKey                 string
	MerchantID               string
	Pool                     []chain.Address
	// BitcoinPool is the dev merchant's bitcoin-regtest addresses.
	BitcoinPool []string
	// TronPool is the dev merchant's Tron addresses.
	TronPool []chain.Address
	// SolanaPool is the dev merchant's Solana owner addresses.
	SolanaPool []chain.Address

	broker  *broker.Broker
	history *chstore.DB
	wg      sync.WaitGroup
	errc    chan error
	ctx     context.Context // the stack's own; cancelled on failure or stop
	cancel  context.CancelFunc
}

// DevAddresses are the dev merchant's pool: deterministic, so a restart
// finds the same ones.
func DevAddresses(n int) []chain.Address {
	out := make([]chain.Address, n)
	for i := range out {
		h := sha256.Sum256([]byte("inflow-dev-address-" + strconv.Itoa(i)))
		out[i] = chain.EVMAddress([20]byte(h[:20]))
	}
	return out
}

func randomKey(prefix string) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}

// Start brings the stack up; it runs until ctx ends or a part fails.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.PoolSize == 0 {
		o.PoolSize = 100
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	log := o.Logger
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, err
	}
	if o.Assets == nil {
		t, err := TestnetTable()
		if err != nil {
			return nil, err
		}
		o.Assets = t
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Stack{errc: make(chan error, 4), ctx: ctx, cancel: cancel, Pool: DevAddresses(o.PoolSize)}
	fail := func(err error) (*Stack, error) {
		cancel()
		s.wg.Wait()
		s.close()
		// A part that failed while starting (a listener whose port is
		// taken) cancels the context the start was waiting on: say why.
		select {
		case perr := <-s.errc:
			if errors.Is(err, context.Canceled) {
				return nil, perr
			}
		default:
		}
		return nil, err
	}
	var err error
	if s.broker, err = broker.Start(broker.Options{DataDir: filepath.Join(o.DataDir, "kafka"), Port: o.KafkaPort}); err != nil {
		return fail(err)
	}
	if r := s.broker.Recovered(); r.Mended() {
		log.Warn("kafka: mended what the last crash left", "indexes_rewritten", r.IndexesRepaired, "transactions_aborted", r.Aborted)
	}
	brokers := s.broker.Addrs()

	if s.Devnet, err = devevm.Start(devevm.Config{
		Addr: o.RPC, DataDir: filepath.Join(o.DataDir, "devnet"), BlockTime: o.BlockTime, FinalityLag: o.FinalityLag,
		TrafficRate: o.Traffic, TrafficTargets: func() []chain.Address { return s.Pool }, Logger: log.With("component", "devnet"), HTTPLimits: o.HTTPLimits,
	}); err != nil {
		return fail(err)
	}

	chains := []chain.ID{devevm.ChainID}
	if o.Bitcoin {
		if s.Bitcoin, err = devbtc.Start(devbtc.Config{DataDir: filepath.Join(o.DataDir, "bitcoin"), RPCAddr: o.BitcoinRPC,
			BlockTime: o.BitcoinBlockTime, Logger: log.With("component", "bitcoin-devnet")}); err != nil {
			return fail(fmt.Errorf("bitcoin-regtest: %w (start with --bitcoin=false to run without it)", err))
		}
		s.BitcoinPool = devbtc.DevAddresses(o.PoolSize)
		chains = append(chains, devbtc.ChainID)
	}
	if o.Tron {
		addr := o.TronRPC
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		s.TronPool = devtron.DevAddresses(o.PoolSize)
		if s.Tron, err = devtron.Start(devtron.Config{Addr: addr, DataDir: filepath.Join(o.DataDir, "tron"), BlockTime: o.TronBlockTime,
			TrafficRate: o.Traffic / 2, TrafficTargets: func() []chain.Address { return s.TronPool }, Logger: log.With("component", "tron-devnet")}); err != nil {
			return fail(fmt.Errorf("tron-devnet: %w", err))
		}
		chains = append(chains, devtron.ChainID)
	}
	if o.Solana {
		addr := o.SolanaRPC
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		s.SolanaPool = devsol.DevAddresses(o.PoolSize)
		if s.Solana, err = devsol.Start(devsol.Config{Addr: addr, DataDir: filepath.Join(o.DataDir, "solana"), SlotTime: o.SolanaSlotTime,
			TrafficRate: o.Traffic / 2, TrafficTargets: func() []chain.Address { return s.SolanaPool }, Logger: log.With("component", "solana-devnet")}); err != nil {
			return fail(fmt.Errorf("solana-localnet: %w", err))
		}
		chains = append(chains, devsol.ChainID)
	}

	sessionTick := o.SessionTick
	if sessionTick <= 0 {
		sessionTick = 250 * time.Millisecond
	}
	token := randomKey("it_")
	if err := lastingKeys(o.DataDir, &o); err != nil {
		return fail(fmt.Errorf("keys: %w", err))
	}
	s.AdminKey = o.AdminKey
	if s.Ledger, err = ledgerd.New(ledgerd.Config{
		DataDir: filepath.Join(o.DataDir, "ledgerd"), KafkaBrokers: brokers, HTTP: o.LedgerHTTP,
		Chains: chains, Cooldown: ledgerd.Duration(o.Cooldown), InternalToken: token, AdminKey: o.AdminKey,
		AllowLoopbackWebhooks: true, WebhookRetryBase: ledgerd.Duration(o.WebhookRetry), ClickHouseDSN: o.ClickHouseDSN, HTTPLimits: o.HTTPLimits,
		PublicURL: o.PublicURL, SessionTick: ledgerd.Duration(sessionTick), Table: o.Assets,
	}, log.With("daemon", "ledgerd"), nil); err != nil {
		return fail(err)
	}
	if err := s.devMerchant(o); err != nil {
		return fail(err)
	}
	s.run(ctx, "ledgerd", s.Ledger.Run)
	laddr, err := s.Ledger.Addr(ctx)
	if err != nil {
		return fail(err)
	}

	from := uint64(1)
	followed := []indexer.ChainConfig{{ID: devevm.ChainID, RPC: s.Devnet.WSURL(), From: &from, PollInterval: indexer.Duration(max(o.BlockTime/4, 20*time.Millisecond))}}
	if s.Bitcoin != nil {
		poll := o.BitcoinBlockTime / 4
		if poll == 0 {
			poll = 250 * time.Millisecond
		}
		followed = append(followed, indexer.ChainConfig{ID: devbtc.ChainID, RPC: s.Bitcoin.URL(), From: &from, PollInterval: indexer.Duration(max(poll, 20*time.Millisecond))})
	}
	if s.Tron != nil {
		poll := o.TronBlockTime / 4
		if poll == 0 {
			poll = 250 * time.Millisecond
		}
		followed = append(followed, indexer.ChainConfig{ID: devtron.ChainID, RPC: s.Tron.URL(), From: &from, PollInterval: indexer.Duration(max(poll, 20*time.Millisecond))})
	}
	if s.Solana != nil {
		poll := o.SolanaSlotTime / 2
		if poll == 0 {
			poll = 100 * time.Millisecond
		}
		followed = append(followed, indexer.ChainConfig{ID: devsol.ChainID, RPC: s.Solana.URL(), From: &from, PollInterval: indexer.Duration(max(poll, 20*time.Millisecond))})
	}
	if s.Indexer, err = indexer.New(indexer.Config{
		DataDir: filepath.Join(o.DataDir, "indexer"), KafkaBrokers: brokers, HTTP: o.IndexerOps, HTTPLimits: o.HTTPLimits,
		Chains: followed, Table: o.Assets, AdminKey: o.AdminKey,
	}, log.With("daemon", "indexer"), nil); err != nil {
		return fail(err)
	}
	s.run(ctx, "indexer", s.Indexer.Run)
	var indexerOps string
	if o.IndexerOps != "" {
		octx, ocancel := context.WithTimeout(ctx, 30*time.Second)
		a, err := s.Indexer.OpsAddr(octx)
		ocancel()
		if err != nil {
			return fail(fmt.Errorf("indexer operator endpoints: %w", err))
		}
		indexerOps = "http://" + a.String()
	}
	s.IndexerOpsURL, s.LedgerURL = indexerOps, "http://"+laddr.String()

	reg := ops.NewRegistry()
	acfg := api.Config{LedgerURL: "http://" + laddr.String(), InternalToken: token, AdminKey: o.AdminKey, Assets: o.Assets,
		ConsoleSecret: o.consoleSecret, IndexerOps: indexerOps,
		AllowLoopbackWebhooks: true, Logger: log.With("daemon", "apid"), Registerer: reg}
	if o.ClickHouseDSN != "" {
		octx, ocancel := context.WithTimeout(ctx, 30*time.Second)
		s.history, err = chstore.Open(octx, o.ClickHouseDSN, log.With("daemon", "apid"))
		ocancel()
		if err != nil {
			return fail(err)
		}
		acfg.History = s.history
	}
	srv, err := api.New(acfg)
	if err != nil {
		return fail(err)
	}
	hopts := o.HTTPLimits
	hopts.Logger = log
	ln, err := httpserver.Listen(o.HTTP, hopts)
	if err != nil {
		return fail(err)
	}
	s.APIURL = "http://" + ln.Addr().String()
	s.ConsoleURL = srv.ConsoleLoginURL(s.APIURL, s.DevAPIKey)
	public, operator := api.Mount(ctx, srv, reg)
	if o.APIOps == "" {
		o.APIOps = "127.0.0.1:0"
	}
	oaddr, err := ops.Serve(ctx, o.APIOps, operator, hopts)
	if err != nil {
		ln.Close()
		return fail(err)
	}
	s.APIOpsURL = "http://" + oaddr.String()
	mux := http.NewServeMux()
	local := []devnet.Chain{s.Devnet}
	if s.Bitcoin != nil {
		local = append(local, s.Bitcoin)
	}
	if s.Tron != nil {
		local = append(local, s.Tron)
	}
	if s.Solana != nil {
		local = append(local, s.Solana)
	}
	mux.Handle("/devnet/", devnet.ControlAPI(local...))
	if o.PublicURL == "" {
		s.Ledger.Sessions.SetPublicURL(s.APIURL)
	}
	mux.Handle("/", public)
	s.run(ctx, "apid", func(ctx context.Context) error { return httpserver.Serve(ctx, ln, mux, hopts) })
	return s, nil
}

// devMerchant makes (or finds) the dev merchant, its key and its pool.
func (s *Stack) devMerchant(o Options) error {
	reg := s.Ledger.Reg
	m, err := reg.FindMerchantByName("dev")
	switch {
	case errors.Is(err, store.ErrNotFound):
		key := o.DevAPIKey
		if key == "" {
			key = randomKey("sk_test_")
		}
		var nm *store.Merchant
		var k string
		err := reg.Write(func(b *store.Batch) error {
			var err error
			nm, k, err = reg.CreateMerchant(b, "dev", false, key)
			return err
		})
		if err != nil {
			return fmt.Errorf("dev merchant: %w", err)
		}
		m, s.DevAPIKey = nm, k
	case err != nil:
		return err
	default:
		// The same key as the last start (keys.json): AddKey leaves a key
		// the merchant has as it is, so keys do not pile up.
		key := o.DevAPIKey
		if key == "" {
			key = randomKey("sk_test_")
		}
		if err := reg.Write(func(b *store.Batch) error { return reg.AddKey(b, m.ID, key) }); err != nil {
			return fmt.Errorf("dev API key: %w", err)
		}
		s.DevAPIKey = key
	}
	s.MerchantID = m.ID
	imports := []merchantapi.Import{{Family: chain.FamilyEVM, Addresses: s.Pool}}
	if len(s.TronPool) > 0 {
		imports = append(imports, merchantapi.Import{Family: chain.FamilyTron, Addresses: s.TronPool})
	}
	if len(s.SolanaPool) > 0 {
		imports = append(imports, merchantapi.Import{Family: chain.FamilySolana, Addresses: s.SolanaPool})
	}
	if len(s.BitcoinPool) > 0 {
		req := merchantapi.ImportRequest{Protocol: "bitcoin", Addresses: s.BitcoinPool}
		imp, err := req.Parse()
		if err != nil {
			return fmt.Errorf("dev bitcoin addresses: %w", err)
		}
		imports = append(imports, imp)
	}
	return reg.Write(func(b *store.Batch) error {
		for _, imp := range imports {
			if _, err := reg.Import(b, m.ID, imp); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Stack) run(ctx context.Context, name string, fn func(context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			if !strings.HasPrefix(err.Error(), name+": ") { // a daemon that names itself ("ledgerd: listen …")
				err = fmt.Errorf("%s: %w", name, err)
			}
			s.errc <- err
			s.cancel()
		}
	}()
}

// Wait blocks until the stack stops (its context ends, or a part fails) and
// returns the first failure.
func (s *Stack) Wait() error {
	var err error
	select {
	case <-s.ctx.Done():
	case err = <-s.errc:
	}
	select {
	case err = <-s.errc:
	default:
	}
	s.cancel()
	s.wg.Wait()
	s.close()
	return err
}

func (s *Stack) close() {
	if s.Indexer != nil {
		s.Indexer.Close()
	}
	if s.Ledger != nil {
		s.Ledger.Close()
	}
	if s.Devnet != nil {
		s.Devnet.Close()
	}
	if s.Bitcoin != nil {
		s.Bitcoin.Close()
	}
	if s.Tron != nil {
		s.Tron.Close()
	}
	if s.Solana != nil {
		s.Solana.Close()
	}
	if s.broker != nil {
		s.broker.Close()
	}
	if s.history != nil {
		s.history.Close()
	}
}
