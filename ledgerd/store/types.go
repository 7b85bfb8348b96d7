package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/inflowhq/inflow/pkg/chain"
)

// Merchant is a tenant.
type Merchant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Live      bool      `json:"live"`
	CreatedAt time.Time `json:"createdAt"`
	// ToleranceBps is the merchant's payment-session tolerance.
	ToleranceBps uint32 `json:"toleranceBps,omitempty"`
}

// APIKey is one of a merchant's API keys as listed: never the key itself,
// which is shown once and stored only as its hash.
type APIKey struct {
	ID string `json:"id"` // key_ and the first 16 hex digits of the hash
	// Prefix is the key's first 12 characters (sk_test_1b12), to tell keys
	// apart; empty for a key made before keys were listed.
	Prefix    string    `json:"prefix"`
	CreatedAt time.Time `json:"createdAt"`
	Hash      string    `json:"hash"` // hex sha256 of the key
}

// Address statuses.
const (
	AddressAvailable = "available"
	AddressBound     = "bound"
	AddressCooldown  = "cooldown"
)

// PoolAddress is one imported deposit address.
type PoolAddress struct {
	ID            uint64       `json:"id"`
	Merchant      string       `json:"merchant"`
	Family        chain.Family `json:"family"`
	Raw           []byte       `json:"raw"` // canonical bytes
	Status        string       `json:"status"`
	Reference     string       `json:"reference,omitempty"`
	ChainID       chain.ID     `json:"chainId,omitempty"`
	Currency      string       `json:"currency,omitempty"`
	BoundAt       int64        `json:"boundAt,omitempty"` // unix nanos
	CooldownUntil int64        `json:"cooldownUntil,omitempty"`
	// AvailableSeq is its place in the queue of available addresses
	// (store.AvailableKey) while it is available.
	AvailableSeq uint64    `json:"availableSeq,omitempty"`
	ImportedAt   time.Time `json:"importedAt"`
	// Network is the Bitcoin network the address was imported as (its
	// text form where no chain is in question).
	Network chain.Network `json:"network,omitempty"`
}

// Text writes the address as it was imported.
func (p *PoolAddress) Text() string { return p.Address().Text(p.Network) }

// Address returns the canonical address.
func (p *PoolAddress) Address() chain.Address { return chain.MustAddress(p.Family, p.Raw) }

// Binding is an active binding of a reference on one chain.
type Binding struct {
	ChainID   chain.ID  `json:"chainId"`
	Currency  string    `json:"currency"`
	AddressID uint64    `json:"addressId"`
	CreatedAt time.Time `json:"createdAt"`
}

// Reference is a merchant's deposit reference.
type Reference struct {
	Merchant  string                     `json:"merchant"`
	Reference string                     `json:"reference"`
	Metadata  map[string]json.RawMessage `json:"metadata,omitempty"`
	CreatedAt time.Time                  `json:"createdAt"`
	Bindings  []Binding                  `json:"bindings"`
}

// BindingRecord is one interval of the binding history of an address.
type BindingRecord struct {
	Merchant  string   `json:"merchant"`
	Reference string   `json:"reference"`
	ChainID   chain.ID `json:"chainId"`
	BoundAt   int64    `json:"boundAt"`             // unix nanos
	UnboundAt int64    `json:"unboundAt,omitempty"` // 0 while bound
	// CooldownUntil is when the cooldown that began at UnboundAt ends
	// (unix nanos): a deposit in between is still the reference's, flagged
	// AfterUnbind. 0 for a record written before cooldowns were recorded.
	CooldownUntil int64 `json:"cooldownUntil,omitempty"`
	// Session is the payment session the address was bound for (its
	// reference is the session's customer).
	Session string `json:"session,omitempty"`
}

// Deposit statuses.
const (
	StatusPending   = "pending"
	StatusConfirmed = "confirmed"
	StatusCompleted = "completed"
	StatusOrphaned  = "orphaned"
)

