// Package descriptor derives deposit addresses from an extended public key,
// watch-only: BIP32 public child derivation, and the output descriptors
// (BIP380-386) exchanges give for their deposit wallets:
//
//	pkh(KEY)        P2PKH                   (BIP44)
//	sh(wpkh(KEY))   P2SH-wrapped P2WPKH     (BIP49)
//	wpkh(KEY)       P2WPKH                  (BIP84)
//	tr(KEY)         P2TR, key path only     (BIP86)
//
// KEY is an extended public key (xpub, tpub; ypub, zpub, upub and vpub are
// read as the same key), optionally after a key origin ([fingerprint/path])
// and followed by non-hardened steps ending in the wildcard: xpub…/0/*. A
// descriptor may end in its BIP380 checksum (#…), which is then checked.
// On EVM the KEY alone is read (an account key, m/44'/60'/0', whose
// children 0/i are the addresses); its path defaults to /0/*.
//
// Invariants: nothing here ever holds a private key; an extended private
// key (xprv, tprv) is refused with an error that says why. Derivation is
// deterministic and checked against the BIP32, BIP84 and BIP86 vectors and
// against btcd's hdkeychain.
package descriptor

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/mr-tron/base58"
	//lint:ignore SA1019 HASH160 (RIPEMD-160 of SHA-256) is what Bitcoin's scripts hash keys with
	"golang.org/x/crypto/ripemd160"
	"golang.org/x/crypto/sha3"

	"github.com/inflowhq/inflow/pkg/chain"
)

// Errors of this package.
var (
	ErrSyntax     = errors.New("descriptor: syntax")
	ErrChecksum   = errors.New("descriptor: bad checksum")
	ErrPrivateKey = errors.New("descriptor: an extended private key; import only extended public keys (xpub, tpub), never a private one")
	ErrKey        = errors.New("descriptor: bad extended key")
	ErrDerivation = errors.New("descriptor: derivation")
)

// Hardened is the first hardened child index.
const Hardened = uint32(1) << 31

// Extended key versions (SLIP-132): the public ones read, the private ones
// refused.
var (
	pubVersions = map[uint32]chain.Network{
		0x0488b21e: chain.NetworkMainnet, // xpub
		0x049d7cb2: chain.NetworkMainnet, // ypub
		0x04b24746: chain.NetworkMainnet, // zpub
		0x043587cf: chain.NetworkTestnet, // tpub
		0x044a5262: chain.NetworkTestnet, // upub
		0x045f1cf6: chain.NetworkTestnet, // vpub
	}
	privVersions = map[uint32]bool{0x0488ade4: true, 0x049d7878: true, 0x04b2430c: true, 0x04358394: true, 0x044a4e28: true, 0x045f18bc: true}
)

// Key is an extended public key.
type Key struct {
	Network   chain.Network // the network its version names
	Depth     uint8
	ParentFP  [4]byte
	Child     uint32
	ChainCode [32]byte
	Pub       *secp256k1.PublicKey
}

// ParseKey reads an extended public key.
func ParseKey(s string) (*Key, error) {
	raw, err := base58.Decode(s)
	if err != nil || len(raw) != 82 {
		return nil, fmt.Errorf("%w: %.12s… is not base58 of an extended key", ErrKey, s)
	}
	sum := sha256.Sum256(raw[:78])
	sum = sha256.Sum256(sum[:])
	if string(sum[:4]) != string(raw[78:]) {
		return nil, fmt.Errorf("%w: %.12s… has a bad checksum", ErrKey, s)
	}
	ver := binary.BigEndian.Uint32(raw[:4])
	if privVersions[ver] || raw[45] == 0 {
		return nil, ErrPrivateKey
	}
	net, ok := pubVersions[ver]
	if !ok {
		return nil, fmt.Errorf("%w: version %08x is not an xpub, tpub, ypub, zpub, upub or vpub", ErrKey, ver)
	}
	k := &Key{Network: net, Depth: raw[4], Child: binary.BigEndian.Uint32(raw[9:13])}
	copy(k.ParentFP[:], raw[5:9])
	copy(k.ChainCode[:], raw[13:45])
	if k.Pub, err = secp256k1.ParsePubKey(raw[45:78]); err != nil || (raw[45] != 2 && raw[45] != 3) {
		return nil, fmt.Errorf("%w: its public key is not a compressed secp256k1 point", ErrKey)
	}
	if k.Depth == 0 && (k.Child != 0 || k.ParentFP != [4]byte{}) {
		return nil, fmt.Errorf("%w: a master key with a parent", ErrKey)
	}
	return k, nil
}

