package follow

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
)

// RescanConfig is one rescan of a block range: an operator's backfill for
// addresses added after the blocks were published (an exchange moving its
// existing addresses onto Inflow).
type RescanConfig struct {
	Chain  chain.ID
	Family chain.Family
	// From and To bound the range, both included. To must not be above
	// the follower's checkpoint when the rescan starts: a block after it
	// is the follower's, which matches the addresses by then.
	From, To uint64
	// Keep, if not nil, keeps only transfers whose matcher address id it
	// holds; nil keeps every watched address's.
	Keep func(addressID uint64) bool
	// Fetchers is the number of parallel block fetches (default 16).
	Fetchers int
	// MaxBatch caps the records of one Kafka transaction (default 256),
	// and MaxDelay how long a found transfer waits for its batch (1s).
	MaxBatch int
	MaxDelay time.Duration
	// Progress is called after each published batch and at the end with
	// the next block to scan and the counts so far; a rescan resumed from
	// next publishes nothing twice that the ledger would credit twice.
	Progress func(p RescanProgress)
}

// RescanProgress is how far a rescan got.
type RescanProgress struct {
	// Next is the first block not yet scanned and published.
	Next uint64
	// Blocks scanned, blocks with transfers found (each a BlockRescanned
	// record), transfers found, and blocks skipped because the follower's
	// window holds another block at that height (a reorg in progress: the
	// follower publishes the new block, with these addresses matched).
	Blocks, Records, Transfers, Superseded uint64
}

// Rescan scans the range through src, keeps the transfers to watched
// addresses that cfg.Keep keeps, and publishes a BlockRescanned record for
// each block with any, in block order, through pub. db is the follower's
// (its window says which block it published at a height). The ledger
// credits what it did not credit before (see events.TypeBlockRescanned).
func Rescan(ctx context.Context, cfg RescanConfig, src BlockFetcher, m Matcher, pub Publisher, db *pebble.DB) (RescanProgress, error) {
	p := RescanProgress{Next: cfg.From}
	if cfg.To < cfg.From {
		return p, fmt.Errorf("rescan %s: to %d is below from %d", cfg.Chain, cfg.To, cfg.From)
	}
	if cfg.Fetchers <= 0 {
		cfg.Fetchers = 16
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = time.Second
	}
	f := &Follower{cfg: Config{Chain: cfg.Chain, Family: cfg.Family}, match: m, db: db, metrics: discardMetrics()}
	var batch []*events.Record
	var found uint64
	oldest := time.Time{}
	flush := func(next uint64) error {
		if len(batch) > 0 {
			if err := pub.Publish(ctx, batch); err != nil {
				return fmt.Errorf("rescan %s: publish %d records: %w", cfg.Chain, len(batch), err)
			}
			p.Records += uint64(len(batch))
			p.Transfers += found
		}
		batch, found, oldest = batch[:0], 0, time.Time{}
		p.Next = next
		if cfg.Progress != nil {
			cfg.Progress(p)
		}
		return nil
	}
	lastReport := time.Now()
	if rf, ok := src.(RecipientFetcher); ok {
		// A block none of whose recipients is watched (and kept) is not
		// extracted: most blocks of a rescan are such.
		src = recipientsOnly{rf, func(addrs [][]byte) bool {
			ids := make([]uint64, len(addrs))
			m.MatchBatch(cfg.Family, addrs, ids)
			for _, id := range ids {
				if id != 0 && (cfg.Keep == nil || cfg.Keep(id)) {
					return true
				}
			}
			return false
		}}
	}
	err := FetchInOrder(ctx, retrying{src}, cfg.From, cfg.To, cfg.Fetchers, f.filter, func(n uint64, b *chain.Block, err error) error {
		if err != nil {
			if ferr := flush(n); ferr != nil {
				return ferr
			}
			return fmt.Errorf("rescan %s: block %d: %w", cfg.Chain, n, err)
		}
		p.Blocks++
		if b != nil && len(b.Transfers) > 0 {
			if cfg.Keep != nil {
				kept := b.Transfers[:0]
				for _, t := range b.Transfers {
					if cfg.Keep(t.AddressID) {
						kept = append(kept, t)
					}
				}
				b.Transfers = kept
			}
			if len(b.Transfers) > 0 {
				superseded, err := f.superseded(b.Ref)
				if err != nil {
					return err
				}
				if superseded {
					p.Superseded++
				} else {
					batch = append(batch, &events.Record{Type: events.TypeBlockRescanned, Chain: cfg.Chain, Family: cfg.Family,
						Number: b.Ref.Number, Hash: b.Ref.Hash, Parent: b.Ref.Parent, Time: b.Ref.Time, Transfers: b.Transfers})
					found += uint64(len(b.Transfers))
					if oldest.IsZero() {
						oldest = time.Now()
					}
				}
			}
		}
		if n == cfg.To {
			return flush(n + 1)
		}
		if len(batch) >= cfg.MaxBatch || (!oldest.IsZero() && time.Since(oldest) >= cfg.MaxDelay) || time.Since(lastReport) >= time.Second {
			lastReport = time.Now()
			return flush(n + 1)
		}
		return nil
	})
	return p, err
}

