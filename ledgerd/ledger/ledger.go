package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
)

// keepCanon is how many applied block headers are kept per chain.
const keepCanon = 2048

// Input is one consumed record and where it came from.
type Input struct {
	Record    *events.Record
	Topic     string
	Partition int32
	Offset    int64
}

// Ledger applies chain records.
type Ledger struct {
	db     *store.DB
	assets *assets.Config
	now    func() time.Time
	log    *slog.Logger
	m      *metrics
	// hot is the state the ledger reads on every deposit, kept in memory
	// (see state.go). nil until the first Apply or Submit, and dropped
	// whenever one fails, since it may then hold changes that were not
	// committed.
	hot       *state
	cacheRows int
	maxOpen   int
}

// Options configures a Ledger.
type Options struct {
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// CacheRows bounds each of the caches of rows the ledger reads on
	// demand (pool entries and accounts): past it, a cache is emptied and
	// refills from Pebble. Default 1M.
	CacheRows int
	// MaxOpenDeposits bounds each chain's open (pending or confirmed)
	// deposits kept in memory: past it, the oldest confirmed blocks deeper
	// than the chain's maximum reorg stay in Pebble alone (spill.go).
	// Default 1M; negative: no bound.
	MaxOpenDeposits int
	// Chains are the chains ledgerd consumes: each has its halted gauge
	// from the start (0, or 1 for a chain halted before a restart), so
	// that an alert rule has a series to match.
	Chains []chain.ID
}

// New makes a ledger over db.
func New(db *store.DB, table *assets.Config, o Options) (*Ledger, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	for _, id := range o.Chains {
		v := 0.0
		if st, err := store.GetChainState(db, id); err == nil && st.Halted {
			v = 1
		}
		m.halted.WithLabelValues(string(id)).Set(v)
	}
	if err := migrateAccounts(db); err != nil {
		return nil, fmt.Errorf("ledger: move balances and totals into account rows: %w", err)
	}
	if err := migrateListings(db, o.Logger); err != nil {
		return nil, fmt.Errorf("ledger: build the listings' counts and indexes: %w", err)
	}
	if o.CacheRows <= 0 {
		o.CacheRows = 1 << 20
	}
	if o.MaxOpenDeposits == 0 {
		o.MaxOpenDeposits = 1 << 20
	}
	return &Ledger{db: db, assets: table, now: o.Now, log: o.Logger, m: m, cacheRows: o.CacheRows, maxOpen: o.MaxOpenDeposits}, nil
}

// Apply applies the inputs in order and stores the next offsets, all in one
// synced batch, and returns once the batch is durable. Records of a halted
// chain are held: their partition's offset stops at the first of them.
func (l *Ledger) Apply(in []Input) error {
	if err := l.Submit(in); err != nil {
		return err
	}
	if err := l.db.WaitDurable(); err != nil {
		l.hot = nil
		return err
	}
	return nil
}

// Submit is Apply without its wait at the end: it returns once the batch is
// handed to Pebble (store.DB.WriteAsync), so that its caller prepares the
// next batch while this one commits. The batch is durable once the next
// Submit or Apply returns, or when store.DB.WaitDurable does; a crash before
// then loses it whole, offsets included, and the records are consumed
// again. If its commit fails, the next call returns the error, and so does
// every call after it: ledgerd then stops, and restarts from the last
// durable batch.
//
// A batch is prepared while the one before it may not be in the DB yet.
// The ledger reads back nothing that batch wrote: what it wrote is in the
// ledger's memory (state.go), and a read that can miss it waits for it
// first (see applyTx.committed).
func (l *Ledger) Submit(in []Input) error {
	// A run of BlockRescanned records is a batch of its own: what it
	// credits depends on the deposits earlier records made, which it reads
	// from the DB (see rescanned).
	for len(in) > 0 {
		n := 1
		for n < len(in) && (in[n].Record.Type == events.TypeBlockRescanned) == (in[0].Record.Type == events.TypeBlockRescanned) {
			n++
		}
		if err := l.submit(in[:n]); err != nil {
			return err
		}
		in = in[n:]
	}
	return nil
}

