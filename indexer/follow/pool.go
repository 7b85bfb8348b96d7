package follow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/inflowhq/inflow/pkg/chain"
)

// A Pool is one chain's Source over several nodes, so that a node that
// stalls, lags, errs or follows another fork is not followed blindly.
//
// Head is the quorum's head: of the nodes that answer, the Quorum-th
// highest head, so that at least Quorum nodes have reached it, and only if
// at least Quorum of them agree on the block at that height. A node that
// errs or times out, is more than MaxLag blocks behind that head, or has
// another block at its height is set aside for Rest, counted in its
// metrics and logged. Blocks are fetched from the nodes that agreed, the
// fastest first, the next on an error. Finalized is the lowest finalized
// block of the agreeing nodes. A Pool of one node is that node, with
// metrics.
//
// Without a quorum Head fails with ErrNoQuorum: the follower retries and
// publishes nothing, so the followed head never moves on the word of fewer
// than Quorum nodes.
type Pool struct {
	chain  chain.ID
	cfg    PoolConfig
	log    *slog.Logger
	nodes  []*poolNode
	m      poolMetrics
	mu     sync.Mutex
	agreed []*poolNode // the nodes of the last quorum, fastest first
}

// PoolConfig configures a Pool.
type PoolConfig struct {
	// Quorum is how many nodes must agree on a head (default: a majority
	// of the nodes).
	Quorum int
	// MaxLag: a node this many blocks behind the quorum's head is set
	// aside (default 8).
	MaxLag uint64
	// Timeout bounds one call to one node (default 30 s).
	Timeout time.Duration
	// Rest is how long a node set aside waits before it is asked again
	// (default 30 s).
	Rest time.Duration
}

// PoolNode is one node of a Pool.
type PoolNode struct {
	Name   string // how metrics and logs name it (a redacted URL)
	Source Source
}

// ErrNoQuorum is a Pool's Head when fewer than Quorum nodes agree.
var ErrNoQuorum = errors.New("follow: no quorum of nodes agrees on a head")

type poolNode struct {
	name     string
	src      Source
	restTill time.Time
	reason   string
	latency  time.Duration // a moving average
	head     uint64
}

type poolMetrics struct {
	lag, healthy *prometheus.GaugeVec
	errors       *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	quorum       prometheus.Gauge
}

// NewPool makes a Pool over nodes; reg may be nil.
func NewPool(id chain.ID, nodes []PoolNode, cfg PoolConfig, log *slog.Logger, reg prometheus.Registerer) (*Pool, error) {
	if len(nodes) == 0 {
		return nil, errors.New("follow: a pool needs a node")
	}
	if cfg.Quorum <= 0 {
		cfg.Quorum = len(nodes)/2 + 1
	}
	if cfg.Quorum > len(nodes) {
		return nil, fmt.Errorf("follow: a quorum of %d over %d nodes", cfg.Quorum, len(nodes))
	}
	if cfg.MaxLag == 0 {
		cfg.MaxLag = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Rest <= 0 {
		cfg.Rest = 30 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pool{chain: id, cfg: cfg, log: log.With("chain", string(id))}
	l := prometheus.Labels{"chain": string(id)}
	p.m = poolMetrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "inflow_indexer_rpc_node_lag_blocks", ConstLabels: l,
			Help: "Blocks a node's head is behind the quorum's head."}, []string{"node"}),
		healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "inflow_indexer_rpc_node_healthy", ConstLabels: l,
			Help: "1 while a node is in the quorum, 0 while it is set aside (erring, lagging, or on another fork)."}, []string{"node"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inflow_indexer_rpc_node_errors_total", ConstLabels: l,
			Help: "Failed or timed-out calls to a node."}, []string{"node"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "inflow_indexer_rpc_node_latency_seconds", ConstLabels: l,
			Help: "Latency of a node's head calls.", Buckets: prometheus.ExponentialBuckets(0.002, 2, 13)}, []string{"node"}),
		quorum: prometheus.NewGauge(prometheus.GaugeOpts{Name: "inflow_indexer_rpc_quorum", ConstLabels: l,
			Help: "1 while a quorum of nodes agrees on the head, 0 while none does (nothing is followed)."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{p.m.lag, p.m.healthy, p.m.errors, p.m.latency, p.m.quorum} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	for _, n := range nodes {
		p.nodes = append(p.nodes, &poolNode{name: n.Name, src: n.Source})
		p.m.healthy.WithLabelValues(n.Name).Set(1)
		p.m.lag.WithLabelValues(n.Name).Set(0)
		p.m.errors.WithLabelValues(n.Name)
	}
	return p, nil
}

// setAside rests a node and says why, once per change of reason.
func (p *Pool) setAside(n *poolNode, now time.Time, reason string) {
	if n.reason != reason {
		p.log.Warn("rpc node set aside", "node", n.name, "reason", reason, "for", p.cfg.Rest)
	}
	n.restTill, n.reason = now.Add(p.cfg.Rest), reason
	p.m.healthy.WithLabelValues(n.name).Set(0)
}

func (p *Pool) call(ctx context.Context, n *poolNode, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	d := time.Since(start)
	p.m.latency.WithLabelValues(n.name).Observe(d.Seconds())
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrSkipped) {
		p.m.errors.WithLabelValues(n.name).Inc()
	}
	return err
}

