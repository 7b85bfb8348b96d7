package kv

import (
	"encoding/binary"

	"github.com/cockroachdb/pebble/v2"
)

// Consumed Kafka offsets, kept in the same batch as what their records
// changed, so that a crash never applies a record twice or skips one: the
// ledger's chain topics and the webhook dispatcher's deposits topic in
// ledgerd (prefix OF/), the matcher's address topic in the indexer (mO).
// Each owner passes its prefix; the layout after it is shared:
//
//	<prefix><topic>0x00<partition:u32> → next offset to consume:u64

// OffsetKey is where the next offset of a partition is stored under prefix.
func OffsetKey(prefix []byte, topic string, partition int32) []byte {
	k := append(append(append(make([]byte, 0, len(prefix)+len(topic)+5), prefix...), topic...), 0)
	return binary.BigEndian.AppendUint32(k, uint32(partition))
}

// OffsetValue encodes a next offset.
func OffsetValue(next int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(next)) }

// Iterable is what reads offsets: a DB, a batch or a snapshot.
type Iterable interface {
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

// Offsets reads the stored next offsets of topics under prefix: topic →
// partition → next offset. A topic with none stored is missing.
func Offsets(r Iterable, prefix []byte, topics ...string) (map[string]map[int32]int64, error) {
	out := map[string]map[int32]int64{}
	for _, t := range topics {
		lo := append(append(append([]byte(nil), prefix...), t...), 0)
		it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: append(lo[:len(lo)-1:len(lo)-1], 1)})
		if err != nil {
			return nil, err
		}
		for it.First(); it.Valid(); it.Next() {
			k, v := it.Key(), it.Value()
			if len(k) != len(lo)+4 || len(v) != 8 {
				continue
			}
			if out[t] == nil {
				out[t] = map[int32]int64{}
			}
			out[t][int32(binary.BigEndian.Uint32(k[len(lo):]))] = int64(binary.BigEndian.Uint64(v))
		}
		if err := it.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
