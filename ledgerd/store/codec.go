package store

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/inflowhq/inflow/pkg/chain"
)

// The hot records (deposits, balances, reference totals) are stored in a
// compact binary form: the ledger writes each of them on every deposit, and
// JSON cost more than the rest of the write path together. Each form starts
// with a version byte; a value starting with '{' is the JSON form earlier
// versions wrote, and is still read.
//
// Version 2 (deposits and accounts) writes amounts in as few bytes as they
// take instead of 32, numbers that are usually small as varints, and no
// deposit id in a deposit row (its key holds it): a deposit row went from
// about 214 to about 145 bytes, and an account of one balance from 98 to
// about 32, which is that much less for Pebble's log, memtable, flushes
// and compactions. Version 1 rows are still read.
//
// Version 3 (accounts) adds to each balance the number of its deposits in
// each status, which the deposit listings count by.
const (
	codecV1 = 1
	codecV2 = 2
	codecV3 = 3
)

// DepositKey is where a deposit is stored.
func DepositKey(id string) []byte { return AppendDepositKey(nil, id) }

// GetDeposit reads a deposit with its current status; ErrNotFound if
// missing.
func GetDeposit(r Reader, id string) (*Deposit, error) {
	return (&DepositReader{R: r}).Get(id)
}

// Block status. The deposits a block made when it was connected change
// status together: confirmed when the block reaches the credit depth,
// completed when it is finalized, orphaned when it leaves the chain. Their
// ids start with the same block tag (BlockTag), and the status and its times
// are kept once for all of them in BS/<tag>, so that a change of status
// writes one row per block instead of rewriting every deposit. A D/ row of a
// tagged deposit holds it as detected; a deposit from before block tags
// (an id of 24 hex digits) carries its status in its own row.

// blockTagLen is the length of a block tag: dep_ and 16 hex digits.
const blockTagLen = 4 + 16

// BlockTag returns the tag a deposit id starts with, if it has one.
func BlockTag(id string) (string, bool) {
	if len(id) != blockTagLen+16 {
		return "", false
	}
	return id[:blockTagLen], true
}

// BlockStatusKey is where the status of a block tag's deposits is kept.
func BlockStatusKey(tag string) []byte { return newKey(pBlockStatus).str(tag) }

// BlockStatus is the status of a block's deposits and the times they took
// each status (unix nanos, 0 for not yet).
type BlockStatus struct {
	Status                         string
	Confirmed, Completed, Orphaned int64
}

// StatusOfDeposit is the block status a deposit's status and times make.
func StatusOfDeposit(d *Deposit) BlockStatus {
	nanos := func(t *time.Time) int64 {
		if t == nil {
			return 0
		}
		return t.UnixNano()
	}
	return BlockStatus{Status: d.Status, Confirmed: nanos(d.ConfirmedAt), Completed: nanos(d.CompletedAt), Orphaned: nanos(d.OrphanedAt)}
}

// AppendEncode appends the binary form: version, status, then the three
// times as i64.
func (s BlockStatus) AppendEncode(out []byte) []byte {
	out = append(out, codecV1, statusCode(s.Status))
	for _, t := range []int64{s.Confirmed, s.Completed, s.Orphaned} {
		out = binary.BigEndian.AppendUint64(out, uint64(t))
	}
	return out
}

// DecodeBlockStatus reads a block status row.
func DecodeBlockStatus(v []byte) (BlockStatus, error) {
	if len(v) != 2+3*8 || v[0] != codecV1 || int(v[1]) >= len(statusCodes) {
		return BlockStatus{}, fmt.Errorf("block status record of %d bytes", len(v))
	}
	s := BlockStatus{Status: statusCodes[v[1]]}
	s.Confirmed = int64(binary.BigEndian.Uint64(v[2:]))
	s.Completed = int64(binary.BigEndian.Uint64(v[10:]))
	s.Orphaned = int64(binary.BigEndian.Uint64(v[18:]))
	return s, nil
}

