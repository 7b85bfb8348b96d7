// Package follow turns a chain node into the ordered record stream of
// inflow.chain.<chain>. It is chain-agnostic: a chain plugs in through small
// interfaces (HeadReader, BlockFetcher, and the optional HeaderFetcher,
// HeadSubscriber and FinalitySource), and the same follower serves EVM,
// Tron, Solana and Bitcoin.
//
// # The window
//
// The follower keeps, in Pebble, the headers (number, hash, parent, time) of
// the most recent blocks it has published: the window. Its newest entry is the
// checkpoint. Both change only after Kafka has acknowledged the records that
// justify the change, in one synced batch, so:
//
//   - a crash before the acknowledgement leaves the old checkpoint, and the
//     restart publishes the same blocks again, with the same record ids;
//   - a crash after it, but before the batch, does the same;
//   - there is never a gap: a block is in the window only if its record is
//     in Kafka.
//
// # Reorganisations
//
// A block extends the canonical chain when its parent hash equals the hash of
// the window's newest block (numbers may skip: Solana has empty slots, so the
// parent, not number-1, is the link). When it does not, the follower walks the
// window down from the newest entry, asking the node for its canonical block
// at each number, until the hashes agree: that is the common ancestor. It then
// publishes BlockDisconnected for every window block above the ancestor,
// newest first, drops them from the window, and continues from the ancestor,
// so the new branch follows as BlockConnected records. A reorg that reaches
// below the window, or deeper than MaxReorgDepth, halts the chain with
// ErrReorgTooDeep and publishes nothing: an operator decides.
//
// A reorg can also shorten the chain or replace the tip at the same height.
// While waiting for new heads the follower therefore re-checks its tip against
// the node.
//
// # Finality
//
// With a FinalitySource (EVM's finalized tag, Solana's finalized commitment,
// Tron's solidified block) the follower publishes Finalized for the newest
// published block the source covers, once the hashes agree. Without one
// (Bitcoin) a depth stands in: tip − FinalityDepth.
package follow
