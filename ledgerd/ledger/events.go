package ledger

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/events"
)

// The ledger queues deposit events in a short binary form, many to an
// outbox row (store.OutboxEvents): each is length:u32, the chain tip when it
// was made:u64, the status code, and the deposit id: its 16 raw bytes if it
// has a block tag, else its text (no id is 16 characters long). The relay renders them
// to the JSON that is published, off the ledger's write path, from the
// deposit as stored then: a deposit's fields other than its status and
// status times never change, each status time is set once, and statuses
// only move forward, so the deposit as it was at an event is the stored one
// with the status of the event and without the times of later statuses.

func appendEvent(out []byte, tip uint64, d *store.Deposit) []byte {
	at := len(out)
	out = append(out, 0, 0, 0, 0)
	out = binary.BigEndian.AppendUint64(out, tip)
	out = append(out, store.StatusCode(d.Status))
	out, ok := store.AppendRawID(out, d.ID)
	if !ok {
		out = append(out, d.ID...)
	}
	binary.BigEndian.PutUint32(out[at:], uint32(len(out)-at-4))
	return out
}

// nextEvent reads the first event of b (appendEvent) and returns the rest.
func nextEvent(b []byte) (tip uint64, status, id string, rest []byte, err error) {
	if len(b) < 13 || uint32(len(b)-4) < binary.BigEndian.Uint32(b) || binary.BigEndian.Uint32(b) < 9 {
		return 0, "", "", nil, fmt.Errorf("ledger: truncated event in an outbox row")
	}
	n := binary.BigEndian.Uint32(b)
	tip = binary.BigEndian.Uint64(b[4:])
	if status, err = store.StatusOf(b[12]); err != nil {
		return 0, "", "", nil, err
	}
	if n == 8+1+16 {
		id = store.IDOfRaw(b[13 : 4+n])
	} else {
		id = string(b[13 : 4+n])
	}
	return tip, status, id, b[4+n:], nil
}

// RenderOutbox turns an outbox row into the rows to publish: the events of
// an OutboxEvents row as JSON, each keyed by its deposit id and carrying its
// event id; any other row as it is. r must hold the row's deposits as
// committed with it or later.
func RenderOutbox(r store.Reader, row store.OutboxRow) ([]store.OutboxRow, error) {
	if row.Kind != store.OutboxEvents {
		return []store.OutboxRow{row}, nil
	}
	var out []store.OutboxRow
	dr := &store.DepositReader{R: r}
	for b := row.Value; len(b) > 0; {
		tip, status, id, rest, err := nextEvent(b)
		if err != nil {
			return nil, err
		}
		b = rest
		d, err := dr.Get(id)
		if err != nil {
			return nil, fmt.Errorf("ledger: deposit of an outbox event: %w", err)
		}
		asOf(d, status)
		ev := DepositEvent(d, tip)
		body, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, store.OutboxRow{Kind: store.OutboxEvent, Key: []byte(d.ID), Value: body, EventID: ev.ID})
	}
	return out, nil
}

// asOf turns a deposit back into what it was when it took status.
func asOf(d *store.Deposit, status string) {
	d.Status = status
	switch status {
	case store.StatusPending:
		d.ConfirmedAt, d.CompletedAt, d.OrphanedAt = nil, nil, nil
	case store.StatusConfirmed:
		d.CompletedAt, d.OrphanedAt = nil, nil
	case store.StatusCompleted:
		d.OrphanedAt = nil
	case store.StatusOrphaned:
		d.CompletedAt = nil
	}
}

// DepositEvent is the event of a deposit's change to its current status, as
// it reads at chain tip tip.
func DepositEvent(d *store.Deposit, tip uint64) events.DepositEvent {
	var at time.Time
	switch d.Status {
	case store.StatusPending:
		at = d.DetectedAt
	case store.StatusConfirmed:
		at = *d.ConfirmedAt
	case store.StatusCompleted:
		at = *d.CompletedAt
	case store.StatusOrphaned:
		at = *d.OrphanedAt
	}
	return events.DepositEvent{
		ID: EventID(d.ID, d.Status), Type: "deposit." + d.Status, CreatedAt: events.APITime{Time: at},
		MerchantID: d.Merchant, Data: View(d, tip),
	}
}