// Deposit is one transfer into a pool address, in one block.
type Deposit struct {
	ID          string       `json:"id"`
	Merchant    string       `json:"merchant"`
	Reference   *string      `json:"reference"` // nil: unattributed
	Chain       chain.ID     `json:"chain"`
	Family      chain.Family `json:"family"`
	Currency    string       `json:"currency"`
	Decimals    uint8        `json:"decimals"`
	Amount      chain.Amount `json:"amount"` // base units
	AddressID   uint64       `json:"addressId"`
	Address     []byte       `json:"address"`
	TxHash      []byte       `json:"txHash"`
	Index       uint32       `json:"index"`
	BlockNumber uint64       `json:"blockNumber"`
	BlockHash   chain.Hash   `json:"blockHash"`
	BlockTime   int64        `json:"blockTime"`
	Status      string       `json:"status"`
	DetectedAt  time.Time    `json:"detectedAt"`
	ConfirmedAt *time.Time   `json:"confirmedAt,omitempty"`
	CompletedAt *time.Time   `json:"completedAt,omitempty"`
	OrphanedAt  *time.Time   `json:"orphanedAt,omitempty"`
	Replaces    string       `json:"replaces,omitempty"`
	// Maturity is the confirmations the transfer needs before it is
	// credited at all (a Bitcoin coinbase output: 100); 0 for none.
	Maturity uint32 `json:"maturity,omitempty"`
	// Network is the Bitcoin network the address is written for.
	Network chain.Network `json:"network,omitempty"`
	// TokenAccount is the Solana token account an SPL deposit landed in.
	TokenAccount []byte `json:"tokenAccount,omitempty"`
	// AfterUnbind: the deposit reached the address during the cooldown
	// after Reference was unbound from it.
	AfterUnbind bool `json:"afterUnbind,omitempty"`
}

// Ref returns the reference or "" when unattributed.
func (d *Deposit) Ref() string {
	if d.Reference == nil {
		return ""
	}
	return *d.Reference
}

// Balance is one (merchant, reference, currency, chain) balance in base units.
type Balance struct {
	Pending   chain.Amount `json:"pending"`
	Available chain.Amount `json:"available"`
}

// RefStats are a reference's running totals.
type RefStats struct {
	Deposits      int64     `json:"deposits"` // deposits not orphaned
	LastDepositAt time.Time `json:"lastDepositAt"`
}

// Account is a reference's row (RB/): its totals and its balance on each
// (currency, chain) it received. The unattributed deposits of a merchant
// have an account with the empty reference.
type Account struct {
	RefStats
	Balances []AccountBalance // in (currency, chain) order
}

// AccountBalance is one (currency, chain) balance of an account.
type AccountBalance struct {
	Currency string
	Chain    chain.ID
	Balance
	// Counts are its deposits by status, in StatusIndex order.
	Counts [4]int64
}

// StatusIndex is a status's place in AccountBalance.Counts: pending,
// confirmed, completed, orphaned.
func StatusIndex(status string) int { return int(statusCode(status)) }

// Count moves a deposit of this balance from status from (none when "")
// to status to (none when "").
func (b *AccountBalance) Count(from, to string) {
	if from != "" {
		b.Counts[StatusIndex(from)]--
	}
	if to != "" {
		b.Counts[StatusIndex(to)]++
	}
}

// Balance returns the account's balance of (currency, chain), adding a zero
// one if it has none.
func (a *Account) Balance(currency string, id chain.ID) *Balance {
	return &a.Entry(currency, id).Balance
}

// Entry returns the account's entry of (currency, chain), adding a zero
// one if it has none.
func (a *Account) Entry(currency string, id chain.ID) *AccountBalance {
	for i := range a.Balances {
		if b := &a.Balances[i]; b.Currency == currency && b.Chain == id {
			return b
		}
	}
	i, _ := slices.BinarySearchFunc(a.Balances, AccountBalance{Currency: currency, Chain: id}, func(x, y AccountBalance) int {
		if c := strings.Compare(x.Currency, y.Currency); c != 0 {
			return c
		}
		return strings.Compare(string(x.Chain), string(y.Chain))
	})
	a.Balances = slices.Insert(a.Balances, i, AccountBalance{Currency: currency, Chain: id})
	return &a.Balances[i]
}

// CountOf is how many of the account's deposits match: currency (any case;
// "" for every one), chain ("" for every one) and status ("" for every
// one, orphaned included).
func (a *Account) CountOf(currency string, id chain.ID, status string) int64 {
	var n int64
	for i := range a.Balances {
		b := &a.Balances[i]
		if currency != "" && !strings.EqualFold(b.Currency, currency) || id != "" && b.Chain != id {
			continue
		}
		if status == "" {
			n += b.Counts[0] + b.Counts[1] + b.Counts[2] + b.Counts[3]
		} else {
			n += b.Counts[StatusIndex(status)]
		}
	}
	return n
}

