package registry

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"

	"github.com/inflowhq/inflow/ledgerd/store"
)

// A merchant's references are counted (N/<merchant>0references) and
// indexed by trigram (RG/) when each is made, so that listing them costs a
// page and searching them costs the shortest list of references that hold
// one of the search's trigrams, not every reference.

const refCount = "references"

// Trigrams returns the distinct trigrams (three characters, lower-cased)
// of s, in order of appearance.
func Trigrams(s string) []string {
	r := []rune(strings.ToLower(s))
	seen := map[string]bool{}
	var out []string
	for i := 0; i+3 <= len(r); i++ {
		t := string(r[i : i+3])
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// indexReference counts a new reference and indexes its name and
// trigrams, in b.
func indexReference(b *store.Batch, merchant, ref string) error {
	if err := b.Set(store.RefNameKey(merchant, ref), nil, nil); err != nil {
		return err
	}
	for _, t := range Trigrams(ref) {
		if err := b.Set(store.RefTrigramKey(merchant, t, ref), nil, nil); err != nil {
			return err
		}
	}
	k := store.MerchantCountKey(merchant, refCount)
	n, err := ReferenceCount(b, merchant)
	if err != nil {
		return err
	}
	return b.Set(k, binary.BigEndian.AppendUint64(nil, uint64(n+1)), nil)
}

// ReferenceCount is how many references a merchant has.
func ReferenceCount(rd store.Reader, merchant string) (int64, error) {
	v, err := store.GetRaw(rd, store.MerchantCountKey(merchant, refCount))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, errors.New("registry: a reference count that is not 8 bytes")
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// referenceIndexMark is set once every reference is counted and indexed.
const referenceIndexMark = "references-v2"

// indexReferences counts and indexes the references of a store written
// before they were, once.
func (r *Registry) indexReferences() error {
	if ok, err := store.Has(r.db, store.CounterKey(referenceIndexMark)); err != nil || ok {
		return err
	}
	counts := map[string]uint64{}
	type ref struct{ merchant, ref string }
	var refs []ref
	err := store.Scan(r.db, store.ReferenceAll(), false, func(_, v []byte) (bool, error) {
		var x store.Reference
		if err := json.Unmarshal(v, &x); err != nil {
			return false, err
		}
		counts[x.Merchant]++
		refs = append(refs, ref{x.Merchant, x.Reference})
		return true, nil
	})
	if err != nil {
		return err
	}
	for i := 0; i < len(refs); i += 10_000 {
		err := r.db.Write(func(b *store.Batch) error {
			for _, x := range refs[i:min(i+10_000, len(refs))] {
				if err := b.Set(store.RefNameKey(x.merchant, x.ref), nil, nil); err != nil {
					return err
				}
				for _, t := range Trigrams(x.ref) {
					if err := b.Set(store.RefTrigramKey(x.merchant, t, x.ref), nil, nil); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return r.db.Write(func(b *store.Batch) error {
		for m, n := range counts {
			if err := b.Set(store.MerchantCountKey(m, refCount), binary.BigEndian.AppendUint64(nil, n), nil); err != nil {
				return err
			}
		}
		_, err := b.Next(referenceIndexMark)
		return err
	})
}
