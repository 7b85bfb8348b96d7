package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
)

// The ledger queues deposit events in a short binary form, many to an
// outbox row (OutboxEvents): each is length:u32, the chain tip when it
// was made:u64, the status code, and the deposit id: its 16 raw bytes if it
// has a block tag, else its text (no id is 16 characters long). The relay renders them
// to the JSON that is published, off the ledger's write path, from the
// deposit as stored then: a deposit's fields other than its status and
// status times never change, each status time is set once, and statuses
// only move forward, so the deposit as it was at an event is the stored one
// with the status of the event and without the times of later statuses.

// AppendOutboxEvent appends the event of d's change to its current status,
// at chain tip tip, to an OutboxEvents row.
func AppendOutboxEvent(out []byte, tip uint64, d *Deposit) []byte {
	at := len(out)
	out = append(out, 0, 0, 0, 0)
	out = binary.BigEndian.AppendUint64(out, tip)
	out = append(out, StatusCode(d.Status))
	out, ok := AppendRawID(out, d.ID)
	if !ok {
		out = append(out, d.ID...)
	}
	binary.BigEndian.PutUint32(out[at:], uint32(len(out)-at-4))
	return out
}

// nextEvent reads the first event of b (AppendOutboxEvent) and returns the rest.
func nextEvent(b []byte) (tip uint64, status, id string, rest []byte, err error) {
	if len(b) < 13 || uint32(len(b)-4) < binary.BigEndian.Uint32(b) || binary.BigEndian.Uint32(b) < 9 {
		return 0, "", "", nil, fmt.Errorf("store: truncated event in an outbox row")
	}
	n := binary.BigEndian.Uint32(b)
	tip = binary.BigEndian.Uint64(b[4:])
	if status, err = StatusOf(b[12]); err != nil {
		return 0, "", "", nil, err
	}
	if n == 8+1+16 {
		id = IDOfRaw(b[13 : 4+n])
	} else {
		id = string(b[13 : 4+n])
	}
	return tip, status, id, b[4+n:], nil
}

// RenderOutbox turns an outbox row into the rows to publish: the events of
// an OutboxEvents row as JSON, each keyed by its deposit id and carrying its
// event id; any other row as it is. r must hold the row's deposits as
// committed with it or later.
func RenderOutbox(r Reader, row OutboxRow) ([]OutboxRow, error) {
	if row.Kind != OutboxEvents {
		return []OutboxRow{row}, nil
	}
	var out []OutboxRow
	dr := &DepositReader{R: r}
	for b := row.Value; len(b) > 0; {
		tip, status, id, rest, err := nextEvent(b)
		if err != nil {
			return nil, err
		}
		b = rest
		d, err := dr.Get(id)
		if err != nil {
			return nil, fmt.Errorf("store: deposit of an outbox event: %w", err)
		}
		asOf(d, status)
		ev := d.Event(tip)
		body, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, OutboxRow{Kind: OutboxEvent, Key: []byte(d.ID), Value: body, EventID: ev.ID})
	}
	return out, nil
}

// asOf turns a deposit back into what it was when it took status.
func asOf(d *Deposit, status string) {
	d.Status = status
	switch status {
	case StatusPending:
		d.ConfirmedAt, d.CompletedAt, d.OrphanedAt = nil, nil, nil
	case StatusConfirmed:
		d.CompletedAt, d.OrphanedAt = nil, nil
	case StatusCompleted:
		d.OrphanedAt = nil
	case StatusOrphaned:
		d.CompletedAt = nil
	}
}

// Event is the event of a deposit's change to its current status, as it
// reads at chain tip tip.
func (d *Deposit) Event(tip uint64) events.DepositEvent {
	var at time.Time
	switch d.Status {
	case StatusPending:
		at = d.DetectedAt
	case StatusConfirmed:
		at = *d.ConfirmedAt
	case StatusCompleted:
		at = *d.CompletedAt
	case StatusOrphaned:
		at = *d.OrphanedAt
	}
	return events.DepositEvent{
		ID: EventID(d.ID, d.Status), Type: "deposit." + d.Status, CreatedAt: events.APITime{Time: at},
		MerchantID: d.Merchant, Data: d.View(tip),
	}
}

// EventID is the stable id of a deposit's status change.
func EventID(depositID, status string) string {
	h := sha256.Sum256([]byte(depositID + "\x00" + status))
	return "evt_" + hex.EncodeToString(h[:12])
}

// Emit stores an event for replay and queues it in the outbox.
func (b *Batch) Emit(ev events.DepositEvent) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if err := b.Set(EventKey(ev.ID), body, nil); err != nil {
		return err
	}
	return b.QueueOutbox(OutboxRow{Kind: OutboxEvent, Key: []byte(ev.Data.DepositID), Value: body})
}

// View is the public deposit object, as it reads at chain tip tip.
func (d *Deposit) View(tip uint64) events.Deposit {
	var conf uint64
	if d.Status != StatusOrphaned && tip >= d.BlockNumber {
		conf = tip - d.BlockNumber + 1
	}
	addr := chain.MustAddress(d.Family, d.Address)
	var tokenAccount string
	if len(d.TokenAccount) > 0 {
		if a, err := chain.NewAddress(d.Family, d.TokenAccount); err == nil {
			tokenAccount = a.String()
		}
	}
	return events.Deposit{
		TokenAccount: tokenAccount,
		DepositID:    d.ID, DepositReference: d.Reference, Amount: d.Amount.Decimal(d.Decimals),
		Currency: d.Currency, ChainID: string(d.Chain), Address: addr.Text(d.Network),
		TxHash: chain.FormatHash(d.Family, d.TxHash), BlockNumber: d.BlockNumber, Status: d.Status,
		Confirmations: conf, DetectedAt: events.APITime{Time: d.DetectedAt},
		ConfirmedAt: events.TimePtr(d.ConfirmedAt), CompletedAt: events.TimePtr(d.CompletedAt),
		OrphanedAt: events.TimePtr(d.OrphanedAt), Replaces: d.Replaces, AfterUnbind: d.AfterUnbind,
	}
}
