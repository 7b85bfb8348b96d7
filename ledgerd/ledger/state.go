package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
)

// eventsPerRow is how many events one outbox row holds at most, so that the
// relay publishes about as many records per flush as before rows were
// grouped (the history sink's duplicate window depends on it).
const eventsPerRow = 1000

// state is what the ledger reads on every deposit, kept in memory so that a
// deposit costs no Pebble read:
//
//   - per chain: the chain state, the recent canonical blocks, the open
//     deposits (pending or confirmed, by block number) and the orphaned
//     transfers not yet mined again (the DT/ rows);
//   - caches of pool entries with their binding history, and of accounts
//     (balances and reference totals), loaded on first use.
//
// Pebble stays the truth: everything here is loaded from it, the ledger is
// its only writer of deposits, balances and totals, and the pool entries the
// registry changes are dropped from the cache through the store's log of
// pool keys. A failed Apply drops the whole state.
type state struct {
	chains   map[chain.ID]*chainState
	owners   map[string]*owner // by A/ key
	byID     map[uint64]string // address id → A/ key of a cached owner
	poolGen  uint64
	accounts map[refKey]*store.Account
	// totals are merchants' totals rows (MT/): their accounts added up.
	totals map[string]*store.Account
	// cacheRows bounds owners and accounts (Options.CacheRows).
	cacheRows int
	// lastTags are the block tags whose BS/ rows the last batch wrote: that
	// batch may not be in the DB yet while the next one is prepared.
	lastTags map[string]*store.Deposit
	// tx is the last Apply's, whose maps and buffers the next one reuses.
	tx *applyTx
	// maxOpen bounds each chain's open deposits in memory
	// (Options.MaxOpenDeposits; spill.go), and maxReorg gives a chain's
	// maximum reorg depth.
	maxOpen  int
	maxReorg func(chain.ID) uint64
}

// refKey names an account row (store.AccountKey) without building the key
// on every deposit.
type refKey struct{ merchant, ref string }

func newState(cacheRows, maxOpen int, maxReorg func(chain.ID) uint64) *state {
	return &state{maxOpen: maxOpen, maxReorg: maxReorg, chains: map[chain.ID]*chainState{}, owners: map[string]*owner{}, byID: map[uint64]string{},
		accounts: map[refKey]*store.Account{}, totals: map[string]*store.Account{}, cacheRows: cacheRows, lastTags: map[string]*store.Deposit{}}
}

// chainState is one chain's part of the state.
type chainState struct {
	id    chain.ID
	st    *store.ChainState
	canon map[uint64]*store.CanonBlock // nil: known to be missing
	// open holds every pending or confirmed deposit, by block number. In a
	// block's slice the deposits are kept in id order, the order the
	// confirmation and finality passes visit them.
	open map[uint64][]*store.Deposit
	// immature holds the pending deposits that are not spendable yet
	// (Bitcoin coinbase outputs, Deposit.Maturity), by block number: they
	// join open, confirmed, once their block is deep enough (Ledger.mature).
	immature map[uint64][]*store.Deposit
	// orphans maps (chain, tx hash, index) to the orphaned deposit a new
	// deposit of the same transfer replaces.
	orphans map[string]string
	// nOpen counts the deposits in open. spilled, when not 0, is the
	// highest block whose open deposits the memory bound may have left in
	// Pebble alone (spill.go): at or below it, open holds some, all or none
	// of a block's open deposits, and what reads them loads the rest.
	nOpen   int
	spilled uint64
	// maxReorg is the chain's maximum reorg depth: a block that deep
	// leaves memory only once nothing but a resumed reorg reaches it.
	maxReorg uint64
	spillAt  int  // the open count past which spill tries again
	warned   bool // the bound could not be kept: said once
}

// setOpen sets a block's open deposits, counting them.
func (c *chainState) setOpen(n uint64, ds []*store.Deposit) {
	c.nOpen += len(ds) - len(c.open[n])
	if len(ds) == 0 {
		delete(c.open, n)
		return
	}
	c.open[n] = ds
}