func (l *Ledger) submit(in []Input) error {
	start := time.Now()
	if l.hot == nil {
		l.hot = newState(l.cacheRows, l.maxOpen, func(id chain.ID) uint64 {
			if spec, err := l.assets.Chain(id); err == nil {
				return spec.Policy.MaxReorgDepth
			}
			return keepCanon
		})
	}
	var tx *applyTx
	err := l.db.WriteAsync(func(b *store.Batch) error {
		tx = l.hot.begin(l.db, b, l.now().UTC())
		tx.logging = l.log.Enabled(context.Background(), slog.LevelInfo)
		held := map[tp]bool{}
		next := map[tp]int64{}
		for i, x := range in {
			k := tp{x.Topic, x.Partition}
			if held[k] {
				continue
			}
			applied, err := l.applyOne(tx, x.Record, in[i+1:])
			if err != nil {
				return fmt.Errorf("apply %s: %w", x.Record, err)
			}
			if !applied {
				held[k] = true
				continue
			}
			next[k] = x.Offset + 1
		}
		for k, o := range next {
			if err := b.SetOffset(k.topic, k.partition, o); err != nil {
				return err
			}
		}
		return tx.flush()
	})
	if err != nil {
		l.hot = nil
		return err
	}
	for id, c := range tx.chains {
		l.m.openInMemory.WithLabelValues(string(id)).Set(float64(c.nOpen))
	}
	l.m.applySeconds.Observe(time.Since(start).Seconds())
	l.m.records.Add(float64(len(in)))
	for _, c := range tx.changes {
		attrs := []any{"chain", c.chain, "deposit", c.id, "merchant", c.merchant, "reference", c.ref,
			"amount", c.amount + " " + c.currency, "block", c.block, "status", c.to}
		if c.from != "" {
			attrs = append(attrs, "was", c.from)
		}
		if c.to != store.StatusOrphaned {
			attrs = append(attrs, "confirmations", c.confirmations)
		}
		l.log.Info("deposit", attrs...)
	}
	return nil
}

type tp struct {
	topic     string
	partition int32
}

// Halted reports whether the ledger holds a chain's records, and why. Call it
// from the goroutine that applies: it reads the ledger's own state, which
// includes a batch not yet committed.
func (l *Ledger) Halted(id chain.ID) (bool, string, error) {
	if l.hot != nil {
		if c, ok := l.hot.chains[id]; ok {
			return c.st.Halted, c.st.HaltReason, nil
		}
	}
	if err := l.db.WaitDurable(); err != nil {
		return false, "", err
	}
	st, err := store.GetChainState(l.db, id)
	if err != nil {
		return false, "", err
	}
	return st.Halted, st.HaltReason, nil
}

// ErrNotHalted is Resume on a chain that is not halted.
var ErrNotHalted = errors.New("ledger: the chain is not halted")

// ErrCannotResume is Resume on a chain whose halt a resumption cannot
// undo.
var ErrCannotResume = errors.New("ledger: this halt cannot be resumed")

// Resume ends a chain's halt on an operator's decision, with an audit
// record (reason, by) in its state: its held records are applied again
// from the first one held. After a reorg deeper than the chain's maximum,
// that reorg is then applied, whatever its depth, orphaning what it takes
// out. A reorg that reaches the finalized block cannot be resumed: the
// completed deposits it would take back are final by the ledger's rules
// (ErrCannotResume). Call it from the goroutine that applies, between
// batches; the daemon then seeks the chain's topic to its stored offset.
func (l *Ledger) Resume(id chain.ID, reason, by string) (store.ChainState, error) {
	if err := l.db.WaitDurable(); err != nil {
		l.hot = nil
		return store.ChainState{}, err
	}
	var out store.ChainState
	err := l.db.Write(func(b *store.Batch) error {
		st, err := store.GetChainState(b, id)
		if err != nil {
			return err
		}
		if !st.Halted {
			return ErrNotHalted
		}
		if strings.Contains(st.HaltReason, "at or below the finalized block") {
			return fmt.Errorf("%w: %s (the deposits of finalized blocks are completed and final; rebuild the chain's state instead)", ErrCannotResume, st.HaltReason)
		}
		now := l.now().UTC()
		st.Resumes = append(st.Resumes, store.Resumption{At: now, HaltReason: st.HaltReason, Reason: reason, By: by})
		if len(st.Resumes) > 20 {
			st.Resumes = st.Resumes[len(st.Resumes)-20:]
		}
		st.AcceptReorg = strings.Contains(st.HaltReason, "exceeds the maximum")
		st.Halted, st.HaltReason, st.HaltedAt = false, "", nil
		out = *st
		return b.PutJSON(store.ChainStateKey(id), st)
	})
	if err != nil {
		return out, err
	}
	// The in-memory state holds the chain's halted copy: read it again.
	l.hot = nil
	l.m.halted.WithLabelValues(string(id)).Set(0)
	l.log.Warn("AUDIT: chain resumed by the operator", "chain", id, "halt_reason", out.Resumes[len(out.Resumes)-1].HaltReason,
		"reason", reason, "by", by, "accept_reorg", out.AcceptReorg)
	return out, nil
}