type headAnswer struct {
	n    *poolNode
	head uint64
	err  error
	took time.Duration
}

// Head is the quorum's head (see Pool).
func (p *Pool) Head(ctx context.Context) (uint64, error) {
	now := time.Now()
	p.mu.Lock()
	var ask []*poolNode
	for _, n := range p.nodes {
		if !now.Before(n.restTill) {
			ask = append(ask, n)
		}
	}
	if len(ask) < p.cfg.Quorum {
		// Resting is a preference: when too few nodes are left to make a
		// quorum (a pool of one, say), every node is asked.
		ask = slices.Clone(p.nodes)
	}
	p.mu.Unlock()
	answers := make([]headAnswer, len(ask))
	var wg sync.WaitGroup
	for i, n := range ask {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			var h uint64
			err := p.call(ctx, n, func(ctx context.Context) (err error) { h, err = n.src.Head(ctx); return })
			answers[i] = headAnswer{n: n, head: h, err: err, took: time.Since(start)}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var ok []headAnswer
	for _, a := range answers {
		if a.err != nil {
			p.setAside(a.n, now, "error: "+a.err.Error())
			continue
		}
		a.n.head = a.head
		if a.n.latency == 0 {
			a.n.latency = a.took
		} else {
			a.n.latency = (3*a.n.latency + a.took) / 4
		}
		ok = append(ok, a)
	}
	if len(ok) < p.cfg.Quorum {
		p.m.quorum.Set(0)
		return 0, fmt.Errorf("%w: %d of %d nodes answer, %d needed", ErrNoQuorum, len(ok), len(p.nodes), p.cfg.Quorum)
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i].head > ok[j].head })
	head := ok[p.cfg.Quorum-1].head
	// Which block is at that height, by the nodes that reached it.
	type vote struct {
		nodes []*poolNode
	}
	votes := map[chain.Hash]*vote{}
	var reached []*poolNode
	for _, a := range ok {
		if a.head >= head {
			reached = append(reached, a.n)
		}
	}
	if len(p.nodes) == 1 {
		// One node: nothing to compare it with.
		n := reached[0]
		n.reason, n.restTill = "", time.Time{}
		p.m.healthy.WithLabelValues(n.name).Set(1)
		p.agreed = reached
		p.m.quorum.Set(1)
		return head, nil
	}
	hashes := make([]chain.Hash, len(reached))
	errs := make([]error, len(reached))
	p.mu.Unlock()
	for i, n := range reached {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.call(ctx, n, func(ctx context.Context) error {
				ref, err := headerOf(ctx, n.src, head)
				hashes[i] = ref.Hash
				return err
			})
		}()
	}
	wg.Wait()
	p.mu.Lock()
	for i, n := range reached {
		if errs[i] != nil {
			p.setAside(n, now, fmt.Sprintf("error reading block %d: %v", head, errs[i]))
			continue
		}
		v := votes[hashes[i]]
		if v == nil {
			v = &vote{}
			votes[hashes[i]] = v
		}
		v.nodes = append(v.nodes, n)
	}
	var best *vote
	var bestHash chain.Hash
	for h, v := range votes {
		if best == nil || len(v.nodes) > len(best.nodes) {
			best, bestHash = v, h
		}
	}
	if best == nil || len(best.nodes) < p.cfg.Quorum {
		p.m.quorum.Set(0)
		return 0, fmt.Errorf("%w: no %d nodes have the same block at %d", ErrNoQuorum, p.cfg.Quorum, head)
	}
	agreed := slices.Clone(best.nodes)
	for h, v := range votes {
		if h == bestHash {
			continue
		}
		for _, n := range v.nodes {
			p.setAside(n, now, fmt.Sprintf("another fork: block %d is %s, the quorum's %s", head, h.Hex(), bestHash.Hex()))
		}
	}
	for _, a := range ok {
		lag := uint64(0)
		if a.head < head {
			lag = head - a.head
		}
		p.m.lag.WithLabelValues(a.n.name).Set(float64(lag))
		if lag > p.cfg.MaxLag {
			p.setAside(a.n, now, fmt.Sprintf("lagging: %d blocks behind the quorum's head %d", lag, head))
		} else if a.head < head && !slices.Contains(agreed, a.n) && a.n.restTill.Before(now) {
			// Behind, within MaxLag: healthy, but not one to fetch the
			// head's block from.
			p.m.healthy.WithLabelValues(a.n.name).Set(1)
		}
	}
	for _, n := range agreed {
		if n.reason != "" {
			p.log.Info("rpc node back in the quorum", "node", n.name, "was", n.reason)
		}
		n.reason, n.restTill = "", time.Time{}
		p.m.healthy.WithLabelValues(n.name).Set(1)
	}
	sort.SliceStable(agreed, func(i, j int) bool { return agreed[i].latency < agreed[j].latency })
	p.agreed = agreed
	p.m.quorum.Set(1)
	return head, nil
}