// openUpTo returns the block numbers in [from, to] that hold open deposits,
// in order.
func (c *chainState) openUpTo(from, to uint64) []uint64 {
	var ns []uint64
	if to >= from && to-from < uint64(len(c.open)) {
		// The usual case, a block or a finality step: look the range up.
		for n := from; n <= to; n++ {
			if _, ok := c.open[n]; ok {
				ns = append(ns, n)
			}
		}
	} else {
		for n := range c.open {
			if n >= from && n <= to {
				ns = append(ns, n)
			}
		}
		slices.Sort(ns)
	}
	for _, n := range ns {
		if !slices.IsSortedFunc(c.open[n], byID) {
			slices.SortFunc(c.open[n], byID)
		}
	}
	return ns
}

// owner is a pool entry with its binding history; pa is nil for an address
// outside the pool.
type owner struct {
	pa       *store.PoolAddress
	lookupID uint64 // the transfer's address id it was found by
	hist     []store.BindingRecord
	refs     []string // hist[i].Reference, for pointers that stay put
}

// attribution returns the reference bound to the address when a block with
// time blockTime (unix seconds) was made, or nil: the last binding that began
// before the end of that second, if it had not ended by its start, or had
// ended but its cooldown had not (afterUnbind: the address could not be
// anyone else's yet).
func (o *owner) attribution(blockTime int64) (ref *string, afterUnbind bool) {
	limit := (blockTime + 1) * int64(time.Second)
	i, _ := slices.BinarySearchFunc(o.hist, limit, func(r store.BindingRecord, t int64) int {
		if r.BoundAt < t {
			return -1
		}
		return 1
	})
	if i == 0 {
		return nil, false
	}
	r := &o.hist[i-1]
	if at := blockTime * int64(time.Second); r.UnboundAt != 0 && r.UnboundAt <= at {
		if at < r.CooldownUntil {
			return &o.refs[i-1], true
		}
		return nil, false
	}
	return &o.refs[i-1], false
}

// applyTx is one Apply: the batch, and what it changed that is written when
// it ends.
type applyTx struct {
	s        *state
	db       *store.DB
	b        *store.Batch
	now      time.Time
	nowp     *time.Time                // &now, shared by the status times the Apply sets
	dirty    map[string]*store.Deposit // D/ rows to write
	groups   map[string]*store.Deposit // BS/ rows to write: a deposit of the block tag, with its status
	accounts map[refKey]*store.Account // the accounts it changed
	totals   map[string]*store.Account // the merchants' totals it changed
	chains   map[chain.ID]*chainState
	events   []byte
	nEvents  int
	block    []*store.Deposit     // the deposits of the block being connected
	ids      []string             // their ids
	buf      []byte               // a value being written
	kbuf     []byte               // a key being written
	dm       map[string][]string  // the deposits of each merchant
	open     map[listRow][]string // listing rows of open deposits to write (LO/)
	closed   map[listRow]bool     // listing rows of open deposits to delete
	orphaned map[listRow][]string // listing rows of orphaned deposits to write (LX/)
	err      error                // the first failed write of an outbox row
	rows     []row                // account rows, sorted before they are written
	arena    []byte
	logging  bool           // the logger writes info lines: changes collects them
	changes  []statusChange // the status changes of the Apply, logged once it is handed to Pebble
	// rescanSeen names the transfers BlockRescanned records credited in
	// this Apply (TransferName and block hash): their deposits are not in
	// the DB yet.
	rescanSeen map[string]bool
}

// statusChange is one deposit status change, as it was when it happened
// (a deposit can change twice in one Apply).
type statusChange struct {
	id, merchant, ref, currency, amount, from, to string
	chain                                         chain.ID
	block, confirmations                          uint64
}

// row is an account row in tx.arena: its key is arena[k0:v0], its value
// arena[v0:end].
type row struct{ k0, v0, end int }

