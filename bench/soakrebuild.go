package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/ledgerd/history"
	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
)

// rebuildHash rebuilds the ledger from the chain topics at offset 0 over a
// copy of ledgerd's registry (src, ledgerd stopped) and returns the state
// hash of the original and of the rebuild: every deposit (id, status,
// amount, currency, reference, chain, transaction, block, replaces, flags)
// and every balance of the merchant.
func rebuildHash(src, dst string, brokers []string, chains []string, merchant string, table *assets.Config) (orig, rebuilt string, records int, err error) {
	sdb, err := store.OpenPebble(src, vfs.Default, nil)
	if err != nil {
		return "", "", 0, err
	}
	orig0 := store.Wrap(sdb)
	defer orig0.Close()
	ddb, err := store.OpenPebble(dst, vfs.Default, nil)
	if err != nil {
		return "", "", 0, err
	}
	reb := store.Wrap(ddb)
	defer reb.Close()
	b := ddb.NewBatch()
	for _, p := range store.RegistryPrefixes() {
		it, err := sdb.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: store.PrefixEnd(p)})
		if err != nil {
			return "", "", 0, err
		}
		for it.First(); it.Valid(); it.Next() {
			b.Set(bytes.Clone(it.Key()), bytes.Clone(it.Value()), nil)
		}
		it.Close()
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return "", "", 0, err
	}
	led, err := ledger.New(reb, table, ledger.Options{})
	if err != nil {
		return "", "", 0, err
	}
	var topics []string
	for _, c := range chains {
		topics = append(topics, "inflow.chain."+c)
	}
	cl, err := kafka.NewConsumer(kafka.Config{Brokers: brokers, ClientID: "soak-rebuild"}, topics, nil)
	if err != nil {
		return "", "", 0, err
	}
	defer cl.Close()
	idle := time.Now()
	for time.Since(idle) < 5*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		var in []ledger.Input
		fs.EachRecord(func(r *kgo.Record) {
			rec, derr := events.Unmarshal(r.Value)
			if derr != nil {
				err = derr
				return
			}
			in = append(in, ledger.Input{Record: rec, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
		})
		if err != nil {
			return "", "", 0, err
		}
		if len(in) == 0 {
			continue
		}
		idle = time.Now()
		records += len(in)
		if err := led.Apply(in); err != nil {
			return "", "", 0, err
		}
	}
	if orig, err = stateHash(orig0, merchant, table); err != nil {
		return "", "", 0, err
	}
	rebuilt, err = stateHash(reb, merchant, table)
	return orig, rebuilt, records, err
}

func stateHash(db *store.DB, merchant string, table *assets.Config) (string, error) {
	var lines []string
	err := store.Scan(db, store.DepositPrefix(), false, func(k, _ []byte) (bool, error) {
		id := string(k[len(store.DepositPrefix()):])
		d, err := store.GetDeposit(db, id)
		if err != nil {
			return false, err
		}
		lines = append(lines, fmt.Sprintf("D %s %s %s %s %s %s %x %d %d %x %s %v", d.ID, d.Status, d.Amount.String(), d.Currency, d.Ref(), d.Chain,
			d.TxHash, d.Index, d.BlockNumber, d.BlockHash[:], d.Replaces, d.AfterUnbind))
		return true, nil
	})
	if err != nil {
		return "", err
	}
	bals, err := history.Balances(db, table, merchant, nil, "")
	if err != nil {
		return "", err
	}
	for _, b := range bals {
		lines = append(lines, fmt.Sprintf("B %s %s %s %s", b.DepositReference, b.Currency, b.Pending, b.Available))
	}
	slices.Sort(lines)
	h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(h[:8]), nil
}
