package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/kv"
)

// Family is one record family of the key layout: its prefix, the layout of
// its keys and what a key holds. Families is the layout; doc.go's key table
// says the same (TestKeyTable holds them together), and no package outside
// store writes a prefix (TestNoKeyLiterals).
type Family struct {
	Prefix, Layout, Holds string
}

// The prefixes. They are unexported: other packages build keys with the
// typed constructors below.
const (
	pMerchant      = "M/"
	pAPIKey        = "K/"
	pMerchantKey   = "MK/"
	pPoolAddress   = "A/"
	pAddressID     = "I/"
	pMerchantPool  = "PM/"
	pAvailable     = "V/"
	pAvailQueue    = "VP/"
	pCooldown      = "C/"
	pConflict      = "AC/"
	pReference     = "R/"
	pBinding       = "H/"
	pDeposit       = "D/"
	pBlockStatus   = "BS/"
	pByMerchant    = "DM/"
	pByBlock       = "DB/"
	pOrphanedTx    = "DT/"
	pPendingOld    = "DP/"
	pOpenOld       = "DO/"
	pAccount       = "RB/"
	pBalanceOld    = "B/"
	pRefStatsOld   = "RS/"
	pChainState    = "S/"
	pCanon         = "CB/"
	pOutbox        = "O/"
	pOffset        = "OF/"
	pIdempotency   = "IK/"
	pIdemExpiry    = "IX/"
	pEndpoint      = "W/"
	pEvent         = "E/"
	pDelivery      = "WD/"
	pDeliveryLog   = "WL/"
	pDeliveryDue   = "WQ/"
	pCounter       = "Q/"
	pMerchantCount = "N/"
	pTotals        = "MT/"
	pListOpen      = "LO/"
	pListOrphaned  = "LX/"
	pListRef       = "LR/"
	pListAsset     = "LA/"
	pListQueue     = "LQ/"
	pRefTrigram    = "RG/"
	pRefName       = "RN/"
	pSession       = "PS/"
	pSessionID     = "PI/"
	pSessionOpen   = "PO/"
	pChannel       = "CH/"
)