func (s *state) begin(db *store.DB, b *store.Batch, now time.Time) *applyTx {
	keys, gen, complete := b.PoolChanges(s.poolGen)
	if !complete {
		s.owners, s.byID = map[string]*owner{}, map[uint64]string{}
	}
	for _, k := range keys {
		if k[0] == 'A' {
			s.dropOwner(k)
			continue
		}
		// I/<id> and H/<id><bound at>
		if len(k) >= 10 {
			id := binary.BigEndian.Uint64([]byte(k[2:10]))
			if ak, ok := s.byID[id]; ok {
				s.dropOwner(ak)
			}
		}
	}
	s.poolGen = gen
	tx := s.tx
	if tx == nil {
		tx = &applyTx{s: s, dirty: map[string]*store.Deposit{}, groups: map[string]*store.Deposit{},
			accounts: map[refKey]*store.Account{}, totals: map[string]*store.Account{}, chains: map[chain.ID]*chainState{},
			dm: map[string][]string{}, open: map[listRow][]string{}, closed: map[listRow]bool{}, orphaned: map[listRow][]string{}}
		s.tx = tx
	} else {
		clear(tx.dirty)
		// The last batch's BS/ rows, for freeTag.
		s.lastTags, tx.groups = tx.groups, s.lastTags
		clear(tx.groups)
		clear(tx.accounts)
		clear(tx.totals)
		clear(tx.chains)
		clear(tx.dm)
		clear(tx.open)
		clear(tx.closed)
		clear(tx.orphaned)
		tx.events, tx.nEvents, tx.err = tx.events[:0], 0, nil
		tx.changes = tx.changes[:0]
		tx.rescanSeen = nil
	}
	tx.db, tx.b, tx.now, tx.nowp = db, b, now, nil
	return tx
}

func (s *state) dropOwner(akey string) {
	o, ok := s.owners[akey]
	if !ok {
		return
	}
	delete(s.owners, akey)
	delete(s.byID, o.lookupID)
	if o.pa != nil {
		delete(s.byID, o.pa.ID)
	}
}

// chain returns a chain's state, loading it on first use.
func (tx *applyTx) chain(id chain.ID) (*chainState, error) {
	if c, ok := tx.s.chains[id]; ok {
		return c, nil
	}
	if err := tx.committed(); err != nil {
		return nil, err
	}
	st, err := store.GetChainState(tx.db, id)
	if err != nil {
		return nil, err
	}
	c := &chainState{id: id, st: st, canon: map[uint64]*store.CanonBlock{}, open: map[uint64][]*store.Deposit{},
		immature: map[uint64][]*store.Deposit{}, orphans: map[string]string{}}
	if tx.s.maxReorg != nil {
		c.maxReorg = tx.s.maxReorg(id)
	}
	if err := tx.loadOpen(c); err != nil {
		return nil, err
	}
	if err := tx.loadOrphans(c); err != nil {
		return nil, err
	}
	tx.s.chains[id] = c
	return c, nil
}

// loadOpen reads a chain's open deposits through the block index, from the
// lowest block that can hold one. Earlier versions kept them in DP/ and DO/
// index rows, which are removed here.
func (tx *applyTx) loadOpen(c *chainState) error {
	p := store.BlockIndexPrefix(c.id)
	it, err := tx.db.NewIter(&pebble.IterOptions{LowerBound: store.BlockIndexFrom(c.id, c.st.OpenFrom), UpperBound: store.PrefixEnd(p)})
	if err != nil {
		return err
	}
	dr := &store.DepositReader{R: tx.db}
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) <= len(p)+store.BlockIndexFixed {
			continue
		}
		ids, err := store.IndexIDs(k, it.Value(), len(p)+store.BlockIndexFixed)
		if err != nil {
			it.Close()
			return err
		}
		for _, id := range ids {
			d, err := dr.Get(id)
			if err != nil {
				it.Close()
				return fmt.Errorf("indexed deposit %s: %w", id, err)
			}
			switch {
			case d.Status == store.StatusPending && d.Maturity > 0:
				// Maturing moves it to open, confirmed (or pending with a lower
				// PendingFrom), so a pending one with a maturity has not.
				c.immature[d.BlockNumber] = append(c.immature[d.BlockNumber], d)
			case d.Status == store.StatusPending || d.Status == store.StatusConfirmed:
				c.setOpen(d.BlockNumber, append(c.open[d.BlockNumber], d))
			}
		}
		// The memory bound holds while loading too.
		tx.s.spill(c)
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, p := range store.OldOpenIndexPrefixes(c.id) {
		if err := tx.b.DeleteRange(p, store.PrefixEnd(p), nil); err != nil {
			return err
		}
	}
	return nil
}

