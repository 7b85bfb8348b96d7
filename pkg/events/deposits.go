package events

import (
	"fmt"
	"time"
)

// Deposit event types, the records of inflow.deposits.
const (
	DepositPending   = "deposit.pending"
	DepositConfirmed = "deposit.confirmed"
	DepositCompleted = "deposit.completed"
	DepositOrphaned  = "deposit.orphaned"
)

// DepositEventTypes lists every deposit event type.
var DepositEventTypes = []string{DepositPending, DepositConfirmed, DepositCompleted, DepositOrphaned}

// SessionEventTypes lists every payment-session event type: a status
// reached, or a payment after the session expired.
var SessionEventTypes = []string{"payment_session.pending", "payment_session.initiated", "payment_session.attempted",
	"payment_session.completed", "payment_session.expired", "payment_session.late_payment"}

// WebhookEventTypes are every event a webhook endpoint may take (a new
// endpoint takes them all unless it names some).
var WebhookEventTypes = append(append([]string(nil), DepositEventTypes...), SessionEventTypes...)

// Deposit is the public deposit object: the `data` of every deposit event and
// what the merchant API returns. Amounts are decimal strings in currency
// units; times are RFC 3339 with milliseconds, UTC.
type Deposit struct {
	DepositID        string  `json:"depositId"`
	DepositReference *string `json:"depositReference"`
	Amount           string  `json:"amount"`
	Currency         string  `json:"currency"`
	ChainID          string  `json:"chainId"`
	Address          string  `json:"address"`
	// TokenAccount is the Solana token account an SPL deposit landed in
	// (Address is its owner, the bound address).
	TokenAccount  string   `json:"tokenAccount,omitempty"`
	TxHash        string   `json:"txHash"`
	BlockNumber   uint64   `json:"blockNumber"`
	Status        string   `json:"status"`
	Confirmations uint64   `json:"confirmations"`
	DetectedAt    APITime  `json:"detectedAt"`
	ConfirmedAt   *APITime `json:"confirmedAt"`
	CompletedAt   *APITime `json:"completedAt"`
	OrphanedAt    *APITime `json:"orphanedAt"`
	Replaces      string   `json:"replaces,omitempty"`
	// AfterUnbind: the deposit reached the address during the cooldown
	// after DepositReference was unbound from it (present only then).
	AfterUnbind bool `json:"afterUnbind,omitempty"`
}

// DepositEvent is one record of inflow.deposits. Its Kafka key is the deposit
// id, so one deposit's events keep their order. ID is stable: the same status
// change of the same deposit always has the same id.
type DepositEvent struct {
	ID         string  `json:"id"`
	Type       string  `json:"type"`
	CreatedAt  APITime `json:"createdAt"`
	MerchantID string  `json:"merchantId"`
	Data       Deposit `json:"data"`
}

// APITime is a time written as 2006-01-02T15:04:05.000Z.
type APITime struct{ time.Time }

// APITimeLayout is the API's time format.
const APITimeLayout = "2006-01-02T15:04:05.000Z"

// MarshalText implements encoding.TextMarshaler.
func (t APITime) MarshalText() ([]byte, error) { return []byte(t.UTC().Format(APITimeLayout)), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *APITime) UnmarshalText(b []byte) error {
	v, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// TimePtr converts an optional time.
func TimePtr(t *time.Time) *APITime {
	if t == nil {
		return nil
	}
	return &APITime{*t}
}

// MarshalJSON writes the API time format (time.Time's own would win otherwise).
func (t APITime) MarshalJSON() ([]byte, error) {
	b, _ := t.MarshalText()
	return append(append([]byte{'"'}, b...), '"'), nil
}

// UnmarshalJSON reads an RFC 3339 time.
func (t *APITime) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("events: time %s is not a string", b)
	}
	return t.UnmarshalText(b[1 : len(b)-1])
}