// Families is every record family ledgerd writes, in doc.go's order.
var Families = []Family{
	{pMerchant, "M/<merchant>", "merchant"},
	{pAPIKey, "K/<sha256(api key)>", "api key → merchant"},
	{pMerchantKey, "MK/<merchant>0<key id>", "a merchant's API keys: id, prefix, created, hash (listing and revoking)"},
	{pPoolAddress, "A/<family><address bytes>", "pool address (owner, status, binding)"},
	{pAddressID, "I/<address id>", "address id → A key"},
	{pMerchantPool, "PM/<merchant>0<address id>", "a merchant's pool addresses, in import order"},
	{pAvailable, "V/<merchant>0<family><seq>", "available addresses, first available first → address id"},
	{pAvailQueue, "VP/<merchant>0<family>", "the available addresses' queue: the last seq given, the last taken"},
	{pCooldown, "C/<merchant>0<family><until><id>", "addresses cooling down until <until>"},
	{pConflict, "AC/<length><family><address bytes><claimant>", "an import refused: the address is in another merchant's pool"},
	{pReference, "R/<merchant>0<reference>", "deposit reference (metadata, active bindings)"},
	{pRefTrigram, "RG/<merchant>0<length><trigram><reference>", "the references holding a trigram (three lower-case characters), for search"},
	{pRefName, "RN/<merchant>0<reference>", "a merchant's references by name alone, for paging past them"},
	{pSession, "PS/<merchant>0<session id>", "payment session: options, addresses, payments, timeline"},
	{pSessionID, "PI/<session id>", "session id → merchant (the checkout page's lookup)"},
	{pSessionOpen, "PO/<session id>", "sessions still followed: not released yet"},
	{pChannel, "CH/<merchant>0<customer>0<family>", "a customer's channel address of a protocol (the Channel API)"},
	{pBinding, "H/<address id><bound at>", "binding history of an address"},
	{pDeposit, "D/<deposit id>", "deposit, as detected (see BlockTag)"},
	{pBlockStatus, "BS/<block tag>", "status of a block's deposits, and when they took each"},
	{pByMerchant, "DM/<merchant>0<detected at><first id>", "the deposits one batch detected, in id order"},
	{pByBlock, "DB/<chain>0<number><block hash><first id>", "the deposits a block made when connected"},
	{pOrphanedTx, "DT/<chain>0<tx hash><index>", "orphaned deposit of a transfer not mined again (replaces)"},
	{pPendingOld, "DP/<chain>0<number><deposit id>", "pending deposits (earlier versions; removed on open)"},
	{pOpenOld, "DO/<chain>0<number><deposit id>", "open deposits (earlier versions; removed on open)"},
	{pAccount, "RB/<merchant>0<reference>", "account: deposits, last deposit time, and a balance and deposits by status per currency and chain"},
	{pTotals, "MT/<merchant>", "a merchant's accounts added up: its balances and deposits by status per currency and chain"},
	{pListOpen, "LO/<merchant>0<detected at><block tag>", "a merchant's open (pending or confirmed) deposits of one block"},
	{pListOrphaned, "LX/<merchant>0<detected at><block tag>", "a merchant's orphaned deposits of one block"},
	{pListRef, "LR/<merchant>0<reference>0<detected at><first id>", "a reference's deposits one batch detected (built from LQ/)"},
	{pListAsset, "LA/<merchant>0<chain>0<currency>0<detected at><first id>", "an asset's deposits one batch detected (built from LQ/)"},
	{pListQueue, "LQ/<seq>", "detection rows (DM/) not yet indexed in LR/ and LA/"},
	{pBalanceOld, "B/<merchant>0<reference>0<currency>0<chain>", "balance (earlier versions; moved into accounts)"},
	{pRefStatsOld, "RS/<merchant>0<reference>", "reference totals (earlier versions; moved into accounts)"},
	{pChainState, "S/<chain>", "chain state: tip, finalized, halt"},
	{pCanon, "CB/<chain>0<number>", "canonical blocks the ledger applied: hash, parent"},
	{pOutbox, "O/<seq>", "outbox: address records, and deposit events (up to 1000 a row)"},
	{pOffset, "OF/<topic>0<partition>", "next offset to consume"},
	{pIdempotency, "IK/<merchant>0<key>", "idempotency key → stored response"},
	{pIdemExpiry, "IX/<created at><merchant>0<key>", "idempotency keys by age, for their expiry"},
	{pEndpoint, "W/<merchant>0<endpoint id>", "webhook endpoint"},
	{pEvent, "E/<event id>", "event (for replay)"},
	{pDelivery, "WD/<delivery id>", "webhook delivery state"},
	{pDeliveryLog, "WL/<endpoint id>0<created><delivery>", "delivery log per endpoint"},
	{pDeliveryDue, "WQ/<due at><delivery id>", "deliveries waiting, by due time"},
	{pCounter, "Q/<name>", "counters"},
	{pMerchantCount, "N/<merchant>0<what>", "per-merchant counts that bound its resources"},
}

// key builds a key part by part; each append method writes one part.
type key []byte

func newKey(prefix string) key      { return append(make(key, 0, 64), prefix...) }
func (k key) str(s string) key      { return append(k, s...) }
func (k key) bytes(b []byte) key    { return append(k, b...) }
func (k key) sep() key              { return append(k, 0) }
func (k key) b(v byte) key          { return append(k, v) }
func (k key) u32(v uint32) key      { return binary.BigEndian.AppendUint32(k, v) }
func (k key) u64(v uint64) key      { return binary.BigEndian.AppendUint64(k, v) }
func (k key) uvarint(v uint64) key  { return binary.AppendUvarint(k, v) }
func (k key) time(t int64) key      { return k.u64(uint64(t) ^ (1 << 63)) } // sorts signed
func timeAt(b []byte) int64         { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }
func (k key) merchant(m string) key { return k.str(m).sep() }

// Merchants and keys.

// MerchantKey is a merchant's row.
func MerchantKey(id string) []byte { return newKey(pMerchant).str(id) }

// MerchantPrefix spans every merchant.
func MerchantPrefix() []byte { return newKey(pMerchant) }

// APIKeyKey maps an API key's hash to its merchant.
func APIKeyKey(hash []byte) []byte { return newKey(pAPIKey).bytes(hash) }

// APIKeyPrefix spans every API key.
func APIKeyPrefix() []byte { return newKey(pAPIKey) }

// MerchantKeyKey is one API key of a merchant, by its id.
func MerchantKeyKey(merchant, id string) []byte {
	return newKey(pMerchantKey).merchant(merchant).str(id)
}

