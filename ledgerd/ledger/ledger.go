package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2"
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
}

// Options configures a Ledger.
type Options struct {
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
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
	return &Ledger{db: db, assets: table, now: o.Now, log: o.Logger, m: m}, nil
}

// Apply applies the inputs in order and stores the next offsets, all in one
// synced batch. Records of a halted chain are held: their partition's offset
// stops at the first of them.
func (l *Ledger) Apply(in []Input) error {
	start := time.Now()
	err := l.db.Write(func(b *store.Batch) error {
		held := map[tp]bool{}
		next := map[tp]int64{}
		for i, x := range in {
			k := tp{x.Topic, x.Partition}
			if held[k] {
				continue
			}
			applied, err := l.applyOne(b, x.Record, in[i+1:])
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
			if err := b.Set(OffsetKey(k.topic, k.partition), be64(uint64(o)), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		l.m.applySeconds.Observe(time.Since(start).Seconds())
		l.m.records.Add(float64(len(in)))
	}
	return err
}

type tp struct {
	topic     string
	partition int32
}

// OffsetKey is where the next offset of a partition is stored.
func OffsetKey(topic string, partition int32) []byte {
	return store.Key("OF/", topic, store.Sep, uint32(partition))
}

// Offsets reads the stored next offsets of the given topics.
func Offsets(r store.Reader, topics []string) (map[string]map[int32]int64, error) {
	out := map[string]map[int32]int64{}
	for _, t := range topics {
		p := store.Key("OF/", t, store.Sep)
		err := store.Scan(r, p, false, func(k, v []byte) (bool, error) {
			if len(k) != len(p)+4 || len(v) != 8 {
				return true, nil
			}
			if out[t] == nil {
				out[t] = map[int32]int64{}
			}
			out[t][int32(u32(k[len(p):]))] = int64(u64(v))
			return true, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// applyOne applies one record; false means the chain is halted and the
// record is held.
func (l *Ledger) applyOne(b *store.Batch, r *events.Record, rest []Input) (bool, error) {
	spec, err := l.assets.Chain(r.Chain)
	if err != nil {
		// A chain this ledger is not configured for: nothing to do with it.
		l.log.Warn("record for an unconfigured chain skipped", "chain", r.Chain)
		return true, nil
	}
	st, err := ChainStateOf(b, r.Chain)
	if err != nil {
		return false, err
	}
	if st.Halted {
		return false, nil
	}
	switch r.Type {
	case events.TypeBlockConnected:
		err = l.connected(b, spec, st, r)
	case events.TypeBlockDisconnected:
		err = l.disconnected(b, spec, st, r, rest)
	case events.TypeFinalized:
		err = l.finalized(b, spec, st, r)
	}
	var h *haltError
	if errors.As(err, &h) {
		now := l.now()
		st.Halted, st.HaltReason, st.HaltedAt = true, h.reason, &now
		l.m.halted.WithLabelValues(string(r.Chain)).Set(1)
		l.log.Error("ALERT: chain halted; records held until an operator resumes it", "chain", r.Chain, "reason", h.reason)
		return false, b.PutJSON(chainKey(r.Chain), st)
	}
	if err != nil {
		return false, err
	}
	return true, b.PutJSON(chainKey(r.Chain), st)
}

type haltError struct{ reason string }

func (h *haltError) Error() string { return "halt: " + h.reason }

func halt(format string, a ...any) error { return &haltError{fmt.Sprintf(format, a...)} }

func chainKey(id chain.ID) []byte { return store.Key("S/", string(id)) }

func canonKey(id chain.ID, n uint64) []byte { return store.Key("CB/", string(id), store.Sep, n) }

// ChainStateOf reads the ledger's state of a chain (zero if none).
func ChainStateOf(r store.Reader, id chain.ID) (*store.ChainState, error) {
	st := &store.ChainState{}
	if err := store.GetJSON(r, chainKey(id), st); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return st, nil
}

func (l *Ledger) connected(b *store.Batch, spec *assets.Chain, st *store.ChainState, r *events.Record) error {
	var cb store.CanonBlock
	err := store.GetJSON(b, canonKey(r.Chain, r.Number), &cb)
	switch {
	case err == nil && cb.Hash == r.Hash:
		return nil // applied before: a duplicate
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	fresh := st.Tip == 0 && st.TipHash.IsZero()
	if !fresh && (r.Parent != st.TipHash || r.Number <= st.Tip) {
		return halt("block #%d %s does not extend the ledger's tip #%d %s", r.Number, r.Hash.Hex(), st.Tip, st.TipHash.Hex())
	}
	if err := b.PutJSON(canonKey(r.Chain, r.Number), store.CanonBlock{Hash: r.Hash, Parent: r.Parent}); err != nil {
		return err
	}
	if r.Number > keepCanon {
		if err := b.Delete(canonKey(r.Chain, r.Number-keepCanon), nil); err != nil {
			return err
		}
	}
	st.Tip, st.TipHash, st.ReorgFrom = r.Number, r.Hash, 0
	// One block has one time, so each recipient's pool entry and attribution
	// are read once per block however many transfers it receives.
	owners := map[chain.Address]*owner{}
	for i := range r.Transfers {
		if err := l.deposit(b, spec, st, r, &r.Transfers[i], owners); err != nil {
			return err
		}
	}
	return l.confirm(b, spec, st)
}

// DepositID derives a deposit's id.
func DepositID(id chain.ID, tx []byte, index uint32, block chain.Hash) string {
	h := sha256.New()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(tx)
	h.Write(be32(index))
	h.Write(block[:])
	return "dep_" + hex.EncodeToString(h.Sum(nil)[:12])
}

// owner is a recipient's pool entry and the reference it was bound to when
// the block was made; pa is nil for an address outside the pool.
type owner struct {
	pa  *store.PoolAddress
	ref *string
}

func (l *Ledger) deposit(b *store.Batch, spec *assets.Chain, st *store.ChainState, r *events.Record, t *chain.Transfer, owners map[chain.Address]*owner) error {
	asset, ok := l.assets.ForTransfer(r.Chain, t)
	if !ok {
		l.m.unsupported.Inc()
		return nil // not an asset Inflow credits (a spam token, say)
	}
	o, ok := owners[t.To]
	if !ok {
		o = &owner{}
		pa, err := poolAddress(b, t)
		switch {
		case errors.Is(err, store.ErrNotFound):
			l.log.Warn("matched address is not in the pool", "chain", r.Chain, "address", t.To, "id", t.AddressID)
		case err != nil:
			return err
		default:
			if o.ref, err = attribution(b, pa.ID, r.Time); err != nil {
				return err
			}
			o.pa = pa
		}
		owners[t.To] = o
	}
	if o.pa == nil {
		return nil
	}
	pa, ref := o.pa, o.ref
	id := DepositID(r.Chain, t.TxHash, t.Index, r.Hash)
	if ok, err := store.Has(b, depositKey(id)); err != nil || ok {
		return err
	}
	now := l.now().UTC()
	d := &store.Deposit{
		ID: id, Merchant: pa.Merchant, Reference: ref, Chain: r.Chain, Family: spec.Family,
		Currency: asset.Currency, Decimals: asset.Decimals, Amount: t.Value,
		AddressID: pa.ID, Address: pa.Raw, TxHash: t.TxHash, Index: t.Index,
		BlockNumber: r.Number, BlockHash: r.Hash, BlockTime: r.Time,
		Status: store.StatusPending, DetectedAt: now,
	}
	txKey := store.Key("DT/", string(r.Chain), store.Sep, t.TxHash, t.Index)
	if prev, err := store.GetRaw(b, txKey); err == nil && string(prev) != id {
		var pd store.Deposit
		if err := store.GetJSON(b, depositKey(string(prev)), &pd); err == nil && pd.Status == store.StatusOrphaned {
			d.Replaces = pd.ID
		}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if st.PendingFrom == 0 || r.Number < st.PendingFrom {
		st.PendingFrom = r.Number
	}
	if st.OpenFrom == 0 || r.Number < st.OpenFrom {
		st.OpenFrom = r.Number
	}
	for _, k := range [][]byte{
		store.Key("DM/", d.Merchant, store.Sep, now.UnixNano(), id),
		store.Key("DB/", string(r.Chain), store.Sep, r.Number, r.Hash[:], id),
		pendingKey(r.Chain, r.Number, id),
		openKey(r.Chain, r.Number, id),
	} {
		if err := b.Set(k, nil, nil); err != nil {
			return err
		}
	}
	if err := b.Set(txKey, []byte(id), nil); err != nil {
		return err
	}
	if err := addBalance(b, d, t.Value, false, true); err != nil {
		return err
	}
	if err := bumpStats(b, d, 1, now); err != nil {
		return err
	}
	l.m.deposits.Inc()
	return l.transition(b, st, d, store.StatusPending)
}

func depositKey(id string) []byte { return store.Key("D/", id) }

func pendingKey(id chain.ID, n uint64, dep string) []byte {
	return store.Key("DP/", string(id), store.Sep, n, dep)
}

func openKey(id chain.ID, n uint64, dep string) []byte {
	return store.Key("DO/", string(id), store.Sep, n, dep)
}

// poolAddress finds the pool entry of a matched transfer's recipient.
func poolAddress(r store.Reader, t *chain.Transfer) (*store.PoolAddress, error) {
	var key []byte
	if t.AddressID != 0 {
		k, err := store.GetRaw(r, store.Key("I/", t.AddressID))
		if err == nil {
			key = k
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	if key == nil {
		key = store.Key("A/", t.To.Key())
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

// attribution returns the reference bound to the address when a block with
// time blockTime (unix seconds) was made, or nil.
func attribution(r store.Reader, addrID uint64, blockTime int64) (*string, error) {
	prefix := store.Key("H/", addrID)
	limit := store.Key("H/", addrID, (blockTime+1)*int64(time.Second))
	var found *store.BindingRecord
	it, err := r.NewIter(nil)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if it.SeekLT(limit) && hasPrefix(it.Key(), prefix) {
		var br store.BindingRecord
		if err := json.Unmarshal(it.Value(), &br); err != nil {
			return nil, err
		}
		found = &br
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	if found == nil || (found.UnboundAt != 0 && found.UnboundAt <= blockTime*int64(time.Second)) {
		return nil, nil
	}
	ref := found.Reference
	return &ref, nil
}

func hasPrefix(k, p []byte) bool { return len(k) >= len(p) && string(k[:len(p)]) == string(p) }

// BalanceKey is the balance row of (merchant, reference, currency, chain).
func BalanceKey(merchant, ref, currency string, id chain.ID) []byte {
	return store.Key("B/", merchant, store.Sep, ref, store.Sep, currency, store.Sep, string(id))
}

// addBalance adds (or, with sub, takes) v to a deposit's pending or available balance.
func addBalance(b *store.Batch, d *store.Deposit, v chain.Amount, sub, pending bool) error {
	k := BalanceKey(d.Merchant, d.Ref(), d.Currency, d.Chain)
	var bal store.Balance
	if err := store.GetJSON(b, k, &bal); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
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
	return b.PutJSON(k, bal)
}

func bumpStats(b *store.Batch, d *store.Deposit, delta int64, at time.Time) error {
	k := store.Key("RS/", d.Merchant, store.Sep, d.Ref())
	var s store.RefStats
	if err := store.GetJSON(b, k, &s); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.Deposits += delta
	if delta > 0 {
		s.LastDepositAt = at
	}
	return b.PutJSON(k, s)
}

// confirm moves pending deposits that reached the credit depth to confirmed.
func (l *Ledger) confirm(b *store.Batch, spec *assets.Chain, st *store.ChainState) error {
	if st.Tip+1 < spec.Policy.CreditDepth {
		return nil
	}
	maxN := st.Tip + 1 - spec.Policy.CreditDepth
	if st.PendingFrom > maxN {
		return nil // nothing pending at or below maxN (0 means unknown: scan)
	}
	defer func() { st.PendingFrom = maxN + 1 }()
	return l.eachIndexed(b, "DP/", spec.ID, st.PendingFrom, maxN, func(d *store.Deposit, k []byte) error {
		if err := b.Delete(k, nil); err != nil {
			return err
		}
		if d.Status != store.StatusPending {
			return nil
		}
		return l.transition(b, st, d, store.StatusConfirmed)
	})
}

// eachIndexed visits the deposits of an index prefix with block number ≤ maxN.
func (l *Ledger) eachIndexed(b *store.Batch, prefix string, id chain.ID, from, maxN uint64, fn func(d *store.Deposit, key []byte) error) error {
	p := store.Key(prefix, string(id), store.Sep)
	type item struct {
		k  []byte
		id string
	}
	var items []item
	it, err := b.NewIter(&pebble.IterOptions{LowerBound: store.Key(p, from), UpperBound: store.Key(p, maxN+1)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) >= len(p)+8 {
			items = append(items, item{append([]byte(nil), k...), string(k[len(p)+8:])})
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, it := range items {
		var d store.Deposit
		if err := store.GetJSON(b, depositKey(it.id), &d); err != nil {
			return fmt.Errorf("indexed deposit %s: %w", it.id, err)
		}
		if err := fn(&d, it.k); err != nil {
			return err
		}
	}
	return nil
}

func (l *Ledger) finalized(b *store.Batch, spec *assets.Chain, st *store.ChainState, r *events.Record) error {
	if r.Number <= st.Finalized && st.Finalized != 0 {
		return nil // a duplicate, or finality never moves back
	}
	var cb store.CanonBlock
	err := store.GetJSON(b, canonKey(r.Chain, r.Number), &cb)
	switch {
	case err == nil && cb.Hash != r.Hash:
		return halt("finalized block #%d %s is not the ledger's block %s", r.Number, r.Hash.Hex(), cb.Hash.Hex())
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	n := min(r.Number, st.Tip)
	if st.OpenFrom > n {
		st.Finalized = n
		return nil // nothing open at or below n (0 means unknown: scan)
	}
	err = l.eachIndexed(b, "DO/", spec.ID, st.OpenFrom, n, func(d *store.Deposit, k []byte) error {
		if err := b.Delete(k, nil); err != nil {
			return err
		}
		switch d.Status {
		case store.StatusPending:
			if err := b.Delete(pendingKey(d.Chain, d.BlockNumber, d.ID), nil); err != nil {
				return err
			}
			if err := l.transition(b, st, d, store.StatusConfirmed); err != nil {
				return err
			}
		case store.StatusConfirmed:
		default:
			return nil
		}
		if err := addBalance(b, d, d.Amount, true, true); err != nil {
			return err
		}
		if err := addBalance(b, d, d.Amount, false, false); err != nil {
			return err
		}
		return l.transition(b, st, d, store.StatusCompleted)
	})
	if err != nil {
		return err
	}
	st.Finalized, st.OpenFrom = n, n+1
	return nil
}

func (l *Ledger) disconnected(b *store.Batch, spec *assets.Chain, st *store.ChainState, r *events.Record, rest []Input) error {
	var cb store.CanonBlock
	err := store.GetJSON(b, canonKey(r.Chain, r.Number), &cb)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && cb.Hash != r.Hash):
		return nil // already disconnected: a duplicate
	case err != nil:
		return err
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
	if depth := from - deepest + 1; depth > spec.Policy.MaxReorgDepth {
		return halt("reorg of depth %d (from #%d to #%d) exceeds the maximum of %d", depth, from, deepest, spec.Policy.MaxReorgDepth)
	}
	if st.Finalized != 0 && deepest <= st.Finalized {
		return halt("reorg reaches #%d, at or below the finalized block #%d", deepest, st.Finalized)
	}
	p := store.Key("DB/", string(r.Chain), store.Sep, r.Number, r.Hash[:])
	var ids []string
	err = store.Scan(b, p, false, func(k, _ []byte) (bool, error) {
		ids = append(ids, string(k[len(p):]))
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		var d store.Deposit
		if err := store.GetJSON(b, depositKey(id), &d); err != nil {
			return err
		}
		switch d.Status {
		case store.StatusPending, store.StatusConfirmed:
		case store.StatusOrphaned:
			continue
		default:
			return halt("block #%d holds %s deposit %s", r.Number, d.Status, d.ID)
		}
		for _, k := range [][]byte{pendingKey(d.Chain, d.BlockNumber, d.ID), openKey(d.Chain, d.BlockNumber, d.ID)} {
			if err := b.Delete(k, nil); err != nil {
				return err
			}
		}
		if err := addBalance(b, &d, d.Amount, true, true); err != nil {
			return err
		}
		if err := bumpStats(b, &d, -1, time.Time{}); err != nil {
			return err
		}
		if err := l.transition(b, st, &d, store.StatusOrphaned); err != nil {
			return err
		}
		l.m.orphaned.Inc()
	}
	if err := b.Delete(canonKey(r.Chain, r.Number), nil); err != nil {
		return err
	}
	st.Tip, st.TipHash, st.ReorgFrom = r.Number-1, cb.Parent, from
	l.m.disconnects.Inc()
	return nil
}

// transition sets a deposit's status, stores it, and writes its event.
func (l *Ledger) transition(b *store.Batch, st *store.ChainState, d *store.Deposit, status string) error {
	now := l.now().UTC()
	d.Status = status
	switch status {
	case store.StatusConfirmed:
		d.ConfirmedAt = &now
	case store.StatusCompleted:
		d.CompletedAt = &now
	case store.StatusOrphaned:
		d.OrphanedAt = &now
	}
	if err := b.PutJSON(depositKey(d.ID), d); err != nil {
		return err
	}
	ev := events.DepositEvent{
		ID: EventID(d.ID, status), Type: "deposit." + status, CreatedAt: events.APITime{Time: now},
		MerchantID: d.Merchant, Data: View(d, st.Tip),
	}
	return Emit(b, ev)
}

// EventID is the stable id of a deposit's status change.
func EventID(depositID, status string) string {
	h := sha256.Sum256([]byte(depositID + "\x00" + status))
	return "evt_" + hex.EncodeToString(h[:12])
}

// Emit stores an event for replay and queues it in the outbox.
func Emit(b *store.Batch, ev events.DepositEvent) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if err := b.Set(store.Key("E/", ev.ID), body, nil); err != nil {
		return err
	}
	return Outbox(b, store.OutboxRow{Kind: store.OutboxEvent, Key: []byte(ev.Data.DepositID), Value: body})
}

// Outbox queues a row for the relay.
func Outbox(b *store.Batch, row store.OutboxRow) error {
	seq, err := b.Next("outbox")
	if err != nil {
		return err
	}
	return b.Set(store.Key("O/", seq), row.Encode(), nil)
}

// View is the public deposit object.
func View(d *store.Deposit, tip uint64) events.Deposit {
	var conf uint64
	if d.Status != store.StatusOrphaned && tip >= d.BlockNumber {
		conf = tip - d.BlockNumber + 1
	}
	addr := chain.MustAddress(d.Family, d.Address)
	return events.Deposit{
		DepositID: d.ID, DepositReference: d.Reference, Amount: d.Amount.Decimal(d.Decimals),
		Currency: d.Currency, ChainID: string(d.Chain), Address: addr.Checksummed(),
		TxHash: chain.FormatHash(d.Family, d.TxHash), BlockNumber: d.BlockNumber, Status: d.Status,
		Confirmations: conf, DetectedAt: events.APITime{Time: d.DetectedAt},
		ConfirmedAt: events.TimePtr(d.ConfirmedAt), CompletedAt: events.TimePtr(d.CompletedAt),
		OrphanedAt: events.TimePtr(d.OrphanedAt), Replaces: d.Replaces,
	}
}
