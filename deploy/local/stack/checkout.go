package stack

import (
	"context"
	"errors"

	"github.com/inflowhq/inflow/apid/checkout"
	"github.com/inflowhq/inflow/ledgerd/sessions"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
)

// checkoutSource gives the checkout page the ledger's sessions, in
// process (the split stack would reach them through ledgerd's internal
// API).
type checkoutSource struct {
	s     *sessions.Service
	table *assets.Config
}

func (c checkoutSource) Checkout(_ context.Context, id string) (*checkout.View, error) {
	v, err := c.s.Get("", id)
	var ae *apierr.Error
	if errors.As(err, &ae) && ae.Code == apierr.SessionNotFound {
		return nil, checkout.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := &checkout.View{SessionID: v.SessionID, Status: v.Status, ExpiresAt: v.ExpiresAt.Time, AmountReceived: v.AmountReceived, ReturnURL: v.ReturnURL}
	if v.AmountDue != nil {
		out.AmountDue = *v.AmountDue
	}
	if v.Currency != nil {
		out.Currency = *v.Currency
	}
	for _, o := range v.PaymentOptions {
		amount := ""
		if o.Amount != nil {
			amount = *o.Amount
		}
		out.Options = append(out.Options, checkout.Option{Currency: o.Currency, ChainID: o.ChainID, ChainName: o.ChainName, Protocol: o.Protocol,
			Address: o.Address, Amount: amount, PaymentURI: o.PaymentURI})
	}
	for _, p := range v.Payments {
		req := uint64(0)
		if spec, err := c.table.Chain(p.ChainID); err == nil {
			req = spec.Policy.CreditDepth
		}
		out.Payments = append(out.Payments, checkout.Payment{Amount: p.Amount, Currency: p.Currency, ChainID: string(p.ChainID), Status: p.Status,
			Confirmations: p.Confirmations, Required: req})
	}
	return out, nil
}

func (c checkoutSource) Opened(_ context.Context, id string) error { return c.s.Opened(id) }
