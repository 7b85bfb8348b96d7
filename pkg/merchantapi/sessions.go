package merchantapi

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"

	"github.com/inflowhq/inflow/pkg/apierr"
)

// Payment session limits.
const (
	MinSessionSeconds     = 60
	MaxSessionSeconds     = 7 * 24 * 3600
	DefaultSessionSeconds = 3600
	MaxSessionAmounts     = 20
)

// SessionStatuses are a payment session's statuses, in the order they move.
var SessionStatuses = []string{"created", "pending", "initiated", "attempted", "completed", "expired"}

var sessionIDPattern = regexp.MustCompile(`^ps_[0-9a-f]{32}$`)

// ValidSessionID says whether s is a session id's form: ps_ and 128 random
// bits in hex.
func ValidSessionID(s string) bool { return sessionIDPattern.MatchString(s) }

// SessionCustomer is who pays a session.
type SessionCustomer struct {
	ID    string `json:"id"`
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
}

// PaymentSessionRequest is POST /payment-sessions.
type PaymentSessionRequest struct {
	Customer SessionCustomer `json:"customer"`
	Product  string          `json:"product,omitempty"`
	// Amounts maps a currency code (USDT, a seed code such as tUSDT, or
	// USD for any USD stablecoin at par) to an amount; none makes an
	// open-amount session (a deposit request).
	Amounts         map[string]string          `json:"amounts,omitempty"`
	ChainIDs        []string                   `json:"chainIds,omitempty"`
	ReturnURL       string                     `json:"returnUrl"`
	NotificationURL string                     `json:"notificationUrl,omitempty"`
	ExpiresIn       *int64                     `json:"expiresIn,omitempty"`
	Metadata        map[string]json.RawMessage `json:"metadata,omitempty"`
}

// fiat are the currencies that need a rate source (USD is paid at par in
// stablecoins).
var fiat = map[string]bool{"EUR": true, "GBP": true, "JPY": true, "CHF": true, "CAD": true, "AUD": true, "CNY": true, "BRL": true}

// Validate checks the request's form; the currencies and the amounts'
// decimals are checked against the chains when the session is made.
// live says the merchant is live: its returnUrl must then be https; a
// notificationUrl is held to a webhook endpoint's rules (loopback http in
// dev mode only).
func (r *PaymentSessionRequest) Validate(live, loopbackWebhooks bool) (expiresIn int64, err error) {
	if err := ValidateReference(r.Customer.ID); err != nil {
		return 0, apierr.New(apierr.ValidationFailed, "customer.id: %v", err)
	}
	for name, v := range map[string]string{"customer.email": r.Customer.Email, "customer.name": r.Customer.Name, "product": r.Product} {
		if len(v) > 255 || strings.ContainsAny(v, "\x00\r\n") {
			return 0, apierr.New(apierr.ValidationFailed, "%s: at most 255 characters on one line", name)
		}
	}
	if r.NotificationURL != "" {
		// Held to a webhook endpoint's rules: https to a public address.
		if err := (&EndpointRequest{URL: r.NotificationURL}).Validate(loopbackWebhooks); err != nil {
			return 0, err
		}
	}
	u, err := url.Parse(r.ReturnURL)
	if r.ReturnURL == "" || len(r.ReturnURL) > MaxWebhookURLLen || err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return 0, apierr.New(apierr.ValidationFailed, "returnUrl must be an absolute http(s) URL without credentials")
	}
	if live && u.Scheme != "https" {
		return 0, apierr.New(apierr.ValidationFailed, "returnUrl must be https for a live merchant")
	}
	if len(r.Metadata) > MaxMetadataKeys {
		return 0, apierr.New(apierr.TooManyMetadataKeys, "metadata has %d keys; at most %d", len(r.Metadata), MaxMetadataKeys)
	}
	expiresIn = DefaultSessionSeconds
	if r.ExpiresIn != nil {
		expiresIn = *r.ExpiresIn
	}
	if expiresIn < MinSessionSeconds || expiresIn > MaxSessionSeconds {
		return 0, apierr.New(apierr.ValidationFailed, "expiresIn %d: want %d to %d seconds", expiresIn, MinSessionSeconds, MaxSessionSeconds)
	}
	if len(r.Amounts) > MaxSessionAmounts {
		return 0, apierr.New(apierr.ValidationFailed, "at most %d amounts", MaxSessionAmounts)
	}
	for code, a := range r.Amounts {
		if code == "" || len(code) > 16 {
			return 0, apierr.New(apierr.UnsupportedCurrency, "currency code %q", code)
		}
		if fiat[strings.ToUpper(code)] {
			return 0, apierr.New(apierr.RateUnavailable, "%s needs a rate source, and none is configured (USD is paid in stablecoins at par)", code)
		}
		if a == "" || strings.Trim(a, "0123456789.") != "" || strings.Count(a, ".") > 1 || strings.HasPrefix(a, ".") || strings.HasSuffix(a, ".") ||
			strings.Trim(a, "0.") == "" {
			return 0, apierr.New(apierr.InvalidAmount, "amount %q for %s: want a positive decimal", a, code)
		}
	}
	for _, id := range r.ChainIDs {
		if id == "" || len(id) > 64 {
			return 0, apierr.New(apierr.UnsupportedChain, "chain id %q", id)
		}
	}
	return expiresIn, nil
}

func (r *PaymentSessionRequest) check(in *Input) error {
	// Live mode is known only to ledgerd, which checks it again.
	_, err := r.Validate(false, in.LoopbackWebhooks)
	return err
}

// ChannelRequest is POST /wallet/address and POST /channels (the Channel
// API): a customer's address for a currency.
type ChannelRequest struct {
	CustomerID string `json:"customerId"`
	Currency   string `json:"currency"`
}

// Validate checks the request's form.
func (r *ChannelRequest) Validate() error {
	if err := ValidateReference(r.CustomerID); err != nil {
		return apierr.New(apierr.ValidationFailed, "customerId: %v", err)
	}
	if r.Currency == "" || len(r.Currency) > 16 {
		return apierr.New(apierr.UnsupportedCurrency, "currency %q", r.Currency)
	}
	return nil
}

func (r *ChannelRequest) check(*Input) error { return r.Validate() }
