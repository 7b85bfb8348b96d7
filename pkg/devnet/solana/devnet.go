// Package solana is Inflow's local Solana chain (chain id
// solana-localnet): a wire-faithful node serving the JSON-RPC methods the
// indexer and wallets use, over transactions built and ed25519-signed
// with solana-go and executed by a small runtime of the programs deposits
// travel through: System (transfer, transferWithSeed, createAccount), SPL
// Token and Token-2022 (transfer, transferChecked, Token-2022's
// transferCheckedWithFee and transfer fees, initializeAccount3), the
// Associated Token Account program (create, createIdempotent, with its
// CPIs as inner instructions), Compute Budget, Memo and Vote (no-ops),
// and the devnet's own router program, which pays out by CPI as a DEX or
// a payment program does.
//
// Each block carries the meta a real node writes: the fee, pre/post
// balances, pre/post token balances with owners, inner instructions with
// stack heights, loaded addresses, err and status. A failed instruction
// leaves its transaction in the block with meta.err, its fee charged and
// nothing else changed. Slots come every SlotTime (400 ms in the
// all-in-one) and about one in eight is skipped, as leaders miss slots;
// getBlock of a skipped slot answers -32007, as a node does. finalized
// lags the newest block by 32 slots; a reorg replaces only blocks above
// it. Legacy and v0 transactions (with an address lookup table) are made;
// getBlock without maxSupportedTransactionVersion refuses a block holding
// a v0 one with -32015.
//
// Invariants: making blocks, sending and reorgs are serialised by one
// lock; the accounts are what the canonical blocks make from the genesis
// (recomputed after a reorg); with DataDir every block is appended to a
// log before it is served, and a restart replays it.
package solana

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	sol "github.com/gagliardetto/solana-go"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/httpserver"
)

// ChainID is the devnet's chain id slug.
const ChainID chain.ID = "solana-localnet"

// FinalityLag is how many slots finalized lags the newest block.
const FinalityLag = 32

// Token facts of the devnet (they match pkg/assets' solana-localnet).
const (
	USDTDecimals = 6
	USDFDecimals = 6
	// USDFFeeBps is USDF's Token-2022 transfer fee (1%), at most
	// USDFMaxFee base units.
	USDFFeeBps = 100
	USDFMaxFee = 5_000_000
)

// keyOf derives a deterministic ed25519 key from a label: the seed is
// sha256 of the label.
func keyOf(label string) sol.PrivateKey {
	seed := sha256.Sum256([]byte(label))
	return sol.PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
}

var (
	faucetKey    = keyOf("inflow-solana-devnet-faucet")
	poorKey      = keyOf("inflow-solana-devnet-poor") // SOL for fees, an empty USDT account
	validatorKey = keyOf("inflow-solana-devnet-validator")
	voteKey      = keyOf("inflow-solana-devnet-vote-account")
	// USDTMint and USDFMint are the mints' addresses (their keys' public
	// halves; nothing signs with them).
	USDTMint = keyOf("inflow-solana-devnet-usdt-mint").PublicKey()
	USDFMint = keyOf("inflow-solana-devnet-usdf-mint").PublicKey()
	// LookupTable is the devnet's address lookup table: the first
	// lookupTableSize dev addresses, then the token programs.
	LookupTable = keyOf("inflow-solana-devnet-lookup-table").PublicKey()
	genesisHash = sol.Hash(sha256.Sum256([]byte("inflow-solana-localnet-genesis")))
)

const lookupTableSize = 16

// tableStrangers are addresses in the lookup table that no one watches
// (background v0 traffic goes to them).
func tableStrangers() []sol.PublicKey {
	out := make([]sol.PublicKey, 4)
	for i := range out {
		out[i] = keyOf(fmt.Sprintf("inflow-solana-devnet-table-stranger-%d", i)).PublicKey()
	}
	return out
}

