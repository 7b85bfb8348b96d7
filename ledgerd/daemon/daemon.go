// Package daemon runs ledgerd: the ledger consuming the chain topics, the
// outbox relay, the webhook dispatcher and sender, the cooldown sweeper, and
// one HTTP listener with the internal API and /healthz, /readyz, /metrics.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/ledgerd/history"
	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/outbox"
	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/rpc"
	"github.com/inflowhq/inflow/ledgerd/sessions"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/ledgerd/webhook"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/chstore"
	"github.com/inflowhq/inflow/pkg/config"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/httpserver"
	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/ops"
)

// Duration is a time.Duration written as "30m" in configuration files.
type Duration = config.Duration

// Config is ledgerd's configuration.
type Config struct {
	DataDir      string   `json:"data_dir"`
	KafkaBrokers []string `json:"kafka_brokers"`
	// HTTP serves the internal API and the operator endpoints.
	HTTP       string `json:"http"`
	AssetsFile string `json:"assets_file,omitempty"`
	// Table, when set, is the asset table itself, instead of AssetsFile
	// (the all-in-one's, with its testnet tokens).
	Table *assets.Config `json:"-"`
	// Chains are the chain topics to consume (default: every known chain).
	Chains []chain.ID `json:"chains,omitempty"`
	// PublicURL is the merchant API's public base: payment sessions'
	// checkoutUrl and qrCodeUrl start with it.
	PublicURL string `json:"public_url,omitempty"`
	// SessionTick is how often payment sessions are brought up to date
	// (default 1s).
	SessionTick Duration `json:"session_tick,omitempty"`
	// Cooldown is how long an unbound address rests (default 30m).
	Cooldown Duration `json:"cooldown,omitempty"`
	// MaxOpenDeposits bounds each chain's open deposits the ledger keeps
	// in memory (default 1M; past it the oldest confirmed blocks deeper
	// than the chain's maximum reorg stay in Pebble alone).
	MaxOpenDeposits int `json:"max_open_deposits,omitempty"`
	// InternalToken is the shared secret apid must send; ledgerd does not
	// start without one.
	InternalToken string `json:"internal_token,omitempty"`
	// AdminKey guards the admin routes (merchants, address conflicts);
	// empty disables them.
	AdminKey string `json:"admin_key,omitempty"`
	// AllowLoopbackWebhooks allows http://127.0.0.1 endpoints: dev mode only.
	AllowLoopbackWebhooks bool     `json:"allow_loopback_webhooks,omitempty"`
	WebhookRetryBase      Duration `json:"webhook_retry_base,omitempty"`
	WebhookMaxAge         Duration `json:"webhook_max_age,omitempty"`
	LogLevel              string   `json:"log_level,omitempty"`
	// ClickHouseDSN, when set, runs the history sink: inflow.deposits and
	// the chain topics' blocks into ClickHouse (clickhouse://host:9000/db).
	ClickHouseDSN string `json:"clickhouse_dsn,omitempty"`
	// HTTPLimits are the listener's timeouts and caps (pkg/httpserver's
	// defaults when zero).
	HTTPLimits httpserver.Options `json:"-"`
}

// DefaultConfig is what unset fields fall back to.
func DefaultConfig() Config {
	return Config{DataDir: "./data/ledgerd", KafkaBrokers: []string{"127.0.0.1:9092"}, HTTP: "127.0.0.1:9201", LogLevel: "info"}
}

// LoadConfig reads a JSON file over the defaults.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	return cfg, config.Load(path, &cfg)
}

// Validate checks the configuration.
func (c Config) Validate(table *assets.Config) error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is empty"))
	}
	if len(c.KafkaBrokers) == 0 {
		errs = append(errs, errors.New("no kafka brokers"))
	}
	if c.HTTP == "" {
		errs = append(errs, errors.New("http address is empty"))
	}
	for _, id := range c.Chains {
		if _, err := table.Chain(id); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Cooldown < 0 {
		errs = append(errs, errors.New("cooldown is negative"))
	}
	if c.InternalToken == "" {
		errs = append(errs, rpc.ErrNoToken)
	} else if len(c.InternalToken) < config.MinSecretLen {
		errs = append(errs, fmt.Errorf("the internal token has at least %d characters", config.MinSecretLen))
	}
	if c.AdminKey != "" && len(c.AdminKey) < config.MinSecretLen {
		errs = append(errs, fmt.Errorf("the admin key has at least %d characters", config.MinSecretLen))
	}
	return errors.Join(errs...)
}

