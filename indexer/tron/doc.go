// Package tron is the indexer's Tron chain: a client of java-tron's gRPC
// API (the Wallet and WalletSolidity services, through gotron-sdk's
// client), which plugs into indexer/follow as HeadReader, BlockFetcher,
// HeaderFetcher and FinalitySource.
//
// # Blocks and finality
//
// A block is GetBlockByNum2 and its GetTransactionInfoByBlockNum: the
// infos hold the receipts, the logs and the internal transactions. Just
// after a block is made a node may not have every info yet; the block is
// then fetched again (both calls) until it does. Finality is the
// solidified block, the solidity node's GetNowBlock2 (a second endpoint
// where the provider splits them), which never rolls back.
//
// # Transfers
//
//   - TRX: a successful TransferContract (amount in sun), the call value of
//     a successful TriggerSmartContract, and internal transfers.
//   - TRC10: TransferAssetContract; the token is its asset id
//     (Transfer.Asset).
//   - TRC20: the Transfer logs (topic0 ddf252ad…, three topics, a 32-byte
//     amount) in the info of a successful transaction. A log's address is
//     the token's 20 bytes without the 0x41 prefix. Nothing is ever
//     credited from calldata.
//   - A failed transaction (a contract result of REVERT, OUT_OF_ENERGY and
//     the like, a FAILED ret or a FAILED info) stays in its block and
//     moves nothing.
//   - Internal transfers are in the info only on nodes that record them
//     (java-tron's vm.saveInternalTx); elsewhere they are not seen.
//
// Index is IndexNative for a transaction's own TRX or TRC10 transfer (a
// Tron transaction has one contract), the log's position in its info for
// TRC20, and IndexInternal+i<<4+j for the j-th value of its i-th internal
// transaction. Addresses are 21 bytes with the 0x41 prefix, as the matcher
// keys them.
package tron