// MerchantKeyPrefix spans a merchant's API keys.
func MerchantKeyPrefix(merchant string) []byte { return newKey(pMerchantKey).merchant(merchant) }

// The pool.

// PoolAddressKey is a pool address's row.
func PoolAddressKey(a chain.Address) []byte { return newKey(pPoolAddress).bytes(a.Key()) }

// AppendPoolAddressKey appends a pool address's key to dst.
func AppendPoolAddressKey(dst []byte, a chain.Address) []byte {
	return append(append(dst, pPoolAddress...), a.Key()...)
}

// AddressIDKey maps an address id to its row's key.
func AddressIDKey(id uint64) []byte { return newKey(pAddressID).u64(id) }

// AddressIDPrefix spans every pool address, by id.
func AddressIDPrefix() []byte { return newKey(pAddressID) }

// MerchantPoolKey lists one address of a merchant's pool.
func MerchantPoolKey(merchant string, id uint64) []byte {
	return newKey(pMerchantPool).merchant(merchant).u64(id)
}

// MerchantPoolPrefix spans a merchant's pool, in import order.
func MerchantPoolPrefix(merchant string) []byte { return newKey(pMerchantPool).merchant(merchant) }

// MerchantPoolID reads the address id of a MerchantPoolKey.
func MerchantPoolID(k []byte) uint64 { return binary.BigEndian.Uint64(k[len(k)-8:]) }

// AvailableKey is an address's place in its merchant's queue of available
// addresses of a family. The queue is first in, first out, and taken from
// its head by seeking past the last seq taken (AvailQueueKey), never by
// scanning from its start: the deletes of every address bound before stay
// there as tombstones until compactions drop them.
func AvailableKey(merchant string, fam chain.Family, seq uint64) []byte {
	return newKey(pAvailable).merchant(merchant).b(byte(fam)).u64(seq)
}

// AvailablePrefix spans a merchant's available addresses of a family,
// first available first.
func AvailablePrefix(merchant string, fam chain.Family) []byte {
	return newKey(pAvailable).merchant(merchant).b(byte(fam))
}

// AvailableAll spans every merchant's available addresses.
func AvailableAll() []byte { return newKey(pAvailable) }

// AvailableSeq reads the seq of an AvailableKey.
func AvailableSeq(k []byte) uint64 { return binary.BigEndian.Uint64(k[len(k)-8:]) }

// AvailQueueKey holds a merchant's queue of available addresses of a
// family: the last seq given and the last seq taken.
func AvailQueueKey(merchant string, fam chain.Family) []byte {
	return newKey(pAvailQueue).merchant(merchant).b(byte(fam))
}

// AvailQueue is that row.
type AvailQueue struct{ Given, Taken uint64 }

// GetAvailQueue reads a queue's row (zero if none).
func GetAvailQueue(r Reader, merchant string, fam chain.Family) (AvailQueue, error) {
	v, err := GetRaw(r, AvailQueueKey(merchant, fam))
	if errors.Is(err, ErrNotFound) {
		return AvailQueue{}, nil
	}
	if err != nil {
		return AvailQueue{}, err
	}
	if len(v) != 16 {
		return AvailQueue{}, fmt.Errorf("store: available queue row of %d bytes", len(v))
	}
	return AvailQueue{binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])}, nil
}

// PutAvailQueue writes a queue's row.
func (b *Batch) PutAvailQueue(merchant string, fam chain.Family, q AvailQueue) error {
	return b.Set(AvailQueueKey(merchant, fam), binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, q.Given), q.Taken), nil)
}

// CooldownKey marks an address cooling down until until (unix nanos).
func CooldownKey(merchant string, fam chain.Family, until int64, id uint64) []byte {
	return newKey(pCooldown).merchant(merchant).b(byte(fam)).time(until).u64(id)
}

// CooldownPrefix spans a merchant's cooling addresses of a family, soonest
// first; with merchant "", every merchant's.
func CooldownPrefix(merchant string, fam chain.Family) []byte {
	if merchant == "" {
		return newKey(pCooldown)
	}
	return newKey(pCooldown).merchant(merchant).b(byte(fam))
}

// CooldownOf reads a CooldownKey.
func CooldownOf(k []byte) (merchant string, fam chain.Family, until int64, id uint64, ok bool) {
	rest := k[len(pCooldown):]
	for i, c := range rest {
		if c == 0 {
			if len(rest) != i+1+1+16 {
				return "", 0, 0, 0, false
			}
			r := rest[i+1:]
			return string(rest[:i]), chain.Family(r[0]), timeAt(r[1:9]), binary.BigEndian.Uint64(r[9:]), true
		}
	}
	return "", 0, 0, 0, false
}

