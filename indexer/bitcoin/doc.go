// Package bitcoin is the indexer's Bitcoin chain: a client of bitcoind
// (Core 25 or later) or btcd over JSON-RPC, which plugs into indexer/follow
// as HeadReader, BlockFetcher and HeaderFetcher. Bitcoin has no finality
// signal; the follower's FinalityDepth stands in for one.
//
// # Deposits
//
// A deposit is one output, (txid, vout), paying a watched script: the
// matcher keys on the output script, so every address type (P2PKH, P2SH,
// P2WPKH, P2WSH, P2TR) is matched alike, and several outputs of one
// transaction are several deposits. Transfer.Index is the vout.
// OP_RETURN outputs are left out: nothing can be paid to them. A coinbase
// output carries chain.CoinbaseMaturity (100): the ledger credits it only
// once its block is that deep.
//
// # Raw blocks
//
// Blocks are fetched raw (`getblock <hash> 0`) and decoded with btcd's
// wire; hashes are kept in the byte order the RPC writes them. A verbose
// getblock (verbosity 2) costs the node about twenty times more; it is the
// fallback for a node or proxy that refuses raw blocks (Options.Verbose
// forces it). Verbose blocks are read from scriptPubKey.hex, with the
// address the node writes (address, or addresses[] with or without reqSigs)
// checked against the script.
package bitcoin