// ChainState is the ledger's view of one chain.
type ChainState struct {
	Tip       uint64     `json:"tip"`
	TipHash   chain.Hash `json:"tipHash"`
	Finalized uint64     `json:"finalized"`
	ReorgFrom uint64     `json:"reorgFrom,omitempty"` // tip when the current run of disconnections began
	// ReorgBlocks is how many blocks the current run has disconnected (on
	// Solana, whose slots skip, fewer than the numbers it spans).
	ReorgBlocks uint64 `json:"reorgBlocks,omitempty"`
	// PendingFrom and OpenFrom are low-water marks: no pending (DP) or open
	// (DO) index entry of this chain has a lower block number, so the
	// confirmation and finality passes start there instead of wading through
	// the tombstones of everything already confirmed or completed.
	PendingFrom uint64     `json:"pendingFrom,omitempty"`
	OpenFrom    uint64     `json:"openFrom,omitempty"`
	Halted      bool       `json:"halted,omitempty"`
	HaltReason  string     `json:"haltReason,omitempty"`
	HaltedAt    *time.Time `json:"haltedAt,omitempty"`
	// AcceptReorg: an operator resumed the chain after a reorg deeper than
	// its maximum; that reorg is applied whatever its depth, and the flag
	// clears at the first block connected after it.
	AcceptReorg bool `json:"acceptReorg,omitempty"`
	// Resumes are the operator's resumptions of the chain, newest last
	// (the last 20): the audit of who decided what.
	Resumes []Resumption `json:"resumes,omitempty"`
}

// Resumption is one operator's resumption of a halted chain.
type Resumption struct {
	At         time.Time `json:"at"`
	HaltReason string    `json:"haltReason"`
	Reason     string    `json:"reason"` // the operator's words
	By         string    `json:"by"`     // where the request came from
}

// CanonBlock is a block the ledger applied.
type CanonBlock struct {
	Hash   chain.Hash `json:"hash"`
	Parent chain.Hash `json:"parent"`
}

// Outbox kinds.
const (
	OutboxEvent   = "event"
	OutboxAddress = "address"
	// OutboxEvents is a group of deposit events in the ledger's binary form
	// (see ledger.RenderOutbox): one row per batch instead of one per event.
	OutboxEvents = "events"
)

// OutboxRow is one message waiting for the relay: a Kafka key and value.
// Rows are stored in a compact binary form (see Encode), since an event's
// JSON must not be re-encoded inside another JSON on the hot path.
type OutboxRow struct {
	Kind  string // OutboxEvent, OutboxAddress or OutboxEvents
	Key   []byte
	Value []byte // nil for an address tombstone
	// EventID is the id of an event rendered from an OutboxEvents row; it
	// is not stored.
	EventID string
}

// Encode is kind:u8 key-length:uvarint key value-present:u8 value.
func (r OutboxRow) Encode() []byte {
	out := make([]byte, 0, 2+binary.MaxVarintLen64+len(r.Key)+len(r.Value))
	k := byte(1)
	switch r.Kind {
	case OutboxAddress:
		k = 2
	case OutboxEvents:
		k = 3
	}
	out = append(out, k)
	out = binary.AppendUvarint(out, uint64(len(r.Key)))
	out = append(out, r.Key...)
	if r.Value == nil {
		return append(out, 0)
	}
	return append(append(out, 1), r.Value...)
}

