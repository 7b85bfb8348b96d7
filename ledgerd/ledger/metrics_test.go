package ledger_test

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/chain"
)

// TestHaltedGaugeFromTheStart: every consumed chain has its halted series
// at once (0), so that an alert rule has something to match before any
// halt; a chain halted before a restart is 1 again after it.
func TestHaltedGaugeFromTheStart(t *testing.T) {
	pdb, err := store.OpenPebble("db", vfs.NewMem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := store.Wrap(pdb)
	defer db.Close()
	halted := &store.ChainState{Halted: true}
	if err := db.Write(func(b *store.Batch) error { return b.PutJSON(store.ChainStateKey("test-evm"), halted) }); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if _, err := ledger.New(db, testAssets(t), ledger.Options{Registerer: reg, Chains: []chain.ID{"test-evm", "other-evm"}}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "inflow_ledgerd_ledger_chain_halted" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	if len(got) != 2 || got["test-evm"] != 1 || got["other-evm"] != 0 {
		t.Errorf("halted series %v", got)
	}
}
