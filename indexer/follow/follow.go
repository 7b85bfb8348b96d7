package follow

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
)

// HeadReader reads the number of the node's newest block.
type HeadReader interface {
	Head(ctx context.Context) (uint64, error)
}

// BlockFetcher reads the canonical block at a number with every transfer in
// it. It returns an error wrapping ErrSkipped when the chain has no block at
// that number, and one wrapping ErrNotFound when the node does not have it
// (yet).
type BlockFetcher interface {
	FetchBlock(ctx context.Context, n uint64) (*chain.Block, error)
}

// RecipientFetcher is a BlockFetcher that can leave a block unextracted
// when it credits nobody a reader looks for. Optional: a rescan uses it,
// as most blocks hold none of the addresses it looks for.
type RecipientFetcher interface {
	BlockFetcher
	// FetchBlockFor calls want with every address the block at n could
	// credit, read without extracting the block (a superset of its
	// transfers' recipients; the slices are valid only during the call).
	// When want says none is wanted it returns the block's reference and
	// transaction count with no transfers, having extracted nothing;
	// otherwise, or when the block cannot be read that way, what
	// FetchBlock returns.
	FetchBlockFor(ctx context.Context, n uint64, want func(addrs [][]byte) bool) (*chain.Block, error)
}

// HeaderFetcher reads only the reference of the canonical block at a number.
// Optional: without it reorg walks use FetchBlock.
type HeaderFetcher interface {
	Header(ctx context.Context, n uint64) (chain.BlockRef, error)
}

// HeadSubscriber pushes new head numbers. Optional: without it the follower
// polls.
type HeadSubscriber interface {
	SubscribeHeads(ctx context.Context, heads chan<- uint64) (cancel func(), errc <-chan error, err error)
}

// FinalitySource reads the chain's own finality signal. Optional: without it
// FinalityDepth stands in.
type FinalitySource interface {
	Finalized(ctx context.Context) (chain.BlockRef, error)
}

// NodeSwitcher is a Source over several nodes (a Pool): the stall
// watchdog asks it to read from another node.
type NodeSwitcher interface {
	SwitchNode(reason string)
}

// Source is a chain as the follower needs it.
type Source interface {
	HeadReader
	BlockFetcher
}

// Matcher says which recipients are watched: ids[i] is the address id of
// addrs[i] (canonical bytes of family fam), or 0.
type Matcher interface {
	MatchBatch(fam chain.Family, addrs [][]byte, ids []uint64) int
}

// Publisher writes records in order and returns once they are acknowledged.
type Publisher interface {
	Publish(ctx context.Context, recs []*events.Record) error
}

// Errors of this package.
var (
	ErrSkipped      = errors.New("follow: no block at this number")
	ErrNotFound     = errors.New("follow: block not found")
	ErrReorgTooDeep = errors.New("follow: reorg deeper than allowed")
	ErrInconsistent = errors.New("follow: node answers are inconsistent")
	// ErrHalt is a source's word that it cannot go on without an
	// operator (a Solana node refusing a block for its transaction
	// version): the chain halts, as on a reorg beyond the maximum, and
	// the block is never skipped.
	ErrHalt          = errors.New("follow: the source cannot go on")
	errReorgDetected = errors.New("follow: reorg detected")
)

