// Package chstore is deposit history in ClickHouse: the schema and its
// migrations, the sink that writes inflow.deposits (and the chain topics'
// blocks) into it, and the analytics.Store that answers merchants from it.
//
// # Tables
//
//   - deposits: each deposit's latest state, for the export. A
//     ReplacingMergeTree keyed by (merchant, deposit id) and versioned by the
//     status rank (pending 1, confirmed 2, completed 3, orphaned 4), which
//     only grows along a deposit's life; it is read with FINAL.
//   - deposit_states: what the analytics read. Each status event inserts a
//     +1 row for the state the deposit enters and, unless it is the first, a
//     -1 row for the state it leaves, derived from the event itself (the
//     previous status follows from the new one and the timestamps it
//     carries). A sum over sign is therefore the set of current states, with
//     no FINAL: counts are sum(sign) and amounts sum(sign × limb). A
//     CollapsingMergeTree keyed by (merchant, status, day, deposit id): the
//     +1 and -1 rows of one state are identical but for the sign (and the
//     offset they came from), so merges drop the pairs and the table shrinks
//     towards one row per deposit. The status leads the key, so a question
//     about one status reads only its rows.
//   - deposit_events: one row per event id (ReplacingMergeTree, FINAL).
//   - blocks: one row per (chain, number, hash); the version is the chain
//     topic offset, so a disconnection supersedes its connection.
//
// # Exactly once into deposit_states
//
// A sum over sign counts every row, so deposit_states must receive each
// event exactly once; the other tables collapse repeats under FINAL and take
// them at least once. Three things make it exact:
//
//   - The table has no partition key, so one insert is one block is one part:
//     it is in whole or not at all.
//   - Each row carries the Kafka partition and offset of its event. The event
//     with the highest offset in a partition keeps its +1 row (only a later
//     event of the same deposit could cancel it), so max(src_offset)+1 is
//     exactly where the table stands in that partition. The sink resumes from
//     there, after waiting out any insert still running on the server, and
//     does the same before it retries a failed insert.
//   - The ledger's outbox publishes at least once: after a crash between
//     Kafka's acknowledgement and the row's delete it publishes the same
//     event again, within one relay batch (1,000 records) of the first copy.
//     The sink remembers the event ids of the last 10,000 records of each
//     partition, reading them again from Kafka when it starts, and skips a
//     repeated id.
//
// Only one sink may write a database.
//
// The partition key of the other tables is a function of columns that never
// change for one identity (detection day, event day, block number), because
// ReplacingMergeTree only collapses rows within a partition. Insert
// deduplication tokens would save the merge work, but ClickHouse 18.16
// (Debian's) has them for replicated tables only.
//
// # Exact amounts
//
// Amounts are never floats. A deposit keeps its decimal string, its base
// units at a scale (the asset's decimals), and those units split into eight
// 32-bit limbs: sum() of a limb times the sign is an Int64 that cannot
// overflow below 2^31 rows, and the limb sums are joined exactly in Go.
package chstore

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DB is a connection to the history database.
type DB struct {
	conn     driver.Conn
	database string
	log      *slog.Logger
}

// Open connects to the ClickHouse DSN (clickhouse://host:9000/db), creates the
// database if needed and applies the migrations.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("chstore: dsn: %w", err)
	}
	database := opts.Auth.Database
	if database == "" {
		database = "default"
	}
	if !validName(database) {
		return nil, fmt.Errorf("chstore: database name %q: letters, digits and _ only", database)
	}
	// Create the database over a connection to the server's default one.
	opts.Auth.Database = ""
	boot, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("chstore: connect: %w", err)
	}
	err = boot.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+database)
	boot.Close()
	if err != nil {
		return nil, fmt.Errorf("chstore: create database %s: %w", database, err)
	}
	opts.Auth.Database = database
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = 60 * time.Second
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("chstore: connect: %w", err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("chstore: ping: %w", err)
	}
	db := &DB{conn: conn, database: database, log: log}
	if err := db.migrate(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return db, nil
}