// Daemon is a running ledgerd.
type Daemon struct {
	cfg    Config
	Table  *assets.Config
	log    *slog.Logger
	reg    *prometheus.Registry
	ready  *ops.Readiness
	DB     *store.DB
	Ledger *ledger.Ledger
	Reg    *registry.Registry
	Hooks  *webhook.Service
	// consumed are the chains read: cfg.Chains, or every chain of the table.
	consumed []chain.ID
	// Sessions are the payment sessions.
	Sessions *sessions.Service
	kcfg     kafka.Config
	relay    *outbox.Relay
	rpc      *rpc.Server
	// Listings builds the reference and asset listings (ledgerd/history).
	Listings *history.Indexer
	addr     net.Addr
	addrCh   chan struct{}
	// resumes are the operator's resumptions, for the consumer to do
	// between batches.
	resumes chan resumeRequest
}

type resumeRequest struct {
	chain      chain.ID
	reason, by string
	done       chan resumeResult
}

type resumeResult struct {
	st  store.ChainState
	err error
}

// Resume has the ledger's consumer resume a halted chain (ledger.Resume)
// and seek its topic back to the first record held.
func (d *Daemon) Resume(ctx context.Context, id chain.ID, reason, by string) (store.ChainState, error) {
	req := resumeRequest{chain: id, reason: reason, by: by, done: make(chan resumeResult, 1)}
	select {
	case d.resumes <- req:
	case <-ctx.Done():
		return store.ChainState{}, fmt.Errorf("the ledger's consumer is busy: %w", ctx.Err())
	}
	select {
	case r := <-req.done:
		return r.st, r.err
	case <-ctx.Done():
		return store.ChainState{}, ctx.Err()
	}
}

// New opens ledgerd's state.
func New(cfg Config, log *slog.Logger, reg *prometheus.Registry) (*Daemon, error) {
	table, err := assets.LoadOrDefault(cfg.AssetsFile)
	if err != nil {
		return nil, err
	}
	if cfg.Table != nil {
		table = cfg.Table
	}
	if err := cfg.Validate(table); err != nil {
		return nil, fmt.Errorf("ledgerd config: %w", err)
	}
	if len(cfg.Chains) == 0 {
		for _, c := range table.Chains {
			cfg.Chains = append(cfg.Chains, c.ID)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = ops.NewRegistry()
	}
	pdb, err := store.OpenPebble(filepath.Clean(cfg.DataDir), nil, log)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, Table: table, log: log, reg: reg, DB: store.Wrap(pdb),
		ready: ops.NewReadiness("http", "ledger", "relay", "webhooks"),
		kcfg:  kafka.Config{Brokers: cfg.KafkaBrokers, ClientID: "inflow-ledgerd"}, addrCh: make(chan struct{}), resumes: make(chan resumeRequest)}
	consumed := cfg.Chains
	if len(consumed) == 0 {
		for _, c := range table.Chains {
			consumed = append(consumed, c.ID)
		}
	}
	if d.Ledger, err = ledger.New(d.DB, table, ledger.Options{Logger: log.With("component", "ledger"), Registerer: reg, Chains: consumed, MaxOpenDeposits: d.cfg.MaxOpenDeposits}); err != nil {
		pdb.Close()
		return nil, err
	}
	if d.Reg, err = registry.New(d.DB, table, registry.Options{Cooldown: time.Duration(cfg.Cooldown), Logger: log.With("component", "registry")}); err != nil {
		pdb.Close()
		return nil, err
	}
	if d.Listings, err = history.NewIndexer(d.DB, log.With("component", "listings"), reg); err != nil {
		pdb.Close()
		return nil, err
	}
	d.Hooks, err = webhook.New(d.DB, webhook.Options{Base: time.Duration(cfg.WebhookRetryBase), MaxAge: time.Duration(cfg.WebhookMaxAge),
		AllowLoopbackHTTP: cfg.AllowLoopbackWebhooks, Logger: log.With("component", "webhook"), Registerer: reg})
	if err != nil {
		pdb.Close()
		return nil, err
	}
	d.consumed = consumed
	d.Sessions = sessions.New(d.DB, d.Reg, table, consumed, sessions.Config{PublicURL: cfg.PublicURL, Logger: log.With("component", "sessions"),
		Emit: d.Hooks.Enqueue, Emitted: d.Hooks.Wake, AllowLoopbackHTTP: cfg.AllowLoopbackWebhooks})
	return d, nil
}

