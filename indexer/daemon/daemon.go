package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/inflowhq/inflow/indexer/bitcoin"
	"github.com/inflowhq/inflow/indexer/evm"
	"github.com/inflowhq/inflow/indexer/follow"
	"github.com/inflowhq/inflow/indexer/solana"
	"github.com/inflowhq/inflow/indexer/tron"
	"github.com/inflowhq/inflow/matcher"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/httpserver"
	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/kv"
	"github.com/inflowhq/inflow/pkg/ops"
)

// Daemon is a running indexer.
type Daemon struct {
	opsAddr   net.Addr
	opsAddrCh chan struct{} // closed once opsAddr is set
	cfg       Config
	table     *assets.Config
	log       *slog.Logger
	reg       *prometheus.Registry
	ready     *ops.Readiness
	db        *pebble.DB
	match     *matcher.Matcher
	kcfg      kafka.Config
	admin     *admin
	now       func() time.Time

	solanaMismatches *prometheus.CounterVec
}

// New opens the indexer's state. reg may be nil for a fresh registry.
func New(cfg Config, log *slog.Logger, reg *prometheus.Registry) (*Daemon, error) {
	table, err := assets.LoadOrDefault(cfg.AssetsFile)
	if err != nil {
		return nil, err
	}
	if cfg.Table != nil {
		table = cfg.Table
	}
	if err := cfg.Validate(table); err != nil {
		return nil, fmt.Errorf("indexer config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = ops.NewRegistry()
	}
	components := []string{"matcher"}
	for _, c := range cfg.Chains {
		components = append(components, "chain:"+string(c.ID))
	}
	d := &Daemon{opsAddrCh: make(chan struct{}), cfg: cfg, table: table, log: log, reg: reg, ready: ops.NewReadiness(components...),
		kcfg: kafka.Config{Brokers: cfg.KafkaBrokers, ClientID: "inflow-indexer"}}
	d.solanaMismatches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inflow_indexer_solana_reconcile_mismatches_total",
		Help: "Solana transactions in which a watched owner's balance changed other than its parsed transfers say (mint-to, close-account refunds and other paths nothing is credited for)."},
		[]string{"chain"})
	if err := reg.Register(d.solanaMismatches); err != nil {
		are, ok := err.(prometheus.AlreadyRegisteredError)
		if !ok {
			return nil, err
		}
		d.solanaMismatches = are.ExistingCollector.(*prometheus.CounterVec)
	}
	d.now = func() time.Time { return time.Now().UTC() }
	if d.admin, err = newAdmin(d); err != nil {
		return nil, err
	}
	db, err := kv.Open(filepath.Clean(cfg.DataDir), nil, log)
	if err != nil {
		return nil, err
	}
	d.db = db
	// The filter snapshot lives in Pebble's folder, which ignores files it
	// does not know.
	d.match, err = matcher.Open(db, matcher.Options{BitsPerKey: cfg.FilterBitsPerAddress, Logger: log.With("component", "matcher"), Registerer: reg,
		Snapshot: filepath.Join(filepath.Clean(cfg.DataDir), "inflow-matcher.filter")})
	if err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// Matcher returns the daemon's matcher.
func (d *Daemon) Matcher() *matcher.Matcher { return d.match }

// Ready returns the readiness tracker.
func (d *Daemon) Ready() *ops.Readiness { return d.ready }

