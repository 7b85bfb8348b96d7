// Package ledger is the state machine that turns the chain topics into
// deposits, statuses and balances. It is the only code that changes money
// state, and it does so only inside store.DB.Write batches.
//
// # Applying records
//
// BlockConnected must extend the ledger's tip for its chain (by parent hash),
// or repeat a block already applied (a duplicate after an indexer restart,
// skipped). Each supported transfer in it becomes a pending deposit,
// attributed through the binding history of its address at the block's time;
// an address bound to no one then gives an unattributed deposit, never a
// dropped one. When the tip passes a deposit's block by the chain's credit
// depth the deposit is confirmed.
//
// Finalized completes every open deposit at or below its block: pending
// balance moves to available.
//
// A transfer with a maturity (a Bitcoin coinbase output: 100
// confirmations) is counted in the pending balance when its block is
// connected, but it is neither confirmed nor completed until its block is
// that deep, whatever the credit depth and finality say: until then its
// outputs cannot be spent. Such deposits have a block tag of their own (their
// status moves apart from the block's others) and sit in an immature set
// beside the open one; maturing confirms them, and completes them at once
// if their block is already final. OpenFrom stays at or below the lowest
// immature block, so a restart loads them.
//
// BlockDisconnected must remove the ledger's tip. Its deposits are orphaned
// and their pending balance is taken back. Completed deposits are never
// reversed: a disconnection at or below the finalized block, or a reorg
// deeper than the chain's maximum, halts the chain instead, raises an alert
// and changes nothing. The depth counts from the tip where the run of
// disconnections began, and looks ahead through the records of the same
// batch, so a too-deep reorg is refused before its first block is undone.
//
// A halted chain's records are held: the consumed offset of its partition
// does not move past the record that halted it, so nothing is skipped when an
// operator resumes the chain.
//
// # Identity and order
//
// A deposit id is derived from (chain, tx hash, transfer index, block hash):
// its first half names the block, its second the transfer, so that a block's
// deposits are written as one run of neighbouring keys.
// The same transfer re-mined in another block after a reorg is a new deposit
// whose Replaces names the orphaned one. So is a transfer whose block is
// connected again after it was orphaned: the id then also counts how many
// times the block came back. Statuses only move forward: pending,
// confirmed, completed, or pending/confirmed to orphaned. Each status change
// emits one event with a stable id (deposit id and status), written to the
// outbox in the same batch as the change.
//
// # What the listings read
//
// With the money state, each batch keeps what the deposit listings read
// (ledgerd/history): each account's deposits by status, per currency and
// chain, and each merchant's totals row (its accounts added up), from which
// a listing's exact total is one read; a row per merchant and block of its
// open deposits (LO/, deleted when the block completes or is orphaned) and
// of its orphaned ones (LX/); and a queue row (LQ/) naming the batch's
// detection rows, from which the listing indexer builds the reference and
// asset listings off this path. A row per deposit would cost the synced
// batch about a tenth of its bytes; these cost a few rows per batch.
//
// # State in memory
//
// What the ledger reads on every deposit is in memory (state.go), loaded
// from Pebble on first use: each chain's state, recent canonical blocks, open
// deposits by block and orphaned transfers, and caches of pool entries and
// of accounts (a reference's balances and totals, one row). A deposit then
// costs no read, and a batch writes each changed row once: a deposit when it
// is detected, a block's status when its deposits change status together,
// an account once however many of its deposits the batch holds. The memory
// state is dropped after a failed Apply, and a restart rebuilds it, so
// Pebble stays the one truth.
//
// # Batches in a pipeline
//
// ledgerd applies each fetch with Submit, which hands the batch to Pebble
// and returns while it commits (store.DB.WriteAsync); the next batch is
// prepared meanwhile, and is handed over only once the last one is
// durable. Apply is Submit and a wait. A batch prepared so may read the DB
// without the last batch in it, so the ledger never reads back a row the
// last batch may have written without waiting for it (applyTx.committed):
//
//   - chain states, open deposits and orphaned transfers are read once,
//     when a chain is first used, after the wait;
//   - a canonical block at or below the tip that is no longer in memory
//     is read after the wait; above the tip there is none to miss;
//   - an account missing from the cache (first use, or the cache was
//     emptied) is read after the wait;
//   - a block tag is free if neither this batch nor the last one wrote its
//     BS/ row and the DB holds none (the tags are kept for one batch);
//   - pool entries are read without waiting: only the registry writes them,
//     and its batches never commit in the background.
//
// TestScenarios runs every scenario on a twin that commits each batch only
// once the next is prepared and caches one row at a time, and requires the
// same database, row for row; TestSubmitCrash crashes while batches commit
// and requires a prefix that carries on to the same database.
package ledger
