// Package events is the record schema of the chain topics,
// inflow.chain.<chain>, and its binary codec.
//
// The indexer writes one record per chain event, in chain order, to the single
// partition of its chain's topic; ledgerd reads them. Four kinds exist:
//
//   - BlockConnected{chain, number, hash, parent, time, transfers[]}: a block
//     joined the canonical chain. Every block is published, even one with no
//     matched transfer, because confirmations are counted from headers.
//     Transfers holds only the matched transfers.
//   - BlockDisconnected{chain, number, hash}: a reorganisation removed the
//     block. A reorg of depth N publishes N of these, newest first, before the
//     BlockConnected records of the new branch.
//   - Finalized{chain, number, hash}: the chain's own finality signal reached
//     this block (on Bitcoin, a depth stands in for it).
//   - BlockRescanned{chain, number, hash, parent, time, transfers[]}: an
//     operator's rescan found these transfers, to addresses added after the
//     block was connected, in a block already connected. It is written
//     after that block's BlockConnected, by the rescan's own producer, and
//     does not move the chain: the ledger credits the transfers it has not
//     credited, if the block is still its canonical one at that height (or
//     lies at or below its finalized block), and drops the record otherwise.
//
// # Identity
//
// ID is a pure function of (type, chain, number, hash), and for
// BlockRescanned of its transfers' (tx, index, recipient) too. An indexer that
// restarts re-publishes from its checkpoint, so a consumer may see a record
// twice; both copies carry the same ID and the same bytes, and consumers dedup
// on it. The ID is also the Kafka record key.
//
// # Wire format, versions 1 and 2
//
// All integers are unsigned varints (uvarint) unless a width is given; "bytes"
// is a uvarint length followed by that many bytes.
//
//	record      = version:u8(=1) type:u8 family:u8 chain:bytes number:uvarint hash:[32]u8 body
//	body(Connected)    = parent:[32]u8 time:varint(signed) count:uvarint transfer*count
//	body(Rescanned)    = body(Connected)
//	body(Disconnected) = (empty)
//	body(Finalized)    = (empty)
//	transfer    = tx:bytes index:uvarint kind:u8 token:bytes from:bytes to:bytes
//	              value:bytes(big-endian, minimal) address_id:uvarint
//	              [maturity:uvarint asset:bytes token_account:bytes]   (version 2 only)
//
// Version 2 adds to each transfer its maturity, the confirmations it needs
// before it can be spent (a Bitcoin coinbase output's 100); its asset id,
// for a token without an address (a Tron TRC10 asset); and its token
// account, where a Solana SPL deposit landed (its owner is To). A writer
// uses version 2 only for a record with such a transfer, so every other
// record is the version 1 bytes it always was.
//
// Addresses are their family's canonical bytes (the family is the record's);
// an empty address is the zero Address. Decoders reject unknown versions and
// types, truncated input and trailing bytes, so a corrupt record is an error,
// never a silent zero. A new version adds a new version byte; readers keep
// decoding every older one.
package events