// headerOf reads a block's reference through HeaderFetcher, or FetchBlock.
func headerOf(ctx context.Context, src Source, n uint64) (chain.BlockRef, error) {
	if hf, ok := src.(HeaderFetcher); ok {
		return hf.Header(ctx, n)
	}
	b, err := src.FetchBlock(ctx, n)
	if err != nil {
		return chain.BlockRef{}, err
	}
	return b.Ref, nil
}

// fetchers are the nodes to read blocks from: the last quorum's, fastest
// first.
func (p *Pool) fetchers() []*poolNode {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.agreed) > 0 {
		return slices.Clone(p.agreed)
	}
	return slices.Clone(p.nodes)
}

// each runs fn on the fetchers in order until one answers; a not-found or
// skipped answer is an answer.
func (p *Pool) each(ctx context.Context, fn func(context.Context, *poolNode) error) error {
	nodes := p.fetchers()
	if len(nodes) == 1 {
		return p.call(ctx, nodes[0], func(ctx context.Context) error { return fn(ctx, nodes[0]) })
	}
	var errs []error
	for _, n := range nodes {
		err := p.call(ctx, n, func(ctx context.Context) error { return fn(ctx, n) })
		if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrSkipped) || errors.Is(err, ErrHalt) || ctx.Err() != nil {
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", n.name, err))
	}
	return errors.Join(errs...)
}

// FetchBlock reads a block from the quorum's nodes.
func (p *Pool) FetchBlock(ctx context.Context, n uint64) (*chain.Block, error) {
	var b *chain.Block
	err := p.each(ctx, func(ctx context.Context, node *poolNode) (err error) {
		b, err = node.src.FetchBlock(ctx, n)
		return
	})
	return b, err
}