// String writes the key as an xpub (mainnet) or tpub.
func (k *Key) String() string {
	ver := uint32(0x0488b21e)
	if k.Network != chain.NetworkMainnet {
		ver = 0x043587cf
	}
	b := binary.BigEndian.AppendUint32(nil, ver)
	b = append(b, k.Depth)
	b = append(b, k.ParentFP[:]...)
	b = binary.BigEndian.AppendUint32(b, k.Child)
	b = append(b, k.ChainCode[:]...)
	b = append(b, k.Pub.SerializeCompressed()...)
	sum := sha256.Sum256(b)
	sum = sha256.Sum256(sum[:])
	return base58.Encode(append(b, sum[:4]...))
}

// Fingerprint is the first 4 bytes of the key's HASH160 (a child's
// ParentFP).
func (k *Key) Fingerprint() [4]byte {
	var fp [4]byte
	copy(fp[:], hash160(k.Pub.SerializeCompressed()))
	return fp
}

// Derive returns the non-hardened child i (BIP32 CKDpub). The chance of
// an index without a child is below 2^-127; it is an error.
func (k *Key) Derive(i uint32) (*Key, error) {
	if i >= Hardened {
		return nil, fmt.Errorf("%w: child %d' is hardened and cannot be derived from a public key", ErrDerivation, i-Hardened)
	}
	if k.Depth == 255 {
		return nil, fmt.Errorf("%w: depth 255", ErrDerivation)
	}
	mac := hmac.New(sha512.New, k.ChainCode[:])
	mac.Write(k.Pub.SerializeCompressed())
	var ib [4]byte
	binary.BigEndian.PutUint32(ib[:], i)
	mac.Write(ib[:])
	I := mac.Sum(nil)
	var il secp256k1.ModNScalar
	if overflow := il.SetByteSlice(I[:32]); overflow {
		return nil, fmt.Errorf("%w: child %d is invalid (IL ≥ n); use the next index", ErrDerivation, i)
	}
	var p, q, r secp256k1.JacobianPoint
	secp256k1.ScalarBaseMultNonConst(&il, &p)
	k.Pub.AsJacobian(&q)
	secp256k1.AddNonConst(&p, &q, &r)
	if (r.X.IsZero() && r.Y.IsZero()) || r.Z.IsZero() {
		return nil, fmt.Errorf("%w: child %d is the point at infinity; use the next index", ErrDerivation, i)
	}
	r.ToAffine()
	child := &Key{Network: k.Network, Depth: k.Depth + 1, ParentFP: k.Fingerprint(), Child: i, Pub: secp256k1.NewPublicKey(&r.X, &r.Y)}
	copy(child.ChainCode[:], I[32:])
	return child, nil
}

func hash160(b []byte) []byte {
	s := sha256.Sum256(b)
	r := ripemd160.New()
	r.Write(s[:])
	return r.Sum(nil)
}

// Type is a descriptor's output type.
type Type string

// Output types.
const (
	PKH     Type = "pkh"
	SHWPKH  Type = "sh(wpkh)"
	WPKH    Type = "wpkh"
	TR      Type = "tr"
	EVMAddr Type = "evm" // an EVM account key's children
)

