// Package webhook delivers deposit events to merchants' endpoints.
//
// The dispatcher consumes inflow.deposits and, for each event, creates one
// delivery per subscribed endpoint of the event's merchant, with the consumed
// offsets in the same batch. The sender attempts due deliveries: a 2xx answer
// ends one; anything else (an error status, a timeout, a dropped connection)
// schedules the next attempt with exponential backoff and full jitter: the
// first retry comes within Base (1 s by default), and retries go on until the
// delivery is MaxAge old (72 h by default). Deliveries live in Pebble, so a
// restart loses none: delivery is at least once.
//
// Requests follow Standard Webhooks: headers webhook-id (the event id, the
// same on every attempt), webhook-timestamp and webhook-signature, which is
// "v1," and base64 of HMAC-SHA256 over "id.timestamp.body" keyed with the
// bytes of the endpoint's whsec_ secret.
//
// SSRF guard: the sender dials only public unicast addresses, checked on the
// resolved address at dial time (a name that resolves to a private address
// is refused), and never follows redirects. The all-in-one dev mode may allow
// plain-http loopback endpoints.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sign returns the webhook-signature header value.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := SecretBytes(secret)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", id, ts.Unix())
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// SecretBytes decodes a whsec_ secret.
func SecretBytes(secret string) ([]byte, error) {
	s, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, fmt.Errorf("webhook: secret does not start with whsec_")
	}
	return base64.StdEncoding.DecodeString(s)
}

// Headers returns the Standard Webhooks headers of one attempt, with one
// signature per secret (space-separated, as the specification allows), so
// that during a secret rotation a receiver that knows either secret can
// verify the delivery.
func Headers(secrets []string, id string, ts time.Time, body []byte) (map[string]string, error) {
	sigs := make([]string, len(secrets))
	for i, secret := range secrets {
		var err error
		if sigs[i], err = Sign(secret, id, ts, body); err != nil {
			return nil, err
		}
	}
	return map[string]string{
		"webhook-id":        id,
		"webhook-timestamp": strconv.FormatInt(ts.Unix(), 10),
		"webhook-signature": strings.Join(sigs, " "),
		"Content-Type":      "application/json",
		"User-Agent":        "Inflow-Webhooks/1",
	}, nil
}
