package sessions

import (
	"encoding/json"
	"errors"
	"net/url"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// ChannelView is a channel address as the Channel API answers it.
type ChannelView struct {
	CustomerID string         `json:"customerId"`
	Address    string         `json:"address"`
	Currency   string         `json:"currency"`
	ChainID    string         `json:"chainId"`
	Protocol   string         `json:"protocol"`
	QRCodeURL  string         `json:"qrCodeURL"`
	CreatedAt  events.APITime `json:"createdAt"`
}

// Channel gives a customer's address for a currency (a seed code such as
// tUSDT, or a bare currency): the same address every time for the
// customer and the currency's protocol, bound to the customer for good.
// It makes one on the first call.
func (s *Service) Channel(b *store.Batch, merchant string, req *merchantapi.ChannelRequest) (*ChannelView, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	opts, err := Options(s.table, s.chains, nil, []Request{{Code: req.Currency}})
	switch {
	case errors.Is(err, ErrUnknownCurrency), errors.Is(err, ErrNoOption):
		return nil, apierr.New(apierr.UnsupportedCurrency, "%v", err)
	case err != nil:
		return nil, err
	case len(opts) == 0:
		return nil, apierr.New(apierr.UnsupportedCurrency, "no followed chain carries %q", req.Currency)
	}
	o := opts[0]
	spec, err := s.table.Chain(o.Chain)
	if err != nil {
		return nil, err
	}
	key := store.ChannelKey(merchant, req.CustomerID, spec.Family)
	ch := &store.Channel{}
	err = store.GetJSON(b, key, ch)
	if errors.Is(err, store.ErrNotFound) {
		pa, err := s.reg.BindSession(b, merchant, req.CustomerID, "channel", spec.Family, o.Chain, o.Currency)
		if err != nil {
			return nil, err
		}
		ch = &store.Channel{Customer: req.CustomerID, Family: spec.Family, AddressID: pa.ID, CreatedAt: s.o.Now().UTC()}
		if err := b.PutJSON(key, ch); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return s.channelView(b, ch, o.Chain, o.Currency)
}

func (s *Service) channelView(rd store.Reader, ch *store.Channel, id chain.ID, currency string) (*ChannelView, error) {
	spec, err := s.table.Chain(id)
	if err != nil {
		return nil, err
	}
	pa, err := s.reg.PoolAddress(rd, ch.AddressID)
	if err != nil {
		return nil, err
	}
	addr := spec.AddressText(pa.Address())
	return &ChannelView{CustomerID: ch.Customer, Address: addr, Currency: currency, ChainID: string(id), Protocol: spec.Family.String(),
		QRCodeURL: s.o.PublicURL + "/qr/" + url.PathEscape(string(id)) + "/" + url.PathEscape(addr) + ".png", CreatedAt: events.APITime{Time: ch.CreatedAt}}, nil
}

// Channels lists a customer's channel addresses (every customer's with
// ""), one per protocol, each on the chain it was made for.
func (s *Service) Channels(merchant, customer string) ([]*ChannelView, error) {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	var out []*ChannelView
	err := store.Scan(snap, store.ChannelPrefix(merchant, customer), false, func(_, v []byte) (bool, error) {
		ch := &store.Channel{}
		if err := json.Unmarshal(v, ch); err != nil {
			return false, err
		}
		pa, err := s.reg.PoolAddress(snap, ch.AddressID)
		if err != nil {
			return false, err
		}
		id, cur := pa.ChainID, pa.Currency
		if id == "" {
			return true, nil // released (not done today): not a channel any more
		}
		cv, err := s.channelView(snap, ch, id, cur)
		if err != nil {
			return false, err
		}
		out = append(out, cv)
		return true, nil
	})
	if out == nil {
		out = []*ChannelView{}
	}
	return out, err // in key order: by customer, then protocol
}
