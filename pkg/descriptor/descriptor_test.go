package descriptor

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/inflowhq/inflow/pkg/chain"
)

// The master key of the mnemonic "abandon abandon … about", as BIP86 and
// SLIP-132 give it.
const abandonMaster = "xprv9s21ZrQH143K3GJpoapnV8SFfukcVBSfeCficPSGfubmSFDxo1kuHnLisriDvSnRRuL2Qrg5ggqHKNVpxR86QEC8w35uxmGoggxtQTPvfUu"

// TestBIP380Checksum: the vectors of BIP380 and two checksummed
// descriptors of Bitcoin Core's documentation and tests.
func TestBIP380Checksum(t *testing.T) {
	for body, sum := range map[string]string{
		"raw(deadbeef)": "89f8spxm",
		"addr(mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j)": "02wpgw69",
		"sh(multi(2,[00000000/111'/222]xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL,xpub68NZiKmJWnxxS6aaHmn81bvJeTESw724CRDs6HbuccFQN9Ku14VQrADWgqbhhTHBaohPX4CjNLf9fq9MYo6oDaPPLPxSb7gwQN3ih19Zm4Y/0))": "tjg09x5t",
	} {
		if got, err := Checksum(body); err != nil || got != sum {
			t.Errorf("%s: #%s %v, want #%s", body, got, err, sum)
		}
		if err := VerifyChecksum(body, sum); err != nil {
			t.Error(err)
		}
	}
	// BIP380's invalid examples.
	for _, s := range []string{"raw(deadbeef)#", "raw(deadbeef)#89f8spxmx", "raw(deadbeef)#89f8spx", "raw(deedbeef)#89f8spxm",
		"raw(deadbeef)#89f8spxn", "raw(deadbeef)##9f8spxm", "raw(Ü)#00000000"} {
		body, sum, _ := strings.Cut(s, "#")
		if VerifyChecksum(body, sum) == nil {
			t.Errorf("%s verified", s)
		}
	}
}

// TestBIP32Public: public child derivation on BIP32's test vectors (where
// the step is non-hardened) gives their next public key.
func TestBIP32Public(t *testing.T) {
	for _, v := range []struct {
		parent string
		i      uint32
		child  string
	}{
		// Vector 1: m/0H → m/0H/1
		{"xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw", 1,
			"xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ"},
		// Vector 2: m → m/0
		{"xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB", 0,
			"xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH"},
	} {
		k, err := ParseKey(v.parent)
		if err != nil {
			t.Fatal(err)
		}
		if k.String() != v.parent {
			t.Errorf("%s written back as %s", v.parent, k)
		}
		c, err := k.Derive(v.i)
		if err != nil {
			t.Fatal(err)
		}
		if c.String() != v.child {
			t.Errorf("child %d of %.16s…: %s, want %s", v.i, v.parent, c, v.child)
		}
	}
	k, _ := ParseKey("xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB")
	if _, err := k.Derive(Hardened); !errors.Is(err, ErrDerivation) {
		t.Errorf("hardened child of a public key: %v", err)
	}
}