// ConflictKey records that claimant tried to import an address in another
// merchant's pool. The address is length-prefixed: its bytes may hold 0x00.
func ConflictKey(a chain.Address, claimant string) []byte {
	return append(ConflictAddressPrefix(a), claimant...)
}

// ConflictAddressPrefix spans the conflicts over one address.
func ConflictAddressPrefix(a chain.Address) []byte {
	k := a.Key()
	return newKey(pConflict).uvarint(uint64(len(k))).bytes(k)
}

// ConflictOf reads a ConflictKey.
func ConflictOf(k []byte) (chain.Address, string, bool) {
	rest := k[len(pConflict):]
	n, w := binary.Uvarint(rest)
	if w <= 0 || uint64(len(rest)-w) < n {
		return chain.Address{}, "", false
	}
	a, err := chain.AddressFromKey(rest[w : w+int(n)])
	if err != nil {
		return chain.Address{}, "", false
	}
	return a, string(rest[w+int(n):]), true
}

// ConflictPrefix spans every conflict.
func ConflictPrefix() []byte { return newKey(pConflict) }

// References and bindings.

// ReferenceKey is a deposit reference's row.
func ReferenceKey(merchant, ref string) []byte { return newKey(pReference).merchant(merchant).str(ref) }

// ReferenceAll spans every merchant's references.
func ReferenceAll() []byte { return newKey(pReference) }

// ReferenceOf is the reference a ReferenceKey under prefix names.
func ReferenceOf(k []byte, prefix []byte) string { return string(k[len(prefix):]) }

// ReferencePrefix spans a merchant's references, in reference order.
func ReferencePrefix(merchant string) []byte { return newKey(pReference).merchant(merchant) }

// BindingKey is one interval of an address's binding history.
func BindingKey(addressID uint64, boundAt int64) []byte {
	return newKey(pBinding).u64(addressID).time(boundAt)
}

// BindingPrefix spans an address's binding history, oldest first.
func BindingPrefix(addressID uint64) []byte { return newKey(pBinding).u64(addressID) }

// Chain state.

// ChainStateKey is the ledger's state of a chain.
func ChainStateKey(id chain.ID) []byte { return newKey(pChainState).str(string(id)) }

// CanonKey is a canonical block the ledger applied.
func CanonKey(id chain.ID, n uint64) []byte { return newKey(pCanon).str(string(id)).sep().u64(n) }

// Outbox and offsets.

// OutboxKey is an outbox row.
func OutboxKey(seq uint64) []byte { return newKey(pOutbox).u64(seq) }

// OutboxPrefix spans the outbox, oldest first.
func OutboxPrefix() []byte { return newKey(pOutbox) }

// OffsetKey is where the next offset of a partition is stored.
func OffsetKey(topic string, partition int32) []byte {
	return kv.OffsetKey(newKey(pOffset), topic, partition)
}

// Idempotency.

// IdempotencyKey is the stored response of an Idempotency-Key.
func IdempotencyKey(merchant, k string) []byte { return newKey(pIdempotency).merchant(merchant).str(k) }

// IdempotencyExpiryKey indexes an idempotency record by its creation.
func IdempotencyExpiryKey(created time.Time, merchant, k string) []byte {
	return newKey(pIdemExpiry).time(created.UnixNano()).merchant(merchant).str(k)
}

// IdempotencyExpiryPrefix spans the idempotency records, oldest first.
func IdempotencyExpiryPrefix() []byte { return newKey(pIdemExpiry) }

// IdempotencyExpiryOf reads an IdempotencyExpiryKey.
func IdempotencyExpiryOf(k []byte) (created int64, merchant, key string, ok bool) {
	rest := k[len(pIdemExpiry):]
	if len(rest) < 9 {
		return 0, "", "", false
	}
	created = timeAt(rest[:8])
	rest = rest[8:]
	for i, c := range rest {
		if c == 0 {
			return created, string(rest[:i]), string(rest[i+1:]), true
		}
	}
	return 0, "", "", false
}

// Webhooks.

// EndpointKey is a webhook endpoint.
func EndpointKey(merchant, id string) []byte { return newKey(pEndpoint).merchant(merchant).str(id) }

