// Package matcher owns the set of watched addresses and answers, for every
// recipient of every transfer the indexers see, "is this ours, and which
// address id is it?".
//
// # Structure
//
// The exact set lives in Pebble: key = prefix + family byte + canonical
// address bytes, value = the internal address id. In front of it sits an
// in-memory filter, a cache-line-blocked Bloom filter: each key sets 8 bits,
// one in each 64-bit word of one 512-bit block, so a lookup touches a single
// cache line. Nearly every transfer goes to a stranger, and a stranger costs
// one hash and one cache-line read, with no disk access.
//
// # The hot path
//
// A stranger must cost as little as the memory system allows. Match hashes
// the key (a pair of 128-bit multiplications for keys up to 32 bytes), picks
// the block from the hash's high half and the 8 bit positions from its low
// half (sharing bits between the two correlates keys of one block and lifts
// the false-positive rate as the filter grows), and tests the 8 bits without
// a branch per word. Nothing on that path writes shared memory.
//
// At exchange scale the filter does not fit in cache, and a lookup is one
// memory miss. One lookup is too long for the CPU to overlap its miss with
// the next one's, so MatchBatch, which the indexer uses for a block's
// recipients, hashes a chunk of keys, touches each key's cache line with
// independent loads so the misses overlap, and then tests the lines.
//
// # Invariants
//
//   - No false match ever leaves the matcher: every filter positive is
//     confirmed against the exact set before Match reports it.
//   - No false miss: an address is added to the filter before its Pebble
//     batch commits, so from the moment a change is applied the filter covers
//     it. Removals delete from the exact set only; a stale filter bit costs a
//     Pebble read, never a wrong answer.
//   - The filter is sized for the set at a chosen number of bits per
//     address (16 by default, about 0.09% false positives). When the set
//     passes 1.1 times what the filter was sized for, a filter sized for the
//     new set is built from a Pebble snapshot in the background; changes
//     applied meanwhile are replayed into it, and it is swapped in
//     atomically. Memory stays between 14.5 and 16 bits per address, false
//     positives between 0.09% and 0.15%; lookups never wait.
//   - A filter positive is confirmed with a Pebble iterator that reads the
//     bottom level's bloom filters (a point Get skips them), so a stranger
//     that passes the filter rarely costs a data block.
//   - A restart after a clean Close reads the filter from a snapshot file
//     (Options.Snapshot) instead of the whole set: 200 MB at 100M
//     addresses. The file is used only if it carries the marker Close
//     stored in Pebble, and Open removes the marker before the set can
//     change, so a crash, or an older file put back, leads to a rebuild
//     from Pebble, never to a filter that lacks an address. Changes after
//     Close are refused.
//   - The consumer of inflow.addresses writes the changes of a fetch and the
//     next offsets of their partitions in one synced Pebble batch, so a crash
//     never applies a change twice nor skips one, and a restart resumes at
//     the stored offsets.
package matcher