// applyOne applies one record; false means the chain is halted and the
// record is held.
func (l *Ledger) applyOne(tx *applyTx, r *events.Record, rest []Input) (bool, error) {
	spec, err := l.assets.Chain(r.Chain)
	if err != nil {
		// A chain this ledger is not configured for: nothing to do with it.
		l.log.Warn("record for an unconfigured chain skipped", "chain", r.Chain)
		return true, nil
	}
	c, err := tx.chain(r.Chain)
	if err != nil {
		return false, err
	}
	st := c.st
	if st.Halted {
		return false, nil
	}
	switch r.Type {
	case events.TypeBlockConnected:
		err = l.connected(tx, spec, c, r)
	case events.TypeBlockDisconnected:
		err = l.disconnected(tx, spec, c, r, rest)
	case events.TypeFinalized:
		err = l.finalized(tx, spec, c, r)
	case events.TypeBlockRescanned:
		err = l.rescanned(tx, spec, c, r)
	}
	var h *haltError
	if errors.As(err, &h) {
		now := l.now()
		st.Halted, st.HaltReason, st.HaltedAt = true, h.reason, &now
		l.m.halted.WithLabelValues(string(r.Chain)).Set(1)
		l.log.Error("ALERT: chain halted; records held until an operator resumes it", "chain", r.Chain, "reason", h.reason)
		tx.touchChain(c)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	tx.touchChain(c)
	if tx.s.spill(c) && !c.warned {
		c.warned = true
		l.log.Warn("the open deposits kept in memory exceed the bound: the rest are pending or within the reorg window", "chain", r.Chain,
			"open", c.nOpen, "bound", tx.s.maxOpen)
	}
	return true, nil
}

// OpenInMemory reports how many of a chain's open deposits the ledger keeps
// in memory, and the highest block whose open deposits may be in Pebble
// alone (0: none). Call it from the goroutine that applies.
func (l *Ledger) OpenInMemory(id chain.ID) (n int, spilled uint64) {
	if l.hot == nil || l.hot.chains[id] == nil {
		return 0, 0
	}
	c := l.hot.chains[id]
	return c.nOpen, c.spilled
}

type haltError struct{ reason string }

func (h *haltError) Error() string { return "halt: " + h.reason }

func halt(format string, a ...any) error { return &haltError{fmt.Sprintf(format, a...)} }

func (l *Ledger) connected(tx *applyTx, spec *assets.Chain, c *chainState, r *events.Record) error {
	st := c.st
	cb, err := tx.canon(c, r.Number)
	if err != nil {
		return err
	}
	if cb != nil && cb.Hash == r.Hash {
		return nil // applied before: a duplicate
	}
	fresh := st.Tip == 0 && st.TipHash.IsZero()
	if !fresh && (r.Parent != st.TipHash || r.Number <= st.Tip) {
		return halt("block #%d %s does not extend the ledger's tip #%d %s", r.Number, r.Hash.Hex(), st.Tip, st.TipHash.Hex())
	}
	if err := tx.setCanon(c, r.Number, &store.CanonBlock{Hash: r.Hash, Parent: r.Parent}); err != nil {
		return err
	}
	if r.Number > keepCanon {
		if err := tx.setCanon(c, r.Number-keepCanon, nil); err != nil {
			return err
		}
	}
	st.Tip, st.TipHash, st.ReorgFrom, st.ReorgBlocks, st.AcceptReorg = r.Number, r.Hash, 0, 0, false
	if len(r.Transfers) > 0 {
		if err := l.credit(tx, spec, c, r); err != nil {
			return err
		}
	}
	return l.confirm(tx, spec, c)
}

// rescanned credits the transfers of a BlockRescanned record (an
// operator's rescan for addresses added after the block was connected) that
// the ledger has not credited, as deposits of their own block tag, which
// then take the status the block's depth and finality give them at once
// (and their events). The block must be the ledger's: its canonical block
// at that height, or one at or below the finalized block older than the
// canonical rows kept. A record for another block (one a reorg took out,
// or above the tip) is dropped: the canonical block's own record carries
// the transfers, the addresses being watched by then. A transfer is
// credited once: not if a deposit of this block that is not orphaned
// already holds it.
func (l *Ledger) rescanned(tx *applyTx, spec *assets.Chain, c *chainState, r *events.Record) error {
	st := c.st
	if len(r.Transfers) == 0 {
		return nil
	}
	count := func(result string, n int) {
		l.m.rescanned.WithLabelValues(string(r.Chain), result).Add(float64(n))
	}
	ok := r.Number <= st.Tip
	if ok {
		cb, err := tx.canon(c, r.Number)
		if err != nil {
			return err
		}
		ok = (cb != nil && cb.Hash == r.Hash) || (cb == nil && st.Finalized != 0 && r.Number <= st.Finalized)
	}
	if !ok {
		l.log.Warn("rescanned block is not the ledger's block at its height; its transfers are dropped",
			"chain", r.Chain, "block", r.Number, "hash", r.Hash.Format(r.Family), "tip", st.Tip, "transfers", len(r.Transfers))
		count("dropped", len(r.Transfers))
		return nil
	}
	if err := tx.committed(); err != nil {
		return err
	}
	if tx.rescanSeen == nil {
		tx.rescanSeen = map[string]bool{}
	}
	var fresh []chain.Transfer
	for i := range r.Transfers {
		t := &r.Transfers[i]
		seen := store.TransferName(r.Chain, t.TxHash, t.Index) + string(r.Hash[:])
		dup := tx.rescanSeen[seen]
		for gen := uint32(0); !dup; gen++ {
			tag := blockTagOf(r.Chain, r.Number, r.Hash, gen)
			used := tx.groups[string(tag)] != nil || tx.s.lastTags[string(tag)] != nil
			if !used {
				var err error
				if used, err = store.Has(tx.db, store.BlockStatusKey(string(tag))); err != nil {
					return err
				}
			}
			if !used {
				break // generations are taken in order (freeTag)
			}
			d, err := store.GetDeposit(tx.db, tag.deposit(t.TxHash, t.Index))
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			default:
				dup = d.Status != store.StatusOrphaned
			}
		}
		if dup {
			count("duplicate", 1)
			continue
		}
		tx.rescanSeen[seen] = true
		fresh = append(fresh, *t)
	}
	if len(fresh) == 0 {
		return nil
	}
	rr := *r
	rr.Transfers = fresh
	openFrom := st.OpenFrom
	if err := l.credit(tx, spec, c, &rr); err != nil {
		return err
	}
	made := slices.Clone(tx.block)
	count("credited", len(made))
	if st.Finalized != 0 && r.Number <= st.Finalized {
		// A final block's deposits complete at once; one with a maturity
		// waits for it (mature completes it).
		immature := false
		done := map[*store.Deposit]bool{}
		for _, d := range made {
			if d.Maturity > 0 {
				immature = true
				continue
			}
			if err := l.complete(tx, c, d); err != nil {
				return err
			}
			done[d] = true
		}
		c.setOpen(r.Number, slices.DeleteFunc(c.open[r.Number], func(d *store.Deposit) bool { return done[d] }))
		if !immature && len(c.open[r.Number]) == 0 {
			st.OpenFrom = openFrom
		}
	}
	return l.confirm(tx, spec, c)
}