// OpsAddr waits for the operator listener (Config.HTTP) and returns its
// address.
func (d *Daemon) OpsAddr(ctx context.Context) (net.Addr, error) {
	select {
	case <-d.opsAddrCh:
		return d.opsAddr, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Registry returns the metrics registry.
func (d *Daemon) Registry() *prometheus.Registry { return d.reg }

// Close releases the state; call after Run returns.
func (d *Daemon) Close() error {
	return errors.Join(d.match.Close(), d.db.Close())
}

// Run creates the topics, follows inflow.addresses and every chain until ctx
// ends or a chain halts. A fenced producer (another indexer took over) ends
// Run with kafka.ErrFenced.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if d.cfg.HTTP != "" {
		mux := http.NewServeMux()
		mux.Handle("/", ops.Handler(d.reg, d.ready))
		mux.Handle("/admin/", d.admin.handler(ctx))
		addr, err := ops.Serve(ctx, d.cfg.HTTP, mux, d.httpLimits())
		if err != nil {
			return err
		}
		d.log.Info("indexer operator endpoints", "addr", "http://"+addr.String())
		d.opsAddr = addr
		close(d.opsAddrCh)
	}
	if err := d.ensureTopics(ctx); err != nil {
		return err
	}
	caught := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := d.match.Follow(ctx, d.kcfg, caught)
		if err != nil && ctx.Err() == nil {
			d.ready.Set("matcher", err)
			cancel(fmt.Errorf("matcher: %w", err))
		}
	}()
	select {
	case <-caught:
		d.ready.Set("matcher", nil)
	case <-ctx.Done():
		wg.Wait()
		return context.Cause(ctx)
	}
	errs := make(chan error, len(d.cfg.Chains))
	for _, cc := range d.cfg.Chains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := d.runChain(ctx, cc)
			if err != nil && ctx.Err() == nil {
				d.ready.Set("chain:"+string(cc.ID), err)
				errs <- fmt.Errorf("chain %s: %w", cc.ID, err)
			}
		}()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
		// A halted chain stays halted and not ready, but a fenced producer
		// means this process must stop writing altogether.
		if errors.Is(first, kafka.ErrFenced) {
			cancel(first)
		} else {
			d.log.Error("chain stopped; the others go on", "err", first)
			<-ctx.Done()
		}
	}
	cancel(nil)
	wg.Wait()
	d.admin.jobs.Wait()
	if first != nil {
		return first
	}
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return nil
}

func (d *Daemon) ensureTopics(ctx context.Context) error {
	specs := []kafka.TopicSpec{kafka.AddressesTopic()}
	for _, c := range d.cfg.Chains {
		specs = append(specs, kafka.ChainTopic(c.ID))
	}
	return kafka.WaitEnsureTopics(ctx, d.kcfg, d.log, specs...)
}

// evmDepthSource is a client whose finality comes from a depth: the finalized tag
// is hidden from the follower.
type evmDepthSource struct {
	follow.Source
	follow.HeaderFetcher
	follow.HeadSubscriber
}

func (d *Daemon) runChain(ctx context.Context, cc ChainConfig) error {
	spec, _ := d.table.Chain(cc.ID)
	log := d.log.With("chain", string(cc.ID))
	fcfg := follow.Config{
		Chain: cc.ID, Family: spec.Family, From: cc.From,
		MaxReorgDepth: int(spec.Policy.MaxReorgDepth),
		WindowSize:    cc.WindowSize,
		Fetchers:      cc.Fetchers,
		PollInterval:  time.Duration(cc.PollInterval),
	}
	if fcfg.WindowSize == 0 {
		fcfg.WindowSize = max(64, 2*fcfg.MaxReorgDepth)
	}
	if spec.Policy.Finality == assets.FinalityDepth {
		fcfg.FinalityDepth = spec.Policy.FinalityDepth
	}
	// Every chain is read through a pool, of one node or of several (see
	// follow.Pool): its per-node metrics exist either way.
	var src follow.Source
	{
		var nodes []follow.PoolNode
		for _, u := range cc.Endpoints() {
			one := cc
			one.RPC = u
			// A node that is down when the indexer starts is dialled
			// again until it answers: the chain waits for it, instead
			// of stopping until the next restart.
			var s follow.Source
			var closeFn func()
			for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
				var err error
				if s, closeFn, err = d.dial(ctx, one, spec, log); err == nil {
					break
				}
				log.Warn("cannot reach the node; trying again", "rpc", redactURL(u), "err", err, "in", delay)
				d.ready.Set("chain:"+string(cc.ID), fmt.Errorf("%s: %w", redactURL(u), err))
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(delay):
				}
			}
			defer closeFn()
			nodes = append(nodes, follow.PoolNode{Name: redactURL(u), Source: s})
		}
		pool, err := follow.NewPool(cc.ID, nodes, follow.PoolConfig{Quorum: cc.Quorum, MaxLag: cc.MaxNodeLag}, log, d.reg)
		if err != nil {
			return err
		}
		// Bitcoin's finality, and an EVM chain's of a depth, is the
		// follower's: the pool then offers none; a chain of finality
		// "none" has none at all.
		finality := spec.Family != chain.FamilyBitcoin && spec.Policy.Finality == assets.FinalityTag
		src = follow.PoolSource(pool, finality)
	}
	prod, err := kafka.NewTxProducer(d.kcfg, "inflow-indexer-"+string(cc.ID))
	if err != nil {
		return err
	}
	defer prod.Close()
	f, err := follow.New(fcfg, src, d.match, &follow.KafkaPublisher{P: prod, Cfg: d.kcfg}, d.db, d.log, d.reg)
	if err != nil {
		return err
	}
	d.ready.Set("chain:"+string(cc.ID), nil)
	var urls []string
	for _, u := range cc.Endpoints() {
		urls = append(urls, redactURL(u))
	}
	log.Info("following", "rpc", strings.Join(urls, ","), "family", spec.Family)
	d.admin.chainReady(ctx, &chainRun{id: cc.ID, family: spec.Family, src: src, fetch: cc.Fetchers})
	for {
		err := f.Run(ctx)
		if !errors.Is(err, follow.ErrReorgTooDeep) && !errors.Is(err, follow.ErrHalt) {
			return err
		}
		// Halted: the chain is not ready until the operator decides
		// (POST /admin/v1/chains/{chainId}/resume, or `indexer resume`).
		d.ready.Set("chain:"+string(cc.ID), err)
		log.Error("ALERT: chain halted; waiting for the operator (indexer resume)", "err", err)
		dec, werr := d.admin.halted(ctx, cc.ID, err)
		if werr != nil {
			return err
		}
		log.Warn("AUDIT: chain resumed by the operator", "halt_reason", err.Error(), "reason", dec.reason, "by", dec.by)
		if errors.Is(err, follow.ErrReorgTooDeep) {
			f.AcceptNextReorg()
		}
		d.admin.resumed(cc.ID)
		d.ready.Set("chain:"+string(cc.ID), nil)
		dec.done <- nil
	}
}

