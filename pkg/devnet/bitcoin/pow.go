package bitcoin

import (
	"math/big"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// compactToBig expands a header's compact target (nBits).
func compactToBig(c uint32) *big.Int {
	mant := int64(c & 0x007fffff)
	exp := uint(c >> 24)
	n := big.NewInt(mant)
	if exp <= 3 {
		n.Rsh(n, 8*(3-exp))
	} else {
		n.Lsh(n, 8*(exp-3))
	}
	if c&0x00800000 != 0 {
		n.Neg(n)
	}
	return n
}

// hashToBig reads a block hash as the number the target bounds.
func hashToBig(h *chainhash.Hash) *big.Int {
	var b [32]byte
	for i := range h {
		b[i] = h[len(h)-1-i]
	}
	return new(big.Int).SetBytes(b[:])
}