// DepositID derives the id of a transfer's deposit in a block connected
// for the first time.
func DepositID(id chain.ID, number uint64, tx []byte, index uint32, block chain.Hash) string {
	return blockTagOf(id, number, block, 0).deposit(tx, index)
}

// blockTag is the first half of the ids of the deposits a block holds
// (store.BlockTag): dep_ and the hex of the block number (5 bytes) and of 3
// bytes of a hash of (chain, block hash, gen). The second half names the
// transfer (8 bytes of a hash of its tx hash and index). So a block's
// deposits have neighbouring D/ keys, which Pebble's memtable inserts as a
// run, where keys spread over the whole table cost a full skiplist search
// each; a chain's deposits are appended in block order; and their status is
// one BS/ row for the block. Two blocks whose tags would be equal (another chain
// or a sibling at the same height, or the same block connected again) are
// told apart by gen, the first that no earlier block used (freeTag). Within a
// block the transfer halves collide with a chance of about n²/2⁶⁵. Ids from
// before this layout (24 hex digits) stay valid.
type blockTag string

func blockTagOf(id chain.ID, number uint64, block chain.Hash, gen uint32) blockTag {
	h := sha256.New()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(block[:])
	if gen > 0 {
		h.Write(be32(gen))
	}
	var sum [sha256.Size]byte
	var tag [8]byte
	binary.BigEndian.PutUint64(tag[:], number<<24) // the low 5 bytes of the number
	copy(tag[5:], h.Sum(sum[:0]))
	return blockTag("dep_" + hex.EncodeToString(tag[:]))
}

// deposit is the id of a transfer of the block.
func (b blockTag) deposit(tx []byte, index uint32) string {
	var in [128]byte
	msg := append(append(in[:0], tx...), be32(index)...)
	sum := sha256.Sum256(msg)
	var out [4 + 32]byte
	n := copy(out[:], b)
	hex.Encode(out[n:], sum[:8])
	return string(out[:n+16])
}

