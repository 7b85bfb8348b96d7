// Package registry owns ledgerd's non-money state: merchants and their API
// keys (stored only as SHA-256 hashes), the address pool, deposit references
// with their binding history, and webhook endpoints.
//
// Pool lifecycle: an imported address is available; binding takes the oldest
// available address of the chain's family and makes it bound; unbinding
// starts a cooldown (30 minutes by default), after which the address is
// available again. Every pool address is watched from its import on, so a
// deposit to an address bound to no one is still seen and recorded as
// unattributed. Each change of an address is queued for inflow.addresses in
// the same batch as the change.
//
// The binding history keeps every [bound, unbound) interval per address; the
// ledger attributes a deposit to the reference whose interval holds the
// block's time.
package registry

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// Registry is the registry over ledgerd's store.
type Registry struct {
	db       *store.DB
	assets   *assets.Config
	cooldown time.Duration
	now      func() time.Time
	log      *slog.Logger
}

// Options configures a Registry.
type Options struct {
	Cooldown time.Duration // default 30m
	Now      func() time.Time
	Logger   *slog.Logger
}

// New makes a registry.
func New(db *store.DB, table *assets.Config, o Options) *Registry {
	if o.Cooldown == 0 {
		o.Cooldown = 30 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Registry{db: db, assets: table, cooldown: o.Cooldown, now: o.Now, log: o.Logger}
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// HashKey is how API keys are stored.
func HashKey(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// CreateMerchant makes a merchant and its first API key. With apiKey set,
// that key is used (the all-in-one dev mode's --dev-api-key); otherwise a
// random sk_live_/sk_test_ key is made. The key is returned once and stored
// only as a hash.
func (r *Registry) CreateMerchant(name string, live bool, apiKey string) (*store.Merchant, string, error) {
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
	err := r.db.Write(func(b *store.Batch) error {
		if ok, err := store.Has(b, store.Key("K/", h[:])); err != nil || ok {
			if ok {
				return apierr.New(apierr.ValidationFailed, "that API key is already in use")
			}
			return err
		}
		if err := b.PutJSON(store.Key("M/", m.ID), m); err != nil {
			return err
		}
		return b.Set(store.Key("K/", h[:]), []byte(m.ID), nil)
	})
	if err != nil {
		return nil, "", err
	}
	return m, apiKey, nil
}

// Authenticate returns the merchant of an API key hash.
func (r *Registry) Authenticate(keyHash []byte) (*store.Merchant, error) {
	id, err := store.GetRaw(r.db, store.Key("K/", keyHash))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.New(apierr.Unauthorized, "unknown API key")
		}
		return nil, err
	}
	m := &store.Merchant{}
	if err := store.GetJSON(r.db, store.Key("M/", string(id)), m); err != nil {
		return nil, err
	}
	return m, nil
}

// FindMerchantByName returns a merchant with that name, if any (dev mode uses
// it to keep one dev merchant across restarts).
func (r *Registry) FindMerchantByName(name string) (*store.Merchant, error) {
	var found *store.Merchant
	err := store.Scan(r.db, []byte("M/"), false, func(_, v []byte) (bool, error) {
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
func (r *Registry) AddKey(merchant, apiKey string) error {
	h := HashKey(apiKey)
	return r.db.Write(func(b *store.Batch) error {
		return b.Set(store.Key("K/", h[:]), []byte(merchant), nil)
	})
}

// ImportResult reports an import.
type ImportResult struct {
	Protocol   string   `json:"protocol"`
	Imported   int      `json:"imported"`
	Duplicates int      `json:"duplicates"`
	Addresses  []string `json:"importedAddresses"`
	Duplicated []string `json:"duplicateAddresses"`
}

// Import adds addresses to a merchant's pool. Addresses already in any pool
// are reported as duplicates and left as they are.
func (r *Registry) Import(merchant string, fam chain.Family, addrs []chain.Address) (*ImportResult, error) {
	res := &ImportResult{Protocol: fam.String(), Addresses: []string{}, Duplicated: []string{}}
	now := r.now().UTC()
	err := r.db.Write(func(b *store.Batch) error {
		seen := map[chain.Address]bool{}
		for _, a := range addrs {
			if a.Family() != fam {
				return apierr.New(apierr.InvalidAddress, "%s is not a %s address", a, fam)
			}
			k := store.Key("A/", a.Key())
			exists, err := store.Has(b, k)
			if err != nil {
				return err
			}
			if exists || seen[a] {
				res.Duplicates++
				res.Duplicated = append(res.Duplicated, a.Checksummed())
				continue
			}
			seen[a] = true
			id, err := b.Next("address")
			if err != nil {
				return err
			}
			pa := store.PoolAddress{ID: id, Merchant: merchant, Family: fam, Raw: a.Bytes(), Status: store.AddressAvailable, ImportedAt: now}
			if err := b.PutJSON(k, pa); err != nil {
				return err
			}
			if err := b.Set(store.Key("I/", id), k, nil); err != nil {
				return err
			}
			if err := b.Set(availKey(merchant, fam, id), nil, nil); err != nil {
				return err
			}
			if err := publishAddress(b, &pa); err != nil {
				return err
			}
			res.Imported++
			res.Addresses = append(res.Addresses, a.Checksummed())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func availKey(merchant string, fam chain.Family, id uint64) []byte {
	return store.Key("V/", merchant, store.Sep, byte(fam), id)
}

func coolKey(merchant string, fam chain.Family, until int64, id uint64) []byte {
	return store.Key("C/", merchant, store.Sep, byte(fam), until, id)
}

// publishAddress queues the watch record of a pool address for inflow.addresses.
func publishAddress(b *store.Batch, pa *store.PoolAddress) error {
	rec := events.AddressRecord{Address: pa.Address(), ID: pa.ID}
	return ledger.Outbox(b, store.OutboxRow{Kind: store.OutboxAddress, Key: rec.Key(), Value: rec.Value()})
}

// sweep returns cooled-down addresses of a merchant and family to the pool.
func (r *Registry) sweep(b *store.Batch, merchant string, fam chain.Family, now time.Time) error {
	p := store.Key("C/", merchant, store.Sep, byte(fam))
	var due [][]byte
	err := store.Scan(b, p, false, func(k, _ []byte) (bool, error) {
		if len(k) < len(p)+16 || int64(binary.BigEndian.Uint64(k[len(p):])^(1<<63)) > now.UnixNano() {
			return false, nil
		}
		due = append(due, append([]byte(nil), k...))
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, k := range due {
		id := binary.BigEndian.Uint64(k[len(k)-8:])
		pa, key, err := byID(b, id)
		if err != nil {
			return err
		}
		pa.Status, pa.CooldownUntil = store.AddressAvailable, 0
		if err := b.PutJSON(key, pa); err != nil {
			return err
		}
		if err := b.Delete(k, nil); err != nil {
			return err
		}
		if err := b.Set(availKey(merchant, fam, id), nil, nil); err != nil {
			return err
		}
		if err := publishAddress(b, pa); err != nil {
			return err
		}
	}
	return nil
}

func byID(rd store.Reader, id uint64) (*store.PoolAddress, []byte, error) {
	k, err := store.GetRaw(rd, store.Key("I/", id))
	if err != nil {
		return nil, nil, err
	}
	pa := &store.PoolAddress{}
	if err := store.GetJSON(rd, k, pa); err != nil {
		return nil, nil, err
	}
	return pa, k, nil
}

// BindResponse is its answer.
type BindResponse struct {
	DepositReference string                     `json:"depositReference"`
	Currency         string                     `json:"currency"`
	ChainID          string                     `json:"chainId"`
	Protocol         string                     `json:"protocol"`
	Address          string                     `json:"address"`
	Metadata         map[string]json.RawMessage `json:"metadata"`
	CreatedAt        events.APITime             `json:"createdAt"`
}

// Bind binds the oldest available pool address of the chain's family to a
// deposit reference on a chain.
func (r *Registry) Bind(merchant string, req merchantapi.BindRequest) (*BindResponse, error) {
	spec, asset, err := req.Validate(r.assets)
	if err != nil {
		return nil, err
	}
	now := r.now().UTC()
	var resp *BindResponse
	err = r.db.Write(func(b *store.Batch) error {
		refKey := store.Key("R/", merchant, store.Sep, req.DepositReference)
		ref := &store.Reference{}
		err := store.GetJSON(b, refKey, ref)
		switch {
		case errors.Is(err, store.ErrNotFound):
			ref = &store.Reference{Merchant: merchant, Reference: req.DepositReference, CreatedAt: now, Bindings: []store.Binding{}}
		case err != nil:
			return err
		}
		for _, bd := range ref.Bindings {
			if bd.ChainID == spec.ID {
				return apierr.New(apierr.DuplicateDepositReference, "Deposit reference '%s' already exists for chain '%s'", req.DepositReference, spec.ID)
			}
		}
		if err := r.sweep(b, merchant, spec.Family, now); err != nil {
			return err
		}
		var id uint64
		var avail []byte
		err = store.Scan(b, store.Key("V/", merchant, store.Sep, byte(spec.Family)), false, func(k, _ []byte) (bool, error) {
			avail = append([]byte(nil), k...)
			id = binary.BigEndian.Uint64(k[len(k)-8:])
			return false, nil
		})
		if err != nil {
			return err
		}
		if avail == nil {
			return apierr.New(apierr.NoAvailableAddresses, "Address pool exhausted for protocol '%s'", spec.Family)
		}
		pa, key, err := byID(b, id)
		if err != nil {
			return err
		}
		pa.Status, pa.Reference, pa.ChainID, pa.Currency, pa.BoundAt = store.AddressBound, req.DepositReference, spec.ID, asset.Currency, now.UnixNano()
		if err := b.PutJSON(key, pa); err != nil {
			return err
		}
		if err := b.Delete(avail, nil); err != nil {
			return err
		}
		if err := b.PutJSON(store.Key("H/", pa.ID, now.UnixNano()), store.BindingRecord{
			Merchant: merchant, Reference: req.DepositReference, ChainID: spec.ID, BoundAt: now.UnixNano()}); err != nil {
			return err
		}
		if req.Metadata != nil {
			ref.Metadata = req.Metadata
		}
		ref.Bindings = append(ref.Bindings, store.Binding{ChainID: spec.ID, Currency: asset.Currency, AddressID: pa.ID, CreatedAt: now})
		if err := b.PutJSON(refKey, ref); err != nil {
			return err
		}
		if err := publishAddress(b, pa); err != nil {
			return err
		}
		md := ref.Metadata
		if md == nil {
			md = map[string]json.RawMessage{}
		}
		resp = &BindResponse{DepositReference: req.DepositReference, Currency: asset.Currency, ChainID: string(spec.ID),
			Protocol: spec.Family.String(), Address: pa.Address().Checksummed(), Metadata: md, CreatedAt: events.APITime{Time: now}}
		return nil
	})
	return resp, err
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
func (r *Registry) Unbind(merchant, reference, chainID string) (*UnbindResponse, error) {
	now := r.now().UTC()
	resp := &UnbindResponse{Success: true, Message: "Deposit reference unbound", DepositReference: reference}
	err := r.db.Write(func(b *store.Batch) error {
		refKey := store.Key("R/", merchant, store.Sep, reference)
		ref := &store.Reference{}
		if err := store.GetJSON(b, refKey, ref); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return apierr.New(apierr.DepositReferenceNotFound, "No deposit reference found for '%s'", reference)
			}
			return err
		}
		var keep []store.Binding
		for _, bd := range ref.Bindings {
			if chainID != "" && string(bd.ChainID) != chainID {
				keep = append(keep, bd)
				continue
			}
			pa, key, err := byID(b, bd.AddressID)
			if err != nil {
				return err
			}
			histKey := store.Key("H/", pa.ID, pa.BoundAt)
			var hr store.BindingRecord
			if err := store.GetJSON(b, histKey, &hr); err != nil {
				return fmt.Errorf("binding history of address %d: %w", pa.ID, err)
			}
			hr.UnboundAt = now.UnixNano()
			if err := b.PutJSON(histKey, hr); err != nil {
				return err
			}
			until := now.Add(r.cooldown).UnixNano()
			pa.Status, pa.Reference, pa.ChainID, pa.Currency, pa.BoundAt, pa.CooldownUntil = store.AddressCooldown, "", "", "", 0, until
			if err := b.PutJSON(key, pa); err != nil {
				return err
			}
			if err := b.Set(coolKey(merchant, pa.Family, until, pa.ID), nil, nil); err != nil {
				return err
			}
			if err := publishAddress(b, pa); err != nil {
				return err
			}
			resp.UnboundAddresses++
		}
		if chainID != "" && resp.UnboundAddresses == 0 {
			return apierr.New(apierr.DepositReferenceNotFound, "Deposit reference '%s' has no binding on chain '%s'", reference, chainID)
		}
		if keep == nil {
			keep = []store.Binding{}
		}
		ref.Bindings = keep
		return b.PutJSON(refKey, ref)
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// SweepAll returns every cooled-down address to its pool.
func (r *Registry) SweepAll() error {
	type mf struct {
		m string
		f chain.Family
	}
	var todo []mf
	seen := map[mf]bool{}
	err := store.Scan(r.db, []byte("C/"), false, func(k, _ []byte) (bool, error) {
		rest := k[2:]
		i := strings.IndexByte(string(rest), 0)
		if i < 0 || len(rest) < i+2 {
			return true, nil
		}
		x := mf{string(rest[:i]), chain.Family(rest[i+1])}
		if !seen[x] {
			seen[x] = true
			todo = append(todo, x)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	now := r.now()
	for _, x := range todo {
		if err := r.db.Write(func(b *store.Batch) error { return r.sweep(b, x.m, x.f, now) }); err != nil {
			return err
		}
	}
	return nil
}

// ReferenceAddress is one binding in GET /deposits/references/{ref}.
type ReferenceAddress struct {
	Currency  string         `json:"currency"`
	ChainID   string         `json:"chainId"`
	Protocol  string         `json:"protocol"`
	Address   string         `json:"address"`
	CreatedAt events.APITime `json:"createdAt"`
}

// ReferenceView is GET /deposits/references/{ref}.
type ReferenceView struct {
	DepositReference string                     `json:"depositReference"`
	Addresses        []ReferenceAddress         `json:"addresses"`
	TotalDeposits    int64                      `json:"totalDeposits"`
	TotalAmount      map[string]string          `json:"totalAmount"`
	Metadata         map[string]json.RawMessage `json:"metadata"`
}

// GetReference returns a reference with its active bindings and totals.
func (r *Registry) GetReference(merchant, reference, chainID string) (*ReferenceView, error) {
	ref := &store.Reference{}
	if err := store.GetJSON(r.db, store.Key("R/", merchant, store.Sep, reference), ref); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.New(apierr.DepositReferenceNotFound, "No deposit reference found for '%s'", reference)
		}
		return nil, err
	}
	v := &ReferenceView{DepositReference: ref.Reference, Addresses: []ReferenceAddress{}, Metadata: ref.Metadata}
	if v.Metadata == nil {
		v.Metadata = map[string]json.RawMessage{}
	}
	for _, bd := range ref.Bindings {
		if chainID != "" && string(bd.ChainID) != chainID {
			continue
		}
		pa, _, err := byID(r.db, bd.AddressID)
		if err != nil {
			return nil, err
		}
		v.Addresses = append(v.Addresses, ReferenceAddress{Currency: bd.Currency, ChainID: string(bd.ChainID),
			Protocol: pa.Family.String(), Address: pa.Address().Checksummed(), CreatedAt: events.APITime{Time: bd.CreatedAt}})
	}
	stats, totals, err := r.totals(merchant, reference)
	if err != nil {
		return nil, err
	}
	v.TotalDeposits, v.TotalAmount = stats.Deposits, totals
	return v, nil
}

// totals reads a reference's stats and its balance totals per currency.
func (r *Registry) totals(merchant, reference string) (store.RefStats, map[string]string, error) {
	a, err := store.GetAccount(r.db, merchant, reference)
	if err != nil {
		return a.RefStats, nil, err
	}
	bals := balanceViews(r.assets, []refAccount{{reference, &a}}, "")
	totals := map[string]string{}
	for _, b := range bals {
		totals[b.Currency] = b.total
	}
	return a.RefStats, totals, nil
}

// ReferenceSummary is one row of GET /deposits/references.
type ReferenceSummary struct {
	DepositReference string            `json:"depositReference"`
	Protocols        []string          `json:"protocols"`
	AddressCount     int               `json:"addressCount"`
	TotalDeposits    int64             `json:"totalDeposits"`
	TotalAmount      map[string]string `json:"totalAmount"`
	LastDepositAt    *events.APITime   `json:"lastDepositAt"`
}

// ListReferences lists a merchant's references, optionally searching.
func (r *Registry) ListReferences(merchant string, p merchantapi.Page, search string) ([]ReferenceSummary, merchantapi.Pagination, error) {
	var refs []store.Reference
	search = strings.ToLower(search)
	err := store.Scan(r.db, store.Key("R/", merchant, store.Sep), false, func(_, v []byte) (bool, error) {
		var ref store.Reference
		if err := json.Unmarshal(v, &ref); err != nil {
			return false, err
		}
		if search == "" || strings.Contains(strings.ToLower(ref.Reference), search) {
			refs = append(refs, ref)
		}
		return true, nil
	})
	if err != nil {
		return nil, merchantapi.Pagination{}, err
	}
	lo, hi, pg := merchantapi.Paginate(p, len(refs))
	out := make([]ReferenceSummary, 0, hi-lo)
	for _, ref := range refs[lo:hi] {
		s := ReferenceSummary{DepositReference: ref.Reference, Protocols: []string{}, AddressCount: len(ref.Bindings)}
		fams := map[string]bool{}
		for _, bd := range ref.Bindings {
			if spec, err := r.assets.Chain(bd.ChainID); err == nil {
				fams[spec.Family.String()] = true
			}
		}
		for f := range fams {
			s.Protocols = append(s.Protocols, f)
		}
		sort.Strings(s.Protocols)
		stats, totals, err := r.totals(merchant, ref.Reference)
		if err != nil {
			return nil, pg, err
		}
		s.TotalDeposits, s.TotalAmount = stats.Deposits, totals
		if !stats.LastDepositAt.IsZero() {
			s.LastDepositAt = &events.APITime{Time: stats.LastDepositAt}
		}
		out = append(out, s)
	}
	return out, pg, nil
}

// AddressView is one row of GET /addresses.
type AddressView struct {
	Address          string  `json:"address"`
	Protocol         string  `json:"protocol"`
	Status           string  `json:"status"`
	DepositReference *string `json:"depositReference"`
}

// ListAddresses lists a merchant's pool.
func (r *Registry) ListAddresses(merchant, status string, fam chain.Family, p merchantapi.Page) ([]AddressView, merchantapi.Pagination, error) {
	var rows []AddressView
	now := r.now().UnixNano()
	err := store.Scan(r.db, []byte("I/"), false, func(_, k []byte) (bool, error) {
		var pa store.PoolAddress
		if err := store.GetJSON(r.db, k, &pa); err != nil {
			return false, err
		}
		if pa.Merchant != merchant || (fam != chain.FamilyUnknown && pa.Family != fam) {
			return true, nil
		}
		st := pa.Status
		if st == store.AddressCooldown && pa.CooldownUntil <= now {
			st = store.AddressAvailable // due back; the next sweep moves it
		}
		if status != "" && st != status {
			return true, nil
		}
		v := AddressView{Address: pa.Address().Checksummed(), Protocol: pa.Family.String(), Status: st}
		if pa.Reference != "" {
			ref := pa.Reference
			v.DepositReference = &ref
		}
		rows = append(rows, v)
		return true, nil
	})
	if err != nil {
		return nil, merchantapi.Pagination{}, err
	}
	lo, hi, pg := merchantapi.Paginate(p, len(rows))
	if rows == nil {
		rows = []AddressView{}
	}
	return rows[lo:hi], pg, nil
}

// BalanceView is one row of GET /balances.
type BalanceView struct {
	DepositReference string `json:"depositReference"`
	Currency         string `json:"currency"`
	Pending          string `json:"pending"`
	Available        string `json:"available"`
	total            string
}

// Balances sums a merchant's balances per reference and currency across
// chains, exactly: each chain's base units are scaled to the largest
// decimals of that currency before adding. ref nil means every attributed
// reference.
func Balances(rd store.Reader, table *assets.Config, merchant string, ref *string, currency string) ([]BalanceView, error) {
	var accounts []refAccount
	if ref != nil {
		a, err := store.GetAccount(rd, merchant, *ref)
		if err != nil {
			return nil, err
		}
		accounts = append(accounts, refAccount{*ref, &a})
	} else {
		err := store.ScanAccounts(rd, merchant, func(ref string, a *store.Account) error {
			accounts = append(accounts, refAccount{ref, a})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return balanceViews(table, accounts, currency), nil
}

type refAccount struct {
	ref string
	a   *store.Account
}

// balanceViews sums accounts' balances per reference and currency, in
// reference and currency order.
func balanceViews(table *assets.Config, accounts []refAccount, currency string) []BalanceView {
	out := []BalanceView{}
	for _, ra := range accounts {
		if ra.ref == "" {
			continue // unattributed deposits have no reference balance
		}
		bs := ra.a.Balances // in (currency, chain) order
		for i := 0; i < len(bs); {
			cur := bs[i].Currency
			var pending, avail []part
			maxDec := uint8(0)
			for ; i < len(bs) && bs[i].Currency == cur; i++ {
				dec := uint8(0)
				if a, err := table.Currency(bs[i].Chain, cur); err == nil {
					dec = a.Decimals
				}
				pending = append(pending, part{bs[i].Pending, dec})
				avail = append(avail, part{bs[i].Available, dec})
				maxDec = max(maxDec, dec)
			}
			if currency != "" && !strings.EqualFold(cur, currency) {
				continue
			}
			p, a := sumParts(pending, maxDec), sumParts(avail, maxDec)
			t, _ := p.Add(a)
			out = append(out, BalanceView{DepositReference: ra.ref, Currency: cur,
				Pending: p.Decimal(maxDec), Available: a.Decimal(maxDec), total: t.Decimal(maxDec)})
		}
	}
	return out
}

type part struct {
	v   chain.Amount
	dec uint8
}

// sumParts adds amounts of different decimals, each scaled to `to` decimals.
func sumParts(ps []part, to uint8) chain.Amount {
	sum := new(big.Int)
	for _, p := range ps {
		v := p.v.Big()
		v.Mul(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(to-p.dec)), nil))
		sum.Add(sum, v)
	}
	out, err := chain.AmountFromBig(sum)
	if err != nil {
		// Scaled balances beyond 256 bits cannot come from real tokens; show
		// the largest amount rather than a wrapped one.
		out, _ = chain.ParseAmount("115792089237316195423570985008687907853269984665640564039457584007913129639935")
	}
	return out
}

// Endpoint webhook management.

// NewSecret makes a Standard Webhooks secret.
func NewSecret() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// CreateEndpoint stores a webhook endpoint; the URL is checked by the caller.
func (r *Registry) CreateEndpoint(merchant, url string, evs []string) (*store.Endpoint, error) {
	if len(evs) == 0 {
		evs = append([]string(nil), events.DepositEventTypes...)
	}
	for _, e := range evs {
		if !validEvent(e) {
			return nil, apierr.New(apierr.ValidationFailed, "unknown event type %q (want one of %s)", e, strings.Join(events.DepositEventTypes, ", "))
		}
	}
	ep := &store.Endpoint{ID: "we_" + randomToken(8), Merchant: merchant, URL: url, Events: evs, Secret: NewSecret(), CreatedAt: r.now().UTC()}
	err := r.db.Write(func(b *store.Batch) error { return b.PutJSON(store.Key("W/", merchant, store.Sep, ep.ID), ep) })
	if err != nil {
		return nil, err
	}
	return ep, nil
}

func validEvent(e string) bool {
	for _, t := range events.DepositEventTypes {
		if e == t {
			return true
		}
	}
	return false
}

// Endpoints lists a merchant's endpoints.
func (r *Registry) Endpoints(merchant string) ([]store.Endpoint, error) {
	return EndpointsOf(r.db, merchant)
}

// EndpointsOf lists a merchant's endpoints from any reader (a batch, too).
func EndpointsOf(rd store.Reader, merchant string) ([]store.Endpoint, error) {
	out := []store.Endpoint{}
	err := store.Scan(rd, store.Key("W/", merchant, store.Sep), false, func(_, v []byte) (bool, error) {
		var ep store.Endpoint
		if err := json.Unmarshal(v, &ep); err != nil {
			return false, err
		}
		out = append(out, ep)
		return true, nil
	})
	return out, err
}

// Endpoint returns one of a merchant's endpoints.
func (r *Registry) Endpoint(merchant, id string) (*store.Endpoint, error) {
	ep := &store.Endpoint{}
	if err := store.GetJSON(r.db, store.Key("W/", merchant, store.Sep, id), ep); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.New(apierr.EndpointNotFound, "no webhook endpoint %q", id)
		}
		return nil, err
	}
	return ep, nil
}

// DeleteEndpoint removes an endpoint.
func (r *Registry) DeleteEndpoint(merchant, id string) error {
	if _, err := r.Endpoint(merchant, id); err != nil {
		return err
	}
	return r.db.Write(func(b *store.Batch) error { return b.Delete(store.Key("W/", merchant, store.Sep, id), nil) })
}