// lookupTableAddresses are the lookup table's addresses: the first 16 dev
// addresses, the strangers, and the programs.
func lookupTableAddresses() sol.PublicKeySlice {
	var addrs sol.PublicKeySlice
	for _, a := range DevAddresses(lookupTableSize) {
		addrs = append(addrs, sol.PublicKeyFromBytes(a.Bytes()))
	}
	addrs = append(addrs, tableStrangers()...)
	return append(addrs, tokenProgram, token2022, systemProgram)
}

// DevAddresses are the first n dev deposit (owner) addresses:
// deterministic keys' public halves, so a restart finds the same ones.
func DevAddresses(n int) []chain.Address {
	out := make([]chain.Address, n)
	for i := range out {
		k := keyOf(fmt.Sprintf("inflow-dev-solana-address-%d", i)).PublicKey()
		out[i] = chain.MustAddress(chain.FamilySolana, k[:])
	}
	return out
}

// Faucet is the account requested transfers come from.
func Faucet() chain.Address {
	k := faucetKey.PublicKey()
	return chain.MustAddress(chain.FamilySolana, k[:])
}

// ATA is the associated token account of an owner for a mint under a
// token program.
func ATA(owner, mint, program sol.PublicKey) sol.PublicKey {
	a, _, err := sol.FindProgramAddress([][]byte{owner[:], program[:], mint[:]}, ataProgram)
	if err != nil {
		panic(err)
	}
	return a
}

// Config configures the devnet.
type Config struct {
	// Addr is the loopback host:port of the JSON-RPC endpoint. Default
	// 127.0.0.1:0.
	Addr string
	// DataDir keeps the chain across restarts; empty keeps it in memory.
	DataDir string
	// SlotTime is the slot interval (400ms on Solana); 0 makes blocks only
	// on request.
	SlotTime time.Duration
	// TrafficRate is background transactions per second (0: none): SOL and
	// token transfers to strangers and now and then to a TrafficTargets
	// owner, router payouts (inner instructions), v0 transfers through the
	// lookup table, and failures.
	TrafficRate    float64
	TrafficTargets func() []chain.Address
	Logger         *slog.Logger
}

// block is one block of the chain.
type block struct {
	slot, parent uint64
	height       uint64
	hash, prev   sol.Hash
	time         int64
	salt         uint64
	txs          []*txRecord

	renderMu sync.Mutex
	rendered map[string][]byte // getBlock results by variant
}

// Devnet is a running local Solana node.
type Devnet struct {
	cfg Config
	log *slog.Logger
	srv *http.Server
	ln  net.Listener

	mu      sync.Mutex
	blocks  []*block // canonical, by increasing slot (blocks[0]: slot 0)
	slot    uint64   // the newest slot passed (with a block or skipped)
	st      *state
	pending [][]byte
	known   map[sol.Signature]bool // pending and mined
	recent  map[sol.Hash]uint64    // blockhashes a transaction may name, by block height
	bySig   map[sol.Signature]*block
	logf    *os.File
	offsets []int64 // log offset of each block after the genesis
	closed  bool
	onBlock []func(uint64)
	stop    chan struct{}
	wg      sync.WaitGroup
}

// skipped says whether a leader misses slot s: about one slot in eight,
// fixed by the slot's number so every run skips the same ones.
func skipped(s uint64) bool {
	if s == 0 {
		return false
	}
	h := sha256.Sum256(binary.LittleEndian.AppendUint64([]byte("inflow-solana-skip"), s))
	return h[0] < 32
}