// EndpointPrefix spans a merchant's endpoints.
func EndpointPrefix(merchant string) []byte { return newKey(pEndpoint).merchant(merchant) }

// EventKey is a stored event, for replay and delivery.
func EventKey(id string) []byte { return newKey(pEvent).str(id) }

// DeliveryKey is a delivery's state.
func DeliveryKey(id string) []byte { return newKey(pDelivery).str(id) }

// DeliveryLogKey lists a delivery in its endpoint's log.
func DeliveryLogKey(endpointID string, created time.Time, id string) []byte {
	return newKey(pDeliveryLog).str(endpointID).sep().time(created.UnixNano()).str(id)
}

// DeliveryLogPrefix spans an endpoint's log, oldest first.
func DeliveryLogPrefix(endpointID string) []byte { return newKey(pDeliveryLog).str(endpointID).sep() }

// DeliveryLogID reads the delivery id of a DeliveryLogKey.
func DeliveryLogID(endpointID string, k []byte) string {
	return string(k[len(pDeliveryLog)+len(endpointID)+1+8:])
}

// DueKey queues a delivery for an attempt at at.
func DueKey(at time.Time, id string) []byte { return newKey(pDeliveryDue).time(at.UnixNano()).str(id) }

// DueFrom is the first key of the deliveries due at t or later.
func DueFrom(t int64) []byte { return newKey(pDeliveryDue).time(t) }

// DuePrefix spans the queued deliveries, soonest first.
func DuePrefix() []byte { return newKey(pDeliveryDue) }

// DueOf reads a DueKey.
func DueOf(k []byte) (at int64, id string, ok bool) {
	rest := k[len(pDeliveryDue):]
	if len(rest) < 8 {
		return 0, "", false
	}
	return timeAt(rest[:8]), string(rest[8:]), true
}

// Counters.

// CounterKey is a named counter (Batch.Next).
func CounterKey(name string) []byte { return newKey(pCounter).str(name) }

// MerchantCountKey is one of a merchant's resource counts.
func MerchantCountKey(merchant, what string) []byte {
	return newKey(pMerchantCount).merchant(merchant).str(what)
}

// Rows several packages write or read.

// QueueOutbox queues a row for the outbox relay, after every row queued
// before it.
func (b *Batch) QueueOutbox(row OutboxRow) error {
	seq, err := b.Next("outbox")
	if err != nil {
		return err
	}
	return b.Set(OutboxKey(seq), row.Encode(), nil)
}

// SetOffset stores the next offset to consume of a partition.
func (b *Batch) SetOffset(topic string, partition int32, next int64) error {
	return b.Set(OffsetKey(topic, partition), kv.OffsetValue(next), nil)
}

// Offsets reads the stored next offsets of the given topics: the ledger's
// and the webhook dispatcher's, each kept in the batch that applies what it
// consumed (the layout is pkg/kv's, which the matcher shares).
func Offsets(r Reader, topics []string) (map[string]map[int32]int64, error) {
	return kv.Offsets(r, newKey(pOffset), topics...)
}

// GetChainState reads the ledger's state of a chain (zero if none).
func GetChainState(r Reader, id chain.ID) (*ChainState, error) {
	st := &ChainState{}
	if err := GetJSON(r, ChainStateKey(id), st); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return st, nil
}

// Deposits and their indexes.

// MerchantIndexKey is the row listing the deposits of a merchant one batch
// detected, the first of them being first.
func MerchantIndexKey(merchant string, detected time.Time, first string) []byte {
	return newKey(pByMerchant).merchant(merchant).time(detected.UnixNano()).str(first)
}

// MerchantIndexAll spans every merchant's detection rows.
func MerchantIndexAll() []byte { return newKey(pByMerchant) }

// MerchantIndexPrefix spans a merchant's detection rows, oldest first.
func MerchantIndexPrefix(merchant string) []byte { return newKey(pByMerchant).merchant(merchant) }

// MerchantIndexFixed is how many bytes of a MerchantIndexKey follow its
// prefix before the first id.
const MerchantIndexFixed = 8

// BlockIndexKey is the row listing the deposits a block made when it was
// connected, the first of them being first.
func BlockIndexKey(id chain.ID, n uint64, block chain.Hash, first string) []byte {
	return newKey(pByBlock).str(string(id)).sep().u64(n).bytes(block[:]).str(first)
}

