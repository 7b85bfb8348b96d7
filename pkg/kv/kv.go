// Package kv opens Pebble databases the way every Inflow daemon does: the
// same options, and Pebble's own log routed to the injected slog logger.
// Each owner of data in a DB uses its own key prefix; this package owns none.
package kv

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

const (
	memTableSize = 32 << 20
	cacheSize    = 256 << 20
)

// Open opens (creating if needed) the Pebble DB at dir. fs may be nil for the
// real filesystem; tests pass vfs.NewMem or a crash-cloning FS.
func Open(dir string, fs vfs.FS, log *slog.Logger) (*pebble.DB, error) {
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