func validName(s string) bool {
	for _, c := range s {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return s != ""
}

// Close closes the connection.
func (db *DB) Close() error { return db.conn.Close() }

// Conn is the underlying connection, for tests and the benchmark.
func (db *DB) Conn() driver.Conn { return db.conn }

// migrations are applied in order, once each; a migration is never edited
// after it has shipped, only followed by another.
var migrations = []string{
	1: `CREATE TABLE IF NOT EXISTS deposits (
		merchant_id String,
		deposit_id String,
		version UInt8,
		status Enum8('pending' = 1, 'confirmed' = 2, 'completed' = 3, 'orphaned' = 4),
		has_reference UInt8,
		reference String,
		chain_id String,
		currency String,
		amount String,
		scale UInt8,
		l0 UInt32, l1 UInt32, l2 UInt32, l3 UInt32, l4 UInt32, l5 UInt32, l6 UInt32, l7 UInt32,
		address String,
		tx_hash String,
		block_number UInt64,
		detected_ms Int64,
		confirmed_ms Int64,
		completed_ms Int64,
		orphaned_ms Int64,
		replaces String,
		day Date
	) ENGINE = ReplacingMergeTree(version)
	PARTITION BY toYYYYMM(day)
	ORDER BY (merchant_id, deposit_id)`,
	2: `CREATE TABLE IF NOT EXISTS deposit_events (
		merchant_id String,
		event_id String,
		type String,
		deposit_id String,
		status Enum8('pending' = 1, 'confirmed' = 2, 'completed' = 3, 'orphaned' = 4),
		created_ms Int64,
		day Date
	) ENGINE = ReplacingMergeTree()
	PARTITION BY toYYYYMM(day)
	ORDER BY (merchant_id, event_id)`,
	3: `CREATE TABLE IF NOT EXISTS blocks (
		chain_id String,
		number UInt64,
		hash String,
		parent String,
		time_s Int64,
		connected UInt8,
		version UInt64
	) ENGINE = ReplacingMergeTree(version)
	PARTITION BY intDiv(number, 10000000)
	ORDER BY (chain_id, number, hash)`,
	4: `CREATE TABLE IF NOT EXISTS sink_offsets (
		topic String,
		partition Int32,
		next_offset Int64
	) ENGINE = ReplacingMergeTree(next_offset)
	ORDER BY (topic, partition)`,
	// An existing history fills this table by the sink replaying
	// inflow.deposits from its start (the topic keeps everything).
	5: `CREATE TABLE IF NOT EXISTS deposit_states (
		merchant_id String,
		day Date,
		deposit_id String,
		status Enum8('pending' = 1, 'confirmed' = 2, 'completed' = 3, 'orphaned' = 4),
		sign Int8,
		has_reference UInt8,
		reference String,
		chain_id String,
		currency String,
		scale UInt8,
		l0 UInt32, l1 UInt32, l2 UInt32, l3 UInt32, l4 UInt32, l5 UInt32, l6 UInt32, l7 UInt32,
		detected_ms Int64,
		confirmed_ms Int64,
		completed_ms Int64,
		src_partition Int32,
		src_offset Int64
	) ENGINE = CollapsingMergeTree(sign)
	ORDER BY (merchant_id, status, day, deposit_id)`,
}

func (db *DB) migrate(ctx context.Context) error {
	if err := db.conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, applied_at DateTime)
		ENGINE = ReplacingMergeTree() ORDER BY version`); err != nil {
		return fmt.Errorf("chstore: migrations table: %w", err)
	}
	var have uint32
	if err := db.conn.QueryRow(ctx, "SELECT max(version) FROM schema_migrations").Scan(&have); err != nil {
		return fmt.Errorf("chstore: read schema version: %w", err)
	}
	for v := int(have) + 1; v < len(migrations); v++ {
		if err := db.conn.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("chstore: migration %d: %w", v, err)
		}
		if err := db.recordMigration(ctx, v); err != nil {
			return fmt.Errorf("chstore: record migration %d: %w", v, err)
		}
		db.log.Info("history schema migrated", "version", v)
	}
	return nil
}

// recordMigration inserts through a batch: an INSERT with VALUES through
// Exec does not complete against 18.16.
func (db *DB) recordMigration(ctx context.Context, v int) error {
	b, err := db.conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, applied_at)")
	if err != nil {
		return err
	}
	if err := b.Append(uint32(v), time.Now().UTC()); err != nil {
		b.Abort()
		return err
	}
	return b.Send()
}

// SchemaVersion is the newest migration applied.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v uint32
	err := db.conn.QueryRow(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v)
	return int(v), err
}

// statusRank is the deposits table's version: it only grows along a
// deposit's life.
var statusRank = map[string]uint8{"pending": 1, "confirmed": 2, "completed": 3, "orphaned": 4}

// limbs splits base units into eight 32-bit limbs, least significant first.
func limbs(v *big.Int) ([8]uint32, error) {
	var out [8]uint32
	if v.Sign() < 0 || v.BitLen() > 256 {
		return out, fmt.Errorf("chstore: amount %s outside 256 bits", v)
	}
	words := v.Bits()
	for i := 0; i < 8; i++ {
		var w uint64
		bit := i * 32
		if wi := bit / bitsPerWord; wi < len(words) {
			w = uint64(words[wi]) >> (bit % bitsPerWord)
		}
		out[i] = uint32(w)
	}
	return out, nil
}

const bitsPerWord = 32 << (^uint(0) >> 63)

// joinLimbs adds limb sums back into one integer.
func joinLimbs(sums [8]uint64) *big.Int {
	total := new(big.Int)
	for i := 7; i >= 0; i-- {
		total.Lsh(total, 32)
		total.Add(total, new(big.Int).SetUint64(sums[i]))
	}
	return total
}
