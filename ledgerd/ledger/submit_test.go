package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// A crash at any moment while batches are submitted, each while the last one
// commits: what survives is every batch up to the offsets it stores and
// nothing after them, it holds at least every batch but the last submitted,
// its money adds up (Audit), and carrying on from its offsets, as a
// restarted ledgerd does, ends in exactly the database of a run that
// applied every batch and never crashed.
func TestSubmitCrash(t *testing.T) {
	fs := vfs.NewCrashableMem()
	e := newEnvOn(t, fs, "db")
	for _, ref := range []string{"alice", "bob"} {
		if _, err := e.bind(merchantapi.BindRequest{DepositReference: ref, Currency: "USDT", ChainID: testChain}); err != nil {
			t.Fatal(err)
		}
	}
	recs := crashRecords()
	if err := e.db.Checkpoint("run"); err != nil {
		t.Fatal(err)
	}
	const topic = "inflow.chain." + testChain
	input := func(i int) []ledger.Input {
		return []ledger.Input{{Record: recs[i], Topic: topic, Offset: int64(i)}}
	}
	openRun := func(fs vfs.FS) (*store.DB, *ledger.Ledger) {
		pdb, err := store.OpenPebble("run", fs, nil)
		if err != nil {
			t.Fatal(err)
		}
		db := store.Wrap(pdb)
		led, err := ledger.New(db, e.tbl, ledger.Options{Now: func() time.Time { return e.clock }})
		if err != nil {
			t.Fatal(err)
		}
		return db, led
	}

	// The run that crashes, cloned right after every third Submit, and
	// after every third but one once its batch is durable.
	db, led := openRun(fs)
	rng := rand.New(rand.NewPCG(1, 2))
	type crash struct {
		submitted int
		durable   bool // the last batch submitted is durable
		fs        *vfs.MemFS
	}
	var crashes []crash
	for i := range recs {
		if err := led.Submit(input(i)); err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			crashes = append(crashes, crash{i + 1, false, fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng})})
		case 1:
			if err := db.WaitDurable(); err != nil {
				t.Fatal(err)
			}
			crashes = append(crashes, crash{i + 1, true, fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng})})
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The run that never crashes.
	for i := range recs {
		if err := e.led.Apply(input(i)); err != nil {
			t.Fatal(err)
		}
	}

	for _, c := range crashes {
		t.Run(fmt.Sprintf("after %d submitted, durable=%v", c.submitted, c.durable), func(t *testing.T) {
			db, led := openRun(c.fs)
			defer db.Close()
			offs, err := store.Offsets(db, []string{topic})
			if err != nil {
				t.Fatal(err)
			}
			next := int(offs[topic][0])
			if next > c.submitted || next < c.submitted-1 || (c.durable && next != c.submitted) {
				t.Fatalf("the crash left the offset at %d, after %d batches were submitted (the last durable: %v)", next, c.submitted, c.durable)
			}
			if err := ledger.Audit(db); err != nil {
				t.Fatalf("after the crash: %v", err)
			}
			for i := next; i < len(recs); i++ {
				if err := led.Submit(input(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.WaitDurable(); err != nil {
				t.Fatal(err)
			}
			if diff := diffDB(e.db, db); diff != "" {
				t.Fatalf("carrying on from offset %d left a different database than a run without a crash:\n%s", next, diff)
			}
		})
	}
}

// crashRecords is a chain of 40 blocks with deposits to alice (A), bob (B)
// and the unbound pool address C, finality 6 blocks behind every 4th block,
// and a reorg of depth 2 at block 20.
func crashRecords() []*events.Record {
	usdtAddr, _ := chain.ParseAddress(chain.FamilyEVM, usdt)
	var recs []*events.Record
	var canon []*events.Record
	block := func(n uint64, fork int) *events.Record {
		var parent chain.Hash
		if len(canon) > 0 {
			parent = canon[len(canon)-1].Hash
		}
		r := &events.Record{Type: events.TypeBlockConnected, Chain: testChain, Family: chain.FamilyEVM, Number: n,
			Hash: chain.Hash([32]byte{byte(n), byte(n >> 8), byte(fork), 0xc1}), Parent: parent, Time: 1_800_000_000 + int64(n)}
		for i, to := range []string{"A", "B", "C"}[:1+n%3] {
			r.Transfers = append(r.Transfers, chain.Transfer{TxHash: fmt.Appendf(nil, "tx-%d-%d", n, i), Index: uint32(i), Kind: chain.KindERC20,
				Token: usdtAddr, To: alias(to), Value: chain.AmountFromUint64(n*10 + uint64(i))})
		}
		canon = append(canon, r)
		return r
	}
	for n := uint64(1); n <= 40; n++ {
		recs = append(recs, block(n, 0))
		if n == 20 {
			for _, r := range []*events.Record{canon[19], canon[18]} {
				recs = append(recs, &events.Record{Type: events.TypeBlockDisconnected, Chain: testChain, Family: chain.FamilyEVM, Number: r.Number, Hash: r.Hash})
			}
			canon = canon[:18]
			recs = append(recs, block(19, 1), block(20, 1))
		}
		if n%4 == 0 && n > 6 {
			f := canon[n-7]
			recs = append(recs, &events.Record{Type: events.TypeFinalized, Chain: testChain, Family: chain.FamilyEVM, Number: f.Number, Hash: f.Hash})
		}
	}
	return recs
}