// Start starts the devnet: it replays its log (or makes the genesis) and
// serves JSON-RPC.
func Start(cfg Config) (*Devnet, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("solana devnet addr %q: %w", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("solana devnet addr %q: the devnet listens on loopback only", cfg.Addr)
	}
	d := &Devnet{cfg: cfg, log: cfg.Logger, stop: make(chan struct{})}
	if err := d.open(); err != nil {
		return nil, err
	}
	limits := httpserver.Options{Logger: d.log, WriteTimeout: 2 * time.Minute}
	if d.ln, err = httpserver.Listen(cfg.Addr, limits); err != nil {
		d.closeLog()
		return nil, err
	}
	d.srv = httpserver.New(http.HandlerFunc(d.serveRPC), limits)
	go d.srv.Serve(d.ln)
	if cfg.SlotTime > 0 {
		d.wg.Add(1)
		go d.slotLoop()
	}
	if cfg.TrafficRate > 0 {
		d.wg.Add(1)
		go d.trafficLoop()
	}
	return d, nil
}

// genesisState funds the faucet (SOL, USDT, USDF), the poor key (SOL and
// an empty USDT account) and the validator (vote fees), and makes the
// mints and the lookup table.
func genesisState() *state {
	s := newState()
	f, p := faucetKey.PublicKey(), poorKey.PublicKey()
	const sol9 = 1_000_000_000
	s.put(f, &account{lamports: 500_000_000 * sol9, owner: systemProgram})
	s.put(p, &account{lamports: 10 * sol9, owner: systemProgram})
	s.put(validatorKey.PublicKey(), &account{lamports: 1_000_000 * sol9, owner: systemProgram})
	s.put(voteKey.PublicKey(), &account{lamports: 27 * sol9, owner: voteProgram, data: make([]byte, 3762)})
	supply := uint64(1_000_000_000_000) * 1_000_000
	s.put(USDTMint, &account{lamports: rentExempt(mintLen), owner: tokenProgram, data: mintData(supply, USDTDecimals, false, 0, 0)})
	md := mintData(supply, USDFDecimals, true, USDFFeeBps, USDFMaxFee)
	s.put(USDFMint, &account{lamports: rentExempt(len(md)), owner: token2022, data: md})
	put := func(owner, mint, program sol.PublicKey, amount uint64) {
		d := tokenAccountData(mint, owner, amount, program == token2022, program == token2022, program == token2022)
		s.put(ATA(owner, mint, program), &account{lamports: rentExempt(len(d)), owner: program, data: d})
	}
	put(f, USDTMint, tokenProgram, supply)
	put(f, USDFMint, token2022, supply)
	put(p, USDTMint, tokenProgram, 0)
	td := lookupTableData(lookupTableAddresses())
	s.put(LookupTable, &account{lamports: rentExempt(len(td)), owner: lookupProgram, data: td})
	return s
}

func genesisBlock() *block {
	h := sha256.Sum256(append(genesisHash[:], 0))
	return &block{slot: 0, hash: h, prev: genesisHash, time: 1_700_000_000}
}

func (d *Devnet) reset() {
	g := genesisBlock()
	d.blocks = []*block{g}
	d.slot = 0
	d.st = genesisState()
	d.known = map[sol.Signature]bool{}
	d.recent = map[sol.Hash]uint64{g.hash: 0}
	d.bySig = map[sol.Signature]*block{}
}

// logRecord is a block as the log keeps it: what re-executing it needs.
type logRecord struct {
	Slot   uint64   `json:"slot"`
	Parent uint64   `json:"parent"`
	Time   int64    `json:"time"`
	Salt   uint64   `json:"salt"`
	Hash   string   `json:"hash"`
	Txs    [][]byte `json:"txs"`
}