// DecodeOutboxRow is the inverse of Encode.
func DecodeOutboxRow(b []byte) (OutboxRow, error) {
	var r OutboxRow
	if len(b) < 2 {
		return r, fmt.Errorf("store: outbox row of %d bytes", len(b))
	}
	switch b[0] {
	case 1:
		r.Kind = OutboxEvent
	case 2:
		r.Kind = OutboxAddress
	case 3:
		r.Kind = OutboxEvents
	default:
		return r, fmt.Errorf("store: outbox row kind %d", b[0])
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || w != len(binary.AppendUvarint(nil, n)) || uint64(len(b)-1-w) < n+1 {
		return r, fmt.Errorf("store: outbox row key")
	}
	b = b[1+w:]
	r.Key = append([]byte(nil), b[:n]...)
	switch {
	case b[n] == 1:
		r.Value = append([]byte{}, b[n+1:]...)
	case b[n] != 0 || len(b) != int(n)+1:
		// Found by FuzzDecodeOutboxRow: any other byte read as "no
		// value" and the rest was ignored.
		return r, fmt.Errorf("store: outbox row value marker %d with %d bytes after it", b[n], len(b)-int(n)-1)
	}
	return r, nil
}

// Endpoint is a webhook endpoint.
type Endpoint struct {
	ID        string    `json:"id"`
	Merchant  string    `json:"merchant"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret"` // whsec_…
	CreatedAt time.Time `json:"createdAt"`
	// PreviousSecret keeps signing beside Secret until
	// PreviousSecretUntil, after a rotation.
	PreviousSecret      string     `json:"previousSecret,omitempty"`
	PreviousSecretUntil *time.Time `json:"previousSecretUntil,omitempty"`
	// Session marks a payment session's own endpoint (its
	// notificationUrl, with a secret of its own): it takes only that
	// session's events, and the merchant's endpoint routes do not show it.
	Session string `json:"session,omitempty"`
}

// Secrets returns the secrets a delivery at now is signed with: the
// current one, and the previous one while its overlap lasts.
func (e *Endpoint) Secrets(now time.Time) []string {
	if e.PreviousSecret != "" && e.PreviousSecretUntil != nil && now.Before(*e.PreviousSecretUntil) {
		return []string{e.Secret, e.PreviousSecret}
	}
	return []string{e.Secret}
}

// AddressConflict is an import refused because the address is in another
// merchant's pool: kept for the operator (AC/).
type AddressConflict struct {
	Owner    string    `json:"owner"`
	Claimant string    `json:"claimant"`
	Attempts int       `json:"attempts"`
	FirstAt  time.Time `json:"firstAt"`
	LastAt   time.Time `json:"lastAt"`
}

// Delivery is one event's delivery to one endpoint.
type Delivery struct {
	ID         string     `json:"id"`
	EndpointID string     `json:"endpointId"`
	Merchant   string     `json:"merchant"`
	EventID    string     `json:"eventId"`
	EventType  string     `json:"eventType"`
	Status     string     `json:"status"` // pending, succeeded, failed
	Attempts   []Attempt  `json:"attempts"`
	CreatedAt  time.Time  `json:"createdAt"`
	NextAt     *time.Time `json:"nextAttemptAt,omitempty"`
}

// Attempt is one delivery attempt.
type Attempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"statusCode,omitempty"`
	Error      string    `json:"error,omitempty"`
	DurationMs int64     `json:"durationMs"`
}

// IdemRecord is a stored response for an idempotency key.
type IdemRecord struct {
	RequestHash string          `json:"requestHash"`
	Status      int             `json:"status"`
	Body        json.RawMessage `json:"body"`
	CreatedAt   time.Time       `json:"createdAt"`
}

// Session is a payment session (ledgerd/sessions).
type Session struct {
	ID              string                     `json:"id"`
	Merchant        string                     `json:"merchant"`
	Customer        SessionCustomer            `json:"customer"`
	Product         string                     `json:"product,omitempty"`
	ReturnURL       string                     `json:"returnUrl"`
	NotificationURL string                     `json:"notificationUrl,omitempty"`
	Metadata        map[string]json.RawMessage `json:"metadata,omitempty"`
	Status          string                     `json:"status"`
	Opened          bool                       `json:"opened,omitempty"`
	CreatedAt       time.Time                  `json:"createdAt"`
	ExpiresAt       time.Time                  `json:"expiresAt"`
	ToleranceBps    uint32                     `json:"toleranceBps,omitempty"`
	Options         []SessionOption            `json:"options"`
	Addresses       []SessionAddress           `json:"addresses"`
	Timeline        []SessionEvent             `json:"timeline"`
	Option          int                        `json:"option"`             // the option paid furthest (-1: none)
	Received        string                     `json:"received,omitempty"` // in its base units
	Payments        []SessionPayment           `json:"payments"`
	LatePayments    []SessionPayment           `json:"latePayments"`
	ReleasedAt      *time.Time                 `json:"releasedAt,omitempty"`
	// NotificationEndpoint is the session's own webhook endpoint, for its
	// notificationUrl.
	NotificationEndpoint string `json:"notificationEndpoint,omitempty"`
}

// SessionCustomer is who pays.
type SessionCustomer struct {
	ID    string `json:"id"`
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
}

// SessionOption is one way to pay a session.
type SessionOption struct {
	Currency string   `json:"currency"`
	ChainID  chain.ID `json:"chainId"`
	Decimals uint8    `json:"decimals"`
	Due      string   `json:"due,omitempty"` // base units; empty: any amount
	Address  uint64   `json:"address"`       // the session's address of the chain's family
}

// SessionAddress is an address a session holds.
type SessionAddress struct {
	Family  chain.Family `json:"family"`
	ID      uint64       `json:"id"`
	ChainID chain.ID     `json:"chainId"` // the chain it is bound on
}

// SessionEvent is a line of the timeline.
type SessionEvent struct {
	Type string    `json:"type"`
	At   time.Time `json:"at"`
}

// SessionPayment is a deposit counted for a session (or late).
type SessionPayment struct {
	DepositID     string   `json:"depositId"`
	ChainID       chain.ID `json:"chainId"`
	Currency      string   `json:"currency"`
	Amount        string   `json:"amount"` // decimal
	Status        string   `json:"status"`
	Confirmations uint64   `json:"confirmations"`
	TxHash        string   `json:"txHash"`
}

// Channel is a customer's persistent address of a family (the Channel
// API): bound to the customer for good.
type Channel struct {
	Customer  string       `json:"customer"`
	Family    chain.Family `json:"family"`
	AddressID uint64       `json:"addressId"`
	CreatedAt time.Time    `json:"createdAt"`
}
