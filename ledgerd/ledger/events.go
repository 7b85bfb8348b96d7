package ledger

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/events"
)

// The ledger queues deposit events in its binary form, several to an outbox
// row (store.OutboxEvents): each is length:u32, the chain tip when it was
// made:u64, and the deposit as it was then (store.Deposit.AppendEncode). The
// relay renders them to the JSON that is published, off the ledger's write
// path.

func appendEvent(out []byte, tip uint64, d *store.Deposit) []byte {
	at := len(out)
	out = append(out, 0, 0, 0, 0)
	out = binary.BigEndian.AppendUint64(out, tip)
	out = d.AppendEncode(out)
	binary.BigEndian.PutUint32(out[at:], uint32(len(out)-at-4))
	return out
}

// RenderOutbox turns an outbox row into the rows to publish: the events of
// an OutboxEvents row as JSON, each keyed by its deposit id and carrying its
// event id; any other row as it is.
func RenderOutbox(row store.OutboxRow) ([]store.OutboxRow, error) {
	if row.Kind != store.OutboxEvents {
		return []store.OutboxRow{row}, nil
	}
	var out []store.OutboxRow
	for b := row.Value; len(b) > 0; {
		if len(b) < 12 || uint32(len(b)-4) < binary.BigEndian.Uint32(b) {
			return nil, fmt.Errorf("ledger: truncated event in an outbox row")
		}
		n := binary.BigEndian.Uint32(b)
		tip := binary.BigEndian.Uint64(b[4:])
		var d store.Deposit
		if err := store.DecodeDeposit(b[12:4+n], &d); err != nil {
			return nil, fmt.Errorf("ledger: event in an outbox row: %w", err)
		}
		b = b[4+n:]
		ev := DepositEvent(&d, tip)
		body, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, store.OutboxRow{Kind: store.OutboxEvent, Key: []byte(d.ID), Value: body, EventID: ev.ID})
	}
	return out, nil
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