// TestAccountVectors: BIP44, BIP49, BIP84 and BIP86 (SLIP-132's and BIP86's
// vectors of the abandon mnemonic), and EVM's m/44'/60'/0'/0/0.
func TestAccountVectors(t *testing.T) {
	for _, v := range []struct {
		desc string
		fam  chain.Family
		i    uint32
		want string
	}{
		{"pkh(xpub6BosfCnifzxcFwrSzQiqu2DBVTshkCXacvNsWGYJVVhhawA7d4R5WSWGFNbi8Aw6ZRc1brxMyWMzG3DSSSSoekkudhUd9yLb6qx39T9nMdj/0/*)", chain.FamilyBitcoin, 0, "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA"},
		{"sh(wpkh(ypub6Ww3ibxVfGzLrAH1PNcjyAWenMTbbAosGNB6VvmSEgytSER9azLDWCxoJwW7Ke7icmizBMXrzBx9979FfaHxHcrArf3zbeJJJUZPf663zsP/0/*))", chain.FamilyBitcoin, 0, "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf"},
		{"wpkh(zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs/0/*)", chain.FamilyBitcoin, 0, "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"},
		{"wpkh(zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs/0/*)", chain.FamilyBitcoin, 1, "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"},
		{"wpkh([73c5da0a/84'/0'/0']zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs/1/*)", chain.FamilyBitcoin, 0, "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"},
		{"tr(xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ/0/*)", chain.FamilyBitcoin, 0, "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"},
		{"tr(xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ/0/*)", chain.FamilyBitcoin, 1, "bc1p4qhjn9zdvkux4e44uhx8tc55attvtyu358kutcqkudyccelu0was9fqzwh"},
		{"tr(xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ/1/*)", chain.FamilyBitcoin, 0, "bc1p3qkhfews2uk44qtvauqyr2ttdsw7svhkl9nkm9s9c3x4ax5h60wqwruhk7"},
	} {
		d, err := Parse(v.desc, v.fam)
		if err != nil {
			t.Fatalf("%s: %v", v.desc, err)
		}
		a, err := d.Address(v.i)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Text(d.Network()); got != v.want {
			t.Errorf("%s /%d: %s, want %s", v.desc, v.i, got, v.want)
		}
	}
	// EVM: the account key of m/44'/60'/0', derived here from the master
	// with btcd's hdkeychain; its child 0/0 is the well-known first address.
	acct := deriveHardened(t, abandonMaster, 44, 60, 0)
	for _, desc := range []string{acct, "[73c5da0a/44'/60'/0']" + acct + "/0/*", acct + "/0/*"} {
		d, err := Parse(desc, chain.FamilyEVM)
		if err != nil {
			t.Fatal(err)
		}
		a, err := d.Address(0)
		if err != nil || a.Checksummed() != "0x9858EfFD232B4033E47d90003D41EC34EcaEda94" {
			t.Errorf("%.30s…: %s %v", desc, a.Checksummed(), err)
		}
	}
	// The BIP84 zpub is the key hdkeychain derives for m/84'/0'/0'.
	x, _ := ParseKey(deriveHardened(t, abandonMaster, 84, 0, 0))
	z, _ := ParseKey("zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs")
	if x.String() != z.String() {
		t.Errorf("m/84'/0'/0' is %s, the zpub reads as %s", x, z)
	}
}

