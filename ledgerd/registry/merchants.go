package registry

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/apierr"
)

// HashKey is how API keys are stored.
func HashKey(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// CreateMerchant makes a merchant and its first API key. With apiKey set,
// that key is used (the all-in-one dev mode's --dev-api-key); otherwise a
// random sk_live_/sk_test_ key is made. The key is returned once and stored
// only as a hash.
func (r *Registry) CreateMerchant(b *store.Batch, name string, live bool, apiKey string) (*store.Merchant, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, "", apierr.New(apierr.ValidationFailed, "name must be 1 to 200 characters")
	}
	prefix := "sk_test_"
	if live {
		prefix = "sk_live_"
	}
	if apiKey == "" {
		apiKey = prefix + randomToken(24)
	} else if !strings.HasPrefix(apiKey, "sk_live_") && !strings.HasPrefix(apiKey, "sk_test_") || len(apiKey) < 24 {
		return nil, "", apierr.New(apierr.ValidationFailed, "an API key starts with sk_live_ or sk_test_ and has at least 16 more characters")
	}
	m := &store.Merchant{ID: "mer_" + randomToken(8), Name: name, Live: live, CreatedAt: r.now().UTC()}
	h := HashKey(apiKey)
	if ok, err := store.Has(b, store.APIKeyKey(h[:])); err != nil || ok {
		if ok {
			return nil, "", apierr.New(apierr.ValidationFailed, "that API key is already in use")
		}
		return nil, "", err
	}
	if err := b.PutJSON(store.MerchantKey(m.ID), m); err != nil {
		return nil, "", err
	}
	if err := b.Set(store.APIKeyKey(h[:]), []byte(m.ID), nil); err != nil {
		return nil, "", err
	}
	return m, apiKey, nil
}

// Authenticate returns the merchant of an API key hash.
func (r *Registry) Authenticate(keyHash []byte) (*store.Merchant, error) {
	id, err := store.GetRaw(r.db, store.APIKeyKey(keyHash))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.New(apierr.Unauthorized, "unknown API key")
		}
		return nil, err
	}
	return r.Merchant(string(id))
}

// Merchant returns a merchant by id; NOT_FOUND if there is none.
func (r *Registry) Merchant(id string) (*store.Merchant, error) {
	m := &store.Merchant{}
	if err := store.GetJSON(r.db, store.MerchantKey(id), m); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.New(apierr.NotFound, "no merchant %q", id)
		}
		return nil, err
	}
	return m, nil
}

// FindMerchantByName returns a merchant with that name, if any (dev mode uses
// it to keep one dev merchant across restarts).
func (r *Registry) FindMerchantByName(name string) (*store.Merchant, error) {
	var found *store.Merchant
	err := store.Scan(r.db, store.MerchantPrefix(), false, func(_, v []byte) (bool, error) {
		var m store.Merchant
		if err := json.Unmarshal(v, &m); err != nil {
			return false, err
		}
		if m.Name == name {
			found = &m
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, store.ErrNotFound
	}
	return found, nil
}

// AddKey adds another API key to a merchant (dev mode, when restarted with a
// new --dev-api-key).
func (r *Registry) AddKey(b *store.Batch, merchant, apiKey string) error {
	h := HashKey(apiKey)
	return b.Set(store.APIKeyKey(h[:]), []byte(merchant), nil)
}
