package descriptor

import (
	"testing"

	"github.com/inflowhq/inflow/pkg/chain"
)

// FuzzParse: any descriptor text a merchant imports is an error or a
// descriptor, never a panic, and a descriptor that parses derives
// addresses of its family, the same ones each time.
func FuzzParse(f *testing.F) {
	key := "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ"
	for _, s := range []string{"wpkh(" + key + "/0/*)", "tr(" + key + "/0/*)", "sh(wpkh(" + key + "/0/*))", "pkh([d34db33f/44'/0'/0']" + key + "/1/*)",
		key, key + "/0/*", "wpkh(" + key + "/0/*)#abcdefgh", "wsh(" + key + ")"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, evm bool) {
		fam := chain.FamilyBitcoin
		if evm {
			fam = chain.FamilyEVM
		}
		d, err := Parse(s, fam)
		if err != nil {
			return
		}
		a, err := d.Addresses(0, 2)
		if err != nil {
			return // a hardened or invalid child
		}
		b, err := d.Addresses(0, 2)
		if err != nil || len(a) != 2 || len(b) != 2 {
			t.Fatalf("%q: %d then %d addresses, %v", s, len(a), len(b), err)
		}
		for i := range a {
			if a[i].Family() != fam || !a[i].Equal(b[i]) {
				t.Fatalf("%q: address %d is %v then %v", s, i, a[i], b[i])
			}
		}
	})
}