// deriveHardened derives m/a'/b'/c' from an xprv with btcd's hdkeychain and
// returns the xpub.
func deriveHardened(t *testing.T, master string, path ...uint32) string {
	t.Helper()
	k, err := hdkeychain.NewKeyFromString(master)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range path {
		if k, err = k.Derive(hdkeychain.HardenedKeyStart + p); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := k.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	return pub.String()
}

// TestAgainstHdkeychain derives random children of random accounts, for
// every type and both networks, here and with btcd (hdkeychain, address,
// txscript), and requires the same scripts.
func TestAgainstHdkeychain(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 20; round++ {
		seed := make([]byte, 32)
		for i := range seed {
			seed[i] = byte(rng.Uint32())
		}
		params := &chaincfg.MainNetParams
		if round%2 == 1 {
			params = &chaincfg.TestNet3Params
		}
		m, err := hdkeychain.NewMaster(seed, params)
		if err != nil {
			t.Fatal(err)
		}
		acct, _ := m.Derive(hdkeychain.HardenedKeyStart + uint32(rng.IntN(100)))
		acctPub, _ := acct.Neuter()
		for _, typ := range []string{"pkh", "sh(wpkh", "wpkh", "tr"} {
			close := strings.Repeat(")", strings.Count(typ, "(")+1)
			d, err := Parse(typ+"("+acctPub.String()+"/0/*"+close, chain.FamilyBitcoin)
			if err != nil {
				t.Fatal(err)
			}
			for j := 0; j < 5; j++ {
				i := uint32(rng.IntN(1 << 20))
				ours, err := d.Address(i)
				if err != nil {
					t.Fatal(err)
				}
				ext, _ := acctPub.Derive(0)
				child, _ := ext.Derive(i)
				pub, _ := child.ECPubKey()
				h := address.Hash160(pub.SerializeCompressed())
				var a address.Address
				switch typ {
				case "pkh":
					a, _ = address.NewAddressPubKeyHash(h, params)
				case "sh(wpkh":
					a, _ = address.NewAddressScriptHash(append([]byte{0, 20}, h...), params)
				case "wpkh":
					a, _ = address.NewAddressWitnessPubKeyHash(h, params)
				case "tr":
					a, _ = address.NewAddressTaproot(txscript.ComputeTaprootKeyNoScript(pub).SerializeCompressed()[1:], params)
				}
				script, _ := txscript.PayToAddrScript(a)
				if string(script) != ours.Raw() {
					t.Fatalf("%s /0/%d: %x, btcd %x", typ, i, ours.Bytes(), script)
				}
				if ours.Text(d.Network()) != a.EncodeAddress() {
					t.Fatalf("%s /0/%d: %s, btcd %s", typ, i, ours.Text(d.Network()), a.EncodeAddress())
				}
			}
		}
	}
}

// TestRefusals: private keys, hardened steps after a public key, no range,
// bad checksums, scripts and multisig are refused with a reason.
func TestRefusals(t *testing.T) {
	xpub := "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ"
	badKey := xpub[:len(xpub)-1] + "R" // a bad base58 checksum
	sum, _ := Checksum("wpkh(" + xpub + "/0/*)")
	if _, err := Parse("wpkh("+xpub+"/0/*)#"+sum, chain.FamilyBitcoin); err != nil {
		t.Errorf("a good checksum: %v", err)
	}
	for _, c := range []struct {
		s    string
		fam  chain.Family
		want error
	}{
		{"wpkh(" + abandonMaster + "/0/*)", chain.FamilyBitcoin, ErrPrivateKey},
		{abandonMaster, chain.FamilyEVM, ErrPrivateKey},
		{"wpkh(" + xpub + "/0h/*)", chain.FamilyBitcoin, ErrSyntax},
		{"wpkh(" + xpub + "/0/*')", chain.FamilyBitcoin, ErrSyntax},
		{"wpkh(" + xpub + "/0)", chain.FamilyBitcoin, ErrSyntax},
		{"wpkh(" + xpub + ")", chain.FamilyBitcoin, ErrSyntax},
		{"wpkh(" + xpub + "/0/*)#" + strings.Repeat("q", 8), chain.FamilyBitcoin, ErrChecksum},
		{"wsh(multi(1," + xpub + "/0/*))", chain.FamilyBitcoin, ErrSyntax},
		{"sh(wpkh(" + xpub + "/0/*)", chain.FamilyBitcoin, ErrSyntax},
		{"wpkh([zz/84'/0'/0']" + xpub + "/0/*)", chain.FamilyBitcoin, ErrSyntax},
		{"wpkh(" + badKey + "/0/*)", chain.FamilyBitcoin, ErrKey},
		{"wpkh(" + xpub + "/0/*)", chain.FamilyEVM, ErrSyntax},
		{xpub + "/0/*", chain.FamilySolana, ErrSyntax},
	} {
		if _, err := Parse(c.s, c.fam); !errors.Is(err, c.want) {
			t.Errorf("%.60s…: %v, want %v", c.s, err, c.want)
		}
	}
	d, _ := Parse("wpkh("+xpub+"/0/*)", chain.FamilyBitcoin)
	if _, err := d.Addresses(Hardened-1, 2); !errors.Is(err, ErrDerivation) {
		t.Errorf("a range into the hardened indexes: %v", err)
	}
}

func BenchmarkAddress(b *testing.B) {
	d, _ := Parse("tr(xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ/0/*)", chain.FamilyBitcoin)
	for i := 0; b.Loop(); i++ {
		if _, err := d.Address(uint32(i)); err != nil {
			b.Fatal(err)
		}
	}
}