// Descriptor is a ranged output descriptor over one extended public key.
type Descriptor struct {
	Type Type
	Key  *Key
	// Origin is the key origin as written ([d34db33f/84'/0'/0']), if any.
	Origin string
	// Path is the non-hardened steps between Key and the wildcard.
	Path []uint32

	base *Key // Key derived along Path
}

// Network is the network the key's version names (mainnet for xpub).
func (d *Descriptor) Network() chain.Network { return d.Key.Network }

// Parse reads a descriptor for a family: on Bitcoin pkh, sh(wpkh), wpkh or
// tr over a ranged key; on EVM the ranged key alone (its path defaults to
// /0/*). A trailing #checksum is checked.
func Parse(s string, fam chain.Family) (*Descriptor, error) {
	body, sum, hasSum := strings.Cut(s, "#")
	if hasSum {
		if err := VerifyChecksum(body, sum); err != nil {
			return nil, err
		}
	}
	if len(body) > 1000 {
		return nil, fmt.Errorf("%w: %d characters", ErrSyntax, len(body))
	}
	d := &Descriptor{}
	inner := body
	switch fam {
	case chain.FamilyBitcoin:
		for _, w := range []struct {
			t      Type
			prefix string
			suffix string
		}{{SHWPKH, "sh(wpkh(", "))"}, {WPKH, "wpkh(", ")"}, {PKH, "pkh(", ")"}, {TR, "tr(", ")"}} {
			if strings.HasPrefix(body, w.prefix) && strings.HasSuffix(body, w.suffix) {
				d.Type, inner = w.t, body[len(w.prefix):len(body)-len(w.suffix)]
				break
			}
		}
		if d.Type == "" {
			return nil, fmt.Errorf("%w: %q is not pkh(KEY), sh(wpkh(KEY)), wpkh(KEY) or tr(KEY)", ErrSyntax, short(body))
		}
		if strings.ContainsAny(inner, "(),") {
			return nil, fmt.Errorf("%w: %q: only a single key, without scripts or multisig", ErrSyntax, short(body))
		}
	case chain.FamilyEVM:
		d.Type = EVMAddr
		if strings.ContainsAny(inner, "()") {
			return nil, fmt.Errorf("%w: an EVM import takes the account's extended public key alone (xpub…, optionally [origin]xpub…/0/*)", ErrSyntax)
		}
	default:
		return nil, fmt.Errorf("%w: %s addresses are not derived from extended keys", ErrSyntax, fam)
	}
	if strings.HasPrefix(inner, "[") {
		end := strings.IndexByte(inner, ']')
		if end < 0 {
			return nil, fmt.Errorf("%w: unclosed key origin", ErrSyntax)
		}
		d.Origin = inner[:end+1]
		if err := checkOrigin(d.Origin[1:end]); err != nil {
			return nil, err
		}
		inner = inner[end+1:]
	}
	steps := strings.Split(inner, "/")
	var err error
	if d.Key, err = ParseKey(steps[0]); err != nil {
		return nil, err
	}
	steps = steps[1:]
	if len(steps) == 0 && fam == chain.FamilyEVM {
		steps = []string{"0", "*"}
	}
	if len(steps) == 0 || steps[len(steps)-1] != "*" {
		return nil, fmt.Errorf("%w: the key must end in a /* range (xpub…/0/*) to derive addresses from", ErrSyntax)
	}
	for _, st := range steps[:len(steps)-1] {
		if strings.HasSuffix(st, "'") || strings.HasSuffix(st, "h") || strings.HasSuffix(st, "H") {
			return nil, fmt.Errorf("%w: step %s is hardened and cannot follow a public key", ErrSyntax, st)
		}
		n, err := strconv.ParseUint(st, 10, 32)
		if err != nil || uint32(n) >= Hardened {
			return nil, fmt.Errorf("%w: step %q is not a child index", ErrSyntax, st)
		}
		d.Path = append(d.Path, uint32(n))
	}
	if len(d.Path) > 8 {
		return nil, fmt.Errorf("%w: %d steps after the key", ErrSyntax, len(d.Path))
	}
	d.base = d.Key
	for _, i := range d.Path {
		if d.base, err = d.base.Derive(i); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// checkOrigin checks a key origin's inside: 8 hex digits of fingerprint,
// then /steps, hardened or not.
func checkOrigin(s string) error {
	parts := strings.Split(s, "/")
	if len(parts[0]) != 8 || strings.Trim(strings.ToLower(parts[0]), "0123456789abcdef") != "" {
		return fmt.Errorf("%w: key origin [%s] does not start with an 8-digit hex fingerprint", ErrSyntax, s)
	}
	for _, p := range parts[1:] {
		p = strings.TrimRight(p, "'hH")
		if n, err := strconv.ParseUint(p, 10, 32); err != nil || uint32(n) >= Hardened {
			return fmt.Errorf("%w: key origin step %q", ErrSyntax, p)
		}
	}
	return nil
}

// Address is the i-th address of the range.
func (d *Descriptor) Address(i uint32) (chain.Address, error) {
	k, err := d.base.Derive(i)
	if err != nil {
		return chain.Address{}, err
	}
	pub := k.Pub.SerializeCompressed()
	var raw []byte
	fam := chain.FamilyBitcoin
	switch d.Type {
	case PKH:
		raw = append(append([]byte{0x76, 0xa9, 0x14}, hash160(pub)...), 0x88, 0xac)
	case WPKH:
		raw = append([]byte{0x00, 0x14}, hash160(pub)...)
	case SHWPKH:
		redeem := append([]byte{0x00, 0x14}, hash160(pub)...)
		raw = append(append([]byte{0xa9, 0x14}, hash160(redeem)...), 0x87)
	case TR:
		q, err := taprootOutputKey(k.Pub)
		if err != nil {
			return chain.Address{}, err
		}
		raw = append([]byte{0x51, 0x20}, q...)
	case EVMAddr:
		h := sha3.NewLegacyKeccak256()
		h.Write(k.Pub.SerializeUncompressed()[1:])
		raw, fam = h.Sum(nil)[12:], chain.FamilyEVM
	}
	return chain.NewAddress(fam, raw)
}

// Addresses derives count addresses from index from.
func (d *Descriptor) Addresses(from uint32, count int) ([]chain.Address, error) {
	if count < 0 || uint64(from)+uint64(count) > uint64(Hardened) {
		return nil, fmt.Errorf("%w: indexes %d to %d leave the non-hardened range", ErrDerivation, from, uint64(from)+uint64(count)-1)
	}
	out := make([]chain.Address, count)
	for j := range out {
		a, err := d.Address(from + uint32(j))
		if err != nil {
			return nil, err
		}
		out[j] = a
	}
	return out, nil
}

// taprootOutputKey is BIP86's output key: the internal key (with even y)
// tweaked by H_TapTweak(x(P)) and no script tree. It returns x(Q).
func taprootOutputKey(p *secp256k1.PublicKey) ([]byte, error) {
	var pj secp256k1.JacobianPoint
	p.AsJacobian(&pj)
	if pj.Y.IsOdd() {
		pj.Y.Negate(1).Normalize()
	}
	x := pj.X.Bytes()
	tag := sha256.Sum256([]byte("TapTweak"))
	h := sha256.New()
	h.Write(tag[:])
	h.Write(tag[:])
	h.Write(x[:])
	var t secp256k1.ModNScalar
	if overflow := t.SetByteSlice(h.Sum(nil)); overflow {
		return nil, fmt.Errorf("%w: taproot tweak out of range", ErrDerivation)
	}
	var tg, q secp256k1.JacobianPoint
	secp256k1.ScalarBaseMultNonConst(&t, &tg)
	secp256k1.AddNonConst(&pj, &tg, &q)
	if q.Z.IsZero() {
		return nil, fmt.Errorf("%w: taproot output key at infinity", ErrDerivation)
	}
	q.ToAffine()
	qx := q.X.Bytes()
	return qx[:], nil
}