// dial connects to one node of a chain; close releases it.
func (d *Daemon) dial(ctx context.Context, cc ChainConfig, spec *assets.Chain, log *slog.Logger) (src follow.Source, closeAll func(), err error) {
	var closers []func()
	closeAll = func() {
		for _, c := range closers {
			c()
		}
	}
	switch spec.Family {
	case chain.FamilyBitcoin:
		// Bitcoin has no finality signal: the client offers none, and the
		// chain's finality depth stands in.
		client, err := bitcoin.Dial(bitcoin.Options{URL: cc.RPC, CookieFile: cc.RPCCookie, Network: spec.AddressNet(), Conns: max(cc.Fetchers, 8)})
		if err != nil {
			return nil, closeAll, err
		}
		closers = append(closers, client.Close)
		src = client
	case chain.FamilyTron:
		key := cc.APIKey
		if key == "" {
			key = os.Getenv("INFLOW_TRON_API_KEY")
		}
		client, err := tron.Dial(tron.Options{URL: cc.RPC, SolidityURL: cc.SolidityRPC, APIKey: key})
		if err != nil {
			return nil, closeAll, err
		}
		closers = append(closers, client.Close)
		src = client // its Finalized is the solidified block
	case chain.FamilySolana:
		version, _ := cc.SolanaMaxTxVersion()
		mismatches := d.solanaMismatches.WithLabelValues(string(cc.ID))
		client, err := solana.Dial(solana.ClientOptions{URL: cc.RPC, MaxSupportedTransactionVersion: version, Encoding: cc.Encoding,
			Watched: func(k []byte) bool {
				if !d.match.MayContain(chain.FamilySolana, k) {
					return false
				}
				_, ok := d.match.Match(chain.FamilySolana, k)
				return ok
			},
			OnMismatch: func(slot uint64, m solana.Mismatch) {
				mismatches.Inc()
				mint := "SOL"
				if !m.Mint.IsZero() {
					mint = m.Mint.String()
				}
				log.Warn("reconciliation mismatch: a watched owner's balance changed other than its parsed transfers say; nothing is credited for the difference",
					"slot", slot, "signature", m.Signature, "owner", m.Owner.String(), "mint", mint, "parsed", m.Parsed.String(), "delta", m.Delta.String())
			}})
		if err != nil {
			return nil, closeAll, err
		}
		closers = append(closers, client.Close)
		src = client // its Finalized is the finalized commitment
	default:
		client, err := evm.Dial(ctx, cc.RPC)
		if err != nil {
			return nil, closeAll, err
		}
		closers = append(closers, client.Close)
		src = client
		if spec.Policy.Finality == assets.FinalityDepth {
			src = evmDepthSource{client, client, client}
		}
	}
	return src, closeAll, nil
}

// redactURL hides a URL's password for the log.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// httpLimits are the operator listener's limits.
func (d *Daemon) httpLimits() httpserver.Options {
	o := d.cfg.HTTPLimits
	o.Logger = d.log
	return o
}
