package matcher

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// blockWords is the number of 64-bit words in one filter block: one cache line.
const blockWords = 8

// filter is a cache-line-blocked Bloom filter over 64-bit key hashes. Add and
// mayContain are safe for concurrent use: bits are set with atomic OR and read
// with atomic loads.
type filter struct {
	words  []uint64
	blocks uint64
	cap    uint64 // keys it was sized for
	free   func() // releases words once no lookup can hold them
}

// newFilter sizes a filter for capacity keys at bitsPerKey bits each.
func newFilter(capacity uint64, bitsPerKey float64) *filter {
	if capacity < 1024 {
		capacity = 1024
	}
	nbits := uint64(math.Ceil(float64(capacity) * bitsPerKey))
	blocks := (nbits + 511) / 512
	words, free := allocWords(int(blocks * blockWords))
	return &filter{words: words, blocks: blocks, cap: capacity, free: free}
}

// sizeBytes is the filter's memory.
func (f *filter) sizeBytes() int { return len(f.words) * 8 }

// locate maps a hash to its block and the seed of its 8 bit positions. The
// block index comes from the high 32 bits (multiply-shift, no modulo); the
// positions from the low 32 bits, spread by one multiplication into a 64-bit
// word whose top 48 bits give 8 positions of 6 bits. Block and positions
// must not share bits, or keys of one block would share bit patterns and the
// false-positive rate would climb with the number of blocks.
func (f *filter) locate(h uint64) (base, pos uint64) {
	hi, _ := bits.Mul64(h&^0xffffffff, f.blocks)
	return hi * blockWords, (h & 0xffffffff) * 0x9e3779b97f4a7c15
}

func (f *filter) add(h uint64) {
	base, pos := f.locate(h)
	w := (*[blockWords]uint64)(f.words[base : base+blockWords])
	for i := range blockWords {
		atomic.OrUint64(&w[i], 1<<((pos>>(16+6*i))&63))
	}
}

// addPrivate is add for a filter no other goroutine can see yet: plain ORs,
// which are several times cheaper than atomic ones, so a rebuild of 10M
// addresses is bound by reading Pebble.
func (f *filter) addPrivate(h uint64) {
	base, pos := f.locate(h)
	w := (*[blockWords]uint64)(f.words[base : base+blockWords])
	for i := range blockWords {
		w[i] |= 1 << ((pos >> (16 + 6*i)) & 63)
	}
}

// mayContain tests the key's 8 bits without a branch per word: a stranger's
// early miss is as unpredictable as a coin, and a mispredicted branch costs
// more than reading the rest of the cache line.
func (f *filter) mayContain(h uint64) bool {
	base, pos := f.locate(h)
	return f.mayContainAt(base, pos)
}

// mayContainAt is mayContain for a block already located. It is unrolled by
// hand (the compiler does not unroll loops), with each word's shift taken
// from a running shift rather than recomputed: this is the matcher's hottest
// code, and the unrolled form is about twice as fast in cache.
func (f *filter) mayContainAt(base, pos uint64) bool {
	w := (*[blockWords]uint64)(f.words[base : base+blockWords])
	s := pos >> 16
	all := atomic.LoadUint64(&w[0]) >> (s & 63)
	s >>= 6
	all &= atomic.LoadUint64(&w[1]) >> (s & 63)
	s >>= 6
	all &= atomic.LoadUint64(&w[2]) >> (s & 63)
	s >>= 6
	all &= atomic.LoadUint64(&w[3]) >> (s & 63)
	s >>= 6
	all &= atomic.LoadUint64(&w[4]) >> (s & 63)
	s >>= 6
	all &= atomic.LoadUint64(&w[5]) >> (s & 63)
	s >>= 6
	all &= atomic.LoadUint64(&w[6]) >> (s & 63)
	s >>= 6
	all &= atomic.LoadUint64(&w[7]) >> (s & 63)
	return all&1 != 0
}
