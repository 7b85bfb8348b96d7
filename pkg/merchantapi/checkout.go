package merchantapi

import "time"

// CheckoutView is what a session's hosted checkout page shows of it: what
// the customer paying needs, nothing of the merchant (no merchant id,
// customer, metadata or notification URL). ledgerd's internal API serves
// it at GET /internal/v1/checkout/{sessionId} to apid, which renders the
// page.
type CheckoutView struct {
	SessionID      string            `json:"sessionId"`
	Status         string            `json:"status"`
	ExpiresAt      time.Time         `json:"expiresAt"`
	AmountDue      string            `json:"amountDue"`      // in the option paid furthest, with its currency; empty: open amount
	AmountReceived string            `json:"amountReceived"` // the same
	Currency       string            `json:"currency"`
	ReturnURL      string            `json:"returnUrl"`
	Options        []CheckoutOption  `json:"paymentOptions"`
	Payments       []CheckoutPayment `json:"payments"`
}

// CheckoutOption is one way to pay, as the customer sees it.
type CheckoutOption struct {
	Currency   string `json:"currency"`
	ChainID    string `json:"chainId"`
	ChainName  string `json:"chainName"`
	Protocol   string `json:"protocol"`
	Address    string `json:"address"`
	Amount     string `json:"amount"` // empty: any amount
	PaymentURI string `json:"paymentUri"`
}

// CheckoutPayment is a payment seen, as the customer sees it.
type CheckoutPayment struct {
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	ChainID       string `json:"chainId"`
	Status        string `json:"status"` // the deposit's: pending, confirmed, completed, orphaned
	Confirmations uint64 `json:"confirmations"`
	Required      uint64 `json:"requiredConfirmations"`
}