// credit makes the deposits of a block being connected, in id order: each
// is written, counted in its account's pending balance and totals, and
// queued as pending.
func (l *Ledger) credit(tx *applyTx, spec *assets.Chain, c *chainState, r *events.Record) error {
	tag, err := tx.freeTag(r, "")
	if err != nil {
		return err
	}
	// Transfers with a maturity (coinbase outputs) change status apart from
	// the block's others, so they have a block tag of their own.
	var late blockTag
	for i := range r.Transfers {
		if r.Transfers[i].Maturity > 0 {
			if late, err = tx.freeTag(r, tag); err != nil {
				return err
			}
			break
		}
	}
	// One allocation for the block's deposits: they stay open, and leave
	// the open set, together.
	slab := make([]store.Deposit, len(r.Transfers))
	blk := tx.block[:0]
	for i := range r.Transfers {
		d := &slab[i]
		t := tag
		if r.Transfers[i].Maturity > 0 {
			t = late
		}
		ok, err := l.newDeposit(tx, spec, r, t, &r.Transfers[i], d)
		if err != nil {
			return err
		}
		if ok {
			blk = append(blk, d)
		}
	}
	slices.SortFunc(blk, byID)
	// The same transfer twice in one block: once is enough.
	blk = slices.CompactFunc(blk, func(a, b *store.Deposit) bool { return a.ID == b.ID })
	tx.block = blk
	if len(blk) == 0 {
		return nil
	}
	st := c.st
	if st.PendingFrom == 0 || r.Number < st.PendingFrom {
		st.PendingFrom = r.Number
	}
	if st.OpenFrom == 0 || r.Number < st.OpenFrom {
		st.OpenFrom = r.Number
	}
	ids := tx.ids[:0]
	for _, d := range blk {
		if len(c.orphans) > 0 {
			txk := store.TransferName(r.Chain, d.TxHash, d.Index)
			if prev, ok := c.orphans[txk]; ok {
				// This transfer was in a block that was orphaned: the new
				// deposit replaces that one (in the same block again, under
				// a new tag).
				d.Replaces = prev
				delete(c.orphans, txk)
				if err := tx.b.Delete(store.OrphanedTransferKey(txk), nil); err != nil {
					return err
				}
			}
		}
		ids = append(ids, d.ID)
		tx.dm[d.Merchant] = append(tx.dm[d.Merchant], d.ID)
		if err := tx.addBalance(d, d.Amount, false, true); err != nil {
			return err
		}
		if err := tx.bumpStats(d, 1); err != nil {
			return err
		}
		if err := tx.transition(c, d, store.StatusPending); err != nil {
			return err
		}
		// A tagged deposit's row is written once, here, as detected.
		tx.buf = d.AppendEncode(tx.buf[:0])
		tx.kbuf = store.AppendDepositKey(tx.kbuf[:0], d.ID)
		if err := tx.b.Set(tx.kbuf, tx.buf, nil); err != nil {
			return err
		}
	}
	tx.ids = ids
	l.m.deposits.Add(float64(len(blk)))
	for _, d := range blk {
		if d.Maturity > 0 {
			c.immature[r.Number] = append(c.immature[r.Number], d)
		} else {
			c.setOpen(r.Number, append(c.open[r.Number], d))
		}
	}
	tx.buf = store.AppendIDs(tx.buf[:0], ids)
	return tx.b.Set(store.BlockIndexKey(r.Chain, r.Number, r.Hash, ids[0]), tx.buf, nil)
}

func byID(a, b *store.Deposit) int { return strings.Compare(a.ID, b.ID) }

// newDeposit makes in d the pending deposit a transfer of a block makes, if
// it makes one.
func (l *Ledger) newDeposit(tx *applyTx, spec *assets.Chain, r *events.Record, tag blockTag, t *chain.Transfer, d *store.Deposit) (bool, error) {
	asset, ok := l.assets.ForTransfer(r.Chain, t)
	if !ok {
		l.m.unsupported.Inc()
		return false, nil // not an asset Inflow credits (a spam token, say)
	}
	o, err := tx.owner(t)
	if err != nil {
		return false, err
	}
	if o.pa == nil {
		l.log.Warn("matched address is not in the pool", "chain", r.Chain, "address", t.To, "id", t.AddressID)
		return false, nil
	}
	pa := o.pa
	ref, afterUnbind := o.attribution(r.Time)
	*d = store.Deposit{
		ID: tag.deposit(t.TxHash, t.Index), Merchant: pa.Merchant, Reference: ref, AfterUnbind: afterUnbind, Chain: r.Chain, Family: spec.Family,
		Currency: asset.Currency, Decimals: asset.Decimals, Amount: t.Value,
		AddressID: pa.ID, Address: pa.Raw, TxHash: t.TxHash, Index: t.Index,
		BlockNumber: r.Number, BlockHash: r.Hash, BlockTime: r.Time,
		Status: store.StatusPending, DetectedAt: tx.now, Maturity: t.Maturity,
	}
	if !t.TokenAccount.IsZero() {
		d.TokenAccount = t.TokenAccount.Bytes()
	}
	if spec.Family == chain.FamilyBitcoin {
		d.Network = spec.AddressNet()
	}
	return true, nil
}