// open replays the log, or starts a chain.
func (d *Devnet) open() error {
	d.reset()
	if d.cfg.DataDir == "" {
		return nil
	}
	if err := os.MkdirAll(d.cfg.DataDir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(d.cfg.DataDir, "blocks.log"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	d.logf = f
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	for {
		var n uint32
		if err := binary.Read(r, binary.BigEndian, &n); err != nil {
			break
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			break // a torn last record: dropped below
		}
		var rec logRecord
		if json.Unmarshal(buf, &rec) != nil {
			break
		}
		b, err := d.replay(rec)
		if err != nil {
			d.log.Warn("solana devnet: the log ends in a block that does not replay; dropped", "slot", rec.Slot, "err", err)
			break
		}
		d.offsets = append(d.offsets, off)
		off += 4 + int64(n)
		d.connect(b)
	}
	if err := f.Truncate(off); err != nil {
		return err
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	if len(d.blocks) > 1 {
		d.log.Info("solana devnet: chain restored", "slot", d.slot, "blocks", len(d.blocks)-1)
	}
	return nil
}

// replay re-executes a logged block over the state.
func (d *Devnet) replay(rec logRecord) (*block, error) {
	parent := d.blocks[len(d.blocks)-1]
	if rec.Slot <= parent.slot || rec.Parent != parent.slot {
		return nil, errors.New("out of order")
	}
	b := &block{slot: rec.Slot, parent: rec.Parent, height: parent.height + 1, prev: parent.hash, time: rec.Time, salt: rec.Salt}
	for _, w := range rec.Txs {
		t, err := execute(d.st, w)
		if err != nil {
			return nil, err
		}
		b.txs = append(b.txs, t)
	}
	b.hash = blockHash(b)
	if b.hash.String() != rec.Hash {
		return nil, errors.New("hash differs")
	}
	return b, nil
}

func blockHash(b *block) sol.Hash {
	h := sha256.New()
	h.Write(b.prev[:])
	h.Write(binary.LittleEndian.AppendUint64(nil, b.slot))
	h.Write(binary.LittleEndian.AppendUint64(nil, b.salt))
	for _, t := range b.txs {
		h.Write(t.sig[:])
	}
	return sol.Hash(h.Sum(nil))
}

// connect adds an executed block to the chain.
func (d *Devnet) connect(b *block) {
	d.blocks = append(d.blocks, b)
	d.slot = max(d.slot, b.slot)
	d.recent[b.hash] = b.height
	for _, t := range b.txs {
		d.known[t.sig] = true
		d.bySig[t.sig] = b
	}
	// A transaction may name one of the last 300 blockhashes.
	if len(d.recent) > 600 {
		for h, ht := range d.recent {
			if ht+300 < b.height {
				delete(d.recent, h)
			}
		}
	}
}

func (d *Devnet) keep(b *block) error {
	if d.logf == nil {
		return nil
	}
	rec := logRecord{Slot: b.slot, Parent: b.parent, Time: b.time, Salt: b.salt, Hash: b.hash.String()}
	for _, t := range b.txs {
		rec.Txs = append(rec.Txs, t.wire)
	}
	buf, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	off, err := d.logf.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(len(buf)))
	if _, err := d.logf.Write(append(out, buf...)); err != nil {
		return err
	}
	if err := d.logf.Sync(); err != nil {
		return err
	}
	d.offsets = append(d.offsets, off)
	return nil
}

func (d *Devnet) closeLog() {
	if d.logf != nil {
		d.logf.Close()
	}
}

// URL is the JSON-RPC endpoint.
func (d *Devnet) URL() string { return "http://" + d.ln.Addr().String() }

// Addr is host:port.
func (d *Devnet) Addr() string { return d.ln.Addr().String() }

// Head is the newest block's slot.
func (d *Devnet) Head() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.blocks[len(d.blocks)-1].slot
}

// Finalized is the newest finalized block's slot.
func (d *Devnet) Finalized() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.finalizedLocked().slot
}

func (d *Devnet) finalizedLocked() *block {
	head := d.blocks[len(d.blocks)-1].slot
	for i := len(d.blocks) - 1; i >= 0; i-- {
		if d.blocks[i].slot+FinalityLag <= head {
			return d.blocks[i]
		}
	}
	return d.blocks[0]
}

// BlockHash is the hash of the canonical block at slot s.
func (d *Devnet) BlockHash(s uint64) (chain.Hash, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.blockAt(s)
	if b == nil {
		return chain.Hash{}, false
	}
	return chain.Hash(b.hash[:]), true
}

