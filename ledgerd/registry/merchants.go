package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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
	if err := b.PutJSON(store.MerchantKeyKey(m.ID, keyID(h)), keyRecord(apiKey, h, m.CreatedAt)); err != nil {
		return nil, "", err
	}
	return m, apiKey, nil
}

// MaxAPIKeys bounds a merchant's API keys.
const MaxAPIKeys = 20

// keyPrefixLen is how much of a key its listing shows: sk_test_ and four
// characters, too few to guess the rest from.
const keyPrefixLen = 12

func keyID(h [32]byte) string { return "key_" + hex.EncodeToString(h[:8]) }

func keyRecord(apiKey string, h [32]byte, at time.Time) store.APIKey {
	return store.APIKey{ID: keyID(h), Prefix: apiKey[:min(keyPrefixLen, len(apiKey))], CreatedAt: at.UTC(), Hash: hex.EncodeToString(h[:])}
}

// Keys lists a merchant's API keys, oldest first.
func (r *Registry) Keys(rd store.Reader, merchant string) ([]store.APIKey, error) {
	var out []store.APIKey
	err := store.Scan(rd, store.MerchantKeyPrefix(merchant), false, func(_, v []byte) (bool, error) {
		var k store.APIKey
		if err := json.Unmarshal(v, &k); err != nil {
			return false, err
		}
		out = append(out, k)
		return true, nil
	})
	slices.SortStableFunc(out, func(a, b store.APIKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, err
}

// CreateKey makes another API key for a merchant, of the merchant's mode
// (sk_live_ or sk_test_). The key is returned once.
func (r *Registry) CreateKey(b *store.Batch, merchant string) (store.APIKey, string, error) {
	m, err := r.MerchantIn(b, merchant)
	if err != nil {
		return store.APIKey{}, "", err
	}
	keys, err := r.Keys(b, merchant)
	if err != nil {
		return store.APIKey{}, "", err
	}
	if len(keys) >= MaxAPIKeys {
		return store.APIKey{}, "", apierr.New(apierr.LimitExceeded, "a merchant has at most %d API keys; revoke one first", MaxAPIKeys)
	}
	prefix := "sk_test_"
	if m.Live {
		prefix = "sk_live_"
	}
	apiKey := prefix + randomToken(24)
	rec, err := r.putKey(b, merchant, apiKey)
	return rec, apiKey, err
}

func (r *Registry) putKey(b *store.Batch, merchant, apiKey string) (store.APIKey, error) {
	h := HashKey(apiKey)
	rec := keyRecord(apiKey, h, r.now())
	if err := b.Set(store.APIKeyKey(h[:]), []byte(merchant), nil); err != nil {
		return rec, err
	}
	return rec, b.PutJSON(store.MerchantKeyKey(merchant, rec.ID), rec)
}

// RevokeKey deletes one of a merchant's API keys: it stops working at once
// in ledgerd, and within apid's cache time (30 s) on every apid. A merchant
// may not revoke its last key (it could not sign in again); the operator
// may (allowLast).
func (r *Registry) RevokeKey(b *store.Batch, merchant, id string, allowLast bool) (store.APIKey, error) {
	var rec store.APIKey
	if err := store.GetJSON(b, store.MerchantKeyKey(merchant, id), &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return rec, apierr.New(apierr.APIKeyNotFound, "no API key %q", id)
		}
		return rec, err
	}
	if !allowLast {
		keys, err := r.Keys(b, merchant)
		if err != nil {
			return rec, err
		}
		if len(keys) <= 1 {
			return rec, apierr.New(apierr.LastAPIKey, "%s is this merchant's last API key: create another before revoking it", id)
		}
	}
	h, err := hex.DecodeString(rec.Hash)
	if err != nil || len(h) != 32 {
		return rec, fmt.Errorf("API key %s of %s: stored hash %q", id, merchant, rec.Hash)
	}
	if err := b.Delete(store.APIKeyKey(h), nil); err != nil {
		return rec, err
	}
	r.log.Info("API key revoked", "merchant", merchant, "key", id, "prefix", rec.Prefix)
	return rec, b.Delete(store.MerchantKeyKey(merchant, id), nil)
}

// MerchantIn reads a merchant through rd (a batch, say);
// MERCHANT_NOT_FOUND if there is none.
func (r *Registry) MerchantIn(rd store.Reader, id string) (*store.Merchant, error) {
	m := &store.Merchant{}
	if err := store.GetJSON(rd, store.MerchantKey(id), m); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.New(apierr.MerchantNotFound, "no merchant %q", id)
		}
		return nil, err
	}
	return m, nil
}

// Merchants lists every merchant, in id order (the operator's view).
func (r *Registry) Merchants() ([]store.Merchant, error) {
	var out []store.Merchant
	err := store.Scan(r.db, store.MerchantPrefix(), false, func(_, v []byte) (bool, error) {
		var m store.Merchant
		if err := json.Unmarshal(v, &m); err != nil {
			return false, err
		}
		out = append(out, m)
		return true, nil
	})
	return out, err
}

// indexKeys lists in MK/ the API keys of a store written before keys were
// listed (K/ rows alone): each with its merchant's creation time and no
// prefix.
func (r *Registry) indexKeys() error {
	type orphan struct {
		merchant string
		hash     [32]byte
	}
	var todo []orphan
	err := store.Scan(r.db, store.APIKeyPrefix(), false, func(k, v []byte) (bool, error) {
		var h [32]byte
		if len(k) != len(store.APIKeyPrefix())+32 {
			return true, nil
		}
		copy(h[:], k[len(store.APIKeyPrefix()):])
		ok, err := store.Has(r.db, store.MerchantKeyKey(string(v), keyID(h)))
		if err == nil && !ok {
			todo = append(todo, orphan{string(v), h})
		}
		return err == nil, err
	})
	if err != nil || len(todo) == 0 {
		return err
	}
	return r.db.Write(func(b *store.Batch) error {
		for _, o := range todo {
			at := time.Time{}
			if m, err := r.MerchantIn(b, o.merchant); err == nil {
				at = m.CreatedAt
			}
			rec := store.APIKey{ID: keyID(o.hash), CreatedAt: at.UTC(), Hash: hex.EncodeToString(o.hash[:])}
			if err := b.PutJSON(store.MerchantKeyKey(o.merchant, rec.ID), rec); err != nil {
				return err
			}
		}
		return nil
	})
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

// AddKey gives a merchant a key of the caller's (dev mode, restarted with
// a --dev-api-key it has not seen). A key the merchant has already is left
// as it is; a key of another merchant is an error.
func (r *Registry) AddKey(b *store.Batch, merchant, apiKey string) error {
	if !strings.HasPrefix(apiKey, "sk_live_") && !strings.HasPrefix(apiKey, "sk_test_") || len(apiKey) < 24 {
		return apierr.New(apierr.ValidationFailed, "an API key starts with sk_live_ or sk_test_ and has at least 16 more characters")
	}
	h := HashKey(apiKey)
	owner, err := store.GetRaw(b, store.APIKeyKey(h[:]))
	switch {
	case err == nil && string(owner) == merchant:
		return nil
	case err == nil:
		return apierr.New(apierr.ValidationFailed, "that API key is already in use")
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	_, err = r.putKey(b, merchant, apiKey)
	return err
}
