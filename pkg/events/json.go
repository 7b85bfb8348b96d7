package events

import "github.com/inflowhq/inflow/pkg/chain"

// JSONRecord is a record as the NDJSON of `indexer events decode` writes
// it: the wire fields under their names, hashes and addresses the way the
// chain writes them, amounts as decimal strings of base units.
type JSONRecord struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Version   int            `json:"version"`
	Chain     chain.ID       `json:"chain"`
	Family    chain.Family   `json:"family"`
	Number    uint64         `json:"number"`
	Hash      string         `json:"hash"`
	Parent    string         `json:"parent,omitempty"`
	Time      *int64         `json:"time,omitempty"`
	Transfers []JSONTransfer `json:"transfers,omitempty"`
}

// JSONTransfer is one transfer of a JSONRecord. Currency and Amount are
// set where the chain's asset table knows the token.
type JSONTransfer struct {
	TxHash       string `json:"txHash"`
	Index        uint32 `json:"index"`
	Kind         string `json:"kind"`
	Token        string `json:"token,omitempty"`
	Asset        string `json:"asset,omitempty"`
	From         string `json:"from,omitempty"`
	To           string `json:"to"`
	TokenAccount string `json:"tokenAccount,omitempty"`
	Value        string `json:"value"`
	Currency     string `json:"currency,omitempty"`
	Amount       string `json:"amount,omitempty"`
	AddressID    uint64 `json:"addressId"`
	Maturity     uint32 `json:"maturity,omitempty"`
}

// Describer names what the record format leaves to the chain: how a
// Bitcoin chain writes its addresses, and a transfer's currency and
// decimals. A nil Describer writes mainnet addresses and no currency.
type Describer interface {
	AddressNet(chain.ID) chain.Network
	Currency(chain.ID, *chain.Transfer) (currency string, decimals uint8, ok bool)
}

// JSON returns the record's JSONRecord.
func (r *Record) JSON(d Describer) JSONRecord {
	net := chain.NetworkMainnet
	if d != nil {
		net = d.AddressNet(r.Chain)
	}
	addr := func(a chain.Address) string {
		if a.IsZero() {
			return ""
		}
		return a.Text(net)
	}
	out := JSONRecord{ID: r.ID().String(), Type: r.Type.String(), Version: 1, Chain: r.Chain, Family: r.Family,
		Number: r.Number, Hash: r.Hash.Format(r.Family)}
	if !r.Type.HasBlock() {
		return out
	}
	t := r.Time
	out.Parent, out.Time = r.Parent.Format(r.Family), &t
	out.Transfers = make([]JSONTransfer, len(r.Transfers))
	for i := range r.Transfers {
		tr := &r.Transfers[i]
		if tr.Maturity != 0 || tr.Asset != "" || !tr.TokenAccount.IsZero() {
			out.Version = 2
		}
		j := JSONTransfer{TxHash: chain.FormatHash(r.Family, tr.TxHash), Index: tr.Index, Kind: tr.Kind.String(),
			Token: addr(tr.Token), Asset: tr.Asset, From: addr(tr.From), To: addr(tr.To), TokenAccount: addr(tr.TokenAccount),
			Value: tr.Value.String(), AddressID: tr.AddressID, Maturity: tr.Maturity}
		if d != nil {
			if cur, dec, ok := d.Currency(r.Chain, tr); ok {
				j.Currency, j.Amount = cur, tr.Value.Decimal(dec)
			}
		}
		out.Transfers[i] = j
	}
	return out
}