// BlockIndexPrefix spans a chain's block rows, lowest block first.
func BlockIndexPrefix(id chain.ID) []byte { return newKey(pByBlock).str(string(id)).sep() }

// BlockIndexFrom is where a chain's block rows from block n on begin.
func BlockIndexFrom(id chain.ID, n uint64) []byte {
	return newKey(pByBlock).str(string(id)).sep().u64(n)
}

// BlockIndexFixed is how many bytes of a BlockIndexKey follow its prefix
// before the first id.
const BlockIndexFixed = 8 + 32

// TransferName names a transfer (chain, transaction, position) in the
// orphan rows (DT/) and the ledger's memory of them.
func TransferName(id chain.ID, tx []byte, index uint32) string {
	return string(key(nil).str(string(id)).sep().bytes(tx).u32(index))
}

// OrphanedTransferKey is the row of a transfer whose deposit was orphaned
// and not mined again yet.
func OrphanedTransferKey(transfer string) []byte { return newKey(pOrphanedTx).str(transfer) }

// OrphanedTransferPrefix spans a chain's orphaned transfers.
func OrphanedTransferPrefix(id chain.ID) []byte { return newKey(pOrphanedTx).str(string(id)).sep() }

// OrphanedTransferOf is the transfer name of an OrphanedTransferKey.
func OrphanedTransferOf(k []byte) string { return string(k[len(pOrphanedTx):]) }

// OldOpenIndexPrefixes span a chain's rows of the pending and open
// indexes earlier versions kept (DP/, DO/).
func OldOpenIndexPrefixes(id chain.ID) [][]byte {
	return [][]byte{newKey(pPendingOld).str(string(id)).sep(), newKey(pOpenOld).str(string(id)).sep()}
}

// OldBalancePrefix and OldRefStatsPrefix span the balance (B/) and totals
// (RS/) rows earlier versions kept; their keys are the prefix and the
// parts, 0x00-separated: merchant, reference, currency, chain (B/), and
// merchant, reference (RS/).
func OldBalancePrefix() []byte  { return newKey(pBalanceOld) }
func OldRefStatsPrefix() []byte { return newKey(pRefStatsOld) }

// DepositPrefix spans every deposit.
func DepositPrefix() []byte { return newKey(pDeposit) }

// AccountPrefix spans every account.
func AccountPrefix() []byte { return newKey(pAccount) }

// scanIndex calls fn with the deposit ids of each row of an index whose
// keys are prefix, a name without 0x00, 0x00, fixed bytes and the first id.
func scanIndex(r Reader, prefix []byte, fixed int, fn func(ids []string) error) error {
	return Scan(r, prefix, false, func(k, v []byte) (bool, error) {
		sep := bytes.IndexByte(k[len(prefix):], 0)
		if sep < 0 || len(k) < len(prefix)+sep+1+fixed {
			return false, fmt.Errorf("store: index key %q", printable(k))
		}
		ids, err := IndexIDs(k, v, len(prefix)+sep+1+fixed)
		if err != nil {
			return false, err
		}
		return true, fn(ids)
	})
}

// ScanBlockIndex calls fn with the ids of every block index row.
func ScanBlockIndex(r Reader, fn func(ids []string) error) error {
	return scanIndex(r, newKey(pByBlock), BlockIndexFixed, fn)
}

// ScanMerchantIndex calls fn with the ids of every merchant index row.
func ScanMerchantIndex(r Reader, fn func(ids []string) error) error {
	return scanIndex(r, newKey(pByMerchant), MerchantIndexFixed, fn)
}

// Listings. Every listing row's key is its prefix, the detection time (8
// bytes) and the row's first id or block tag; its value lists deposit ids
// as AppendIDs writes them.

// ListingDetected reads the detection time of a listing row whose prefix
// has length n.
func ListingDetected(k []byte, n int) int64 { return timeAt(k[n : n+8]) }

// ListingFrom is where a listing's rows detected at or after t begin.
func ListingFrom(prefix []byte, t int64) []byte {
	return key(append([]byte(nil), prefix...)).time(t)
}

// MerchantTotalsKey is a merchant's totals row (an account).
func MerchantTotalsKey(merchant string) []byte { return newKey(pTotals).str(merchant) }

// ListOpenKey lists a merchant's open deposits of one block.
func ListOpenKey(merchant string, detected int64, tag string) []byte {
	return newKey(pListOpen).merchant(merchant).time(detected).str(tag)
}