// recipientsOnly fetches blocks for the recipients want wants.
type recipientsOnly struct {
	src  RecipientFetcher
	want func(addrs [][]byte) bool
}

func (r recipientsOnly) FetchBlock(ctx context.Context, n uint64) (*chain.Block, error) {
	return r.src.FetchBlockFor(ctx, n, r.want)
}

// retrying retries a failed fetch a few times (a node's hiccup) before a
// rescan gives up on the block.
type retrying struct{ BlockFetcher }

func (r retrying) FetchBlock(ctx context.Context, n uint64) (*chain.Block, error) {
	for attempt := 0; ; attempt++ {
		b, err := r.BlockFetcher.FetchBlock(ctx, n)
		if err == nil || errors.Is(err, ErrSkipped) || ctx.Err() != nil || attempt == 4 {
			return b, err
		}
		if !sleep(ctx, time.Duration(attempt+1)*200*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
}

// superseded reports whether the follower's window holds another block at
// ref's height: a reorg is replacing the one the rescan read, or replaced
// it, and the follower publishes (or published) the block it keeps.
func (f *Follower) superseded(ref chain.BlockRef) (bool, error) {
	v, closer, err := f.db.Get(f.windowKey(ref.Number))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	if len(v) != 72 {
		return false, fmt.Errorf("follow %s: corrupt window entry at %d", f.cfg.Chain, ref.Number)
	}
	return chain.Hash(v[:32]) != ref.Hash, nil
}

// PublishedTip reads the newest block the follower of id published (its
// checkpoint) from db: what a rescan may reach.
func PublishedTip(db *pebble.DB, id chain.ID) (chain.BlockRef, bool, error) {
	f := &Follower{cfg: Config{Chain: id}}
	p := f.windowPrefix()
	end := append(append([]byte(nil), p[:len(p)-1]...), 1)
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: end})
	if err != nil {
		return chain.BlockRef{}, false, err
	}
	defer it.Close()
	if !it.Last() {
		return chain.BlockRef{}, false, it.Error()
	}
	k, v := it.Key(), it.Value()
	if len(k) != len(p)+8 || len(v) != 72 {
		return chain.BlockRef{}, false, fmt.Errorf("follow %s: corrupt window entry %x", id, k)
	}
	r := chain.BlockRef{Number: binary.BigEndian.Uint64(k[len(p):]), Hash: chain.Hash(v[:32]), Parent: chain.Hash(v[32:64]), Time: int64(binary.BigEndian.Uint64(v[64:]))}
	return r, true, nil
}

// discardMetrics are metrics registered nowhere.
func discardMetrics() *metrics {
	m, _ := newMetrics(nil, "")
	return m
}
