// Package store is ledgerd's Pebble layout: every key ledgerd writes, the
// records behind them, and the single-writer discipline around them.
//
// # Single writer
//
// ledgerd is the only writer of the money state. All writes go through
// DB.Write or DB.WriteAsync, which hold one lock, so batches are prepared
// one at a time and committed synced, one at a time, in the order they were
// prepared. Write commits an indexed batch, which reads its own writes, and
// returns once it is durable. The ledger writes through WriteAsync instead:
// its batch is not indexed (the ledger keeps the state it reads on every
// deposit in memory, see the ledger package), and it is committed in the
// background while the ledger prepares the next one. A Kafka fetch applied
// by the ledger is one such batch, holding the deposit rows, status
// changes, balances, outbox rows and the consumed offsets together: a crash
// leaves either all of it or none of it.
//
// # The commit pipeline
//
// At most one batch is committing in the background. WriteAsync returns
// once the batch before its own is durable, and every Write first waits
// for the last batch, so:
//
//   - what survives a crash is every batch up to some point, in order
//     (Pebble's log is one sequence, and each sync covers what came before):
//     never a batch without the ones before it;
//   - a batch of Write, and the registry's reads inside it, see every batch
//     before it;
//   - a batch of WriteAsync may be prepared while the one before it is not
//     yet in the DB: its writer must not read back what that batch wrote
//     without Batch.WaitCommitted. Counters (Batch.Next) carry on from the
//     last batch regardless: the DB keeps them as each batch left them.
//
// A commit that fails stays the last one, and every later write fails with
// its error: what is on disk is then unknown, and ledgerd stops. A batch is
// visible to readers a moment before it is durable (Pebble's order for
// every synced commit); the outbox relay, which acts on what it reads where
// nothing can be taken back, calls WaitDurable between reading and
// publishing.
//
// The records written on every deposit (deposits, block statuses, accounts)
// are in a versioned binary form (codec.go); the JSON deposits earlier
// versions wrote are still read. The pool keys (A/, I/, H/) each commit
// writes are logged, so that the ledger can drop what it cached of them.
//
// # Key layout
//
// Separators are 0x00; numbers are big-endian so keys sort numerically, and
// times (unix nanoseconds) have their sign bit flipped so that they sort as
// signed. Deposit references and merchant ids never contain 0x00 (validated
// at the edge). Every key is built by a typed constructor in keys.go
// (MerchantKey, DepositKey, CooldownKey…), and read back by its reader
// (CooldownOf, DueOf…); the table below is Families, which TestKeyTable
// holds in step with this comment, and no package outside store spells a
// prefix (TestNoKeyLiterals).
//
//	M/<merchant>                                              merchant
//	K/<sha256(api key)>                                       api key → merchant
//	MK/<merchant>0<key id>                                    a merchant's API keys: id, prefix, created, hash (listing and revoking)
//	A/<family><address bytes>                                 pool address (owner, status, binding)
//	I/<address id>                                            address id → A key
//	PM/<merchant>0<address id>                                a merchant's pool addresses, in import order
//	V/<merchant>0<family><seq>                                available addresses, first available first → address id
//	VP/<merchant>0<family>                                    the available addresses' queue: the last seq given, the last taken
//	C/<merchant>0<family><until><id>                          addresses cooling down until <until>
//	AC/<length><family><address bytes><claimant>              an import refused: the address is in another merchant's pool
//	R/<merchant>0<reference>                                  deposit reference (metadata, active bindings)
//	RG/<merchant>0<length><trigram><reference>                the references holding a trigram (three lower-case characters), for search
//	RN/<merchant>0<reference>                                 a merchant's references by name alone, for paging past them
//	PS/<merchant>0<session id>                                payment session: options, addresses, payments, timeline
//	PI/<session id>                                           session id → merchant (the checkout page's lookup)
//	PO/<session id>                                           sessions still followed: not released yet
//	CH/<merchant>0<customer>0<family>                         a customer's channel address of a protocol (the Channel API)
//	H/<address id><bound at>                                  binding history of an address
//	D/<deposit id>                                            deposit, as detected (see BlockTag)
//	BS/<block tag>                                            status of a block's deposits, and when they took each
//	DM/<merchant>0<detected at><first id>                     the deposits one batch detected, in id order
//	DB/<chain>0<number><block hash><first id>                 the deposits a block made when connected
//	DT/<chain>0<tx hash><index>                               orphaned deposit of a transfer not mined again (replaces)
//	DP/<chain>0<number><deposit id>                           pending deposits (earlier versions; removed on open)
//	DO/<chain>0<number><deposit id>                           open deposits (earlier versions; removed on open)
//	RB/<merchant>0<reference>                                 account: deposits, last deposit time, and a balance and deposits by status per currency and chain
//	MT/<merchant>                                             a merchant's accounts added up: its balances and deposits by status per currency and chain
//	LO/<merchant>0<detected at><block tag>                    a merchant's open (pending or confirmed) deposits of one block
//	LX/<merchant>0<detected at><block tag>                    a merchant's orphaned deposits of one block
//	LR/<merchant>0<reference>0<detected at><first id>         a reference's deposits one batch detected (built from LQ/)
//	LA/<merchant>0<chain>0<currency>0<detected at><first id>  an asset's deposits one batch detected (built from LQ/)
//	LQ/<seq>                                                  detection rows (DM/) not yet indexed in LR/ and LA/
//	B/<merchant>0<reference>0<currency>0<chain>               balance (earlier versions; moved into accounts)
//	RS/<merchant>0<reference>                                 reference totals (earlier versions; moved into accounts)
//	S/<chain>                                                 chain state: tip, finalized, halt
//	CB/<chain>0<number>                                       canonical blocks the ledger applied: hash, parent
//	O/<seq>                                                   outbox: address records, and deposit events (up to 1000 a row)
//	OF/<topic>0<partition>                                    next offset to consume
//	IK/<merchant>0<key>                                       idempotency key → stored response
//	IX/<created at><merchant>0<key>                           idempotency keys by age, for their expiry
//	W/<merchant>0<endpoint id>                                webhook endpoint
//	E/<event id>                                              event (for replay)
//	WD/<delivery id>                                          webhook delivery state
//	WL/<endpoint id>0<created><delivery>                      delivery log per endpoint
//	WQ/<due at><delivery id>                                  deliveries waiting, by due time
//	Q/<name>                                                  counters
//	N/<merchant>0<what>                                       per-merchant counts that bound its resources
//
// # Invariants kept here
//
//   - An account's balance equals the sum of its deposits by status:
//     pending holds pending and confirmed deposits, available holds
//     completed ones, and an orphaned deposit is in neither. Its deposit
//     count is its deposits that are not orphaned. Every status change
//     writes the block's status row (or, for a deposit from before block
//     tags, the deposit) and the account in the same batch. Earlier versions
//     kept balances (B/) and totals (RS/) in rows of their own; the ledger
//     moves them into accounts when it opens the store.
//   - An account's counts by status are its deposits in each status, per
//     currency and chain, and a merchant's totals row (MT/) is its accounts
//     added up: both change in the batch of each deposit and status change,
//     so a listing's total is one row.
//   - The listing of open deposits (LO/) holds exactly the pending and
//     confirmed ones, a row per merchant and block, and that of orphaned
//     deposits (LX/) exactly the orphaned ones; both change in the batch of
//     the status change.
//   - Every detection row (DM/) is, in any snapshot, either named by a
//     queue row (LQ/) or indexed in the reference and asset listings (LR/,
//     LA/): the listing indexer swaps one for the other in one batch.
//   - A deposit id is derived from (chain, tx hash, index, block hash): the
//     same transfer in the same block is the same deposit, so re-applying a
//     record is a no-op.
package store
