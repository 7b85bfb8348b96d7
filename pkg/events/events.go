package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/inflowhq/inflow/pkg/chain"
)

// Type is the kind of a chain record.
type Type uint8

// Record types. Their values are on the wire.
const (
	TypeBlockConnected    Type = 1
	TypeBlockDisconnected Type = 2
	TypeFinalized         Type = 3
	// TypeBlockRescanned carries transfers found again in a block already
	// connected (an operator's rescan for addresses added later): its form
	// is BlockConnected's, but it never moves the chain. The ledger credits
	// what it did not credit before, and only if the block is still its
	// canonical one.
	TypeBlockRescanned Type = 4
)

// HasBlock reports whether records of the type carry a block's parent,
// time and transfers (BlockConnected and BlockRescanned).
func (t Type) HasBlock() bool { return t == TypeBlockConnected || t == TypeBlockRescanned }

func (t Type) String() string {
	switch t {
	case TypeBlockConnected:
		return "BlockConnected"
	case TypeBlockDisconnected:
		return "BlockDisconnected"
	case TypeFinalized:
		return "Finalized"
	case TypeBlockRescanned:
		return "BlockRescanned"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Version is the newest wire format version this package writes and reads.
// A record is written in version 1 unless one of its transfers has a
// maturity, an asset id or a token account, which only version 2 carries,
// so records of chains without them stay byte for byte as they were.
const Version = 2

// ErrCorrupt is returned for input that is not a valid record.
var ErrCorrupt = errors.New("events: corrupt record")

// Record is one event of a chain topic. Fields beyond Type, Chain, Family,
// Number and Hash are only set for BlockConnected and BlockRescanned.
type Record struct {
	Type      Type
	Chain     chain.ID
	Family    chain.Family
	Number    uint64
	Hash      chain.Hash
	Parent    chain.Hash
	Time      int64
	Transfers []chain.Transfer
}

// Block returns the record's block reference.
func (r *Record) Block() chain.BlockRef {
	return chain.BlockRef{Number: r.Number, Hash: r.Hash, Parent: r.Parent, Time: r.Time}
}

// ID is the record's identity: the same chain event always has the same ID.
type ID [16]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ID derives the record's identity from (type, chain, number, hash), and
// for BlockRescanned also from its transfers' (tx, index, recipient).
func (r *Record) ID() ID {
	h := sha256.New()
	var b [10]byte
	h.Write([]byte{byte(r.Type)})
	h.Write([]byte(r.Chain))
	h.Write([]byte{0})
	h.Write(b[:binary.PutUvarint(b[:], r.Number)])
	h.Write(r.Hash[:])
	if r.Type == TypeBlockRescanned {
		// Two rescans of a block (for other addresses) are other events:
		// the transfers found are part of the identity.
		for i := range r.Transfers {
			t := &r.Transfers[i]
			h.Write(b[:binary.PutUvarint(b[:], uint64(len(t.TxHash)))])
			h.Write(t.TxHash)
			h.Write(b[:binary.PutUvarint(b[:], uint64(t.Index))])
			h.Write(b[:binary.PutUvarint(b[:], uint64(len(t.To.Bytes())))])
			h.Write(t.To.Bytes())
		}
	}
	var id ID
	copy(id[:], h.Sum(nil))
	return id
}

func (r *Record) String() string {
	return fmt.Sprintf("%s{%s #%d %s, %d transfers}", r.Type, r.Chain, r.Number, r.Hash.Hex(), len(r.Transfers))
}

// Append encodes r onto dst.
func (r *Record) Append(dst []byte) ([]byte, error) {
	switch r.Type {
	case TypeBlockConnected, TypeBlockDisconnected, TypeFinalized, TypeBlockRescanned:
	default:
		return dst, fmt.Errorf("events: encode: unknown type %d", r.Type)
	}
	if !r.Family.Valid() {
		return dst, fmt.Errorf("events: encode %s: unknown family %d", r.Chain, r.Family)
	}
	ver := byte(1)
	for i := range r.Transfers {
		if t := &r.Transfers[i]; t.Maturity != 0 || t.Asset != "" || !t.TokenAccount.IsZero() {
			ver = 2
			break
		}
	}
	dst = append(dst, ver, byte(r.Type), byte(r.Family))
	dst = appendBytes(dst, []byte(r.Chain))
	dst = binary.AppendUvarint(dst, r.Number)
	dst = append(dst, r.Hash[:]...)
	if !r.Type.HasBlock() {
		return dst, nil
	}
	dst = append(dst, r.Parent[:]...)
	dst = binary.AppendVarint(dst, r.Time)
	dst = binary.AppendUvarint(dst, uint64(len(r.Transfers)))
	for i := range r.Transfers {
		t := &r.Transfers[i]
		for _, a := range []chain.Address{t.Token, t.From, t.To, t.TokenAccount} {
			if !a.IsZero() && a.Family() != r.Family {
				return dst, fmt.Errorf("events: encode %s #%d: transfer %d has a %s address in a %s record", r.Chain, r.Number, i, a.Family(), r.Family)
			}
		}
		if !t.Kind.Valid() {
			return dst, fmt.Errorf("events: encode %s #%d: transfer %d has unknown kind %d", r.Chain, r.Number, i, t.Kind)
		}
		dst = appendBytes(dst, t.TxHash)
		dst = binary.AppendUvarint(dst, uint64(t.Index))
		dst = append(dst, byte(t.Kind))
		dst = appendBytes(dst, t.Token.Bytes())
		dst = appendBytes(dst, t.From.Bytes())
		dst = appendBytes(dst, t.To.Bytes())
		dst = appendBytes(dst, t.Value.Bytes())
		dst = binary.AppendUvarint(dst, t.AddressID)
		if ver >= 2 {
			if len(t.Asset) > 64 {
				return dst, fmt.Errorf("events: encode %s #%d: transfer %d has an asset id of %d bytes", r.Chain, r.Number, i, len(t.Asset))
			}
			dst = binary.AppendUvarint(dst, uint64(t.Maturity))
			dst = appendBytes(dst, []byte(t.Asset))
			dst = appendBytes(dst, t.TokenAccount.Bytes())
		}
	}
	return dst, nil
}

// Marshal encodes r.
func (r *Record) Marshal() ([]byte, error) { return r.Append(make([]byte, 0, 96+len(r.Transfers)*128)) }

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// Unmarshal decodes one record. The result does not alias b.
func Unmarshal(b []byte) (*Record, error) {
	d := decoder{b: b}
	ver := d.byte()
	if d.err == nil && (ver < 1 || ver > Version) {
		return nil, fmt.Errorf("%w: version %d (this build reads 1 to %d)", ErrCorrupt, ver, Version)
	}
	r := &Record{Type: Type(d.byte()), Family: chain.Family(d.byte())}
	r.Chain = chain.ID(d.bytes(64))
	r.Number = d.uvarint()
	d.fixed(r.Hash[:])
	if d.err != nil {
		return nil, d.err
	}
	if !r.Family.Valid() {
		return nil, fmt.Errorf("%w: family %d", ErrCorrupt, r.Family)
	}
	switch r.Type {
	case TypeBlockDisconnected, TypeFinalized:
	case TypeBlockConnected, TypeBlockRescanned:
		d.fixed(r.Parent[:])
		r.Time = d.varint()
		n := d.uvarint()
		if d.err == nil && n > uint64(len(d.b)) { // every transfer takes more than one byte
			return nil, fmt.Errorf("%w: %d transfers in %d bytes", ErrCorrupt, n, len(d.b))
		}
		if n > 0 {
			r.Transfers = make([]chain.Transfer, n)
		}
		for i := range r.Transfers {
			t := &r.Transfers[i]
			t.TxHash = d.bytes(128)
			idx := d.uvarint()
			if idx > uint64(^uint32(0)) {
				d.fail("transfer index overflows 32 bits")
			}
			t.Index = uint32(idx)
			t.Kind = chain.Kind(d.byte())
			if d.err == nil && !t.Kind.Valid() {
				d.fail(fmt.Sprintf("transfer kind %d", t.Kind))
			}
			t.Token = d.address(r.Family)
			t.From = d.address(r.Family)
			t.To = d.address(r.Family)
			v := d.bytes(32)
			if d.err == nil {
				t.Value, _ = chain.AmountFromBytes(v)
			}
			t.AddressID = d.uvarint()
			if ver >= 2 {
				m := d.uvarint()
				if m > uint64(^uint32(0)) {
					d.fail("maturity overflows 32 bits")
				}
				t.Maturity = uint32(m)
				t.Asset = string(d.bytes(64))
				t.TokenAccount = d.address(r.Family)
			}
			if d.err != nil {
				break
			}
		}
	default:
		return nil, fmt.Errorf("%w: type %d", ErrCorrupt, r.Type)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return r, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) fixed(dst []byte) {
	if d.err != nil || len(d.b) < len(dst) {
		d.fail("truncated")
		return
	}
	copy(dst, d.b)
	d.b = d.b[len(dst):]
}

// bytes reads a length-prefixed field of at most max bytes, copied.
func (d *decoder) bytes(max int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(d.b)) {
		d.fail(fmt.Sprintf("field of %d bytes", n))
		return nil
	}
	out := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return out
}

func (d *decoder) address(fam chain.Family) chain.Address {
	b := d.bytes(10000)
	if d.err != nil || len(b) == 0 {
		return chain.Address{}
	}
	a, err := chain.NewAddress(fam, b)
	if err != nil {
		d.fail(err.Error())
	}
	return a
}
