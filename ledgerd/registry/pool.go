package registry

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// ImportResult reports an import.
type ImportResult struct {
	Protocol   string   `json:"protocol"`
	Imported   int      `json:"imported"`
	Duplicates int      `json:"duplicates"`
	Addresses  []string `json:"importedAddresses"`
	Duplicated []string `json:"duplicateAddresses"`
}

// unavailable is the refusal of an address in another merchant's pool: it
// does not say whose.
func unavailable(a chain.Address, net chain.Network) error {
	return apierr.New(apierr.AddressUnavailable, "address %s is not available: it is in use elsewhere; ask the operator", a.Text(net))
}

// Import adds addresses to a merchant's pool. Addresses already in its own
// pool are reported as duplicates and left as they are. An address in
// another merchant's pool refuses the whole import (ADDRESS_UNAVAILABLE):
// first come, first served would silently credit one merchant's deposits to
// another. RefuseConflicts records such attempts for the operator.
func (r *Registry) Import(b *store.Batch, merchant string, imp merchantapi.Import) (*ImportResult, error) {
	fam, addrs, net := imp.Family, imp.Addresses, imp.Network
	res := &ImportResult{Protocol: fam.String(), Addresses: []string{}, Duplicated: []string{}}
	now := r.now().UTC()
	seen := map[chain.Address]bool{}
	for _, a := range addrs {
		if a.Family() != fam {
			return nil, apierr.New(apierr.InvalidAddress, "%s is not a %s address", a, fam)
		}
		k := store.PoolAddressKey(a)
		var have store.PoolAddress
		err := store.GetJSON(b, k, &have)
		switch {
		case err == nil && have.Merchant != merchant:
			return nil, unavailable(a, net)
		case err == nil || seen[a]:
			res.Duplicates++
			res.Duplicated = append(res.Duplicated, a.Text(net))
			continue
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		seen[a] = true
		id, err := b.Next("address")
		if err != nil {
			return nil, err
		}
		pa := store.PoolAddress{ID: id, Merchant: merchant, Family: fam, Raw: a.Bytes(), Status: store.AddressAvailable, ImportedAt: now}
		if fam == chain.FamilyBitcoin {
			pa.Network = net
		}
		if err := makeAvailable(b, &pa); err != nil {
			return nil, err
		}
		if err := b.PutJSON(k, pa); err != nil {
			return nil, err
		}
		if err := b.Set(store.AddressIDKey(id), k, nil); err != nil {
			return nil, err
		}
		if err := b.Set(store.MerchantPoolKey(merchant, id), k, nil); err != nil {
			return nil, err
		}
		if err := publishAddress(b, &pa); err != nil {
			return nil, err
		}
		res.Imported++
		res.Addresses = append(res.Addresses, a.Text(net))
	}
	return res, nil
}

// RefuseConflicts checks an import before it is made: the first address in
// another merchant's pool is refused with ADDRESS_UNAVAILABLE, and every
// such address of the import is recorded (AC/) for the operator's list.
func (r *Registry) RefuseConflicts(merchant string, imp merchantapi.Import) error {
	addrs := imp.Addresses
	var conflicts []chain.Address
	owners := map[chain.Address]string{}
	for _, a := range addrs {
		var have store.PoolAddress
		if err := store.GetJSON(r.db, store.PoolAddressKey(a), &have); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return err
		}
		if have.Merchant != merchant {
			conflicts = append(conflicts, a)
			owners[a] = have.Merchant
		}
	}
	if len(conflicts) == 0 {
		return nil
	}
	now := r.now().UTC()
	err := r.db.Write(func(b *store.Batch) error {
		for _, a := range conflicts {
			k := store.ConflictKey(a, merchant)
			c := store.AddressConflict{Owner: owners[a], Claimant: merchant, FirstAt: now}
			if err := store.GetJSON(b, k, &c); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			c.Owner, c.Attempts, c.LastAt = owners[a], c.Attempts+1, now
			if err := b.PutJSON(k, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.log.Warn("import refused: addresses in another merchant's pool", "claimant", merchant, "addresses", len(conflicts))
	return unavailable(conflicts[0], imp.Network)
}

// ConflictView is one row of GET /admin/v1/address-conflicts.
type ConflictView struct {
	Protocol    string         `json:"protocol"`
	Address     string         `json:"address"`
	Owner       string         `json:"ownerMerchantId"`
	Claimant    string         `json:"claimantMerchantId"`
	Attempts    int            `json:"attempts"`
	FirstSeenAt events.APITime `json:"firstSeenAt"`
	LastSeenAt  events.APITime `json:"lastSeenAt"`
}

// Conflicts lists the recorded conflicts, by address.
func (r *Registry) Conflicts(p merchantapi.Page) ([]ConflictView, merchantapi.Pagination, error) {
	var all []ConflictView
	err := store.Scan(r.db, store.ConflictPrefix(), false, func(k, v []byte) (bool, error) {
		a, claimant, ok := store.ConflictOf(k)
		if !ok {
			return false, fmt.Errorf("conflict row %q", k)
		}
		var c store.AddressConflict
		if err := json.Unmarshal(v, &c); err != nil {
			return false, err
		}
		all = append(all, ConflictView{Protocol: a.Family().String(), Address: a.Checksummed(), Owner: c.Owner, Claimant: claimant,
			Attempts: c.Attempts, FirstSeenAt: events.APITime{Time: c.FirstAt}, LastSeenAt: events.APITime{Time: c.LastAt}})
		return true, nil
	})
	if err != nil {
		return nil, merchantapi.Pagination{}, err
	}
	lo, hi, pg := merchantapi.Paginate(p, len(all))
	if all == nil {
		all = []ConflictView{}
	}
	return all[lo:hi], pg, nil
}

// ReassignResult is the answer of POST /admin/v1/addresses/reassign.
type ReassignResult struct {
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
	Merchant string `json:"merchantId"`
	Previous string `json:"previousMerchantId"`
	Status   string `json:"status"`
}

// Reassign moves an available pool address into another merchant's pool
// and clears its conflicts. A bound address, or one cooling down (its late
// deposits still belong to its last reference), is refused: unbind it and
// wait for the cooldown first.
func (r *Registry) Reassign(b *store.Batch, a chain.Address, to string) (*ReassignResult, error) {
	if _, err := r.Merchant(to); err != nil {
		return nil, err
	}
	k := store.PoolAddressKey(a)
	var pa store.PoolAddress
	if err := store.GetJSON(b, k, &pa); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.New(apierr.NotFound, "address %s is in no pool", a)
		}
		return nil, err
	}
	if err := r.sweep(b, pa.Merchant, pa.Family, r.now()); err != nil {
		return nil, err
	}
	if err := store.GetJSON(b, k, &pa); err != nil {
		return nil, err
	}
	if pa.Status != store.AddressAvailable {
		return nil, apierr.New(apierr.AddressUnavailable, "address %s is %s; unbind it and let its cooldown end first", pa.Text(), pa.Status)
	}
	res := &ReassignResult{Protocol: pa.Family.String(), Address: pa.Text(), Merchant: to, Previous: pa.Merchant, Status: pa.Status}
	if pa.Merchant != to {
		for _, del := range [][]byte{store.AvailableKey(pa.Merchant, pa.Family, pa.AvailableSeq), store.MerchantPoolKey(pa.Merchant, pa.ID)} {
			if err := b.Delete(del, nil); err != nil {
				return nil, err
			}
		}
		pa.Merchant = to
		if err := makeAvailable(b, &pa); err != nil {
			return nil, err
		}
		if err := b.PutJSON(k, pa); err != nil {
			return nil, err
		}
		if err := b.Set(store.MerchantPoolKey(to, pa.ID), k, nil); err != nil {
			return nil, err
		}
	}
	p := store.ConflictAddressPrefix(a)
	if err := b.DeleteRange(p, store.PrefixEnd(p), nil); err != nil {
		return nil, err
	}
	r.log.Info("pool address reassigned by the operator", "address", pa.Text(), "from", res.Previous, "to", to)
	return res, nil
}

// sweep returns cooled-down addresses of a merchant and family to the pool.
func (r *Registry) sweep(b *store.Batch, merchant string, fam chain.Family, now time.Time) error {
	var due [][]byte
	err := store.Scan(b, store.CooldownPrefix(merchant, fam), false, func(k, _ []byte) (bool, error) {
		_, _, until, _, ok := store.CooldownOf(k)
		if !ok || until > now.UnixNano() {
			return false, nil
		}
		due = append(due, append([]byte(nil), k...))
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, k := range due {
		_, _, _, id, _ := store.CooldownOf(k)
		pa, key, err := byID(b, id)
		if err != nil {
			return err
		}
		pa.Status, pa.CooldownUntil = store.AddressAvailable, 0
		if err := makeAvailable(b, pa); err != nil {
			return err
		}
		if err := b.PutJSON(key, pa); err != nil {
			return err
		}
		if err := b.Delete(k, nil); err != nil {
			return err
		}
		if err := publishAddress(b, pa); err != nil {
			return err
		}
	}
	return nil
}

// SweepAll returns every cooled-down address to its pool.
func (r *Registry) SweepAll() error {
	type mf struct {
		m string
		f chain.Family
	}
	var todo []mf
	seen := map[mf]bool{}
	err := store.Scan(r.db, store.CooldownPrefix("", 0), false, func(k, _ []byte) (bool, error) {
		m, f, _, _, ok := store.CooldownOf(k)
		if !ok {
			return true, nil
		}
		if x := (mf{m, f}); !seen[x] {
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

// makeAvailable puts an address at the tail of its merchant's queue of
// available addresses of its family; the caller writes its row.
func makeAvailable(b *store.Batch, pa *store.PoolAddress) error {
	q, err := store.GetAvailQueue(b, pa.Merchant, pa.Family)
	if err != nil {
		return err
	}
	q.Given++
	pa.AvailableSeq = q.Given
	if err := b.Set(store.AvailableKey(pa.Merchant, pa.Family, q.Given), binary.BigEndian.AppendUint64(nil, pa.ID), nil); err != nil {
		return err
	}
	return b.PutAvailQueue(pa.Merchant, pa.Family, q)
}

// takeAvailable takes the address at the head of a merchant's queue of
// available addresses of a family: it seeks past the last one taken, so
// the tombstones of those taken before cost nothing. ok is false when the
// queue is empty.
func takeAvailable(b *store.Batch, merchant string, fam chain.Family) (id uint64, ok bool, err error) {
	q, err := store.GetAvailQueue(b, merchant, fam)
	if err != nil {
		return 0, false, err
	}
	p := store.AvailablePrefix(merchant, fam)
	it, err := b.NewIter(&pebble.IterOptions{LowerBound: store.AvailableKey(merchant, fam, q.Taken+1), UpperBound: store.PrefixEnd(p)})
	if err != nil {
		return 0, false, err
	}
	defer it.Close()
	if !it.First() {
		return 0, false, it.Error()
	}
	k, v := append([]byte(nil), it.Key()...), it.Value()
	if len(v) != 8 {
		return 0, false, fmt.Errorf("registry: available address row %q", k)
	}
	id = binary.BigEndian.Uint64(v)
	q.Taken = store.AvailableSeq(k)
	if err := b.Delete(k, nil); err != nil {
		return 0, false, err
	}
	return id, true, b.PutAvailQueue(merchant, fam, q)
}

// poolQueueMark is set once available addresses are in queues.
const poolQueueMark = "pool-queue"

// queuePools moves the available addresses of a store written before the
// queues (V/<merchant>0<family><address id>, an empty value) into them, in
// import order, once.
func (r *Registry) queuePools() error {
	if ok, err := store.Has(r.db, store.CounterKey(poolQueueMark)); err != nil || ok {
		return err
	}
	type old struct {
		key []byte
		id  uint64
	}
	var olds []old
	err := store.Scan(r.db, store.AvailableAll(), false, func(k, v []byte) (bool, error) {
		if len(v) == 0 {
			olds = append(olds, old{append([]byte(nil), k...), store.AvailableSeq(k)})
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for i := 0; i < len(olds); i += 5000 {
		err := r.db.Write(func(b *store.Batch) error {
			for _, o := range olds[i:min(i+5000, len(olds))] {
				if err := b.Delete(o.key, nil); err != nil {
					return err
				}
				pa, key, err := byID(b, o.id)
				if err != nil {
					return err
				}
				if err := makeAvailable(b, pa); err != nil {
					return err
				}
				if err := b.PutJSON(key, pa); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return r.db.Write(func(b *store.Batch) error { _, err := b.Next(poolQueueMark); return err })
}

func byID(rd store.Reader, id uint64) (*store.PoolAddress, []byte, error) {
	k, err := store.GetRaw(rd, store.AddressIDKey(id))
	if err != nil {
		return nil, nil, err
	}
	pa := &store.PoolAddress{}
	if err := store.GetJSON(rd, k, pa); err != nil {
		return nil, nil, err
	}
	return pa, k, nil
}

// AddressView is one row of GET /addresses.
type AddressView struct {
	Address          string  `json:"address"`
	Protocol         string  `json:"protocol"`
	Status           string  `json:"status"`
	DepositReference *string `json:"depositReference"`
}

// ListAddresses lists a merchant's pool, in import order, from its own
// index: other merchants' pools are not read.
func (r *Registry) ListAddresses(rd store.Reader, merchant, status string, fam chain.Family, p merchantapi.Page) ([]AddressView, merchantapi.Pagination, error) {
	var rows []AddressView
	now := r.now().UnixNano()
	err := store.Scan(rd, store.MerchantPoolPrefix(merchant), false, func(_, k []byte) (bool, error) {
		var pa store.PoolAddress
		if err := store.GetJSON(rd, k, &pa); err != nil {
			return false, err
		}
		if fam != chain.FamilyUnknown && pa.Family != fam {
			return true, nil
		}
		st := pa.Status
		if st == store.AddressCooldown && pa.CooldownUntil <= now {
			st = store.AddressAvailable // due back; the next sweep moves it
		}
		if status != "" && st != status {
			return true, nil
		}
		v := AddressView{Address: pa.Text(), Protocol: pa.Family.String(), Status: st}
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

// poolIndexMark is set once every pool address is in its merchant's index.
const poolIndexMark = "pool-index"

// indexPools builds the per-merchant pool index (PM/) of a store written
// before it existed, once.
func (r *Registry) indexPools() error {
	if ok, err := store.Has(r.db, store.CounterKey(poolIndexMark)); err != nil || ok {
		return err
	}
	return r.db.Write(func(b *store.Batch) error {
		err := store.Scan(b, store.AddressIDPrefix(), false, func(_, k []byte) (bool, error) {
			var pa store.PoolAddress
			if err := store.GetJSON(b, k, &pa); err != nil {
				return false, err
			}
			return true, b.Set(store.MerchantPoolKey(pa.Merchant, pa.ID), k, nil)
		})
		if err != nil {
			return err
		}
		_, err = b.Next(poolIndexMark)
		return err
	})
}
