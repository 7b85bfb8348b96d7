// Package kv opens Pebble databases the way every Inflow daemon does: the
// same options, and Pebble's own log routed to the injected slog logger.
// Each owner of data in a DB uses its own key prefix; this package owns none.
package kv

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

const (
	memTableSize = 32 << 20
	cacheSize    = 256 << 20
)

// Option adds to the options every database is opened with.
type Option func(*pebble.Options)

// SeparateValues keeps values of at least minSize bytes in blob files, apart
// from their keys, so that a compaction moves a key and a reference instead
// of rewriting the value. It suits large values that are written once:
// ledgerd's outbox rows (up to 1000 events each) and its block and merchant
// index rows, which otherwise made every compaction rewrite them (in the
// ledger bench, compactions then took half of the ledger's time at blocks
// of 1000 deposits). A blob file is rewritten once a fifth of it is values
// since deleted. It upgrades the database's format to
// FormatValueSeparation, which earlier Pebble versions cannot open.
func SeparateValues(minSize int) Option {
	return func(o *pebble.Options) {
		o.FormatMajorVersion = pebble.FormatValueSeparation
		o.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
			return pebble.ValueSeparationPolicy{Enabled: true, MinimumSize: minSize, MaxBlobReferenceDepth: 10,
				RewriteMinimumAge: 5 * time.Minute, TargetGarbageRatio: 0.2}
		}
	}
}

// WriteHeavy lets level 0 hold 8 overlapping layers of tables before it is
// compacted into the level below (Pebble's default is 4), and 24 before
// writes stop (12). A database whose batches each touch keys all over its
// key space (ledgerd's: deposits, accounts, indexes and outbox in one
// batch) flushes tables that overlap each other, and each compaction of
// level 0 rewrites what lies below their whole range: compacting twice as
// many tables at once rewrites that part half as often. Reads check up to 8
// tables' bloom filters in level 0 instead of 4.
func WriteHeavy() Option {
	return func(o *pebble.Options) {
		o.L0CompactionThreshold = 8
		o.L0StopWritesThreshold = 24
	}
}

// Open opens (creating if needed) the Pebble DB at dir. fs may be nil for the
// real filesystem; tests pass vfs.NewMem or a crash-cloning FS.
func Open(dir string, fs vfs.FS, log *slog.Logger, with ...Option) (*pebble.DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := &pebble.Options{
		Logger:       pebbleLogger{log.With("component", "pebble")},
		MemTableSize: memTableSize,
		// Point reads for keys that do not exist (a new deposit id, a new
		// address) are common: a bloom filter per table answers them
		// without reading blocks, and the cache keeps those filters and the
		// index blocks in memory. Pebble reserves every live memtable's size
		// out of the block cache, so the cache must be well above
		// memtables × MemTableStopWritesThreshold or it holds no block at
		// all and each read decompresses its filter blocks again.
		CacheSize:                   cacheSize,
		MemTableStopWritesThreshold: 4,
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	if fs != nil {
		opts.FS = fs
	}
	for _, o := range with {
		o(opts)
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open pebble at %s: %w", dir, err)
	}
	return db, nil
}

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Log(context.Background(), slog.LevelDebug, fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