// apply sets d's status and its times to s.
func (s BlockStatus) apply(d *Deposit) {
	at := func(n int64) *time.Time {
		if n == 0 {
			return nil
		}
		t := time.Unix(0, n).UTC()
		return &t
	}
	d.Status = s.Status
	d.ConfirmedAt, d.CompletedAt, d.OrphanedAt = at(s.Confirmed), at(s.Completed), at(s.Orphaned)
}

// DepositReader reads deposits with their current status. It remembers the
// last block status it read: the deposits of a block are read together, in
// listings and in id order alike.
type DepositReader struct {
	R   Reader
	tag string
	bs  BlockStatus
}

// Get reads one deposit; ErrNotFound if missing.
func (dr *DepositReader) Get(id string) (*Deposit, error) {
	v, closer, err := dr.R.Get(DepositKey(id))
	if err != nil {
		return nil, err
	}
	d := &Deposit{}
	err = DecodeDeposit(id, v, d)
	closer.Close()
	if err != nil {
		return nil, fmt.Errorf("store: deposit %s: %w", id, err)
	}
	if err := dr.resolve(d); err != nil {
		return nil, err
	}
	return d, nil
}

// resolve sets a decoded deposit's status from its block's.
func (dr *DepositReader) resolve(d *Deposit) error {
	tag, ok := BlockTag(d.ID)
	if !ok {
		return nil
	}
	if tag != dr.tag {
		v, closer, err := dr.R.Get(BlockStatusKey(tag))
		if errors.Is(err, ErrNotFound) {
			// Written in the same batch as the deposit: not a missing deposit.
			return fmt.Errorf("store: deposit %s has no block status row", d.ID)
		}
		if err != nil {
			return fmt.Errorf("store: status of the block of deposit %s: %w", d.ID, err)
		}
		bs, err := DecodeBlockStatus(v)
		closer.Close()
		if err != nil {
			return fmt.Errorf("store: status of the block of deposit %s: %w", d.ID, err)
		}
		dr.tag, dr.bs = tag, bs
	}
	dr.bs.apply(d)
	return nil
}

// ScanDeposits calls fn with every deposit, in id order, with its current
// status.
func ScanDeposits(r Reader, fn func(*Deposit) error) error {
	dr := &DepositReader{R: r}
	return Scan(r, newKey(pDeposit), false, func(k, v []byte) (bool, error) {
		d := &Deposit{}
		if err := DecodeDeposit(string(k[len(pDeposit):]), v, d); err != nil {
			return false, err
		}
		if err := dr.resolve(d); err != nil {
			return false, err
		}
		return true, fn(d)
	})
}

var statusCodes = [...]string{StatusPending, StatusConfirmed, StatusCompleted, StatusOrphaned}

// StatusCode is a status's one-byte code in binary records.
func StatusCode(s string) byte { return statusCode(s) }

// StatusOf is the inverse of StatusCode.
func StatusOf(c byte) (string, error) {
	if int(c) >= len(statusCodes) {
		return "", fmt.Errorf("store: status code %d", c)
	}
	return statusCodes[c], nil
}

func statusCode(s string) byte {
	for i, v := range statusCodes {
		if v == s {
			return byte(i)
		}
	}
	panic("store: unknown deposit status " + s)
}

// Deposit flags: which optional fields follow.
const (
	depHasRef = 1 << iota
	depHasConfirmed
	depHasCompleted
	depHasOrphaned
	depHasReplaces
	// depHasMaturity: a trailing uvarint, the confirmations the output
	// needs before it is credited (a Bitcoin coinbase).
	depHasMaturity
	// depHasNetwork: a trailing byte, the Bitcoin network the address is
	// written for.
	depHasNetwork
	// depHasTokenAccount: trailing bytes, a Solana deposit's token account.
	depHasTokenAccount
)

// More deposit flags, the trailing uvarint of a version 3 row: a version 2
// row with a flag the flags byte has no room for.
const (
	// depMoreAfterUnbind: the deposit came during its reference's cooldown.
	depMoreAfterUnbind = 1 << iota
	depMoreKnown       = depMoreAfterUnbind
)