// loadOrphans reads a chain's DT/ rows: orphaned transfers, each with the
// deposit a new one would replace. Earlier versions kept a row for every
// transfer; those of deposits that are not orphaned are removed here.
func (tx *applyTx) loadOrphans(c *chainState) error {
	type row struct{ k, id string }
	var rows []row
	err := store.Scan(tx.db, store.OrphanedTransferPrefix(c.id), false, func(k, v []byte) (bool, error) {
		rows = append(rows, row{store.OrphanedTransferOf(k), string(v)})
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, r := range rows {
		d, err := store.GetDeposit(tx.db, r.id)
		if err != nil {
			return fmt.Errorf("deposit %s of a transfer row: %w", r.id, err)
		}
		if d.Status == store.StatusOrphaned {
			c.orphans[r.k] = r.id
		} else if err := tx.b.Delete(store.OrphanedTransferKey(r.k), nil); err != nil {
			return err
		}
	}
	return nil
}

func (tx *applyTx) touchChain(c *chainState) { tx.chains[c.id] = c }

// committed waits until the last batch is in the DB. The ledger calls it
// before it reads a row it writes itself (chain states, canonical blocks,
// deposits, accounts) and does not hold in memory: the batch before this
// one may have written that row and not be committed yet. Rows it reads
// without waiting: pool entries (A/, I/, H/), which only the registry
// writes, and never while a ledger batch commits (store.DB.Write waits for
// it); BS/ rows, which freeTag looks up in the last batch's tags first; and
// counters, which the store carries from batch to batch.
func (tx *applyTx) committed() error { return tx.b.WaitCommitted() }

// canon returns the ledger's block at height n, or nil.
func (tx *applyTx) canon(c *chainState, n uint64) (*store.CanonBlock, error) {
	if cb, ok := c.canon[n]; ok {
		return cb, nil
	}
	// Every CB/ row the ledger writes is in c.canon until it lies far
	// below the tip, and there is none above the tip: a block above it,
	// the usual case, is looked up without waiting for the last batch.
	if n <= c.st.Tip {
		if err := tx.committed(); err != nil {
			return nil, err
		}
	}
	cb := &store.CanonBlock{}
	err := store.GetJSON(tx.db, store.CanonKey(c.id, n), cb)
	if errors.Is(err, store.ErrNotFound) {
		cb = nil
	} else if err != nil {
		return nil, err
	}
	c.canon[n] = cb
	return cb, nil
}

// setCanon stores (or, with nil, deletes) the ledger's block at height n.
func (tx *applyTx) setCanon(c *chainState, n uint64, cb *store.CanonBlock) error {
	c.canon[n] = cb
	if cb == nil {
		return tx.b.Delete(store.CanonKey(c.id, n), nil)
	}
	return tx.b.PutJSON(store.CanonKey(c.id, n), cb)
}

// owner returns the pool entry of a transfer's recipient.
func (tx *applyTx) owner(t *chain.Transfer) (*owner, error) {
	if t.To.IsZero() {
		return loadOwner(tx.db, t)
	}
	if t.AddressID != 0 {
		// The usual case, found without building the A/ key.
		if k, ok := tx.s.byID[t.AddressID]; ok && len(k) == 3+len(t.To.Raw()) && k[2] == byte(t.To.Family()) && k[3:] == t.To.Raw() {
			if o := tx.s.owners[k]; o != nil && o.lookupID == t.AddressID {
				return o, nil
			}
		}
	}
	k := string(store.PoolAddressKey(t.To))
	if o, ok := tx.s.owners[k]; ok && o.lookupID == t.AddressID {
		return o, nil
	}
	o, err := loadOwner(tx.db, t)
	if err != nil {
		return nil, err
	}
	if len(tx.s.owners) >= tx.s.cacheRows {
		tx.s.owners, tx.s.byID = map[string]*owner{}, map[uint64]string{}
	}
	tx.s.dropOwner(k)
	tx.s.owners[k] = o
	if t.AddressID != 0 {
		tx.s.byID[t.AddressID] = k
	}
	if o.pa != nil {
		tx.s.byID[o.pa.ID] = k
	}
	return o, nil
}

func loadOwner(r store.Reader, t *chain.Transfer) (*owner, error) {
	o := &owner{lookupID: t.AddressID}
	pa, err := poolAddress(r, t)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return o, nil
	case err != nil:
		return nil, err
	}
	o.pa = pa
	err = store.Scan(r, store.BindingPrefix(pa.ID), false, func(_, v []byte) (bool, error) {
		var br store.BindingRecord
		if err := json.Unmarshal(v, &br); err != nil {
			return false, err
		}
		o.hist = append(o.hist, br)
		o.refs = append(o.refs, br.Reference)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// poolAddress finds the pool entry of a matched transfer's recipient.
func poolAddress(r store.Reader, t *chain.Transfer) (*store.PoolAddress, error) {
	var key []byte
	if t.AddressID != 0 {
		k, err := store.GetRaw(r, store.AddressIDKey(t.AddressID))
		if err == nil {
			key = k
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	if key == nil {
		key = store.PoolAddressKey(t.To)
	}
	pa := &store.PoolAddress{}
	if err := store.GetJSON(r, key, pa); err != nil {
		return nil, err
	}
	if !t.To.IsZero() && (pa.Family != t.To.Family() || string(pa.Raw) != t.To.Raw()) {
		return nil, store.ErrNotFound
	}
	return pa, nil
}

// freeTag returns the block tag of a block being connected: the first
// generation of it no earlier block used, other than skip.
func (tx *applyTx) freeTag(r *events.Record, skip blockTag) (blockTag, error) {
	for gen := uint32(0); ; gen++ {
		tag := blockTagOf(r.Chain, r.Number, r.Hash, gen)
		if tag == skip || tx.groups[string(tag)] != nil || tx.s.lastTags[string(tag)] != nil {
			continue
		}
		taken, err := store.Has(tx.db, store.BlockStatusKey(string(tag)))
		if err != nil || !taken {
			return tag, err
		}
	}
}

// account returns the account of a deposit's reference, which the Apply
// then writes.
func (tx *applyTx) account(d *store.Deposit) (*store.Account, error) {
	k := refKey{d.Merchant, d.Ref()}
	a := tx.accounts[k]
	if a == nil {
		if a = tx.s.accounts[k]; a == nil {
			if err := tx.committed(); err != nil {
				return nil, err
			}
			v, err := store.GetAccount(tx.db, k.merchant, k.ref)
			if err != nil {
				return nil, err
			}
			a = &v
			if len(tx.s.accounts) >= tx.s.cacheRows {
				tx.s.accounts = map[refKey]*store.Account{}
			}
			tx.s.accounts[k] = a
		}
		tx.accounts[k] = a
	}
	return a, nil
}

// totalsOf returns a merchant's totals row, which the Apply then writes.
func (tx *applyTx) totalsOf(merchant string) (*store.Account, error) {
	a := tx.totals[merchant]
	if a == nil {
		if a = tx.s.totals[merchant]; a == nil {
			if err := tx.committed(); err != nil {
				return nil, err
			}
			v, err := store.GetTotals(tx.db, merchant)
			if err != nil {
				return nil, err
			}
			a = &v
			if len(tx.s.totals) >= tx.s.cacheRows {
				tx.s.totals = map[string]*store.Account{}
			}
			tx.s.totals[merchant] = a
		}
		tx.totals[merchant] = a
	}
	return a, nil
}

// accounts returns the rows a deposit counts in: its reference's account
// and its merchant's totals.
func (tx *applyTx) accountsOf(d *store.Deposit) ([2]*store.Account, error) {
	a, err := tx.account(d)
	if err != nil {
		return [2]*store.Account{}, err
	}
	t, err := tx.totalsOf(d.Merchant)
	return [2]*store.Account{a, t}, err
}

// addBalance adds (or, with sub, takes) v to a deposit's pending or available balance.
func (tx *applyTx) addBalance(d *store.Deposit, v chain.Amount, sub, pending bool) error {
	rows, err := tx.accountsOf(d)
	if err != nil {
		return err
	}
	for _, a := range rows {
		bal := a.Balance(d.Currency, d.Chain)
		target := &bal.Available
		if pending {
			target = &bal.Pending
		}
		var ok bool
		if sub {
			*target, ok = target.Sub(v)
		} else {
			*target, ok = target.Add(v)
		}
		if !ok {
			return fmt.Errorf("balance %s of %s/%s would leave uint256 range", d.Currency, d.Merchant, d.Ref())
		}
	}
	return nil
}

// bumpStats counts a deposit in (or, with -1, out of) its reference's totals.
func (tx *applyTx) bumpStats(d *store.Deposit, delta int64) error {
	rows, err := tx.accountsOf(d)
	if err != nil {
		return err
	}
	for _, a := range rows {
		a.Deposits += delta
		if delta > 0 {
			a.LastDepositAt = tx.now
		}
	}
	return nil
}

// count moves a deposit between statuses in its account's and its
// merchant's counts (from "" for a new deposit).
func (tx *applyTx) count(d *store.Deposit, from, to string) error {
	rows, err := tx.accountsOf(d)
	if err != nil {
		return err
	}
	for _, a := range rows {
		a.Entry(d.Currency, d.Chain).Count(from, to)
	}
	return nil
}

// listRow names a listing row of one block's deposits of one merchant.
type listRow struct {
	merchant string
	detected int64
	tag      string // the block tag, or the deposit id of one from before tags
}

func listRowOf(d *store.Deposit) listRow {
	tag, ok := store.BlockTag(d.ID)
	if !ok {
		tag = d.ID
	}
	return listRow{d.Merchant, d.DetectedAt.UnixNano(), tag}
}

// transition sets a deposit's status, counts it there and queues its event,
// a snapshot of the deposit as it is now. A deposit that already has the
// status is a new one (credit made it pending): it is counted in, not moved.
// An open deposit leaves the listing of open ones when it completes or is
// orphaned, and an orphaned one joins the listing of orphans.
func (tx *applyTx) transition(c *chainState, d *store.Deposit, status string) error {
	from := d.Status
	if from == status {
		from = ""
	}
	if err := tx.count(d, from, status); err != nil {
		return err
	}
	switch lr := listRowOf(d); status {
	case store.StatusPending:
		tx.open[lr] = append(tx.open[lr], d.ID)
	case store.StatusCompleted, store.StatusOrphaned:
		if ids, ok := tx.open[lr]; ok && len(ids) > 0 {
			// Opened in this Apply: its row is not written yet.
			if i := slices.Index(ids, d.ID); i >= 0 {
				tx.open[lr] = slices.Delete(ids, i, i+1)
			}
			if len(tx.open[lr]) == 0 {
				delete(tx.open, lr)
			}
		} else {
			tx.closed[lr] = true
		}
		if status == store.StatusOrphaned {
			tx.orphaned[lr] = append(tx.orphaned[lr], d.ID)
		}
	}
	if tx.nowp == nil {
		now := tx.now
		tx.nowp = &now // one for the Apply: nothing writes through it
	}
	if tx.logging {
		var conf uint64
		if tip := c.st.Tip; tip >= d.BlockNumber && status != store.StatusOrphaned {
			conf = tip - d.BlockNumber + 1
		}
		tx.changes = append(tx.changes, statusChange{id: d.ID, merchant: d.Merchant, ref: d.Ref(), currency: d.Currency,
			amount: d.Amount.Decimal(d.Decimals), from: from, to: status, chain: d.Chain, block: d.BlockNumber, confirmations: conf})
	}
	d.Status = status
	switch status {
	case store.StatusConfirmed:
		d.ConfirmedAt = tx.nowp
	case store.StatusCompleted:
		d.CompletedAt = tx.nowp
	case store.StatusOrphaned:
		d.OrphanedAt = tx.nowp
	}
	if tag, ok := store.BlockTag(d.ID); ok {
		// The block's deposits change status together: one BS/ row holds
		// it, and the D/ row is written once, as detected (credit).
		tx.groups[tag] = d
	} else {
		tx.dirty[d.ID] = d
	}
	tx.events = store.AppendOutboxEvent(tx.events, c.st.Tip, d)
	tx.nEvents++
	if tx.nEvents == eventsPerRow {
		tx.flushEvents()
	}
	return nil
}

// flushEvents queues the events so far as one outbox row.
func (tx *applyTx) flushEvents() {
	if tx.nEvents == 0 {
		return
	}
	if err := tx.b.QueueOutbox(store.OutboxRow{Kind: store.OutboxEvents, Value: tx.events}); err != nil {
		tx.err = errors.Join(tx.err, err)
	}
	tx.events, tx.nEvents = tx.events[:0], 0 // the row holds a copy
}

// flush writes what the Apply changed: deposits, block statuses, accounts, chain
// states and the last outbox row.
func (tx *applyTx) flush() error {
	tx.flushEvents()
	if tx.err != nil {
		return tx.err
	}
	// Each group of rows goes into the batch in key order: Pebble inserts a
	// batch into its memtable in batch order and starts each search from
	// where the last one ended. (No gain stood out of the bench's noise.)
	buf := make([]byte, 0, 256)
	for _, id := range slices.Sorted(maps.Keys(tx.dirty)) {
		buf = tx.dirty[id].AppendEncode(buf[:0])
		if err := tx.b.Set(store.DepositKey(id), buf, nil); err != nil {
			return err
		}
	}
	for _, tag := range slices.Sorted(maps.Keys(tx.groups)) {
		buf = store.StatusOfDeposit(tx.groups[tag]).AppendEncode(buf[:0])
		if err := tx.b.Set(store.BlockStatusKey(tag), buf, nil); err != nil {
			return err
		}
	}
	// The batch's detection rows, and a queue row naming them for the
	// listing indexer (ledgerd/history), which builds the reference and
	// asset listings from them off this path.
	var queued []byte
	for _, m := range slices.Sorted(maps.Keys(tx.dm)) {
		ids := tx.dm[m]
		slices.Sort(ids)
		k := store.MerchantIndexKey(m, tx.now, ids[0])
		if err := tx.b.Set(k, store.AppendIDs(nil, ids), nil); err != nil {
			return err
		}
		queued = store.AppendQueuedRow(queued, k)
	}
	if len(queued) > 0 {
		seq, err := tx.b.Next("listing")
		if err != nil {
			return err
		}
		if err := tx.b.Set(store.ListQueueKey(seq), queued, nil); err != nil {
			return err
		}
	}
	for lr := range tx.closed {
		if err := tx.b.Delete(store.ListOpenKey(lr.merchant, lr.detected, lr.tag), nil); err != nil {
			return err
		}
	}
	for lr, ids := range tx.open {
		slices.Sort(ids)
		if err := tx.b.Set(store.ListOpenKey(lr.merchant, lr.detected, lr.tag), store.AppendIDs(nil, ids), nil); err != nil {
			return err
		}
	}
	for lr, ids := range tx.orphaned {
		slices.Sort(ids)
		if err := tx.b.Set(store.ListOrphanedKey(lr.merchant, lr.detected, lr.tag), store.AppendIDs(nil, ids), nil); err != nil {
			return err
		}
	}
	// The accounts' keys and values go into one buffer, sliced once it
	// stops growing.
	rows, arena := tx.rows[:0], tx.arena[:0]
	for k, a := range tx.accounts {
		var r row
		r.k0 = len(arena)
		arena = store.AppendAccountKey(arena, k.merchant, k.ref)
		r.v0 = len(arena)
		arena = a.AppendEncode(arena)
		r.end = len(arena)
		rows = append(rows, r)
	}
	key := func(r row) []byte { return arena[r.k0:r.v0] }
	slices.SortFunc(rows, func(a, b row) int { return bytes.Compare(key(a), key(b)) })
	for _, r := range rows {
		if err := tx.b.Set(key(r), arena[r.v0:r.end], nil); err != nil {
			return err
		}
	}
	tx.rows, tx.arena = rows[:0], arena[:0]
	for m, a := range tx.totals {
		if err := tx.b.Set(store.MerchantTotalsKey(m), a.AppendEncode(buf[:0]), nil); err != nil {
			return err
		}
	}
	for _, c := range tx.chains {
		if err := tx.b.PutJSON(store.ChainStateKey(c.id), c.st); err != nil {
			return err
		}
		if len(c.canon) > 4*keepCanon && c.st.Tip > 2*keepCanon {
			for n := range c.canon {
				if n < c.st.Tip-2*keepCanon {
					delete(c.canon, n)
				}
			}
		}
	}
	return nil
}