// migrateAccounts moves the rows earlier versions kept, a balance row per
// (merchant, reference, currency, chain) in B/ and a totals row per
// reference in RS/, into one account row per reference (RB/), in one batch.
func migrateAccounts(db *store.DB) error {
	accounts := map[refKey]*store.Account{}
	get := func(k refKey) (*store.Account, error) {
		if a := accounts[k]; a != nil {
			return a, nil
		}
		a, err := store.GetAccount(db, k.merchant, k.ref)
		accounts[k] = &a
		return &a, err
	}
	// B/<merchant>0<ref>0<currency>0<chain> and RS/<merchant>0<ref>: each
	// kind of row sets its part of the reference's account.
	olds := []struct {
		prefix []byte
		parts  int
		set    func(a *store.Account, parts [][]byte, v []byte) error
	}{
		{store.OldBalancePrefix(), 4, func(a *store.Account, parts [][]byte, v []byte) error {
			b, err := store.DecodeBalance(v)
			*a.Balance(string(parts[2]), chain.ID(parts[3])) = b
			return err
		}},
		{store.OldRefStatsPrefix(), 2, func(a *store.Account, _ [][]byte, v []byte) (err error) {
			a.RefStats, err = store.DecodeRefStats(v)
			return err
		}},
	}
	for _, old := range olds {
		err := store.Scan(db, old.prefix, false, func(k, v []byte) (bool, error) {
			parts := bytes.Split(k[len(old.prefix):], []byte{0})
			if len(parts) != old.parts {
				return false, fmt.Errorf("row %q of an earlier version", k)
			}
			a, err := get(refKey{string(parts[0]), string(parts[1])})
			if err != nil {
				return false, err
			}
			return true, old.set(a, parts, v)
		})
		if err != nil {
			return err
		}
	}
	if len(accounts) == 0 {
		return nil
	}
	return db.Write(func(b *store.Batch) error {
		for k, a := range accounts {
			if err := b.Set(store.AccountKey(k.merchant, k.ref), a.AppendEncode(nil), nil); err != nil {
				return err
			}
		}
		for _, old := range olds {
			if err := b.DeleteRange(old.prefix, store.PrefixEnd(old.prefix), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// listingMark is set once a store has the listings' counts and rows.
const listingMark = "listing-v1"

// migrateListings gives a store written before the listings what they
// read, once: each account's and merchant's deposits by status (accounts of
// version 3 and MT/ rows), the rows of open (LO/) and orphaned (LX/)
// deposits, and a queue (LQ/) of every detection row for the listing
// indexer to build the reference and asset listings from. A crash midway
// runs it again from the start: every row it writes is the same again.
func migrateListings(db *store.DB, log *slog.Logger) error {
	if ok, err := store.Has(db, store.CounterKey(listingMark)); err != nil || ok {
		return err
	}
	start := time.Now()
	accounts := map[refKey]*store.Account{}
	totals := map[string]*store.Account{}
	open, orphaned := map[listRow][]string{}, map[listRow][]string{}
	n := 0
	err := store.ScanDeposits(db, func(d *store.Deposit) error {
		n++
		k := refKey{d.Merchant, d.Ref()}
		a := accounts[k]
		if a == nil {
			v, err := store.GetAccount(db, k.merchant, k.ref)
			if err != nil {
				return err
			}
			for i := range v.Balances {
				v.Balances[i].Counts = [4]int64{}
			}
			a = &v
			accounts[k] = a
		}
		t := totals[d.Merchant]
		if t == nil {
			t = &store.Account{}
			totals[d.Merchant] = t
		}
		for _, row := range []*store.Account{a, t} {
			row.Entry(d.Currency, d.Chain).Count("", d.Status)
		}
		b := t.Balance(d.Currency, d.Chain)
		switch d.Status {
		case store.StatusPending, store.StatusConfirmed:
			b.Pending, _ = b.Pending.Add(d.Amount)
			lr := listRowOf(d)
			open[lr] = append(open[lr], d.ID)
		case store.StatusCompleted:
			b.Available, _ = b.Available.Add(d.Amount)
		case store.StatusOrphaned:
			lr := listRowOf(d)
			orphaned[lr] = append(orphaned[lr], d.ID)
		}
		if d.Status != store.StatusOrphaned {
			t.Deposits++
			if d.DetectedAt.After(t.LastDepositAt) {
				t.LastDepositAt = d.DetectedAt
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var queue [][]byte
	err = store.Scan(db, store.MerchantIndexAll(), false, func(k, _ []byte) (bool, error) {
		queue = append(queue, append([]byte(nil), k...))
		return true, nil
	})
	if err != nil {
		return err
	}
	// Written in batches of bounded size; the mark last.
	const perBatch = 10_000
	var writes []func(b *store.Batch) error
	for k, a := range accounts {
		writes = append(writes, func(b *store.Batch) error {
			return b.Set(store.AccountKey(k.merchant, k.ref), a.AppendEncode(nil), nil)
		})
	}
	for m, a := range totals {
		writes = append(writes, func(b *store.Batch) error { return b.Set(store.MerchantTotalsKey(m), a.AppendEncode(nil), nil) })
	}
	for lr, ids := range open {
		slices.Sort(ids)
		writes = append(writes, func(b *store.Batch) error {
			return b.Set(store.ListOpenKey(lr.merchant, lr.detected, lr.tag), store.AppendIDs(nil, ids), nil)
		})
	}
	for lr, ids := range orphaned {
		slices.Sort(ids)
		writes = append(writes, func(b *store.Batch) error {
			return b.Set(store.ListOrphanedKey(lr.merchant, lr.detected, lr.tag), store.AppendIDs(nil, ids), nil)
		})
	}
	for i := 0; i < len(queue); i += 1000 {
		var v []byte
		for _, k := range queue[i:min(i+1000, len(queue))] {
			v = store.AppendQueuedRow(v, k)
		}
		writes = append(writes, func(b *store.Batch) error {
			seq, err := b.Next("listing")
			if err != nil {
				return err
			}
			return b.Set(store.ListQueueKey(seq), v, nil)
		})
	}
	writes = append(writes, func(b *store.Batch) error { _, err := b.Next(listingMark); return err })
	for i := 0; i < len(writes); i += perBatch {
		err := db.Write(func(b *store.Batch) error {
			for _, w := range writes[i:min(i+perBatch, len(writes))] {
				if err := w(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if n > 0 {
		log.Info("listings built for a store of an earlier version", "deposits", n, "accounts", len(accounts), "queued", len(queue), "took", time.Since(start))
	}
	return nil
}

// confirm moves pending deposits that reached the credit depth to confirmed,
// after maturing those whose block is now deep enough.
func (l *Ledger) confirm(tx *applyTx, spec *assets.Chain, c *chainState) error {
	if err := l.mature(tx, spec, c); err != nil {
		return err
	}
	st := c.st
	if st.Tip+1 < spec.Policy.CreditDepth {
		return nil
	}
	maxN := st.Tip + 1 - spec.Policy.CreditDepth
	if st.PendingFrom > maxN {
		return nil // nothing pending at or below maxN
	}
	for _, n := range c.openUpTo(st.PendingFrom, maxN) {
		for _, d := range c.open[n] {
			if d.Status == store.StatusPending {
				if err := tx.transition(c, d, store.StatusConfirmed); err != nil {
					return err
				}
			}
		}
	}
	st.PendingFrom = maxN + 1
	return nil
}

// mature credits the immature deposits (coinbase outputs) whose block the
// tip has passed by their maturity. Until then they are pending whatever
// the credit depth and finality say. A matured deposit is confirmed (once
// also at the credit depth) and, if its block is already final, completed
// at once; otherwise it joins the open set and finality completes it.
func (l *Ledger) mature(tx *applyTx, spec *assets.Chain, c *chainState) error {
	if len(c.immature) == 0 {
		return nil
	}
	st := c.st
	ns := make([]uint64, 0, len(c.immature))
	for n := range c.immature {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	for _, n := range ns {
		if n > st.Tip {
			break
		}
		conf := st.Tip - n + 1
		ds := c.immature[n]
		slices.SortFunc(ds, byID)
		kept := ds[:0]
		for _, d := range ds {
			if conf < uint64(d.Maturity) {
				kept = append(kept, d)
				continue
			}
			if conf >= spec.Policy.CreditDepth {
				if err := tx.transition(c, d, store.StatusConfirmed); err != nil {
					return err
				}
			} else if st.PendingFrom == 0 || n < st.PendingFrom {
				st.PendingFrom = n
			}
			if st.Finalized != 0 && n <= st.Finalized {
				if err := l.complete(tx, c, d); err != nil {
					return err
				}
				continue
			}
			if st.OpenFrom == 0 || n < st.OpenFrom {
				st.OpenFrom = n
			}
			c.setOpen(n, append(c.open[n], d))
		}
		if len(kept) == 0 {
			delete(c.immature, n)
		} else {
			c.immature[n] = kept
		}
	}
	return nil
}

// complete moves a deposit's amount from pending to available and completes
// it (confirming it first if it was pending).
func (l *Ledger) complete(tx *applyTx, c *chainState, d *store.Deposit) error {
	if d.Status == store.StatusPending {
		if err := tx.transition(c, d, store.StatusConfirmed); err != nil {
			return err
		}
	}
	if err := tx.addBalance(d, d.Amount, true, true); err != nil {
		return err
	}
	if err := tx.addBalance(d, d.Amount, false, false); err != nil {
		return err
	}
	return tx.transition(c, d, store.StatusCompleted)
}

func (l *Ledger) finalized(tx *applyTx, spec *assets.Chain, c *chainState, r *events.Record) error {
	st := c.st
	if r.Number <= st.Finalized && st.Finalized != 0 {
		return nil // a duplicate, or finality never moves back
	}
	cb, err := tx.canon(c, r.Number)
	if err != nil {
		return err
	}
	if cb != nil && cb.Hash != r.Hash {
		return halt("finalized block #%d %s is not the ledger's block %s", r.Number, r.Hash.Hex(), cb.Hash.Hex())
	}
	n := min(r.Number, st.Tip)
	if st.OpenFrom > n {
		st.Finalized = n
		return nil // nothing open at or below n
	}
	ns := c.openUpTo(st.OpenFrom, n)
	if c.spilled != 0 && st.OpenFrom <= c.spilled {
		// With the open deposits the memory bound left in Pebble (see
		// spill), in the same order.
		var err error
		if ns, err = l.completeSpilled(tx, c, ns, min(n, c.spilled)); err != nil {
			return err
		}
	}
	for _, bn := range ns {
		if err := l.completeBlock(tx, c, bn, c.open[bn]); err != nil {
			return err
		}
	}
	st.Finalized, st.OpenFrom = n, n+1
	for bn := range c.immature {
		// Immature deposits are loaded from OpenFrom up (loadOpen) with
		// the open ones, so it stays at the lowest.
		st.OpenFrom = min(st.OpenFrom, bn)
	}
	if st.PendingFrom <= n {
		st.PendingFrom = n + 1
	}
	return nil
}

func (l *Ledger) disconnected(tx *applyTx, spec *assets.Chain, c *chainState, r *events.Record, rest []Input) error {
	st := c.st
	cb, err := tx.canon(c, r.Number)
	if err != nil {
		return err
	}
	if cb == nil || cb.Hash != r.Hash {
		return nil // already disconnected: a duplicate
	}
	if st.Tip != r.Number || st.TipHash != r.Hash {
		return halt("disconnection of #%d %s, but the ledger's tip is #%d %s", r.Number, r.Hash.Hex(), st.Tip, st.TipHash.Hex())
	}
	from := st.ReorgFrom
	if from == 0 {
		from = st.Tip
	}
	deepest := r.Number
	for _, x := range rest {
		if x.Record.Chain != r.Chain {
			continue
		}
		if x.Record.Type != events.TypeBlockDisconnected {
			break
		}
		deepest = min(deepest, x.Record.Number)
	}
	// The depth counts blocks: those this run disconnected already, and
	// the ledger's blocks from the deepest of this batch up to this one
	// (numbers between them may be skipped slots, which are no blocks).
	depth := st.ReorgBlocks
	for n := deepest; n <= r.Number; n++ {
		nb, err := tx.canon(c, n)
		if err != nil {
			return err
		}
		if nb != nil {
			depth++
		}
		if depth > spec.Policy.MaxReorgDepth && !st.AcceptReorg {
			return halt("reorg of depth %d (from #%d to #%d) exceeds the maximum of %d", depth, from, deepest, spec.Policy.MaxReorgDepth)
		}
	}
	if st.Finalized != 0 && deepest <= st.Finalized {
		return halt("reorg reaches #%d, at or below the finalized block #%d", deepest, st.Finalized)
	}
	// Every deposit of a block above the finalized one is open (pending or
	// confirmed) until it is orphaned, and the open set holds only the
	// canonical chain's: those of this block are the ones with its hash.
	if r.Number <= c.spilled {
		// A reorg deeper than the maximum, accepted by the operator, into
		// blocks whose open deposits the memory bound left in Pebble.
		if err := tx.unspill(c, r.Number); err != nil {
			return err
		}
	}
	c.openUpTo(r.Number, r.Number) // in id order
	blockDeps := c.open[r.Number]
	if imm := c.immature[r.Number]; len(imm) > 0 {
		// Immature deposits (coinbase outputs) of the block are orphaned
		// with the others, in id order among them.
		blockDeps = slices.SortedFunc(slices.Values(slices.Concat(blockDeps, imm)), byID)
		delete(c.immature, r.Number)
	}
	kept := c.open[r.Number][:0]
	for _, d := range blockDeps {
		if d.BlockHash != r.Hash {
			if d.Maturity > 0 && d.Status == store.StatusPending {
				c.immature[r.Number] = append(c.immature[r.Number], d)
			} else {
				kept = append(kept, d)
			}
			continue
		}
		if err := tx.addBalance(d, d.Amount, true, true); err != nil {
			return err
		}
		if err := tx.bumpStats(d, -1); err != nil {
			return err
		}
		if err := tx.transition(c, d, store.StatusOrphaned); err != nil {
			return err
		}
		txk := store.TransferName(d.Chain, d.TxHash, d.Index)
		c.orphans[txk] = d.ID
		if err := tx.b.Set(store.OrphanedTransferKey(txk), []byte(d.ID), nil); err != nil {
			return err
		}
		l.m.orphaned.Inc()
	}
	c.setOpen(r.Number, kept)
	if err := tx.setCanon(c, r.Number, nil); err != nil {
		return err
	}
	// The new tip is the parent: the block below with the parent's hash.
	// On Solana, whose skipped slots have no block, it may lie more than
	// one number down.
	parentN := r.Number - 1
	for n := r.Number - 1; n > 0 && n+keepCanon > r.Number; n-- {
		pb, err := tx.canon(c, n)
		if err != nil {
			return err
		}
		if pb != nil {
			if pb.Hash == cb.Parent {
				parentN = n
			}
			break
		}
	}
	st.Tip, st.TipHash, st.ReorgFrom = parentN, cb.Parent, from
	st.ReorgBlocks++
	l.m.disconnects.Inc()
	return nil
}
