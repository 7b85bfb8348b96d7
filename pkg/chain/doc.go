// Package chain holds Inflow's domain types: chain ids, protocol families,
// addresses as normalised bytes, amounts in base units, transfers and block
// references. Every other part of Inflow speaks in these types; no chain SDK is
// imported here.
//
// # Invariants
//
//   - An Address is the canonical byte form for its family: EVM 20 bytes,
//     Tron 21 bytes beginning with 0x41, Solana 32 bytes (the owner key),
//     Bitcoin the output script. Two addresses are equal exactly when their
//     family and bytes are equal, so Address.Key is usable as a map or Pebble key.
//   - Amounts are unsigned 256-bit integers in base units. No float ever holds
//     money.
//   - A Transfer is identified inside its block by (TxHash, Index). Index is the
//     block-wide log index for EVM tokens, the output index for Bitcoin, the
//     instruction position for Solana, and the internal position for Tron. A
//     native EVM transfer uses IndexNative, which no log can take.
//   - BlockRef numbers need not be contiguous (Solana skips slots); Parent is
//     what links a block to its predecessor, never Number-1.
package chain
