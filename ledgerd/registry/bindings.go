package registry

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// BindResponse is its answer.
type BindResponse struct {
	DepositReference string                     `json:"depositReference"`
	Currency         string                     `json:"currency"`
	ChainID          string                     `json:"chainId"`
	Protocol         string                     `json:"protocol"`
	Address          string                     `json:"address"`
	Metadata         map[string]json.RawMessage `json:"metadata"`
	CreatedAt        events.APITime             `json:"createdAt"`
	// Warning says when the chain itself is not followed (another chain of
	// its protocol is): the binding holds, but only the chains followed
	// would see a deposit.
	Warning string `json:"warning,omitempty"`
}

// Bind binds the oldest available pool address of the chain's family to a
// deposit reference on a chain.
func (r *Registry) Bind(b *store.Batch, merchant string, req merchantapi.BindRequest) (*BindResponse, error) {
	spec, asset, err := req.Validate(r.assets)
	if err != nil {
		return nil, err
	}
	now := r.now().UTC()
	refKey := store.ReferenceKey(merchant, req.DepositReference)
	ref := &store.Reference{}
	err = store.GetJSON(b, refKey, ref)
	switch {
	case errors.Is(err, store.ErrNotFound):
		ref = &store.Reference{Merchant: merchant, Reference: req.DepositReference, CreatedAt: now, Bindings: []store.Binding{}}
		if err := indexReference(b, merchant, req.DepositReference); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	for _, bd := range ref.Bindings {
		if bd.ChainID == spec.ID {
			return nil, apierr.New(apierr.DuplicateDepositReference, "Deposit reference '%s' already exists for chain '%s'", req.DepositReference, spec.ID)
		}
	}
	if err := r.sweep(b, merchant, spec.Family, now); err != nil {
		return nil, err
	}
	id, ok, err := takeAvailable(b, merchant, spec.Family)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apierr.New(apierr.NoAvailableAddresses, "Address pool exhausted for protocol '%s'", spec.Family)
	}
	pa, key, err := byID(b, id)
	if err != nil {
		return nil, err
	}
	pa.Status, pa.Reference, pa.ChainID, pa.Currency, pa.BoundAt, pa.AvailableSeq = store.AddressBound, req.DepositReference, spec.ID, asset.Currency, now.UnixNano(), 0
	if err := b.PutJSON(key, pa); err != nil {
		return nil, err
	}
	if err := b.PutJSON(store.BindingKey(pa.ID, now.UnixNano()), store.BindingRecord{
		Merchant: merchant, Reference: req.DepositReference, ChainID: spec.ID, BoundAt: now.UnixNano()}); err != nil {
		return nil, err
	}
	if req.Metadata != nil {
		ref.Metadata = req.Metadata
	}
	ref.Bindings = append(ref.Bindings, store.Binding{ChainID: spec.ID, Currency: asset.Currency, AddressID: pa.ID, CreatedAt: now})
	if err := b.PutJSON(refKey, ref); err != nil {
		return nil, err
	}
	if err := publishAddress(b, pa); err != nil {
		return nil, err
	}
	md := ref.Metadata
	if md == nil {
		md = map[string]json.RawMessage{}
	}
	return &BindResponse{DepositReference: req.DepositReference, Currency: asset.Currency, ChainID: string(spec.ID),
		Protocol: spec.Family.String(), Address: spec.AddressText(pa.Address()), Metadata: md, CreatedAt: events.APITime{Time: now}}, nil
}

// UnbindResponse is DELETE /deposits/references/{ref}.
type UnbindResponse struct {
	Success          bool   `json:"success"`
	Message          string `json:"message"`
	DepositReference string `json:"depositReference"`
	UnboundAddresses int    `json:"unboundAddresses"`
}

// Unbind ends the reference's bindings (on one chain, or all), starting each
// address's cooldown.
func (r *Registry) Unbind(b *store.Batch, merchant, reference, chainID string) (*UnbindResponse, error) {
	now := r.now().UTC()
	resp := &UnbindResponse{Success: true, Message: "Deposit reference unbound", DepositReference: reference}
	refKey := store.ReferenceKey(merchant, reference)
	ref, err := GetReference(b, merchant, reference)
	if err != nil {
		return nil, err
	}
	var keep []store.Binding
	for _, bd := range ref.Bindings {
		if chainID != "" && string(bd.ChainID) != chainID {
			keep = append(keep, bd)
			continue
		}
		pa, key, err := byID(b, bd.AddressID)
		if err != nil {
			return nil, err
		}
		histKey := store.BindingKey(pa.ID, pa.BoundAt)
		var hr store.BindingRecord
		if err := store.GetJSON(b, histKey, &hr); err != nil {
			return nil, fmt.Errorf("binding history of address %d: %w", pa.ID, err)
		}
		until := now.Add(r.cooldown).UnixNano()
		hr.UnboundAt, hr.CooldownUntil = now.UnixNano(), until
		if err := b.PutJSON(histKey, hr); err != nil {
			return nil, err
		}
		pa.Status, pa.Reference, pa.ChainID, pa.Currency, pa.BoundAt, pa.CooldownUntil = store.AddressCooldown, "", "", "", 0, until
		if err := b.PutJSON(key, pa); err != nil {
			return nil, err
		}
		if err := b.Set(store.CooldownKey(merchant, pa.Family, until, pa.ID), nil, nil); err != nil {
			return nil, err
		}
		if err := publishAddress(b, pa); err != nil {
			return nil, err
		}
		resp.UnboundAddresses++
	}
	if chainID != "" && resp.UnboundAddresses == 0 {
		return nil, apierr.New(apierr.DepositReferenceNotFound, "Deposit reference '%s' has no binding on chain '%s'", reference, chainID)
	}
	if keep == nil {
		keep = []store.Binding{}
	}
	ref.Bindings = keep
	if err := b.PutJSON(refKey, ref); err != nil {
		return nil, err
	}
	return resp, nil
}

// GetReference returns a merchant's deposit reference.
func GetReference(rd store.Reader, merchant, reference string) (*store.Reference, error) {
	ref := &store.Reference{}
	if err := store.GetJSON(rd, store.ReferenceKey(merchant, reference), ref); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.New(apierr.DepositReferenceNotFound, "No deposit reference found for '%s'", reference)
		}
		return nil, err
	}
	return ref, nil
}

// BoundAddress is a reference's active binding with its address.
type BoundAddress struct {
	store.Binding
	Address *store.PoolAddress
}

// ActiveBindings returns a reference's active bindings with their addresses,
// those on chainID only when it is set.
func ActiveBindings(rd store.Reader, ref *store.Reference, chainID string) ([]BoundAddress, error) {
	var out []BoundAddress
	for _, bd := range ref.Bindings {
		if chainID != "" && string(bd.ChainID) != chainID {
			continue
		}
		pa, _, err := byID(rd, bd.AddressID)
		if err != nil {
			return nil, err
		}
		out = append(out, BoundAddress{Binding: bd, Address: pa})
	}
	return out, nil
}

// ScanReferences calls fn for each of a merchant's references, in
// reference order, until fn returns false.
func ScanReferences(rd store.Reader, merchant string, fn func(*store.Reference) (bool, error)) error {
	return store.Scan(rd, store.ReferencePrefix(merchant), false, func(_, v []byte) (bool, error) {
		var ref store.Reference
		if err := json.Unmarshal(v, &ref); err != nil {
			return false, err
		}
		return fn(&ref)
	})
}