// ListOpenPrefix spans a merchant's open deposits.
func ListOpenPrefix(merchant string) []byte { return newKey(pListOpen).merchant(merchant) }

// ListOrphanedKey lists a merchant's orphaned deposits of one block.
func ListOrphanedKey(merchant string, detected int64, tag string) []byte {
	return newKey(pListOrphaned).merchant(merchant).time(detected).str(tag)
}

// ListOrphanedPrefix spans a merchant's orphaned deposits.
func ListOrphanedPrefix(merchant string) []byte { return newKey(pListOrphaned).merchant(merchant) }

// ListRefKey lists a reference's deposits one batch detected.
func ListRefKey(merchant, ref string, detected int64, first string) []byte {
	return newKey(pListRef).merchant(merchant).str(ref).sep().time(detected).str(first)
}

// ListRefPrefix spans a reference's deposits.
func ListRefPrefix(merchant, ref string) []byte {
	return newKey(pListRef).merchant(merchant).str(ref).sep()
}

// ListAssetKey lists an asset's deposits one batch detected.
func ListAssetKey(merchant string, id chain.ID, currency string, detected int64, first string) []byte {
	return newKey(pListAsset).merchant(merchant).str(string(id)).sep().str(currency).sep().time(detected).str(first)
}

// ListAssetPrefix spans an asset's deposits.
func ListAssetPrefix(merchant string, id chain.ID, currency string) []byte {
	return newKey(pListAsset).merchant(merchant).str(string(id)).sep().str(currency).sep()
}

// ListQueueKey is a queued batch of detection rows to index.
func ListQueueKey(seq uint64) []byte { return newKey(pListQueue).u64(seq) }

// ListQueuePrefix spans the queue, oldest first.
func ListQueuePrefix() []byte { return newKey(pListQueue) }

// ListQueueSeq reads the seq of a ListQueueKey.
func ListQueueSeq(k []byte) uint64 { return binary.BigEndian.Uint64(k[len(pListQueue):]) }

const listingIndexed = "listing-indexed"

// ListQueueHead is where the queue's rows not yet indexed begin: after the
// last seq the listing indexer took (kept with the rows it wrote), so that
// reading the queue skips the deletes of every row indexed before instead
// of stepping over them.
func ListQueueHead(r Reader) ([]byte, error) {
	v, err := GetRaw(r, CounterKey(listingIndexed))
	if errors.Is(err, ErrNotFound) {
		return ListQueuePrefix(), nil
	}
	if err != nil {
		return nil, err
	}
	if len(v) != 8 {
		return nil, fmt.Errorf("store: listing indexed mark of %d bytes", len(v))
	}
	return ListQueueKey(binary.BigEndian.Uint64(v) + 1), nil
}

// SetListQueueIndexed records that the queue's rows up to seq are indexed.
func (b *Batch) SetListQueueIndexed(seq uint64) error {
	return b.Set(CounterKey(listingIndexed), binary.BigEndian.AppendUint64(nil, seq), nil)
}

// ScanListQueue calls fn with each queue row not yet indexed, in order.
func ScanListQueue(r Reader, fn func(k, v []byte) (bool, error)) error {
	head, err := ListQueueHead(r)
	if err != nil {
		return err
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: head, UpperBound: PrefixEnd(ListQueuePrefix())})
	if err != nil {
		return err
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		more, err := fn(it.Key(), it.Value())
		if err != nil || !more {
			return err
		}
	}
	return it.Error()
}

// AppendQueuedRow appends a detection row's key to a queue row's value.
func AppendQueuedRow(out, dmKey []byte) []byte {
	return append(binary.AppendUvarint(out, uint64(len(dmKey))), dmKey...)
}

// QueuedRows reads the detection row keys of a queue row's value.
func QueuedRows(v []byte) ([][]byte, error) {
	var out [][]byte
	for len(v) > 0 {
		n, w := binary.Uvarint(v)
		if w <= 0 || uint64(len(v)-w) < n {
			return nil, fmt.Errorf("store: queue row")
		}
		out = append(out, v[w:w+int(n)])
		v = v[w+int(n):]
	}
	return out, nil
}

