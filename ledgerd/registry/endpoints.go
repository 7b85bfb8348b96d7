package registry

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// NewSecret makes a Standard Webhooks secret.
func NewSecret() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// CreateEndpoint stores a webhook endpoint; the URL is checked by the
// caller. A merchant has at most merchantapi.MaxEndpoints endpoints, and an
// endpoint lists each event type once.
func (r *Registry) CreateEndpoint(b *store.Batch, merchant, url string, evs []string) (*store.Endpoint, error) {
	if len(evs) == 0 {
		evs = append([]string(nil), events.WebhookEventTypes...)
	}
	for i, e := range evs {
		if !slices.Contains(events.WebhookEventTypes, e) {
			return nil, apierr.New(apierr.ValidationFailed, "unknown event type %q (want one of %s)", e, strings.Join(events.WebhookEventTypes, ", "))
		}
		if slices.Contains(evs[:i], e) {
			return nil, apierr.New(apierr.ValidationFailed, "event type %q is listed twice", e)
		}
	}
	have, err := EndpointsOf(b, merchant)
	if err != nil {
		return nil, err
	}
	if len(have) >= merchantapi.MaxEndpoints {
		return nil, apierr.New(apierr.LimitExceeded, "a merchant has at most %d webhook endpoints; delete one first", merchantapi.MaxEndpoints)
	}
	ep := &store.Endpoint{ID: "we_" + randomToken(8), Merchant: merchant, URL: url, Events: evs, Secret: NewSecret(), CreatedAt: r.now().UTC()}
	if err := b.PutJSON(store.EndpointKey(merchant, ep.ID), ep); err != nil {
		return nil, err
	}
	return ep, nil
}

// RotateSecret gives an endpoint a new secret. The old one keeps signing
// beside it for overlap (none when overlap is 0), so that a receiver can
// accept either while it switches (Standard Webhooks sends one signature
// per secret in webhook-signature).
func (r *Registry) RotateSecret(b *store.Batch, merchant, id string, overlap time.Duration) (*store.Endpoint, error) {
	ep, err := GetEndpoint(b, merchant, id)
	if err != nil {
		return nil, err
	}
	ep.PreviousSecret, ep.PreviousSecretUntil = "", nil
	if overlap > 0 {
		until := r.now().Add(overlap).UTC()
		ep.PreviousSecret, ep.PreviousSecretUntil = ep.Secret, &until
	}
	ep.Secret = NewSecret()
	if err := b.PutJSON(store.EndpointKey(merchant, ep.ID), ep); err != nil {
		return nil, err
	}
	r.log.Info("webhook secret rotated", "merchant", merchant, "endpoint", ep.ID, "overlap", overlap)
	return ep, nil
}

// EndpointsOf lists a merchant's endpoints from any reader (a batch, too).
func EndpointsOf(rd store.Reader, merchant string) ([]store.Endpoint, error) {
	out := []store.Endpoint{}
	err := store.Scan(rd, store.EndpointPrefix(merchant), false, func(_, v []byte) (bool, error) {
		var ep store.Endpoint
		if err := json.Unmarshal(v, &ep); err != nil {
			return false, err
		}
		if ep.Session == "" { // a session's own endpoint is not the merchant's
			out = append(out, ep)
		}
		return true, nil
	})
	return out, err
}

// GetEndpoint returns one of a merchant's endpoints.
func GetEndpoint(rd store.Reader, merchant, id string) (*store.Endpoint, error) {
	ep := &store.Endpoint{}
	if err := store.GetJSON(rd, store.EndpointKey(merchant, id), ep); err != nil || ep.Session != "" {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			return nil, apierr.New(apierr.EndpointNotFound, "no webhook endpoint %q", id)
		}
		return nil, err
	}
	return ep, nil
}

// DeleteEndpoint removes an endpoint.
func (r *Registry) DeleteEndpoint(b *store.Batch, merchant, id string) error {
	if _, err := GetEndpoint(b, merchant, id); err != nil {
		return err
	}
	return b.Delete(store.EndpointKey(merchant, id), nil)
}

// CreateSessionEndpoint stores a payment session's own endpoint: its
// notificationUrl (checked by the caller), a secret of its own, the
// session's event types. It counts against no limit of the merchant's.
func (r *Registry) CreateSessionEndpoint(b *store.Batch, merchant, session, url string) (*store.Endpoint, error) {
	ep := &store.Endpoint{ID: "we_" + randomToken(8), Merchant: merchant, URL: url, Events: append([]string(nil), events.SessionEventTypes...),
		Secret: NewSecret(), CreatedAt: r.now().UTC(), Session: session}
	return ep, b.PutJSON(store.EndpointKey(merchant, ep.ID), ep)
}