// Config configures one chain's follower.
type Config struct {
	Chain  chain.ID
	Family chain.Family

	// From is the first block to publish when the window is empty. Nil
	// starts at the node's head.
	From *uint64
	// WindowSize is how many recent headers are kept. Default 256.
	WindowSize int
	// MaxReorgDepth halts the chain on a deeper reorg. Default WindowSize-1.
	MaxReorgDepth int
	// FinalityDepth stands in for finality when the source has none
	// (0: publish no Finalized records).
	FinalityDepth uint64
	// Fetchers is the number of parallel block fetches during backfill.
	// Default 8.
	Fetchers int
	// MaxBatch caps the blocks published in one Kafka transaction. Default 64.
	MaxBatch int
	// PollInterval is how often the head is polled. Default 1s.
	PollInterval time.Duration
	// StallTimeout: no new head for this long re-subscribes and raises the
	// stall metric. Default 60s.
	StallTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.WindowSize == 0 {
		c.WindowSize = 256
	}
	if c.MaxReorgDepth == 0 {
		c.MaxReorgDepth = c.WindowSize - 1
	}
	if c.Fetchers == 0 {
		c.Fetchers = 8
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 64
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = 60 * time.Second
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if _, err := chain.ParseID(string(c.Chain)); err != nil {
		return err
	}
	if !c.Family.Valid() {
		return fmt.Errorf("follow %s: unknown family", c.Chain)
	}
	if c.WindowSize < 2 {
		return fmt.Errorf("follow %s: window of %d headers is too small", c.Chain, c.WindowSize)
	}
	if c.MaxReorgDepth >= c.WindowSize {
		return fmt.Errorf("follow %s: max reorg depth %d must be below the window size %d", c.Chain, c.MaxReorgDepth, c.WindowSize)
	}
	if c.Fetchers < 1 || c.MaxBatch < 1 {
		return fmt.Errorf("follow %s: fetchers and batch size must be positive", c.Chain)
	}
	return nil
}

// Follower follows one chain.
type Follower struct {
	cfg     Config
	src     Source
	match   Matcher
	pub     Publisher
	db      *pebble.DB
	log     *slog.Logger
	metrics *metrics

	window     []chain.BlockRef // ascending by number; the last is the checkpoint
	checkpoint atomic.Pointer[chain.BlockRef]
	skipTo     uint64 // numbers below it were looked at (skipped slots need no record)
	finalized  uint64 // last published Finalized number
	wake       chan struct{}
	lastHead   uint64
	lastMove   time.Time
	// lastTip and tipSince: the checkpoint, and since when it has been
	// there with numbers after it to read (checkpointStuck).
	lastTip    chain.BlockRef
	tipSince   time.Time
	now        func() time.Time
	acceptDeep atomic.Bool // the next reorg deeper than the maximum is applied once
	// needReconcile: check the chain topic against the checkpoint before
	// the next round (after a load, and after ErrRecordsLost).
	needReconcile bool
}

// AcceptNextReorg is an operator's resumption of a chain halted on a reorg
// deeper than MaxReorgDepth: the next Run applies the next such reorg once,
// if its common ancestor is within the window. Call it between Runs.
func (f *Follower) AcceptNextReorg() { f.acceptDeep.Store(true) }

// New makes a follower. db holds the window under this chain's prefix.
func New(cfg Config, src Source, m Matcher, pub Publisher, db *pebble.DB, log *slog.Logger, reg prometheus.Registerer) (*Follower, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Follower{cfg: cfg, src: src, match: m, pub: pub, db: db,
		log: log.With("chain", string(cfg.Chain)), wake: make(chan struct{}, 1), now: time.Now}
	var err error
	if f.metrics, err = newMetrics(reg, cfg.Chain); err != nil {
		return nil, err
	}
	return f, nil
}

// Checkpoint returns the newest published block, if any. It is safe to call
// while Run is running.
func (f *Follower) Checkpoint() (chain.BlockRef, bool) {
	p := f.checkpoint.Load()
	if p == nil {
		return chain.BlockRef{}, false
	}
	return *p, true
}

// tip is the newest window entry; for the follower's own goroutine.
func (f *Follower) tip() (chain.BlockRef, bool) {
	if len(f.window) == 0 {
		return chain.BlockRef{}, false
	}
	return f.window[len(f.window)-1], true
}

// setWindow replaces the window and publishes the new checkpoint.
func (f *Follower) setWindow(w []chain.BlockRef) {
	f.window = w
	if len(w) == 0 {
		f.checkpoint.Store(nil)
		return
	}
	t := w[len(w)-1]
	f.checkpoint.Store(&t)
}

// Run follows the chain until ctx ends or a halting error occurs.
func (f *Follower) Run(ctx context.Context) error {
	if err := f.load(); err != nil {
		return err
	}
	if tip, ok := f.tip(); ok {
		f.log.Info("resuming", "checkpoint", tip.Number, "window", len(f.window), "finalized", f.finalized)
	}
	f.metrics.halted.Set(0)
	if sub, ok := f.src.(HeadSubscriber); ok {
		go f.subscribe(ctx, sub)
	}
	f.lastMove = time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		progressed, err := f.step(ctx)
		switch {
		case errors.Is(err, ErrReorgTooDeep), errors.Is(err, ErrHalt):
			f.metrics.halted.Set(1)
			f.log.Error("ALERT: chain halted", "err", err)
			return err
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			f.metrics.errors.Inc()
			f.log.Warn("follow step failed; retrying", "err", err)
			if !sleep(ctx, f.cfg.PollInterval) {
				return ctx.Err()
			}
			continue
		}
		if !progressed {
			f.waitHead(ctx)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// step does one round of work; it reports whether it made progress. It
// first checks the chain topic against the checkpoint after a start, and
// after the publisher found records lost.
func (f *Follower) step(ctx context.Context) (bool, error) {
	if f.needReconcile {
		if err := f.reconcile(ctx); err != nil {
			return false, err
		}
		f.needReconcile = false
	}
	progressed, err := f.advance(ctx)
	if errors.Is(err, ErrRecordsLost) {
		f.needReconcile = true
	}
	return progressed, err
}

// reconcile compares the chain topic's last block with the checkpoint. A
// topic that ends below it lost records the brokers had acknowledged: the
// window goes back to the topic's last block, and the blocks after it are
// published again (the ledger takes a block it holds as a duplicate). A topic
// whose last block the window does not hold halts the chain for the
// operator; one ahead of the checkpoint (this indexer's state is older than
// the topic) is published over again from the checkpoint, as duplicates.
func (f *Follower) reconcile(ctx context.Context) error {
	tt, ok := f.pub.(TopicTail)
	if !ok {
		return nil
	}
	tip, have := f.tip()
	if !have {
		return nil // nothing published from this state: the follower starts at From
	}
	last, err := tt.LastBlock(ctx, f.cfg.Chain)
	if err != nil {
		return fmt.Errorf("read the chain topic's last block: %w", err)
	}
	switch {
	case last == nil:
		return fmt.Errorf("%w: the chain topic holds no block, and the checkpoint is #%d: its records are gone", ErrHalt, tip.Number)
	case last.Type == events.TypeBlockDisconnected:
		return fmt.Errorf("%w: the chain topic ends with block #%d %s disconnected, below the checkpoint #%d: the rest of that reorg's records are gone", ErrHalt, last.Number, last.Hash.Hex(), tip.Number)
	case last.Number == tip.Number && last.Hash == tip.Hash:
		return nil
	case last.Number > tip.Number:
		f.log.Warn("the chain topic is ahead of the checkpoint: this indexer's state is older than the topic; the blocks after the checkpoint are published again", "topic_tip", last.Number, "checkpoint", tip.Number)
		return nil
	}
	i := -1
	for j, r := range f.window {
		if r.Number == last.Number && r.Hash == last.Hash {
			i = j
		}
	}
	if i < 0 {
		return fmt.Errorf("%w: the chain topic ends at block #%d %s, which the window (#%d..#%d) does not hold: records the brokers had acknowledged are gone", ErrHalt,
			last.Number, last.Hash.Hex(), f.window[0].Number, tip.Number)
	}
	b := f.db.NewBatch()
	defer b.Close()
	for _, r := range f.window[i+1:] {
		if err := b.Delete(f.windowKey(r.Number), nil); err != nil {
			return err
		}
	}
	fin := f.finalized
	if fin > last.Number {
		fin = last.Number
		if err := b.Set(f.finalKey(), binary.BigEndian.AppendUint64(nil, fin), nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("store the rewound checkpoint: %w", err)
	}
	f.log.Error("ALERT: the chain topic lost records the brokers had acknowledged; publishing again from the topic's last block",
		"topic_tip", last.Number, "checkpoint", tip.Number, "blocks_again", tip.Number-last.Number)
	f.metrics.recordsLost.Inc()
	f.setWindow(append([]chain.BlockRef(nil), f.window[:i+1]...))
	f.finalized, f.skipTo = fin, last.Number+1
	return nil
}

// advance does the round's work.
func (f *Follower) advance(ctx context.Context) (bool, error) {
	head, err := f.src.Head(ctx)
	if err != nil {
		return false, fmt.Errorf("read head: %w", err)
	}
	if head != f.lastHead {
		f.lastHead, f.lastMove = head, time.Now()
		f.metrics.head.Set(float64(head))
	}
	next, err := f.next(head)
	if err != nil {
		return false, err
	}
	if tip, ok := f.tip(); ok {
		f.metrics.lag.Set(max(0, float64(head)-float64(tip.Number)))
		f.checkpointStuck(tip, head, next)
	}
	if next > head {
		// Nothing new: make sure the tip is still canonical (same-height or
		// shortening reorgs), then look at finality.
		if err := f.verifyTip(ctx); err != nil {
			if errors.Is(err, errReorgDetected) {
				undone, err := f.reorg(ctx)
				return undone > 0, err
			}
			return false, err
		}
		return false, f.finality(ctx)
	}
	last := min(head, next+uint64(f.cfg.MaxBatch)-1)
	blocks, err := f.fetchRange(ctx, next, last)
	if err != nil {
		return false, err
	}
	var recs []*events.Record
	var refs []chain.BlockRef
	prev, havePrev := f.tip()
	reorged := false
	for _, b := range blocks {
		if b == nil {
			continue // a skipped number
		}
		if havePrev && b.Ref.Parent != prev.Hash {
			reorged = true
			break
		}
		recs = append(recs, f.connected(b))
		refs = append(refs, b.Ref)
		prev, havePrev = b.Ref, true
	}
	if len(recs) > 0 {
		if err := f.publishConnected(ctx, recs, refs); err != nil {
			return false, err
		}
	}
	if reorged {
		// A walk that undid nothing is no progress unless blocks before
		// the mismatch were published: the follower waits for the next
		// head before it reads again, instead of asking a node that keeps
		// contradicting itself in a tight loop.
		undone, err := f.reorg(ctx)
		return undone > 0 || len(recs) > 0, err
	}
	f.skipTo = next + uint64(len(blocks))
	if err := f.finality(ctx); err != nil {
		f.log.Warn("finality check failed", "err", err)
	}
	return true, nil
}

// checkpointStuck warns, once a stall timeout, while the checkpoint stays
// where it is with numbers after it to read: the node's head moves, but
// the follower cannot go on (a publisher failing, a node that contradicts
// itself). The stall watchdog watches the node's head only.
func (f *Follower) checkpointStuck(tip chain.BlockRef, head, next uint64) {
	now := f.now()
	if tip != f.lastTip || next > head || f.tipSince.IsZero() {
		f.lastTip, f.tipSince = tip, now
		return
	}
	if since := now.Sub(f.tipSince); since > f.cfg.StallTimeout {
		f.log.Warn("the checkpoint has not moved though the node's head is past it",
			"checkpoint", tip.Number, "head", head, "since", since.Round(time.Second))
		f.tipSince = now
	}
}

// next is the first number not yet looked at.
func (f *Follower) next(head uint64) (uint64, error) {
	if tip, ok := f.tip(); ok {
		return max(tip.Number+1, f.skipTo), nil
	}
	if f.skipTo > 0 {
		return f.skipTo, nil
	}
	if f.cfg.From != nil {
		return *f.cfg.From, nil
	}
	f.skipTo = head
	return head, nil
}

// fetchRange fetches [from, to] with parallel fetchers and returns the blocks
// in order; a skipped number is a nil entry. Matching happens here, in
// parallel, so the result holds matched transfers only.
func (f *Follower) fetchRange(ctx context.Context, from, to uint64) ([]*chain.Block, error) {
	n := int(to - from + 1)
	out := make([]*chain.Block, n)
	errs := make([]error, n)
	workers := min(f.cfg.Fetchers, n)
	var wg sync.WaitGroup
	jobs := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				start := time.Now()
				b, err := f.src.FetchBlock(ctx, from+uint64(i))
				f.metrics.fetchSeconds.Observe(time.Since(start).Seconds())
				if errors.Is(err, ErrSkipped) {
					continue
				}
				if err != nil {
					errs[i] = err
					continue
				}
				f.filter(b)
				out[i] = b
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	// Keep the prefix that fetched cleanly; a later round retries the rest.
	for i, err := range errs {
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("fetch block %d: %w", from+uint64(i), err)
			}
			f.log.Debug("fetch failed; publishing the blocks before it", "block", from+uint64(i), "err", err)
			return out[:i], nil
		}
	}
	return out, nil
}

// filter keeps the transfers whose recipient the matcher knows, looking the
// block's recipients up in one batch.
func (f *Follower) filter(b *chain.Block) {
	f.metrics.checked.Add(float64(len(b.Transfers)))
	addrs := make([][]byte, 0, len(b.Transfers))
	idx := make([]int, 0, len(b.Transfers))
	for i, t := range b.Transfers {
		if t.To.Family() == f.cfg.Family {
			addrs = append(addrs, []byte(t.To.Raw()))
			idx = append(idx, i)
		}
	}
	ids := make([]uint64, len(addrs))
	f.match.MatchBatch(f.cfg.Family, addrs, ids)
	matched := make(map[int]uint64, 4)
	for j, id := range ids {
		if id != 0 {
			matched[idx[j]] = id
		}
	}
	kept := b.Transfers[:0]
	for i, t := range b.Transfers {
		if id, ok := matched[i]; ok {
			t.AddressID = id
			kept = append(kept, t)
		}
	}
	clear(b.Transfers[len(kept):])
	b.Transfers = kept
}

func (f *Follower) connected(b *chain.Block) *events.Record {
	return &events.Record{Type: events.TypeBlockConnected, Chain: f.cfg.Chain, Family: f.cfg.Family,
		Number: b.Ref.Number, Hash: b.Ref.Hash, Parent: b.Ref.Parent, Time: b.Ref.Time, Transfers: b.Transfers}
}

// publishConnected publishes connected blocks, then records them in the window.
func (f *Follower) publishConnected(ctx context.Context, recs []*events.Record, refs []chain.BlockRef) error {
	if err := f.pub.Publish(ctx, recs); err != nil {
		return fmt.Errorf("publish blocks %d..%d: %w", refs[0].Number, refs[len(refs)-1].Number, err)
	}
	b := f.db.NewBatch()
	defer b.Close()
	for _, r := range refs {
		if err := b.Set(f.windowKey(r.Number), encodeRef(r), nil); err != nil {
			return err
		}
	}
	window := append(f.window, refs...)
	if extra := len(window) - f.cfg.WindowSize; extra > 0 {
		for _, r := range window[:extra] {
			if err := b.Delete(f.windowKey(r.Number), nil); err != nil {
				return err
			}
		}
		window = append([]chain.BlockRef(nil), window[extra:]...)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("store checkpoint: %w", err)
	}
	f.setWindow(window)
	matched := 0
	for _, r := range recs {
		matched += len(r.Transfers)
	}
	f.metrics.blocks.Add(float64(len(recs)))
	f.metrics.matched.Add(float64(matched))
	f.metrics.checkpoint.Set(float64(refs[len(refs)-1].Number))
	f.log.Debug("published", "from", refs[0].Number, "to", refs[len(refs)-1].Number, "matched", matched)
	for _, r := range recs {
		if len(r.Transfers) > 0 {
			f.log.Info("block", "number", r.Number, "hash", r.Hash.Format(r.Family), "matched", len(r.Transfers))
		}
	}
	return nil
}

// canonical reads the node's canonical reference at n.
func (f *Follower) canonical(ctx context.Context, n uint64) (chain.BlockRef, error) {
	if hf, ok := f.src.(HeaderFetcher); ok {
		return hf.Header(ctx, n)
	}
	b, err := f.src.FetchBlock(ctx, n)
	if err != nil {
		return chain.BlockRef{}, err
	}
	return b.Ref, nil
}

// verifyTip returns errReorgDetected if the node's block at the checkpoint's
// number is another one (or gone).
func (f *Follower) verifyTip(ctx context.Context) error {
	tip, ok := f.tip()
	if !ok {
		return nil
	}
	ref, err := f.canonical(ctx, tip.Number)
	switch {
	case errors.Is(err, ErrSkipped), errors.Is(err, ErrNotFound):
		return errReorgDetected
	case err != nil:
		return fmt.Errorf("verify tip %d: %w", tip.Number, err)
	case ref.Hash != tip.Hash:
		return errReorgDetected
	}
	return nil
}

// reorg finds the common ancestor, publishes the disconnections newest first
// and rewinds the window to the ancestor. It returns how many blocks it
// disconnected.
func (f *Follower) reorg(ctx context.Context) (int, error) {
	var gone []chain.BlockRef
	found := false
	for i := len(f.window) - 1; i >= 0; i-- {
		w := f.window[i]
		ref, err := f.canonical(ctx, w.Number)
		switch {
		case errors.Is(err, ErrSkipped), errors.Is(err, ErrNotFound):
		case err != nil:
			return 0, fmt.Errorf("reorg walk at %d: %w", w.Number, err)
		case ref.Hash == w.Hash:
			found = true
		}
		if found {
			break
		}
		gone = append(gone, w)
		if len(gone) > f.cfg.MaxReorgDepth && !f.acceptDeep.Load() {
			return 0, fmt.Errorf("%w: more than %d blocks replaced below #%d (max %d)", ErrReorgTooDeep, len(gone)-1, f.window[len(f.window)-1].Number, f.cfg.MaxReorgDepth)
		}
	}
	if !found {
		return 0, fmt.Errorf("%w: no common ancestor within the %d-block window", ErrReorgTooDeep, len(f.window))
	}
	if len(gone) == 0 {
		// The tip is canonical after all: the node changed its mind back,
		// or the block that did not extend the tip names a parent after
		// it, a number the node had said was skipped (answered from an
		// older fork, or from a stale list of skipped slots). Nothing to
		// undo, but the numbers after the tip are read again: going on
		// from past them would meet the same parent for ever.
		if f.skipTo > f.window[len(f.window)-1].Number+1 {
			f.log.Warn("a block's parent is a number passed over as skipped; reading the numbers after the tip again",
				"tip", f.window[len(f.window)-1].Number, "was_next", f.skipTo)
		}
		f.skipTo = 0
		return 0, nil
	}
	recs := make([]*events.Record, len(gone))
	for i, g := range gone {
		recs[i] = &events.Record{Type: events.TypeBlockDisconnected, Chain: f.cfg.Chain, Family: f.cfg.Family, Number: g.Number, Hash: g.Hash}
	}
	if err := f.pub.Publish(ctx, recs); err != nil {
		return 0, fmt.Errorf("publish %d disconnections: %w", len(recs), err)
	}
	b := f.db.NewBatch()
	defer b.Close()
	for _, g := range gone {
		if err := b.Delete(f.windowKey(g.Number), nil); err != nil {
			return 0, err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("store rewind: %w", err)
	}
	f.setWindow(f.window[:len(f.window)-len(gone)])
	f.skipTo = 0
	if len(gone) > f.cfg.MaxReorgDepth && f.acceptDeep.Swap(false) {
		f.log.Warn("AUDIT: a reorg deeper than the maximum was applied on the operator's resumption", "depth", len(gone), "max", f.cfg.MaxReorgDepth)
	}
	f.metrics.reorgs.Inc()
	f.metrics.reorgDepth.Observe(float64(len(gone)))
	anc := f.window[len(f.window)-1]
	f.log.Warn("reorg", "depth", len(gone), "ancestor", anc.Number, "from", gone[0].Number)
	return len(gone), nil
}

// finality publishes Finalized when the chain's finality passes a published block.
func (f *Follower) finality(ctx context.Context) error {
	tip, ok := f.tip()
	if !ok {
		return nil
	}
	var target chain.BlockRef
	if fs, ok := f.src.(FinalitySource); ok {
		fin, err := fs.Finalized(ctx)
		if err != nil {
			return fmt.Errorf("read finalized: %w", err)
		}
		if fin.Number > tip.Number {
			// Everything we published is final, if our tip is canonical.
			if err := f.verifyTip(ctx); err != nil {
				return nil // a reorg is on its way; decide after it
			}
			target = tip
		} else {
			target = fin
		}
	} else {
		if f.cfg.FinalityDepth == 0 || tip.Number < f.cfg.FinalityDepth {
			return nil
		}
		target = chain.BlockRef{Number: tip.Number - f.cfg.FinalityDepth}
	}
	if target.Number <= f.finalized && f.finalized != 0 {
		return nil
	}
	// Only finalize a block we published, and only the version we published.
	var w *chain.BlockRef
	for i := len(f.window) - 1; i >= 0; i-- {
		if f.window[i].Number <= target.Number {
			w = &f.window[i]
			break
		}
	}
	if w == nil {
		return nil
	}
	if w.Number == target.Number && !target.Hash.IsZero() && w.Hash != target.Hash {
		return nil // our version of that block is being reorganised away
	}
	if w.Number <= f.finalized && f.finalized != 0 {
		return nil
	}
	rec := &events.Record{Type: events.TypeFinalized, Chain: f.cfg.Chain, Family: f.cfg.Family, Number: w.Number, Hash: w.Hash}
	if err := f.pub.Publish(ctx, []*events.Record{rec}); err != nil {
		return fmt.Errorf("publish finalized %d: %w", w.Number, err)
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], w.Number)
	if err := f.db.Set(f.finalKey(), v[:], pebble.Sync); err != nil {
		return fmt.Errorf("store finalized: %w", err)
	}
	f.finalized = w.Number
	f.metrics.finalized.Set(float64(w.Number))
	return nil
}

// subscribe feeds head notifications into wake, resubscribing on failure.
func (f *Follower) subscribe(ctx context.Context, sub HeadSubscriber) {
	heads := make(chan uint64, 16)
	for ctx.Err() == nil {
		cancel, errc, err := sub.SubscribeHeads(ctx, heads)
		if err != nil {
			f.log.Info("head subscription unavailable; polling", "err", err)
			if !sleep(ctx, 10*f.cfg.PollInterval) {
				return
			}
			continue
		}
		f.metrics.subscribed.Set(1)
		stall := time.NewTimer(f.cfg.StallTimeout)
	loop:
		for {
			select {
			case <-ctx.Done():
				cancel()
				stall.Stop()
				return
			case <-heads:
				stall.Reset(f.cfg.StallTimeout)
				select {
				case f.wake <- struct{}{}:
				default:
				}
			case err := <-errc:
				f.log.Warn("head subscription dropped; resubscribing", "err", err)
				break loop
			case <-stall.C:
				f.metrics.stalls.Inc()
				f.log.Warn("no new head within the stall timeout; resubscribing", "timeout", f.cfg.StallTimeout)
				break loop
			}
		}
		cancel()
		stall.Stop()
		f.metrics.subscribed.Set(0)
	}
}

// waitHead waits for a head notification or the poll interval.
func (f *Follower) waitHead(ctx context.Context) {
	if since := time.Since(f.lastMove); since > f.cfg.StallTimeout {
		f.metrics.stalls.Inc()
		f.log.Warn("head has not moved", "since", since.Round(time.Second), "head", f.lastHead)
		f.lastMove = time.Now()
		if sw, ok := f.src.(NodeSwitcher); ok {
			// Several nodes: read from another instead of only alerting.
			sw.SwitchNode(fmt.Sprintf("the head has not moved for %s", since.Round(time.Second)))
		}
	}
	t := time.NewTimer(f.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-f.wake:
	case <-t.C:
	}
}
