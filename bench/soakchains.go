package main

import (
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/devnet"
	devbtc "github.com/inflowhq/inflow/pkg/devnet/bitcoin"
	devevm "github.com/inflowhq/inflow/pkg/devnet/evm"
	devsol "github.com/inflowhq/inflow/pkg/devnet/solana"
	devtron "github.com/inflowhq/inflow/pkg/devnet/tron"
)

// soakChain is one local chain the soak drives.
type soakChain struct {
	id       chain.ID
	protocol string // the pool's protocol
	fam      chain.Family
	dn       devnet.Chain
	// status reports whether a transaction (as normTx writes it) is in
	// the chain's canonical chain, and whether it failed there (its fee
	// paid, nothing moved): the model's one question.
	status func(tx string) (mined, failed bool)
	// failing sends a transfer to to that the chain mines as failed; nil
	// where the family has none (Bitcoin).
	failing func(r *mrand.Rand, to string) (tx string, err error)
	amount  func(r *mrand.Rand) (currency, amount string)
	refCur  string   // the references' currency
	rpc     []string // the indexer's nodes
	pool    []string // imported: refs bound, then 4 bound to no one
	bound   []string
	refOf   map[string]string // norm(address) → reference
}

// norm is an address as the soak compares it: EVM's without its checksum.
func (c *soakChain) norm(a string) string {
	if c.fam == chain.FamilyEVM {
		return strings.ToLower(a)
	}
	return a
}

// normTx is a transaction id as the soak compares it: hex lower case
// without 0x (Solana's base58 signatures as they are).
func (c *soakChain) normTx(tx string) string {
	if c.fam == chain.FamilySolana {
		return tx
	}
	return strings.TrimPrefix(strings.ToLower(tx), "0x")
}

func (c *soakChain) key(tx string) string { return string(c.id) + "/" + tx }

// included: the transaction is in the canonical chain and did not fail,
// so its transfer is a deposit.
func (c *soakChain) included(tx string) bool {
	mined, failed := c.status(tx)
	return mined && !failed
}

func chainIDs(cs []*soakChain) []string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c.id))
	}
	return out
}

func decimal(r *mrand.Rand, whole, frac int, digits int) string {
	return fmt.Sprintf("%d.%0*d", whole+r.IntN(whole*5+1), digits, r.IntN(frac))
}

// startSoakChains starts every local chain with refs+4 pool addresses each.
func startSoakChains(refs int, noBitcoin bool, progress io.Writer) (chains []*soakChain, nodes []*faultyRPC, closeAll func(), err error) {
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) ([]*soakChain, []*faultyRPC, func(), error) {
		closeAll()
		return nil, nil, func() {}, err
	}
	random := func(fam chain.Family, n int, prefix ...byte) []string {
		var out []string
		for i := 0; i < n; i++ {
			b := make([]byte, 32)
			rand.Read(b)
			var raw []byte
			switch fam {
			case chain.FamilyEVM:
				raw = b[:20]
			case chain.FamilyTron:
				raw = append([]byte{0x41}, b[:20]...)
			default:
				raw = b
			}
			a := chain.MustAddress(fam, raw)
			if fam == chain.FamilyEVM {
				out = append(out, a.Checksummed())
			} else {
				out = append(out, a.String())
			}
		}
		return out
	}

	evm, err := devevm.Start(devevm.Config{FinalityLag: 8})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { evm.Close() })
	c := &soakChain{id: devevm.ChainID, protocol: "evm", fam: chain.FamilyEVM, dn: evm, refCur: "USDT", pool: random(chain.FamilyEVM, refs+4),
		amount: func(r *mrand.Rand) (string, string) {
			if r.IntN(3) == 0 {
				return "ETH", fmt.Sprintf("0.%03d", 1+r.IntN(999))
			}
			return "USDT", decimal(r, 1, 100, 2)
		}}
	c.status = func(tx string) (bool, bool) { _, mined, failed := evm.TxStatus("0x" + tx); return mined, failed }
	c.failing = func(_ *mrand.Rand, to string) (string, error) { return evm.TransferFailing(to) }
	for i := 0; i < 3; i++ {
		f, err := newFaultyRPC(evm.URL(), evm.Head, "eth_blockNumber")
		if err != nil {
			return fail(err)
		}
		closers = append(closers, func() { f.srv.Close() })
		nodes = append(nodes, f)
		c.rpc = append(c.rpc, f.url)
	}
	chains = append(chains, c)

	tr, err := devtron.Start(devtron.Config{})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { tr.Close() })
	c = &soakChain{id: devtron.ChainID, protocol: "tron", fam: chain.FamilyTron, dn: tr, refCur: "USDT", pool: random(chain.FamilyTron, refs+4),
		rpc: []string{tr.URL()},
		amount: func(r *mrand.Rand) (string, string) {
			if r.IntN(3) == 0 {
				return "TRX", decimal(r, 1, 100, 2)
			}
			return "USDT", decimal(r, 1, 100, 2)
		}}
	c.status = func(tx string) (bool, bool) { _, mined, failed := tr.TxStatus(tx); return mined, failed }
	c.failing = func(r *mrand.Rand, to string) (string, error) { return tr.TransferFailing(to, r.IntN(2) == 0) }
	chains = append(chains, c)

	sol, err := devsol.Start(devsol.Config{})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { sol.Close() })
	f, err := newFaultyRPC(sol.URL(), sol.Head, "getSlot")
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { f.srv.Close() })
	nodes = append(nodes, f)
	c = &soakChain{id: devsol.ChainID, protocol: "solana", fam: chain.FamilySolana, dn: sol, refCur: "USDT", pool: random(chain.FamilySolana, refs+4),
		rpc: []string{f.url},
		amount: func(r *mrand.Rand) (string, string) {
			if r.IntN(3) == 0 {
				return "SOL", fmt.Sprintf("0.%03d", 10+r.IntN(900))
			}
			return "USDT", decimal(r, 1, 100, 2)
		}}
	c.status = func(tx string) (bool, bool) { _, mined, failed := sol.TxStatus(tx); return mined, failed }
	c.failing = func(r *mrand.Rand, to string) (string, error) {
		return sol.TransferFailing(to, uint64(1+r.IntN(100_000_000)))
	}
	chains = append(chains, c)

	if noBitcoin {
		fmt.Fprintln(progress, "soak: bitcoin-regtest left out (--no-bitcoin)")
		return chains, nodes, closeAll, nil
	}
	btcd, _ := filepath.Abs("bin/btcd")
	if _, err := os.Stat(btcd); err != nil {
		return fail(fmt.Errorf("bitcoin-regtest needs a btcd: %s is missing (make build), or pass --no-bitcoin", btcd))
	}
	btc, err := devbtc.Start(devbtc.Config{Btcd: btcd})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { btc.Close() })
	c = &soakChain{id: devbtc.ChainID, protocol: "bitcoin", fam: chain.FamilyBitcoin, dn: btc, refCur: "BTC", pool: devbtc.DevAddresses(refs + 4),
		rpc: []string{btc.URL()},
		amount: func(r *mrand.Rand) (string, string) {
			return "BTC", fmt.Sprintf("0.%05d", 1000+r.IntN(90000))
		}}
	c.status = func(tx string) (bool, bool) { _, ok := btc.TxHeight(tx); return ok, false }
	chains = append(chains, c)
	return chains, nodes, closeAll, nil
}