// AppendEncode appends the binary form (version 2) of d to out, the value
// of its D/ row, which names its id:
//
//	version flags status family decimals index:uvarint addressId:uvarint
//	number:uvarint blockTime:varint detected:i64 [confirmed:i64]
//	[completed:i64] [orphaned:i64] blockHash:32, then length-prefixed:
//	amount (big-endian, no leading zeros) merchant chain currency address
//	txHash [reference] [replaces], then [maturity:uvarint] [network:u8]
//	[tokenAccount] as the flags say. Version 3 is version 2 and, last,
//	more:uvarint, flags the flags byte has no room for (bit 0: after
//	unbind); a row is version 3 only when one of them is set.
func (d *Deposit) AppendEncode(out []byte) []byte {
	var flags byte
	if d.Reference != nil {
		flags |= depHasRef
	}
	if d.ConfirmedAt != nil {
		flags |= depHasConfirmed
	}
	if d.CompletedAt != nil {
		flags |= depHasCompleted
	}
	if d.OrphanedAt != nil {
		flags |= depHasOrphaned
	}
	if d.Replaces != "" {
		flags |= depHasReplaces
	}
	if d.Maturity != 0 {
		flags |= depHasMaturity
	}
	if d.Network != 0 {
		flags |= depHasNetwork
	}
	if len(d.TokenAccount) > 0 {
		flags |= depHasTokenAccount
	}
	at := len(out)
	out = append(out, codecV2, flags, statusCode(d.Status), byte(d.Family), d.Decimals)
	out = binary.AppendUvarint(out, uint64(d.Index))
	out = binary.AppendUvarint(out, d.AddressID)
	out = binary.AppendUvarint(out, d.BlockNumber)
	out = binary.AppendVarint(out, d.BlockTime)
	out = binary.BigEndian.AppendUint64(out, uint64(d.DetectedAt.UnixNano()))
	for _, t := range []*time.Time{d.ConfirmedAt, d.CompletedAt, d.OrphanedAt} {
		if t != nil {
			out = binary.BigEndian.AppendUint64(out, uint64(t.UnixNano()))
		}
	}
	out = append(out, d.BlockHash[:]...)
	out = appendAmount(out, d.Amount)
	out = appendBytes(out, []byte(d.Merchant))
	out = appendBytes(out, []byte(d.Chain))
	out = appendBytes(out, []byte(d.Currency))
	out = appendBytes(out, d.Address)
	out = appendBytes(out, d.TxHash)
	if d.Reference != nil {
		out = appendBytes(out, []byte(*d.Reference))
	}
	if d.Replaces != "" {
		out = appendBytes(out, []byte(d.Replaces))
	}
	if d.Maturity != 0 {
		out = binary.AppendUvarint(out, uint64(d.Maturity))
	}
	if d.Network != 0 {
		out = append(out, byte(d.Network))
	}
	if len(d.TokenAccount) > 0 {
		out = appendBytes(out, d.TokenAccount)
	}
	// The flags byte is full: later flags are a trailing uvarint, in a
	// version 3 row, written only when one is set, so other rows stay the
	// version 2 rows they were.
	var more uint64
	if d.AfterUnbind {
		more |= depMoreAfterUnbind
	}
	if more != 0 {
		out[at] = codecV3
		out = binary.AppendUvarint(out, more)
	}
	return out
}

// appendAmount appends an amount length-prefixed, big-endian, without
// leading zeros.
func appendAmount(out []byte, a chain.Amount) []byte {
	b := a.Bytes32()
	i := 0
	for i < len(b) && b[i] == 0 {
		i++
	}
	return appendBytes(out, b[i:])
}

// Encode is AppendEncode into a new slice.
func (d *Deposit) Encode() []byte { return d.AppendEncode(make([]byte, 0, 256)) }

func appendBytes(out, b []byte) []byte {
	out = binary.AppendUvarint(out, uint64(len(b)))
	return append(out, b...)
}

var errShort = errors.New("record too short")

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errShort
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }

func (r *reader) bytes() []byte {
	n, w := binary.Uvarint(r.b)
	if r.err != nil || w <= 0 || uint64(len(r.b)-w) < n {
		r.err = errShort
		return nil
	}
	r.b = r.b[w:]
	return r.take(int(n))
}