// FetchBlockFor reads a block from the quorum's nodes for the recipients
// want wants (RecipientFetcher), through FetchBlock where a node's source
// has no such read.
func (p *Pool) FetchBlockFor(ctx context.Context, n uint64, want func(addrs [][]byte) bool) (*chain.Block, error) {
	var b *chain.Block
	err := p.each(ctx, func(ctx context.Context, node *poolNode) (err error) {
		if rf, ok := node.src.(RecipientFetcher); ok {
			b, err = rf.FetchBlockFor(ctx, n, want)
		} else {
			b, err = node.src.FetchBlock(ctx, n)
		}
		return
	})
	return b, err
}

// Header reads a block's reference from the quorum's nodes.
func (p *Pool) Header(ctx context.Context, n uint64) (chain.BlockRef, error) {
	var ref chain.BlockRef
	err := p.each(ctx, func(ctx context.Context, node *poolNode) (err error) {
		ref, err = headerOf(ctx, node.src, n)
		return
	})
	return ref, err
}

// Finalized is the lowest finalized block the quorum's nodes report.
func (p *Pool) Finalized(ctx context.Context) (chain.BlockRef, error) {
	var low *chain.BlockRef
	var errs []error
	nodes := p.fetchers()
	if len(nodes) == 1 {
		if fs, ok := nodes[0].src.(FinalitySource); ok {
			var ref chain.BlockRef
			err := p.call(ctx, nodes[0], func(ctx context.Context) (err error) { ref, err = fs.Finalized(ctx); return })
			return ref, err
		}
	}
	for _, n := range nodes {
		fs, ok := n.src.(FinalitySource)
		if !ok {
			continue
		}
		var ref chain.BlockRef
		if err := p.call(ctx, n, func(ctx context.Context) (err error) { ref, err = fs.Finalized(ctx); return }); err != nil {
			errs = append(errs, err)
			continue
		}
		if low == nil || ref.Number < low.Number {
			r := ref
			low = &r
		}
	}
	if low == nil {
		return chain.BlockRef{}, fmt.Errorf("follow: no node answers finality: %w", errors.Join(errs...))
	}
	return *low, nil
}

// SwitchNode sets aside the node blocks are read from first: the stall
// watchdog's move when the head has not moved.
func (p *Pool) SwitchNode(reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.agreed) == 0 {
		return
	}
	n := p.agreed[0]
	p.setAside(n, time.Now(), reason)
	p.agreed = p.agreed[1:]
}

// Status is each node's state, for an operator.
func (p *Pool) Status() []NodeStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]NodeStatus, len(p.nodes))
	now := time.Now()
	for i, n := range p.nodes {
		out[i] = NodeStatus{Name: n.name, Head: n.head, Healthy: !now.Before(n.restTill), Reason: n.reason, Latency: n.latency}
	}
	return out
}

// NodeStatus is one node of a Pool as Status reports it.
type NodeStatus struct {
	Name    string
	Head    uint64
	Healthy bool
	Reason  string
	Latency time.Duration
}

// PoolSource is the Source a Pool is, with finality or without it (a chain
// whose finality is a depth hides the nodes' finalized tag).
func PoolSource(p *Pool, finality bool) Source {
	if len(p.nodes) == 1 {
		// One node that pushes heads keeps pushing them.
		if sub, ok := p.nodes[0].src.(HeadSubscriber); ok {
			if finality {
				return struct {
					*Pool
					HeadSubscriber
				}{p, sub}
			}
			return struct {
				poolNoFinality
				HeadSubscriber
			}{poolNoFinality{p}, sub}
		}
	}
	if finality {
		return p
	}
	return poolNoFinality{p}
}

type poolNoFinality struct{ p *Pool }

func (s poolNoFinality) Head(ctx context.Context) (uint64, error) { return s.p.Head(ctx) }
func (s poolNoFinality) FetchBlock(ctx context.Context, n uint64) (*chain.Block, error) {
	return s.p.FetchBlock(ctx, n)
}
func (s poolNoFinality) Header(ctx context.Context, n uint64) (chain.BlockRef, error) {
	return s.p.Header(ctx, n)
}
func (s poolNoFinality) SwitchNode(reason string) { s.p.SwitchNode(reason) }
