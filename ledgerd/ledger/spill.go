package ledger

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/inflowhq/inflow/ledgerd/store"
)

// The memory bound of the open set. Every pending or confirmed deposit is
// kept in memory (chainState.open) so that confirmations, finality and
// reorgs cost no read; a chain whose finality records stop (a node without
// a finalized tag, say) would grow that set without end. Past
// Options.MaxOpenDeposits, a chain's oldest open blocks leave memory: only
// blocks whose deposits are all confirmed (below PendingFrom) and deeper
// than the chain's maximum reorg, which nothing but finality, or a reorg
// the operator accepted past the maximum, reaches again. Their deposits
// stay in Pebble as they are, and the block index finds them: finality
// completes them block by block (completeSpilled), and such a reorg loads
// its blocks back first (unspill). The bound then holds up to the blocks
// within the reorg window and the pending ones, which cannot leave.

// spill moves a chain's oldest eligible open blocks out of memory until
// its open set is three quarters of the bound. It reports whether the
// bound could not be kept (the remaining deposits are pending or within
// the reorg window).
func (s *state) spill(c *chainState) (exceeded bool) {
	if s.maxOpen <= 0 || c.nOpen <= max(s.maxOpen, c.spillAt) {
		return false
	}
	st := c.st
	limit := st.PendingFrom
	if st.Tip > c.maxReorg+1 {
		limit = min(limit, st.Tip-c.maxReorg-1)
	} else {
		limit = 0
	}
	target := s.maxOpen * 3 / 4
	for _, n := range slices.Sorted(maps.Keys(c.open)) {
		if c.nOpen <= target || n >= limit {
			break
		}
		if slices.ContainsFunc(c.open[n], func(d *store.Deposit) bool { return d.Status != store.StatusConfirmed }) {
			continue
		}
		c.setOpen(n, nil)
		c.spilled = max(c.spilled, n)
	}
	// Try again once the set grew by a quarter of the bound, not on every
	// record, when what is left cannot leave.
	c.spillAt = c.nOpen + s.maxOpen/4
	return c.nOpen > s.maxOpen
}

// blockOpen reads the open (confirmed, or pending without a maturity)
// deposits of the block index rows from block from to block to, and calls
// fn per block number, in order, with those not in memory already.
func (tx *applyTx) blockOpen(c *chainState, from, to uint64, fn func(n uint64, ds []*store.Deposit) error) error {
	if err := tx.committed(); err != nil {
		return err
	}
	p := store.BlockIndexPrefix(c.id)
	it, err := tx.db.NewIter(&pebble.IterOptions{LowerBound: store.BlockIndexFrom(c.id, from), UpperBound: store.BlockIndexFrom(c.id, to+1)})
	if err != nil {
		return err
	}
	defer it.Close()
	dr := &store.DepositReader{R: tx.db}
	var cur uint64
	var ds []*store.Deposit
	flush := func() error {
		if len(ds) == 0 {
			return nil
		}
		err := fn(cur, ds)
		ds = nil
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) <= len(p)+store.BlockIndexFixed {
			continue
		}
		n := binary.BigEndian.Uint64(k[len(p):])
		if n != cur {
			if err := flush(); err != nil {
				return err
			}
			cur = n
		}
		ids, err := store.IndexIDs(k, it.Value(), len(p)+store.BlockIndexFixed)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if slices.ContainsFunc(c.open[n], func(d *store.Deposit) bool { return d.ID == id }) {
				continue
			}
			d, err := dr.Get(id)
			if err != nil {
				return fmt.Errorf("indexed deposit %s: %w", id, err)
			}
			if d.Status == store.StatusConfirmed || (d.Status == store.StatusPending && d.Maturity == 0) {
				ds = append(ds, d)
			}
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	return flush()
}

// completeSpilled completes the open deposits of the blocks from OpenFrom
// to upTo, those that left memory with those in it, block by block in
// block and id order, as finalized does without the bound: the database
// is the same either way. mem are the blocks in memory from OpenFrom on
// (openUpTo); it returns those it did not reach.
func (l *Ledger) completeSpilled(tx *applyTx, c *chainState, mem []uint64, upTo uint64) ([]uint64, error) {
	err := tx.blockOpen(c, c.st.OpenFrom, upTo, func(n uint64, ds []*store.Deposit) error {
		for ; len(mem) > 0 && mem[0] < n; mem = mem[1:] {
			if err := l.completeBlock(tx, c, mem[0], c.open[mem[0]]); err != nil {
				return err
			}
		}
		if len(mem) > 0 && mem[0] == n {
			mem = mem[1:]
		}
		return l.completeBlock(tx, c, n, slices.SortedFunc(slices.Values(slices.Concat(ds, c.open[n])), byID))
	})
	if err != nil {
		return nil, err
	}
	if upTo >= c.spilled {
		c.spilled = 0
	}
	return mem, nil
}

// completeBlock completes a block's open deposits, in the order given.
func (l *Ledger) completeBlock(tx *applyTx, c *chainState, n uint64, ds []*store.Deposit) error {
	for _, d := range ds {
		if err := l.complete(tx, c, d); err != nil {
			return err
		}
	}
	c.setOpen(n, nil)
	return nil
}

// unspill loads a block's open deposits that left memory back into it.
func (tx *applyTx) unspill(c *chainState, n uint64) error {
	return tx.blockOpen(c, n, n, func(_ uint64, ds []*store.Deposit) error {
		c.setOpen(n, slices.SortedFunc(slices.Values(slices.Concat(c.open[n], ds)), byID))
		return nil
	})
}