func (r *reader) time() time.Time { return time.Unix(0, int64(r.u64())).UTC() }

func (r *reader) uvarint() uint64 { return readVarint(r, binary.Uvarint) }

func (r *reader) varint() int64 { return readVarint(r, binary.Varint) }

// readVarint reads one varint with dec (binary.Uvarint or binary.Varint).
func readVarint[T uint64 | int64](r *reader, dec func([]byte) (T, int)) T {
	n, w := dec(r.b)
	if r.err != nil || w <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[w:]
	return n
}

// amount reads an amount of appendAmount.
func (r *reader) amount() chain.Amount {
	b := r.bytes()
	a, err := chain.AmountFromBytes(b)
	if err != nil && r.err == nil {
		r.err = err
	}
	return a
}

// DecodeDeposit reads any form of a deposit into d: the row of deposit id
// (a version 2 row does not hold its id). The byte slices of d are copies:
// b may be reused after it returns.
func DecodeDeposit(id string, b []byte, d *Deposit) error {
	if len(b) > 0 && b[0] == '{' {
		return json.Unmarshal(b, d)
	}
	if len(b) < 5 || (b[0] != codecV1 && b[0] != codecV2 && b[0] != codecV3) {
		return fmt.Errorf("deposit record: unknown form")
	}
	v2, v3 := b[0] >= codecV2, b[0] == codecV3
	flags, status := b[1], b[2]
	if int(status) >= len(statusCodes) {
		return fmt.Errorf("deposit record: status %d", status)
	}
	*d = Deposit{Status: statusCodes[status], Family: chain.Family(b[3]), Decimals: b[4]}
	r := &reader{b: b[5:]}
	if v2 {
		index := r.uvarint()
		if index > 1<<32-1 {
			r.err = fmt.Errorf("index %d", index)
		}
		d.Index = uint32(index)
		d.AddressID = r.uvarint()
		d.BlockNumber = r.uvarint()
		d.BlockTime = r.varint()
	} else {
		d.Index = binary.BigEndian.Uint32(r.take(4))
		d.AddressID = r.u64()
		d.BlockNumber = r.u64()
		d.BlockTime = int64(r.u64())
	}
	d.DetectedAt = r.time()
	for i, t := range []**time.Time{&d.ConfirmedAt, &d.CompletedAt, &d.OrphanedAt} {
		if flags&(depHasConfirmed<<i) != 0 {
			v := r.time()
			*t = &v
		}
	}
	copy(d.BlockHash[:], r.take(32))
	if v2 {
		d.ID = id
		d.Amount = r.amount()
	} else {
		d.Amount, _ = chain.AmountFromBytes(r.take(32))
		d.ID = string(r.bytes())
	}
	d.Merchant = string(r.bytes())
	d.Chain = chain.ID(r.bytes())
	d.Currency = string(r.bytes())
	d.Address = append([]byte(nil), r.bytes()...)
	d.TxHash = append([]byte(nil), r.bytes()...)
	if flags&depHasRef != 0 {
		ref := string(r.bytes())
		d.Reference = &ref
	}
	if flags&depHasReplaces != 0 {
		d.Replaces = string(r.bytes())
	}
	if flags&depHasMaturity != 0 {
		m := r.uvarint()
		if m > 1<<32-1 {
			r.err = fmt.Errorf("maturity %d", m)
		}
		d.Maturity = uint32(m)
	}
	if flags&depHasNetwork != 0 {
		if n := r.take(1); len(n) == 1 {
			d.Network = chain.Network(n[0])
		}
	}
	if flags&depHasTokenAccount != 0 {
		d.TokenAccount = append([]byte(nil), r.bytes()...)
	}
	if v3 {
		more := r.uvarint()
		if r.err == nil && (more == 0 || more&^depMoreKnown != 0) {
			r.err = fmt.Errorf("flags %#x", more)
		}
		d.AfterUnbind = more&depMoreAfterUnbind != 0
	}
	if v2 && r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes after the last field", len(r.b))
	}
	if r.err != nil {
		return fmt.Errorf("deposit record: %w", r.err)
	}
	return nil
}

