package registry

import (
	"errors"
	"fmt"
	"time"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/chain"
)

// BindSession binds a pool address of the family to a payment session: its
// reference is the session's customer (so its deposits are the customer's,
// in their balances), and the binding names the session. Unlike Bind it
// does not enter the reference's bindings: a customer may hold a deposit
// reference's address and any number of sessions' at once.
func (r *Registry) BindSession(b *store.Batch, merchant, customer, session string, fam chain.Family, chainID chain.ID, currency string) (*store.PoolAddress, error) {
	now := r.now().UTC()
	// The customer is a deposit reference: its balances and listings are
	// the merchant API's, so it exists as one (with no bindings of its own
	// unless the merchant binds some).
	refKey := store.ReferenceKey(merchant, customer)
	if _, err := store.GetRaw(b, refKey); errors.Is(err, store.ErrNotFound) {
		if err := indexReference(b, merchant, customer); err != nil {
			return nil, err
		}
		if err := b.PutJSON(refKey, &store.Reference{Merchant: merchant, Reference: customer, CreatedAt: now, Bindings: []store.Binding{}}); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if err := r.sweep(b, merchant, fam, now); err != nil {
		return nil, err
	}
	id, ok, err := takeAvailable(b, merchant, fam)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apierr.New(apierr.NoAvailableAddresses, "Address pool exhausted for protocol '%s'", fam)
	}
	pa, key, err := byID(b, id)
	if err != nil {
		return nil, err
	}
	pa.Status, pa.Reference, pa.ChainID, pa.Currency, pa.BoundAt, pa.AvailableSeq = store.AddressBound, customer, chainID, currency, now.UnixNano(), 0
	if err := b.PutJSON(key, pa); err != nil {
		return nil, err
	}
	if err := b.PutJSON(store.BindingKey(pa.ID, now.UnixNano()), store.BindingRecord{
		Merchant: merchant, Reference: customer, ChainID: chainID, BoundAt: now.UnixNano(), Session: session}); err != nil {
		return nil, err
	}
	if err := publishAddress(b, pa); err != nil {
		return nil, err
	}
	return pa, nil
}

// ReleaseSession ends a session's binding of an address and starts its
// cooldown.
func (r *Registry) ReleaseSession(b *store.Batch, session string, addressID uint64) error {
	now := r.now().UTC()
	pa, key, err := byID(b, addressID)
	if err != nil {
		return err
	}
	histKey := store.BindingKey(pa.ID, pa.BoundAt)
	var hr store.BindingRecord
	if err := store.GetJSON(b, histKey, &hr); err != nil {
		return fmt.Errorf("binding history of address %d: %w", pa.ID, err)
	}
	if hr.Session != session || pa.Status != store.AddressBound {
		return nil // released already
	}
	until := now.Add(r.cooldown).UnixNano()
	hr.UnboundAt, hr.CooldownUntil = now.UnixNano(), until
	if err := b.PutJSON(histKey, hr); err != nil {
		return err
	}
	pa.Status, pa.Reference, pa.ChainID, pa.Currency, pa.BoundAt, pa.CooldownUntil = store.AddressCooldown, "", "", "", 0, until
	if err := b.PutJSON(key, pa); err != nil {
		return err
	}
	if err := b.Set(store.CooldownKey(pa.Merchant, pa.Family, until, pa.ID), nil, nil); err != nil {
		return err
	}
	return publishAddress(b, pa)
}

// PoolAddress reads a pool address by id.
func (r *Registry) PoolAddress(rd store.Reader, id uint64) (*store.PoolAddress, error) {
	pa, _, err := byID(rd, id)
	return pa, err
}

// Cooldown is how long an unbound address rests.
func (r *Registry) Cooldown() time.Duration { return r.cooldown }