// blockAt is the canonical block at slot s, or nil.
func (d *Devnet) blockAt(s uint64) *block {
	i, ok := slices.BinarySearchFunc(d.blocks, s, func(b *block, s uint64) int {
		switch {
		case b.slot < s:
			return -1
		case b.slot > s:
			return 1
		}
		return 0
	})
	if !ok {
		return nil
	}
	return d.blocks[i]
}

// TxSlot is the slot of the canonical block holding a transaction
// (base58 signature), if one does.
func (d *Devnet) TxSlot(sig string) (uint64, bool) {
	slot, mined, _ := d.TxStatus(sig)
	return slot, mined
}

// TxStatus says where the canonical chain holds a transaction (base58
// signature): its block's slot, and whether it failed there (a failed
// transaction is in its block, with its fee paid, and moves nothing else:
// a program error, or a transfer that would leave an account below rent
// exemption).
func (d *Devnet) TxStatus(sig string) (slot uint64, mined, failed bool) {
	s, err := sol.SignatureFromBase58(sig)
	if err != nil {
		return 0, false, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.bySig[s]
	if b == nil {
		return 0, false, false
	}
	for _, t := range b.txs {
		if t.sig == s {
			return b.slot, true, t.failed
		}
	}
	return b.slot, true, false
}

// OnBlock registers fn to run after each block (with the new head slot),
// outside the devnet's lock.
func (d *Devnet) OnBlock(fn func(uint64)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onBlock = append(d.onBlock, fn)
}

func (d *Devnet) notify(head uint64) {
	d.mu.Lock()
	fns := slices.Clone(d.onBlock)
	d.mu.Unlock()
	for _, fn := range fns {
		fn(head)
	}
}

// Close stops making blocks and serving.
func (d *Devnet) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	close(d.stop)
	d.wg.Wait()
	d.srv.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closeLog()
	return nil
}

func (d *Devnet) slotLoop() {
	defer d.wg.Done()
	t := time.NewTicker(d.cfg.SlotTime)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.mu.Lock()
			if d.closed {
				d.mu.Unlock()
				return
			}
			d.slot++
			var head uint64
			var err error
			made := !skipped(d.slot)
			if made {
				head, err = d.makeLocked(d.slot, 0)
			}
			d.mu.Unlock()
			if err != nil {
				d.log.Warn("solana devnet: block", "err", err)
			} else if made {
				d.notify(head)
			}
		}
	}
}

// Mine makes n blocks now (passing over the slots leaders skip), with the
// pending transactions in the first.
func (d *Devnet) Mine(n int) (uint64, error) {
	if n < 1 || n > 1000 {
		return 0, fmt.Errorf("mine %d blocks: want 1 to 1000", n)
	}
	d.mu.Lock()
	var head uint64
	var err error
	for range n {
		if head, err = d.mineLocked(0); err != nil {
			break
		}
	}
	d.mu.Unlock()
	if err == nil {
		d.notify(head)
	}
	return head, err
}

// mineLocked makes a block at the next slot a leader does not skip.
func (d *Devnet) mineLocked(salt uint64) (uint64, error) {
	d.slot++
	for skipped(d.slot) {
		d.slot++
	}
	return d.makeLocked(d.slot, salt)
}

// makeLocked makes the block of slot s from the pending transactions (and
// the validator's vote); salt changes its hash, so a reorg's branch has
// other ids.
func (d *Devnet) makeLocked(s uint64, salt uint64) (uint64, error) {
	if d.closed {
		return 0, errors.New("solana devnet: closed")
	}
	parent := d.blocks[len(d.blocks)-1]
	b := &block{slot: s, parent: parent.slot, height: parent.height + 1, prev: parent.hash, salt: salt,
		time: max(time.Now().Unix(), parent.time)}
	txs := d.pending
	d.pending = nil
	if vote, err := d.voteTx(parent); err == nil {
		txs = append([][]byte{vote}, txs...)
	}
	for _, w := range txs {
		t, err := execute(d.st, w)
		if err != nil {
			// No longer valid here (a reorg moved it, or its payer is
			// empty): it is not in the block.
			if tx, derr := decodeTx(w); derr == nil {
				delete(d.known, tx.Signatures[0])
			}
			continue
		}
		b.txs = append(b.txs, t)
	}
	b.hash = blockHash(b)
	if err := d.keep(b); err != nil {
		return 0, err
	}
	d.connect(b)
	return b.slot, nil
}