// DecodeBalance reads either form of a balance row (B/) of earlier
// versions: JSON, or version, pending:32, available:32.
func DecodeBalance(v []byte) (Balance, error) {
	var b Balance
	if len(v) > 0 && v[0] == '{' {
		err := json.Unmarshal(v, &b)
		return b, err
	}
	if len(v) != 65 || v[0] != codecV1 {
		return b, fmt.Errorf("balance record of %d bytes", len(v))
	}
	b.Pending, _ = chain.AmountFromBytes(v[1:33])
	b.Available, _ = chain.AmountFromBytes(v[33:])
	return b, nil
}

// DecodeRefStats reads either form of a totals row (RS/) of earlier
// versions: JSON, or version, deposits:i64, last deposit at (unix nanos, 0
// for never):i64.
func DecodeRefStats(v []byte) (RefStats, error) {
	var s RefStats
	if len(v) > 0 && v[0] == '{' {
		err := json.Unmarshal(v, &s)
		return s, err
	}
	if len(v) != 17 || v[0] != codecV1 {
		return s, fmt.Errorf("reference totals record of %d bytes", len(v))
	}
	s.Deposits = int64(binary.BigEndian.Uint64(v[1:]))
	if at := int64(binary.BigEndian.Uint64(v[9:])); at != 0 {
		s.LastDepositAt = time.Unix(0, at).UTC()
	}
	return s, nil
}

// AccountKey is the row of a merchant's reference ("" for its unattributed
// deposits).
func AccountKey(merchant, ref string) []byte {
	return AppendAccountKey(make([]byte, 0, 3+len(merchant)+1+len(ref)), merchant, ref)
}

// AppendAccountKey appends AccountKey(merchant, ref) to dst.
func AppendAccountKey(dst []byte, merchant, ref string) []byte {
	return append(append(append(append(dst, pAccount...), merchant...), 0), ref...)
}

// AppendDepositKey appends DepositKey(id) to dst.
func AppendDepositKey(dst []byte, id string) []byte { return append(append(dst, pDeposit...), id...) }

// AppendEncode appends the binary form (version 3) of an account: version,
// deposits:varint, last deposit at (unix nanos, 0 for never):i64, the
// number of balances:uvarint, then each as length-prefixed currency,
// chain, pending and available (amounts as appendAmount writes them), and
// its deposits by status (pending, confirmed, completed, orphaned): a byte
// whose bit i says that count i follows, then those counts as uvarints.
func (a *Account) AppendEncode(out []byte) []byte {
	out = append(out, codecV3)
	out = binary.AppendVarint(out, a.Deposits)
	var at int64
	if !a.LastDepositAt.IsZero() {
		at = a.LastDepositAt.UnixNano()
	}
	out = binary.BigEndian.AppendUint64(out, uint64(at))
	out = binary.AppendUvarint(out, uint64(len(a.Balances)))
	for i := range a.Balances {
		b := &a.Balances[i]
		out = appendBytes(out, []byte(b.Currency))
		out = appendBytes(out, []byte(b.Chain))
		out = appendAmount(out, b.Pending)
		out = appendAmount(out, b.Available)
		var mask byte
		for i, n := range b.Counts {
			if n != 0 {
				mask |= 1 << i
			}
		}
		out = append(out, mask)
		for _, n := range b.Counts {
			if n != 0 {
				out = binary.AppendUvarint(out, uint64(n))
			}
		}
	}
	return out
}