// MerchantIndexOf reads a detection row's key: its merchant, time and
// first id.
func MerchantIndexOf(k []byte) (merchant string, detected int64, first string, ok bool) {
	rest := k[len(pByMerchant):]
	i := bytes.IndexByte(rest, 0)
	if i < 0 || len(rest) < i+1+8 {
		return "", 0, "", false
	}
	return string(rest[:i]), timeAt(rest[i+1 : i+9]), string(rest[i+9:]), true
}

// RefNameKey lists a reference by its name alone: a page of references
// skips these rows, a few bytes each, not the references' rows.
func RefNameKey(merchant, ref string) []byte { return newKey(pRefName).merchant(merchant).str(ref) }

// RefNamePrefix spans a merchant's references by name.
func RefNamePrefix(merchant string) []byte { return newKey(pRefName).merchant(merchant) }

// RefTrigramKey names a reference holding a trigram.
func RefTrigramKey(merchant, trigram, ref string) []byte {
	return append(RefTrigramPrefix(merchant, trigram), ref...)
}

// RefTrigramPrefix spans the references holding a trigram.
func RefTrigramPrefix(merchant, trigram string) []byte {
	return newKey(pRefTrigram).merchant(merchant).b(byte(len(trigram))).str(trigram)
}

// MerchantTotalsPrefix spans every merchant's totals.
func MerchantTotalsPrefix() []byte { return newKey(pTotals) }

// scanListing calls fn with each row of a per-block listing (LO/, LX/):
// its merchant, detection time, tag and ids.
func scanListing(r Reader, prefix string, fn func(merchant string, detected int64, tag string, ids []string) error) error {
	p := newKey(prefix)
	return Scan(r, p, false, func(k, v []byte) (bool, error) {
		rest := k[len(p):]
		i := bytes.IndexByte(rest, 0)
		if i < 0 || len(rest) < i+1+8 {
			return false, fmt.Errorf("store: listing key %q", printable(k))
		}
		ids, err := IndexIDs(k, v, len(p)+i+1+8)
		if err != nil {
			return false, err
		}
		return true, fn(string(rest[:i]), timeAt(rest[i+1:i+9]), string(rest[i+9:]), ids)
	})
}

// ScanListOpen calls fn with every row of open deposits.
func ScanListOpen(r Reader, fn func(merchant string, detected int64, tag string, ids []string) error) error {
	return scanListing(r, pListOpen, fn)
}

// ScanListOrphaned calls fn with every row of orphaned deposits.
func ScanListOrphaned(r Reader, fn func(merchant string, detected int64, tag string, ids []string) error) error {
	return scanListing(r, pListOrphaned, fn)
}

// SessionKey is a payment session.
func SessionKey(merchant, id string) []byte { return newKey(pSession).merchant(merchant).str(id) }

// SessionPrefix is a merchant's sessions.
func SessionPrefix(merchant string) []byte { return newKey(pSession).merchant(merchant) }

// SessionIDKey maps a session id to its merchant.
func SessionIDKey(id string) []byte { return newKey(pSessionID).str(id) }

// OpenSessionKey marks a session still followed.
func OpenSessionKey(id string) []byte { return newKey(pSessionOpen).str(id) }

// OpenSessionPrefix is every session still followed.
func OpenSessionPrefix() []byte { return newKey(pSessionOpen) }

// OpenSessionOf reads the session id of an OpenSessionKey.
func OpenSessionOf(k []byte) string { return string(k[len(pSessionOpen):]) }

// ChannelKey is a customer's channel address of a family.
func ChannelKey(merchant, customer string, fam chain.Family) []byte {
	return append(newKey(pChannel).merchant(merchant).str(customer).sep(), byte(fam))
}

// ChannelPrefix is a customer's channels (every customer's with "").
func ChannelPrefix(merchant, customer string) []byte {
	k := newKey(pChannel).merchant(merchant)
	if customer != "" {
		k = k.str(customer).sep()
	}
	return k
}

// RegistryPrefixes are the key families the registry writes from the
// merchant API (merchants, keys, the pool, references, bindings, channels,
// endpoints): what a ledger rebuilt from the chain topics at offset 0
// keeps. Everything else ledgerd derives from the chain records.
func RegistryPrefixes() [][]byte {
	var out [][]byte
	for _, p := range []string{pMerchant, pAPIKey, pMerchantKey, pPoolAddress, pAddressID, pMerchantPool, pAvailable, pAvailQueue,
		pCooldown, pConflict, pReference, pRefTrigram, pRefName, pChannel, pBinding, pEndpoint} {
		out = append(out, []byte(p))
	}
	return out
}