// Close releases the state; call after Run returns.
func (d *Daemon) Close() error { return d.DB.Close() }

// Addr waits for the HTTP listener and returns its address.
func (d *Daemon) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case <-d.addrCh:
		return d.addr, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Ready returns the readiness tracker.
func (d *Daemon) Ready() *ops.Readiness { return d.ready }

// Run runs every part until ctx ends or one fails.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	topics := make([]string, len(d.cfg.Chains))
	specs := []kafka.TopicSpec{kafka.AddressesTopic(), kafka.DepositsTopic()}
	for i, id := range d.cfg.Chains {
		topics[i] = id.Topic()
		specs = append(specs, kafka.ChainTopic(id))
	}
	if err := kafka.WaitEnsureTopics(ctx, d.kcfg, d.log, specs...); err != nil {
		return err
	}
	prod, err := kafka.NewProducer(d.kcfg)
	if err != nil {
		return err
	}
	defer prod.Close()
	if d.relay, err = outbox.New(d.DB, prod, d.log.With("component", "outbox"), d.reg); err != nil {
		return err
	}
	// The ledger's batches commit in the background (ledger.Submit): the
	// relay and the listing indexer are woken when each is durable.
	d.DB.NotifyDurable(func() { d.relay.Wake(); d.Listings.Wake() })

	srv, err := rpc.New(d.DB, d.Reg, d.Hooks, d.Table, rpc.Options{Token: d.cfg.InternalToken, AdminKey: d.cfg.AdminKey,
		AllowLoopbackHTTP: d.cfg.AllowLoopbackWebhooks, Logger: d.log.With("component", "rpc"), OnChange: d.relay.Wake, Sessions: d.Sessions,
		Chains: d.consumed, Resume: d.Resume})
	if err != nil {
		return err
	}
	d.rpc = srv
	mux := http.NewServeMux()
	mux.Handle("/internal/", srv.Handler())
	mux.Handle("/", ops.Handler(d.reg, d.ready))
	hopts := d.cfg.HTTPLimits
	hopts.Logger = d.log
	ln, err := httpserver.Listen(d.cfg.HTTP, hopts)
	if err != nil {
		return fmt.Errorf("ledgerd: %w", err)
	}
	d.addr = ln.Addr()
	close(d.addrCh)
	d.ready.Set("http", nil)
	d.log.Info("ledgerd internal API and operator endpoints", "addr", "http://"+ln.Addr().String())

	var wg sync.WaitGroup
	run := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				d.ready.Set(name, err)
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	run("http", func(ctx context.Context) error { return httpserver.Serve(ctx, ln, mux, hopts) })
	run("relay", func(ctx context.Context) error { d.ready.Set("relay", nil); return d.relay.Run(ctx) })
	run("listings", d.Listings.Run)
	run("sessions", func(ctx context.Context) error {
		tick := time.Duration(d.cfg.SessionTick)
		if tick <= 0 {
			tick = time.Second
		}
		return d.Sessions.Run(ctx, tick)
	})
	if d.cfg.ClickHouseDSN != "" {
		d.ready.Set("history-sink", errors.New("connecting to ClickHouse"))
		run("history-sink", func(ctx context.Context) error { return d.runSink(ctx) })
	}
	run("ledger", func(ctx context.Context) error { return d.consume(ctx, topics) })
	run("webhooks", func(ctx context.Context) error {
		d.ready.Set("webhooks", nil)
		var g sync.WaitGroup
		errc := make(chan error, 2)
		g.Add(2)
		go func() { defer g.Done(); errc <- d.Hooks.Dispatch(ctx, d.kcfg) }()
		go func() { defer g.Done(); errc <- d.Hooks.Send(ctx) }()
		err := <-errc
		g.Wait()
		return err
	})
	run("sweeper", func(ctx context.Context) error {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			if err := d.Reg.SweepAll(); err != nil {
				d.log.Warn("cooldown sweep", "err", err)
			}
			if n, err := d.rpc.SweepIdempotency(); err != nil {
				d.log.Warn("idempotency sweep", "err", err)
			} else if n > 0 {
				d.log.Debug("idempotency records expired", "records", n)
			}
			d.relay.Wake()
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
	<-ctx.Done()
	wg.Wait()
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return nil
}

// runSink writes the deposit events and blocks into ClickHouse. ClickHouse
// being down at start is waited out; the sink itself retries failed inserts.
func (d *Daemon) runSink(ctx context.Context) error {
	log := d.log.With("component", "history-sink")
	var db *chstore.DB
	for delay := time.Second; ; delay = min(delay*2, 30*time.Second) {
		var err error
		if db, err = chstore.Open(ctx, d.cfg.ClickHouseDSN, log); err == nil {
			break
		}
		log.Warn("ClickHouse unreachable; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	defer db.Close()
	sink, err := chstore.NewSink(db, chstore.SinkOptions{Kafka: d.kcfg, Assets: d.Table, Chains: d.cfg.Chains, Logger: log, Registerer: d.reg})
	if err != nil {
		return err
	}
	d.ready.Set("history-sink", nil)
	go func() {
		select {
		case <-sink.CaughtUp():
			log.Info("history sink caught up")
		case <-ctx.Done():
		}
	}()
	// History is not money: a sink that fails is reported in /readyz and
	// restarted from its stored offsets, and the ledger goes on.
	for delay := time.Second; ; delay = min(delay*2, time.Minute) {
		err := sink.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		d.ready.Set("history-sink", err)
		log.Error("history sink stopped; restarting", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		d.ready.Set("history-sink", nil)
	}
}

// consume applies the chain topics to the ledger, one synced batch per fetch.
func (d *Daemon) consume(ctx context.Context, topics []string) error {
	offsets, err := store.Offsets(d.DB, topics)
	if err != nil {
		return err
	}
	cl, err := kafka.NewConsumer(d.kcfg, topics, offsets, kgo.FetchMaxBytes(16<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	d.ready.Set("ledger", nil)
	paused := map[string]bool{}
	resume := func(req resumeRequest) {
		topic := kafka.ChainTopic(req.chain).Name
		st, err := d.Ledger.Resume(req.chain, req.reason, req.by)
		if err == nil {
			// Read again from the first record held: the consumer went
			// past it, holding what followed.
			var offs map[string]map[int32]int64
			if offs, err = store.Offsets(d.DB, []string{topic}); err == nil {
				seek := map[string]map[int32]kgo.EpochOffset{topic: {}}
				for p, o := range offs[topic] {
					seek[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
				}
				if len(seek[topic]) == 0 {
					seek[topic][0] = kgo.EpochOffset{Epoch: -1, Offset: 0}
				}
				cl.SetOffsets(seek)
				cl.ResumeFetchPartitions(map[string][]int32{topic: {0}})
				delete(paused, topic)
				d.ready.Set("chain:"+string(req.chain), nil)
			}
		}
		req.done <- resumeResult{st: st, err: err}
	}
	for {
		select {
		case req := <-d.resumes:
			resume(req)
		default:
		}
		// An idle poll ends after a moment, so that an operator's request
		// is taken between batches even while nothing arrives.
		pctx, pcancel := context.WithTimeout(ctx, 250*time.Millisecond)
		fs := cl.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			return nil
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			d.log.Warn("ledger consumer", "err", ferr)
			continue
		}
		var in []ledger.Input
		var bad error
		fs.EachRecord(func(r *kafka.Record) {
			if bad != nil {
				return
			}
			rec, err := events.Unmarshal(r.Value)
			if err != nil {
				bad = fmt.Errorf("%s/%d offset %d: %w", r.Topic, r.Partition, r.Offset, err)
				return
			}
			in = append(in, ledger.Input{Record: rec, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
		})
		if bad != nil {
			// A record that does not decode cannot be applied or skipped
			// with money at stake: stop, alert, keep the stored offset.
			d.log.Error("ALERT: undecodable chain record; the ledger stops here", "err", bad)
			return bad
		}
		if len(in) == 0 {
			continue
		}
		// The batch commits while the next fetch is polled and prepared;
		// its offsets are in it, so a crash before it is durable only
		// means its records are consumed again.
		if err := d.Ledger.Submit(in); err != nil {
			return err
		}
		for _, x := range in {
			if paused[x.Topic] {
				continue
			}
			if halted, reason, err := d.Ledger.Halted(x.Record.Chain); err == nil && halted {
				paused[x.Topic] = true
				cl.PauseFetchPartitions(map[string][]int32{x.Topic: {x.Partition}})
				d.ready.Set("chain:"+string(x.Record.Chain), errors.New("halted: "+reason))
			}
		}
	}
}
