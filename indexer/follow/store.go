package follow

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/inflowhq/inflow/pkg/chain"
)

// Pebble layout, per chain (the DB may hold several chains and the matcher):
//
//	"fW" chain 0x00 number(8, big-endian) → hash(32) parent(32) time(8)
//	"fF" chain                            → last published Finalized number(8)
func (f *Follower) windowPrefix() []byte {
	return append(append([]byte("fW"), f.cfg.Chain...), 0)
}

func (f *Follower) windowKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64(f.windowPrefix(), n)
}

func (f *Follower) finalKey() []byte { return append([]byte("fF"), f.cfg.Chain...) }

func encodeRef(r chain.BlockRef) []byte {
	v := make([]byte, 0, 72)
	v = append(v, r.Hash[:]...)
	v = append(v, r.Parent[:]...)
	return binary.BigEndian.AppendUint64(v, uint64(r.Time))
}

// load reads the window and the finalized mark.
func (f *Follower) load() error {
	p := f.windowPrefix()
	end := append(append([]byte(nil), p[:len(p)-1]...), 1)
	it, err := f.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: end})
	if err != nil {
		return err
	}
	defer it.Close()
	var window []chain.BlockRef
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != len(p)+8 || len(v) != 72 {
			return fmt.Errorf("follow %s: corrupt window entry %x", f.cfg.Chain, k)
		}
		var r chain.BlockRef
		r.Number = binary.BigEndian.Uint64(k[len(p):])
		copy(r.Hash[:], v[:32])
		copy(r.Parent[:], v[32:64])
		r.Time = int64(binary.BigEndian.Uint64(v[64:]))
		window = append(window, r)
	}
	if err := it.Error(); err != nil {
		return err
	}
	f.setWindow(window)
	f.needReconcile = true
	v, closer, err := f.db.Get(f.finalKey())
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return err
	default:
		f.finalized = binary.BigEndian.Uint64(v)
		closer.Close()
	}
	return nil
}
