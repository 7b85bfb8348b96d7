package chstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/pkg/analytics"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
)

// SinkOptions configures a Sink.
type SinkOptions struct {
	Kafka kafka.Config
	// Assets gives each currency's decimals, the scale its amounts are
	// summed at; an unknown one is stored at its own fractional digits.
	Assets *assets.Config
	// Chains whose blocks are written to the blocks table.
	Chains []chain.ID
	// BatchRows is the most rows per insert (default 50,000); BatchWait is
	// how long records wait for a fuller batch (default 500 ms).
	BatchRows  int
	BatchWait  time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Sink writes inflow.deposits and the chain topics' blocks into ClickHouse.
type Sink struct {
	db   *DB
	opts SinkOptions

	rows    *prometheus.CounterVec
	batches prometheus.Counter
	lag     prometheus.Gauge
	caught  chan struct{}
	once    sync.Once // closes caught; Run may be called again after an error

	// Where each table stands in each inflow.deposits partition: records
	// below mainPos are in deposits and deposit_events, below statePos in
	// deposit_states.
	mainPos, statePos map[int32]int64
	seen              seenIDs
}

// NewSink returns a sink writing into db.
func NewSink(db *DB, opts SinkOptions) (*Sink, error) {
	if opts.BatchRows <= 0 {
		opts.BatchRows = 50_000
	}
	if opts.BatchWait <= 0 {
		opts.BatchWait = 500 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Assets == nil {
		opts.Assets = assets.Default()
	}
	s := &Sink{db: db, opts: opts, caught: make(chan struct{}),
		rows:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inflow_history_sink_rows_total", Help: "Rows inserted into ClickHouse, by table."}, []string{"table"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "inflow_history_sink_batches_total", Help: "Insert batches committed."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "inflow_history_sink_lag_records",
			Help: "Records of inflow.deposits not yet in ClickHouse: the topic's end less the sink's inserted position, over its partitions."}),
	}
	if r := opts.Registerer; r != nil {
		for _, c := range []prometheus.Collector{s.rows, s.batches, s.lag} {
			if err := r.Register(c); err != nil {
				return nil, fmt.Errorf("chstore: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

// CaughtUp is closed once the sink has written everything that was in the
// topics when it started.
func (s *Sink) CaughtUp() <-chan struct{} { return s.caught }

// Offsets returns the stored next offset of each topic partition.
func (db *DB) Offsets(ctx context.Context) (kafka.Offsets, error) {
	rows, err := db.conn.Query(ctx, "SELECT topic, partition, max(next_offset) FROM sink_offsets GROUP BY topic, partition")
	if err != nil {
		return nil, fmt.Errorf("chstore: read offsets: %w", err)
	}
	defer rows.Close()
	out := kafka.Offsets{}
	for rows.Next() {
		var t string
		var p int32
		var o int64
		if err := rows.Scan(&t, &p, &o); err != nil {
			return nil, err
		}
		if out[t] == nil {
			out[t] = map[int32]int64{}
		}
		out[t][p] = o
	}
	return out, rows.Err()
}

// batch is what one insert round writes.
type batch struct {
	deposits []depositRow
	states   []stateRow
	events   []eventRow
	blocks   []blockRow
	next     map[string]map[int32]int64
	records  int
}

// stateRow is one row of deposit_states: sign +1 for the state an event
// enters, -1 for the state it leaves.
type stateRow struct {
	dep       *depositRow
	status    string
	sign      int8
	confirmed int64
	completed int64
	partition int32
	offset    int64
}

type depositRow struct {
	merchant string
	ev       *events.DepositEvent
	units    [8]uint32
	scale    uint8
}

type eventRow struct {
	merchant, id, typ, deposit, status string
	created                            int64
}

type blockRow struct {
	chain        string
	number       uint64
	hash, parent string
	time         int64
	connected    uint8
	offset       uint64
}

func (b *batch) rows() int { return len(b.deposits) + len(b.states) + len(b.events) + len(b.blocks) }

// stateWindow is how many records of each inflow.deposits partition the sink
// remembers the event ids of: ten relay batches (see the package doc).
const stateWindow = 10_000

// seenIDs holds the event ids of the last stateWindow records of each
// partition, by the offset of their first copy.
type seenIDs struct {
	parts map[int32]*seenPart
}

type seenPart struct {
	ids   map[string]struct{}
	order []seenEntry // by offset
	head  int
}

type seenEntry struct {
	offset int64
	id     string
}

// add remembers id at offset and forgets what fell out of the window; it
// reports whether id was already there.
func (s *seenIDs) add(partition int32, offset int64, id string) bool {
	if s.parts == nil {
		s.parts = map[int32]*seenPart{}
	}
	p := s.parts[partition]
	if p == nil {
		p = &seenPart{ids: map[string]struct{}{}}
		s.parts[partition] = p
	}
	for p.head < len(p.order) && p.order[p.head].offset <= offset-stateWindow {
		delete(p.ids, p.order[p.head].id)
		p.order[p.head] = seenEntry{}
		p.head++
	}
	if p.head > len(p.order)/2 && p.head > 1024 {
		p.order = append(p.order[:0], p.order[p.head:]...)
		p.head = 0
	}
	if _, ok := p.ids[id]; ok {
		return true
	}
	p.ids[id] = struct{}{}
	p.order = append(p.order, seenEntry{offset, id})
	return false
}

// Run consumes until ctx ends or a record cannot be read; it may be called
// again, and resumes from where ClickHouse stands. A failed insert is retried
// with backoff; the offsets move only after the rows they cover are in.
func (s *Sink) Run(ctx context.Context) error {
	from, err := s.db.Offsets(ctx)
	if err != nil {
		return err
	}
	statePos, err := s.db.statePositions(ctx)
	if err != nil {
		return err
	}
	s.mainPos = maps.Clone(from[kafka.TopicDeposits])
	if s.mainPos == nil {
		s.mainPos = map[int32]int64{}
	}
	s.statePos, s.seen = statePos, seenIDs{}
	// Start early enough for both tables, and for the window of event ids
	// before deposit_states' position.
	start := maps.Clone(from)
	if start == nil {
		start = kafka.Offsets{}
	}
	dep := map[int32]int64{}
	done := map[int32]int64{} // what every table holds
	for _, known := range []map[int32]int64{s.mainPos, statePos} {
		for p := range known {
			dep[p] = min(s.mainPos[p], max(0, statePos[p]-stateWindow))
			done[p] = min(s.mainPos[p], statePos[p])
		}
	}
	start[kafka.TopicDeposits] = dep
	topics := []string{kafka.TopicDeposits}
	for _, id := range s.opts.Chains {
		topics = append(topics, id.Topic())
	}
	admin, err := kafka.NewAdmin(s.opts.Kafka)
	if err != nil {
		return err
	}
	// Caught up means inflow.deposits: the chain topics are transactional,
	// and their end offsets sit past commit markers no record reaches.
	ends, err := kafka.EndOffsets(ctx, admin, kafka.TopicDeposits)
	admin.Close()
	if err != nil {
		return fmt.Errorf("chstore: end offsets of %s: %w", kafka.TopicDeposits, err)
	}
	cl, err := kafka.NewConsumer(s.opts.Kafka, topics, start)
	if err != nil {
		return err
	}
	defer cl.Close()
	checkCaughtUp := func() {
		for p, end := range ends {
			if done[p] < end {
				return
			}
		}
		s.once.Do(func() { close(s.caught) })
	}
	checkCaughtUp()
	b := &batch{next: map[string]map[int32]int64{}}
	var first time.Time
	hwm := map[int32]int64{}
	for {
		pctx, cancel := context.WithTimeout(ctx, s.opts.BatchWait)
		fs := cl.PollRecords(pctx, s.opts.BatchRows-b.records)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) && !errors.Is(fe.Err, context.Canceled) {
				s.opts.Logger.Warn("history sink fetch", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
			}
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.Topic == kafka.TopicDeposits && p.HighWatermark > 0 {
				hwm[p.Partition] = p.HighWatermark
			}
		})
		lag := int64(0)
		for p, end := range hwm {
			lag += max(0, end-s.mainPos[p])
		}
		s.lag.Set(float64(lag))
		var perr error
		fs.EachRecord(func(r *kgo.Record) {
			if perr != nil {
				return
			}
			if b.records == 0 {
				first = time.Now()
			}
			if err := s.add(b, r); err != nil {
				perr = err
			}
			if r.Topic == kafka.TopicDeposits {
				done[r.Partition] = max(done[r.Partition], r.Offset+1)
			}
		})
		if perr != nil {
			return perr
		}
		if b.records > 0 && (b.records >= s.opts.BatchRows || time.Since(first) >= s.opts.BatchWait || fs.NumRecords() == 0) {
			if err := s.flush(ctx, b); err != nil {
				return err
			}
			maps.Copy(s.mainPos, b.next[kafka.TopicDeposits])
			b = &batch{next: map[string]map[int32]int64{}}
		}
		if b.records == 0 {
			checkCaughtUp()
		}
	}
}

func (s *Sink) add(b *batch, r *kgo.Record) error {
	b.records++
	if r.Topic == kafka.TopicDeposits {
		var ev events.DepositEvent
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			return fmt.Errorf("chstore: %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		if err := s.addEvent(b, &ev, r.Partition, r.Offset); err != nil {
			return fmt.Errorf("chstore: %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		return nil
	}
	if b.next[r.Topic] == nil {
		b.next[r.Topic] = map[int32]int64{}
	}
	b.next[r.Topic][r.Partition] = r.Offset + 1
	rec, err := events.Unmarshal(r.Value)
	if err != nil {
		return fmt.Errorf("chstore: %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	switch rec.Type {
	case events.TypeBlockConnected:
		b.blocks = append(b.blocks, blockRow{chain: string(rec.Chain), number: rec.Number, hash: rec.Hash.String(),
			parent: rec.Parent.String(), time: rec.Time, connected: 1, offset: uint64(r.Offset)})
	case events.TypeBlockDisconnected:
		b.blocks = append(b.blocks, blockRow{chain: string(rec.Chain), number: rec.Number, hash: rec.Hash.String(),
			connected: 0, offset: uint64(r.Offset)})
	}
	return nil
}

// addEvent adds the rows of the deposit event at (partition, offset) of
// inflow.deposits to a batch: the tables that do not hold it yet get it,
// and deposit_states only if it is not a repeat of an event in the window.
func (s *Sink) addEvent(b *batch, ev *events.DepositEvent, partition int32, offset int64) error {
	d := &ev.Data
	if _, ok := statusRank[d.Status]; !ok {
		return fmt.Errorf("status %q", d.Status)
	}
	if ev.ID == "" {
		return errors.New("event without an id")
	}
	repeat := s.seen.add(partition, offset, ev.ID)
	toMain := offset >= s.mainPos[partition]
	toStates := offset >= s.statePos[partition] && !repeat
	if toMain && b.next != nil { // WriteEvents' batches have no offsets
		if b.next[kafka.TopicDeposits] == nil {
			b.next[kafka.TopicDeposits] = map[int32]int64{}
		}
		b.next[kafka.TopicDeposits][partition] = offset + 1
	}
	if !toMain && !toStates {
		return nil
	}
	var scale uint8
	if a, err := s.opts.Assets.Currency(chain.ID(d.ChainID), d.Currency); err == nil {
		scale = a.Decimals
	}
	units, scale, ok := analytics.ParseUnits(d.Amount, scale)
	if !ok {
		return fmt.Errorf("amount %q", d.Amount)
	}
	l, err := limbs(units)
	if err != nil {
		return err
	}
	row := &depositRow{merchant: ev.MerchantID, ev: ev, units: l, scale: scale}
	if toMain {
		b.deposits = append(b.deposits, *row)
		b.events = append(b.events, eventRow{merchant: ev.MerchantID, id: ev.ID, typ: ev.Type, deposit: d.DepositID,
			status: d.Status, created: ev.CreatedAt.UnixMilli()})
	}
	if toStates {
		enter := stateRow{dep: row, status: d.Status, sign: 1, confirmed: ms(d.ConfirmedAt), completed: ms(d.CompletedAt),
			partition: partition, offset: offset}
		b.states = append(b.states, enter)
		// The state left: pending has none; completed follows confirmed
		// (the ledger confirms before it completes); orphaned follows
		// confirmed if the deposit was ever confirmed, else pending.
		leave := enter
		leave.sign = -1
		switch d.Status {
		case "confirmed":
			leave.status, leave.confirmed = "pending", 0
		case "completed":
			leave.status, leave.completed = "confirmed", 0
		case "orphaned":
			leave.status = "pending"
			if leave.confirmed != 0 {
				leave.status = "confirmed"
			}
		}
		if d.Status != "pending" {
			b.states = append(b.states, leave)
		}
	}
	return nil
}

// WriteEvents inserts deposit events as the sink does, outside of Kafka:
// for the history benchmark and for backfills, never while Run runs on the
// same Sink. Each call is one insert;
// deposit_states takes each event once, by its id, within the last 10,000
// events written this way.
func (s *Sink) WriteEvents(ctx context.Context, evs []*events.DepositEvent) error {
	const outside = -1 // the partition of events that came without Kafka
	if s.statePos == nil {
		pos, err := s.db.statePositions(ctx)
		if err != nil {
			return err
		}
		s.statePos = map[int32]int64{outside: pos[outside]}
	}
	b := &batch{}
	off := s.statePos[outside]
	for _, ev := range evs {
		if err := s.addEvent(b, ev, outside, off); err != nil {
			return fmt.Errorf("chstore: event %s: %w", ev.ID, err)
		}
		off++
	}
	if err := s.flush(ctx, b); err != nil {
		return err
	}
	s.statePos[outside] = off
	return nil
}

// flush inserts a batch, retrying until it is in or ctx ends, then stores
// the offsets it covers. Before a retry it learns from the server whether
// the deposit_states rows went in.
func (s *Sink) flush(ctx context.Context, b *batch) error {
	delay := 200 * time.Millisecond
	for {
		err := s.insert(ctx, b)
		if err == nil {
			s.batches.Inc()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.opts.Logger.Warn("history sink insert failed; retrying", "rows", b.rows(), "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
		if len(b.states) == 0 {
			continue
		}
		pos, err := s.db.statePositions(ctx)
		if err != nil {
			continue
		}
		// One insert is one part, so this keeps all of the rows or none.
		kept := b.states[:0]
		for _, r := range b.states {
			if r.offset >= pos[r.partition] {
				kept = append(kept, r)
			}
		}
		clear(b.states[len(kept):])
		b.states = kept
	}
}

// statePositions is where deposit_states stands in each source partition:
// one past the highest offset it holds a row of. It first waits out any
// insert still running on the server.
func (db *DB) statePositions(ctx context.Context) (map[int32]int64, error) {
	if err := db.waitInserts(ctx); err != nil {
		return nil, err
	}
	rows, err := db.conn.Query(ctx, "SELECT src_partition, max(src_offset) FROM deposit_states GROUP BY src_partition")
	if err != nil {
		return nil, fmt.Errorf("chstore: read deposit_states positions: %w", err)
	}
	defer rows.Close()
	out := map[int32]int64{}
	for rows.Next() {
		var p int32
		var o int64
		if err := rows.Scan(&p, &o); err != nil {
			return nil, err
		}
		out[p] = o + 1
	}
	return out, rows.Err()
}

// waitInserts waits until the server runs no insert into deposit_states: a
// client that died or timed out may leave one finishing on the server.
func (db *DB) waitInserts(ctx context.Context) error {
	for {
		var n uint64
		err := db.conn.QueryRow(ctx, "SELECT count() FROM system.processes WHERE query LIKE 'INSERT INTO deposit_states%'").Scan(&n)
		if err != nil {
			return fmt.Errorf("chstore: running inserts: %w", err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Sink) insert(ctx context.Context, b *batch) error {
	conn := s.db.conn
	if len(b.states) > 0 {
		// One block, so one part: all of it or none (see the package doc).
		ib, err := conn.PrepareBatch(ctx, `INSERT INTO deposit_states (merchant_id, day, deposit_id, status, sign, has_reference,
			reference, chain_id, currency, scale, l0, l1, l2, l3, l4, l5, l6, l7, detected_ms, confirmed_ms, completed_ms,
			src_partition, src_offset)`)
		if err != nil {
			return fmt.Errorf("prepare deposit_states: %w", err)
		}
		for _, r := range b.states {
			d := &r.dep.ev.Data
			hasRef, ref := reference(d)
			det := d.DetectedAt.UnixMilli()
			u := r.dep.units
			if err := ib.Append(r.dep.merchant, day(det), d.DepositID, r.status, r.sign, hasRef, ref, d.ChainID, d.Currency,
				r.dep.scale, u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], det, r.confirmed, r.completed,
				r.partition, r.offset); err != nil {
				ib.Abort()
				return fmt.Errorf("append deposit state: %w", err)
			}
		}
		if err := ib.Send(); err != nil {
			return fmt.Errorf("insert deposit_states: %w", err)
		}
		s.rows.WithLabelValues("deposit_states").Add(float64(len(b.states)))
		b.states = nil // in: a retry of the rest must not repeat them
	}
	if len(b.deposits) > 0 {
		ib, err := conn.PrepareBatch(ctx, `INSERT INTO deposits (merchant_id, deposit_id, version, status, has_reference, reference,
			chain_id, currency, amount, scale, l0, l1, l2, l3, l4, l5, l6, l7, address, tx_hash, block_number,
			detected_ms, confirmed_ms, completed_ms, orphaned_ms, replaces, day)`)
		if err != nil {
			return fmt.Errorf("prepare deposits: %w", err)
		}
		for _, r := range b.deposits {
			d := &r.ev.Data
			hasRef, ref := reference(d)
			det := d.DetectedAt.UnixMilli()
			u := r.units
			if err := ib.Append(r.merchant, d.DepositID, statusRank[d.Status], d.Status, hasRef, ref,
				d.ChainID, d.Currency, d.Amount, r.scale, u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7],
				d.Address, d.TxHash, d.BlockNumber, det, ms(d.ConfirmedAt), ms(d.CompletedAt), ms(d.OrphanedAt),
				d.Replaces, day(det)); err != nil {
				ib.Abort()
				return fmt.Errorf("append deposit: %w", err)
			}
		}
		if err := ib.Send(); err != nil {
			return fmt.Errorf("insert deposits: %w", err)
		}
		s.rows.WithLabelValues("deposits").Add(float64(len(b.deposits)))
	}
	if len(b.events) > 0 {
		ib, err := conn.PrepareBatch(ctx, "INSERT INTO deposit_events (merchant_id, event_id, type, deposit_id, status, created_ms, day)")
		if err != nil {
			return fmt.Errorf("prepare events: %w", err)
		}
		for _, e := range b.events {
			if err := ib.Append(e.merchant, e.id, e.typ, e.deposit, e.status, e.created, day(e.created)); err != nil {
				ib.Abort()
				return fmt.Errorf("append event: %w", err)
			}
		}
		if err := ib.Send(); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		s.rows.WithLabelValues("deposit_events").Add(float64(len(b.events)))
	}
	if len(b.blocks) > 0 {
		ib, err := conn.PrepareBatch(ctx, "INSERT INTO blocks (chain_id, number, hash, parent, time_s, connected, version)")
		if err != nil {
			return fmt.Errorf("prepare blocks: %w", err)
		}
		for _, r := range b.blocks {
			if err := ib.Append(r.chain, r.number, r.hash, r.parent, r.time, r.connected, r.offset); err != nil {
				ib.Abort()
				return fmt.Errorf("append block: %w", err)
			}
		}
		if err := ib.Send(); err != nil {
			return fmt.Errorf("insert blocks: %w", err)
		}
		s.rows.WithLabelValues("blocks").Add(float64(len(b.blocks)))
	}
	if len(b.next) == 0 {
		return nil
	}
	ib, err := conn.PrepareBatch(ctx, "INSERT INTO sink_offsets (topic, partition, next_offset)")
	if err != nil {
		return fmt.Errorf("prepare offsets: %w", err)
	}
	for t, ps := range b.next {
		for p, o := range ps {
			if err := ib.Append(t, p, o); err != nil {
				ib.Abort()
				return fmt.Errorf("append offset: %w", err)
			}
		}
	}
	if err := ib.Send(); err != nil {
		return fmt.Errorf("insert offsets: %w", err)
	}
	return nil
}

func reference(d *events.Deposit) (uint8, string) {
	if d.DepositReference == nil {
		return 0, ""
	}
	return 1, *d.DepositReference
}

func ms(t *events.APITime) int64 {
	if t == nil {
		return 0
	}
	return t.UnixMilli()
}

func day(ms int64) time.Time {
	t := time.UnixMilli(ms).UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