// DecodeAccount reads an account row of any version. Version 1 is:
// version, deposits:i64, last deposit at:i64, the number of balances, then
// each as length-prefixed currency and chain, pending:32, available:32.
// Versions 1 and 2 have no counts by status: they read as zero, and the
// ledger counts them when it opens a store of an earlier version.
func DecodeAccount(v []byte) (Account, error) {
	var a Account
	if len(v) < 1 || (v[0] != codecV1 && v[0] != codecV2 && v[0] != codecV3) {
		return a, fmt.Errorf("account record of %d bytes", len(v))
	}
	v2, v3 := v[0] >= codecV2, v[0] == codecV3
	r := &reader{b: v[1:]}
	if v2 {
		a.Deposits = r.varint()
	} else {
		a.Deposits = int64(r.u64())
	}
	if at := int64(r.u64()); at != 0 {
		a.LastDepositAt = time.Unix(0, at).UTC()
	}
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%d balances in %d bytes", n, len(r.b))
	}
	if r.err == nil {
		a.Balances = make([]AccountBalance, n)
	}
	for i := range a.Balances {
		b := &a.Balances[i]
		b.Currency = string(r.bytes())
		b.Chain = chain.ID(r.bytes())
		if v2 {
			b.Pending, b.Available = r.amount(), r.amount()
			if v3 {
				mask := r.take(1)
				for j := range b.Counts {
					if len(mask) == 1 && mask[0]&(1<<j) != 0 {
						b.Counts[j] = int64(r.uvarint())
					}
				}
			}
		} else {
			b.Pending, _ = chain.AmountFromBytes(r.take(32))
			b.Available, _ = chain.AmountFromBytes(r.take(32))
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes after the balances", len(r.b))
	}
	if r.err != nil {
		return a, fmt.Errorf("account record: %w", r.err)
	}
	return a, nil
}

// GetAccount reads a reference's account; a zero one if it has none.
func GetAccount(r Reader, merchant, ref string) (Account, error) {
	return getDecoded(r, AccountKey(merchant, ref), DecodeAccount)
}

// ScanAccounts calls fn with each account of a merchant, in reference order.
func ScanAccounts(r Reader, merchant string, fn func(ref string, a *Account) error) error {
	p := AccountKey(merchant, "")
	return Scan(r, p, false, func(k, v []byte) (bool, error) {
		a, err := DecodeAccount(v)
		if err != nil {
			return false, fmt.Errorf("store: decode %q: %w", printable(k), err)
		}
		return true, fn(string(k[len(p):]), &a)
	})
}

// getDecoded reads key and decodes it with dec; the zero value if missing.
func getDecoded[T any](r Reader, key []byte, dec func([]byte) (T, error)) (T, error) {
	var zero T
	v, closer, err := r.Get(key)
	if errors.Is(err, ErrNotFound) {
		return zero, nil
	}
	if err != nil {
		return zero, err
	}
	defer closer.Close()
	out, err := dec(v)
	if err != nil {
		return zero, fmt.Errorf("store: decode %q: %w", printable(key), err)
	}
	return out, nil
}

// AppendIDs appends ids as the value of an index row that lists the
// deposits of one block (DB/) or of one merchant in one batch (DM/). Ids
// with block tags are written compactly: a 0 byte, then for each run of ids
// with the same tag, the tag's 8 bytes, the run's length, and each id's
// other 8 bytes (about 8 bytes an id instead of 37). A row that holds an id
// without a tag lists them all as earlier versions did, each
// length-prefixed.
func AppendIDs(out []byte, ids []string) []byte {
	at := len(out)
	out = append(out, 0)
	for i := 0; i < len(ids); {
		j := i + 1
		for j < len(ids) && len(ids[j]) > blockTagLen && ids[j][:blockTagLen] == ids[i][:blockTagLen] {
			j++
		}
		raw, ok := rawID(ids[i])
		if !ok {
			return appendIDsAsText(out[:at], ids)
		}
		out = append(out, raw[:8]...)
		out = binary.AppendUvarint(out, uint64(j-i))
		out = append(out, raw[8:]...)
		for _, id := range ids[i+1 : j] {
			if raw, ok = rawID(id); !ok {
				return appendIDsAsText(out[:at], ids)
			}
			out = append(out, raw[8:]...)
		}
		i = j
	}
	return out
}

// appendIDsAsText appends ids each length-prefixed, the form of a row that
// holds an id without a block tag.
func appendIDsAsText(out []byte, ids []string) []byte {
	for _, id := range ids {
		out = appendBytes(out, []byte(id))
	}
	return out
}

// unhex is the value of each lower-case hex digit, and 0xff for every
// other byte.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()