// Reorg replaces the newest depth blocks, which must all be above the
// finalized block, with a longer branch: its first slot is the one after
// the first replaced block's (so that slot is skipped on the new fork),
// and it ends above the old head. Without drop the replaced blocks'
// transactions are in it again; with drop they are forgotten.
func (d *Devnet) Reorg(depth int, drop bool) (uint64, error) {
	d.mu.Lock()
	head, err := d.reorgLocked(depth, drop)
	d.mu.Unlock()
	if err == nil {
		d.notify(head)
	}
	return head, err
}

func (d *Devnet) reorgLocked(depth int, drop bool) (uint64, error) {
	if d.closed {
		return 0, errors.New("solana devnet: closed")
	}
	top := len(d.blocks) - 1
	fin := d.finalizedLocked()
	above := 0
	for i := top; i > 0 && d.blocks[i].slot > fin.slot; i-- {
		above++
	}
	if depth < 1 || depth > above {
		return 0, fmt.Errorf("reorg depth %d: want 1 to %d (only blocks above the finalized slot %d can be replaced)", depth, above, fin.slot)
	}
	keep := top - depth
	oldHead := d.blocks[top].slot
	firstSlot := d.blocks[keep+1].slot
	var orphaned [][]byte
	for _, b := range d.blocks[keep+1:] {
		for _, t := range b.txs {
			if t.tx.Message.Instructions[0].ProgramIDIndex < uint16(len(t.tx.Message.AccountKeys)) &&
				t.tx.Message.AccountKeys[t.tx.Message.Instructions[0].ProgramIDIndex] == voteProgram {
				continue // votes are for their fork
			}
			orphaned = append(orphaned, t.wire)
		}
	}
	if d.logf != nil {
		off := d.offsets[keep]
		if err := d.logf.Truncate(off); err != nil {
			return 0, err
		}
		if _, err := d.logf.Seek(off, io.SeekStart); err != nil {
			return 0, err
		}
		d.offsets = d.offsets[:keep]
	}
	all := d.blocks
	pending := d.pending
	recent := d.recent
	d.reset()
	for _, b := range all[1 : keep+1] {
		for _, t := range b.txs {
			if _, err := execute(d.st, t.wire); err != nil {
				return 0, fmt.Errorf("replay slot %d: %w", b.slot, err)
			}
		}
		d.connect(b)
	}
	// The orphaned branch's blockhashes stay valid for the transactions
	// that name them, as a cluster's status cache would have them.
	for h, ht := range recent {
		if _, ok := d.recent[h]; !ok {
			d.recent[h] = ht
		}
	}
	d.pending = nil
	if !drop {
		d.pending = append(d.pending, orphaned...)
	}
	for _, w := range pending {
		if tx, err := decodeTx(w); err == nil && !d.known[tx.Signatures[0]] {
			d.pending = append(d.pending, w)
		}
	}
	for _, w := range d.pending {
		if tx, err := decodeTx(w); err == nil {
			d.known[tx.Signatures[0]] = true
		}
	}
	d.slot = firstSlot
	for i := 0; i <= depth || d.slot <= oldHead; i++ {
		if _, err := d.mineLocked(1 + rand.Uint64N(1<<32)); err != nil {
			return 0, err
		}
	}
	return d.blocks[len(d.blocks)-1].slot, nil
}