// rawID is the 16 bytes a tagged deposit id spells in hex. An id in any
// other form (upper-case hex among them) is not one: it is kept as it is.
func rawID(id string) (raw [16]byte, ok bool) {
	if len(id) != blockTagLen+16 || id[:4] != "dep_" {
		return raw, false
	}
	var bad byte
	for i := range raw {
		hi, lo := unhex[id[4+2*i]], unhex[id[5+2*i]]
		bad |= hi | lo
		raw[i] = hi<<4 | lo
	}
	return raw, bad&0xf0 == 0
}

// IDOfRaw is the deposit id of 16 raw bytes.
func IDOfRaw(raw []byte) string { return "dep_" + hex.EncodeToString(raw) }

// AppendRawID appends a deposit id as 16 raw bytes if it has a block tag,
// and reports whether it did.
func AppendRawID(out []byte, id string) ([]byte, bool) {
	raw, ok := rawID(id)
	if !ok {
		return out, false
	}
	return append(out, raw[:]...), true
}

// IndexIDs returns the deposit ids of a DB/ or DM/ row whose key is prefix
// (of length n) followed by the first id. Earlier versions wrote one row per
// deposit with an empty value: that row names its one id.
func IndexIDs(key, value []byte, n int) ([]string, error) {
	if len(value) == 0 {
		return []string{string(key[n:])}, nil
	}
	var ids []string
	r := &reader{b: value}
	if value[0] == 0 {
		r.b = r.b[1:]
		if len(r.b) == 0 {
			r.err = errShort // a row lists at least one deposit
		}
		for len(r.b) > 0 && r.err == nil {
			tag := r.take(8)
			c, w := binary.Uvarint(r.b)
			if w <= 0 || c == 0 || c > uint64(len(r.b)) {
				r.err = errShort
				break
			}
			r.b = r.b[w:]
			var raw [16]byte
			copy(raw[:], tag)
			for range c {
				copy(raw[8:], r.take(8))
				ids = append(ids, IDOfRaw(raw[:]))
			}
		}
	} else {
		for len(r.b) > 0 && r.err == nil {
			ids = append(ids, string(r.bytes()))
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("store: index row %q: %w", printable(key), r.err)
	}
	return ids, nil
}

// GetTotals reads a merchant's totals row: its accounts added up; zero if
// it has none.
func GetTotals(r Reader, merchant string) (Account, error) {
	return getDecoded(r, MerchantTotalsKey(merchant), DecodeAccount)
}

// EachIndexID calls fn with each id of an index row, as IndexIDs reads
// them but without making their strings: raw is the 16 bytes of an id with
// a block tag (valid only during the call), text an id in any other form.
// It stops when fn returns false.
func EachIndexID(key, value []byte, n int, fn func(raw []byte, text string) bool) error {
	if len(value) == 0 {
		fn(nil, string(key[n:]))
		return nil
	}
	r := &reader{b: value}
	if value[0] != 0 {
		for len(r.b) > 0 && r.err == nil {
			if id := string(r.bytes()); r.err == nil && !fn(nil, id) {
				return nil
			}
		}
	} else {
		r.b = r.b[1:]
		if len(r.b) == 0 {
			r.err = errShort
		}
		var raw [16]byte
		for len(r.b) > 0 && r.err == nil {
			copy(raw[:8], r.take(8))
			c, w := binary.Uvarint(r.b)
			if w <= 0 || c == 0 || c > uint64(len(r.b)) {
				r.err = errShort
				break
			}
			r.b = r.b[w:]
			for range c {
				copy(raw[8:], r.take(8))
				if r.err != nil {
					break
				}
				if !fn(raw[:], "") {
					return nil
				}
			}
		}
	}
	if r.err != nil {
		return fmt.Errorf("store: index row %q: %w", printable(key), r.err)
	}
	return nil
}

// StatusOfTag reads the status of the deposits of a block tag (BS/),
// given as the tag's 8 raw bytes.
func StatusOfTag(r Reader, tag []byte) (string, error) {
	v, closer, err := r.Get(BlockStatusKey("dep_" + hex.EncodeToString(tag)))
	if err != nil {
		return "", err
	}
	defer closer.Close()
	s, err := DecodeBlockStatus(v)
	if err != nil {
		return "", err
	}
	return s.Status, nil
}
