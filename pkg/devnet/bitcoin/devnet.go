// Package bitcoin is Inflow's local Bitcoin chain (chain id bitcoin-regtest):
// a real btcd node in regtest, started as a child process on a loopback
// port, with a wallet in process (keys and signing with btcd's btcec and
// txscript; no bitcoind, no btcwallet).
//
// It mines on an interval and on request (btcd's generate, paying the
// wallet), mines a coinbase to any script (a block built here and sent with
// submitblock), sends BTC to any address type from the wallet, and
// reorganises the chain for real: invalidateblock at the fork point and a
// longer branch mined on the block below it, so the node holds both. With
// drop, the orphaned branch's payments are double-spent in the new branch
// (one replacement spending all their inputs back to the wallet, BIP125),
// so they can never come back.
//
// # Persistence
//
// btcd deletes its regtest database whenever it starts. So that the chain
// outlives a restart (the ledger and the indexer remember it), the devnet
// keeps every block of the canonical chain in its data folder, one file per
// height written before the block is reported, and submits them to the
// fresh node on start. A block the node accepted but the devnet had not yet
// written when the process died comes back as a one-block reorg, which the
// indexer and the ledger handle like any other.
//
// Invariants: mining, sending and reorgs are serialised by one lock. The
// wallet's coins are derived from the canonical blocks and its own
// transactions not yet mined; each coin is spent at most once.
package bitcoin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/devnet"
)

// ChainID is the devnet's chain id slug.
const ChainID chain.ID = "bitcoin-regtest"

// ErrNoBtcd is returned when the btcd binary cannot be found.
var ErrNoBtcd = errors.New("bitcoin devnet: btcd not found (make build puts it in bin/; or set INFLOW_BTCD)")

// Config configures the devnet.
type Config struct {
	// Btcd is the btcd binary. Default: $INFLOW_BTCD, btcd beside the
	// running executable, bin/btcd under the working directory or a parent
	// of it, then $PATH.
	Btcd string
	// DataDir keeps the chain across restarts; empty uses a temporary
	// folder removed by Close.
	DataDir string
	// RPCAddr is the loopback host:port btcd's JSON-RPC listens on.
	// Default 127.0.0.1 and a free port.
	RPCAddr string
	// BlockTime mines a block every interval; 0 mines only on request.
	BlockTime time.Duration
	Logger    *slog.Logger
}

// Devnet is a running btcd regtest node with its wallet.
type Devnet struct {
	cfg  Config
	log  *slog.Logger
	cmd  *exec.Cmd
	exit chan error
	rpc  *rpcclient.Client
	url  string
	dir  string
	temp bool

	mu      sync.Mutex
	blocks  []*wire.MsgBlock // the canonical chain, by height (0: genesis)
	w       *wallet
	onBlock []func(uint64)
	stop    chan struct{}
	wg      sync.WaitGroup
	closed  bool
}

// FindBtcd locates the btcd binary as Config.Btcd's default does.
func FindBtcd() (string, error) {
	if p := os.Getenv("INFLOW_BTCD"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: INFLOW_BTCD=%s: %v", ErrNoBtcd, p, err)
		}
		return p, nil
	}
	var cands []string
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), "btcd"))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			cands = append(cands, filepath.Join(d, "bin", "btcd"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	if p, err := exec.LookPath("btcd"); err == nil {
		return p, nil
	}
	return "", ErrNoBtcd
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Start starts btcd, restores the chain kept in DataDir, funds the wallet
// (101 blocks on a new chain) and starts mining on the interval.
func Start(cfg Config) (*Devnet, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Devnet{cfg: cfg, log: cfg.Logger, stop: make(chan struct{}), exit: make(chan error, 1)}
	var err error
	if cfg.Btcd == "" {
		if cfg.Btcd, err = FindBtcd(); err != nil {
			return nil, err
		}
	}
	d.dir = cfg.DataDir
	if d.dir == "" {
		if d.dir, err = os.MkdirTemp("", "inflow-btcd-"); err != nil {
			return nil, err
		}
		d.temp = true
	}
	fail := func(err error) (*Devnet, error) {
		d.shutdown()
		return nil, err
	}
	for _, sub := range []string{"btcd", "logs", "blocks"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o755); err != nil {
			return fail(err)
		}
	}
	addr := cfg.RPCAddr
	if addr == "" || strings.HasSuffix(addr, ":0") {
		if addr, err = freeAddr(); err != nil {
			return fail(err)
		}
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fail(fmt.Errorf("bitcoin devnet rpc %q: %w", addr, err))
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fail(fmt.Errorf("bitcoin devnet rpc %q: the devnet listens on loopback only", addr))
	}
	d.w = newWallet()
	user, pass := "inflow", randomHex(16)
	conf := filepath.Join(d.dir, "btcd.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return fail(err)
	}
	args := []string{"--regtest", "--datadir=" + filepath.Join(d.dir, "btcd"), "--logdir=" + filepath.Join(d.dir, "logs"),
		"--configfile=" + conf, "--nolisten", "--rpclisten=" + addr, "--rpcuser=" + user, "--rpcpass=" + pass, "--notls",
		"--miningaddr=" + d.w.address, "--debuglevel=warn", "--nocfilters", "--rpcmaxclients=100"}
	d.cmd = exec.Command(cfg.Btcd, args...)
	d.cmd.Dir = d.dir
	d.cmd.Env = append(os.Environ(), "HOME="+d.dir)
	logf, err := os.OpenFile(filepath.Join(d.dir, "logs", "btcd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	setProcAttr(d.cmd)
	if err := d.cmd.Start(); err != nil {
		return fail(fmt.Errorf("start btcd: %w", err))
	}
	go func() { d.exit <- d.cmd.Wait() }()
	d.url = fmt.Sprintf("http://%s:%s@%s", user, pass, addr)
	if d.rpc, err = rpcclient.New(&rpcclient.ConnConfig{Host: addr, User: user, Pass: pass, HTTPPostMode: true, DisableTLS: true}, nil); err != nil {
		return fail(err)
	}
	if err := d.waitReady(30 * time.Second); err != nil {
		return fail(err)
	}
	if err := d.restore(); err != nil {
		return fail(err)
	}
	if len(d.blocks)-1 < 101 {
		// Coinbases need 100 confirmations before they can be spent.
		if _, err := d.mineLocked(101 - (len(d.blocks) - 1)); err != nil {
			return fail(err)
		}
	}
	d.log.Info("bitcoin devnet up", "rpc", addr, "height", len(d.blocks)-1, "balance_btc", btcutil.Amount(d.w.balance(d.height())).ToBTC())
	if cfg.BlockTime > 0 {
		d.wg.Add(1)
		go d.mineLoop()
	}
	return d, nil
}

func (d *Devnet) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := d.rpc.GetBlockCount(); err == nil {
			return nil
		}
		select {
		case err := <-d.exit:
			d.exit <- err
			return fmt.Errorf("btcd exited: %v (see %s)", err, filepath.Join(d.dir, "logs"))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("btcd did not answer on %s within %s", d.cfg.RPCAddr, timeout)
		}
	}
}

func (d *Devnet) blockFile(h int) string {
	return filepath.Join(d.dir, "blocks", fmt.Sprintf("%08d.blk", h))
}

// restore submits the kept blocks to the fresh node, in order, and loads
// them as the canonical chain. A file that does not decode or that the node
// refuses ends the chain there; later files are removed.
func (d *Devnet) restore() error {
	gh, err := d.rpc.GetBlockHash(0)
	if err != nil {
		return err
	}
	genesis, err := d.rpc.GetBlock(gh)
	if err != nil {
		return err
	}
	d.blocks = []*wire.MsgBlock{genesis}
	d.w.connect(genesis, 0)
	start := time.Now()
	for h := 1; ; h++ {
		raw, err := os.ReadFile(d.blockFile(h))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		var msg wire.MsgBlock
		if err == nil {
			err = msg.Deserialize(bytes.NewReader(raw))
		}
		if err == nil && msg.Header.PrevBlock != d.blocks[h-1].BlockHash() {
			err = fmt.Errorf("does not extend block %d", h-1)
		}
		if err == nil {
			err = d.rpc.SubmitBlock(btcutil.NewBlock(&msg), nil)
		}
		if err != nil {
			d.log.Warn("bitcoin devnet: kept chain ends early", "height", h, "err", err)
			d.truncateFiles(h)
			break
		}
		d.blocks = append(d.blocks, &msg)
		d.w.connect(&msg, h)
		if h%1000 == 0 {
			d.log.Info("bitcoin devnet: restoring the chain", "height", h)
		}
	}
	if n := len(d.blocks) - 1; n > 0 {
		got, err := d.rpc.GetBlockCount()
		if err != nil || got != int64(n) {
			return fmt.Errorf("bitcoin devnet: restored %d blocks, the node is at %d (%v)", n, got, err)
		}
		d.log.Info("bitcoin devnet: chain restored", "height", n, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// truncateFiles removes the kept blocks from height h up.
func (d *Devnet) truncateFiles(h int) {
	for ; ; h++ {
		if err := os.Remove(d.blockFile(h)); err != nil {
			return
		}
	}
}

// keep writes a block of the canonical chain to its file.
func (d *Devnet) keep(h int, msg *wire.MsgBlock) error {
	var buf bytes.Buffer
	if err := msg.Serialize(&buf); err != nil {
		return err
	}
	tmp := d.blockFile(h) + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, d.blockFile(h))
}

// URL is btcd's JSON-RPC endpoint with its credentials.
func (d *Devnet) URL() string { return d.url }

// ID is the devnet's chain id.
func (d *Devnet) ID() chain.ID { return ChainID }

// Currencies is BTC.
func (d *Devnet) Currencies() []string { return []string{"BTC"} }

// Head is the newest block's height.
func (d *Devnet) Head() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return uint64(d.height())
}

func (d *Devnet) height() int { return len(d.blocks) - 1 }

// BlockHash is the display hash of the canonical block at h.
func (d *Devnet) BlockHash(h uint64) (chain.Hash, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h >= uint64(len(d.blocks)) {
		return chain.Hash{}, fmt.Errorf("no block %d", h)
	}
	hash, _ := chain.ParseHash(d.blocks[h].BlockHash().String())
	return hash, nil
}

// TxHeight returns the height of the canonical block holding a
// transaction, if one does.
func (d *Devnet) TxHeight(txid string) (uint64, bool) {
	id, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		return 0, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for h := len(d.blocks) - 1; h > 0; h-- {
		for _, tx := range d.blocks[h].Transactions {
			if tx.TxHash() == *id {
				return uint64(h), true
			}
		}
	}
	return 0, false
}

// Balance is the wallet's spendable balance in satoshis.
func (d *Devnet) Balance() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.w.balance(d.height())
}

// OnBlock registers fn to run after each block the devnet mines (with the
// new head), outside the devnet's lock.
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

func (d *Devnet) mineLoop() {
	defer d.wg.Done()
	t := time.NewTicker(d.cfg.BlockTime)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			if _, err := d.Mine(1); err != nil {
				d.log.Warn("bitcoin devnet: mining", "err", err)
			}
		}
	}
}

// Mine mines n blocks now, paying the wallet, with whatever the mempool
// holds.
func (d *Devnet) Mine(n int) (uint64, error) {
	if n < 1 || n > 1000 {
		return 0, fmt.Errorf("mine %d blocks: want 1 to 1000", n)
	}
	d.mu.Lock()
	head, err := d.mineLocked(n)
	d.mu.Unlock()
	if err == nil {
		d.notify(head)
	}
	return head, err
}

func (d *Devnet) mineLocked(n int) (uint64, error) {
	if d.closed {
		return 0, errors.New("bitcoin devnet: closed")
	}
	hashes, err := d.rpc.Generate(uint32(n))
	if err != nil {
		return 0, fmt.Errorf("generate %d: %w", n, err)
	}
	for _, h := range hashes {
		if err := d.connectLocked(h); err != nil {
			return 0, err
		}
	}
	return uint64(d.height()), nil
}

// connectLocked takes a block the node just added on the tip into the
// canonical chain: its file, the wallet.
func (d *Devnet) connectLocked(h *chainhash.Hash) error {
	msg, err := d.rpc.GetBlock(h)
	if err != nil {
		return fmt.Errorf("getblock %s: %w", h, err)
	}
	if msg.Header.PrevBlock != d.blocks[len(d.blocks)-1].BlockHash() {
		return fmt.Errorf("bitcoin devnet: block %s does not extend the tip", h)
	}
	height := len(d.blocks)
	if err := d.keep(height, msg); err != nil {
		return err
	}
	d.blocks = append(d.blocks, msg)
	d.w.connect(msg, height)
	return nil
}

// Close stops mining and btcd.
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
	return d.shutdown()
}

func (d *Devnet) shutdown() error {
	if d.rpc != nil {
		d.rpc.Shutdown()
	}
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Signal(os.Interrupt)
		select {
		case <-d.exit:
		case <-time.After(15 * time.Second):
			d.cmd.Process.Kill()
			<-d.exit
		}
	}
	if d.temp {
		return os.RemoveAll(d.dir)
	}
	return nil
}

// Output is one payment of a transaction the wallet sends.
type Output struct {
	Script []byte
	Value  int64 // satoshis
}

// Transfer sends amount BTC (a decimal with at most 8 places) to an
// address of any type (regtest or testnet form) and returns the txid. It
// is mined in the next block.
func (d *Devnet) Transfer(to, currency, amount string) (string, error) {
	if !strings.EqualFold(currency, "BTC") {
		return "", fmt.Errorf("%w %q (BTC)", devnet.ErrBadCurrency, currency)
	}
	script, err := ParseAddress(to)
	if err != nil {
		return "", err
	}
	amt, err := devnet.ParseAmount(amount, 8)
	if err != nil {
		return "", err
	}
	if !amt.Big().IsInt64() {
		return "", fmt.Errorf("%w: %s BTC", devnet.ErrBadAmount, amount)
	}
	return d.Send(Output{Script: script, Value: amt.Big().Int64()})
}

// ParseAddress reads an address to pay on regtest: any type, in regtest
// (bcrt1…) or testnet form (base58 m…, n…, 2…, which regtest shares), or
// script:<hex>.
func ParseAddress(to string) ([]byte, error) {
	a, net, err := chain.ParseBitcoinAddress(to)
	if err != nil {
		return nil, fmt.Errorf("%w: to: %v", devnet.ErrBadAddress, err)
	}
	if net == chain.NetworkMainnet && !strings.HasPrefix(to, "script:") || strings.HasPrefix(strings.ToLower(to), "tb1") {
		return nil, fmt.Errorf("%w: to %s is a %s address; this chain is regtest (bcrt1…, m…, n…, 2…)", devnet.ErrBadAddress, to, net)
	}
	return a.Bytes(), nil
}

// dustLimit is btcd's relay dust limit for an output of the script at the
// default relay fee: 3 × the cost of spending it.
func dustLimit(script []byte) int64 {
	spend := int64(148) // a legacy input
	if txscript.IsWitnessProgram(script) {
		spend = 67
	}
	return 3 * (int64(wire.NewTxOut(0, script).SerializeSize()) + spend)
}

// feeRate is what the wallet pays, in satoshis per virtual byte.
const feeRate = 3

// Send sends one transaction paying outs (several outputs are several
// deposits) and returns its txid.
func (d *Devnet) Send(outs ...Output) (string, error) {
	if len(outs) == 0 {
		return "", fmt.Errorf("%w: no outputs", devnet.ErrBadAmount)
	}
	var total int64
	for _, o := range outs {
		if len(o.Script) == 0 || o.Value <= 0 || o.Value > 21e14 {
			return "", fmt.Errorf("%w: output of %d sat", devnet.ErrBadAmount, o.Value)
		}
		if min := dustLimit(o.Script); o.Value < min {
			return "", fmt.Errorf("%w: %d sat is dust for this output (at least %d)", devnet.ErrBadAmount, o.Value, min)
		}
		total += o.Value
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return "", errors.New("bitcoin devnet: closed")
	}
	tx := wire.NewMsgTx(2)
	for _, o := range outs {
		tx.AddTxOut(wire.NewTxOut(o.Value, o.Script))
	}
	coins, err := d.w.fund(tx, total, d.height(), func(c coin) bool {
		res, err := d.rpc.GetTxOut(&c.op.Hash, c.op.Index, true)
		return err == nil && res != nil
	})
	if err != nil {
		return "", err
	}
	if err := d.w.sign(tx, coins); err != nil {
		return "", err
	}
	id, err := d.rpc.SendRawTransaction(tx, true)
	if err != nil {
		return "", fmt.Errorf("sendrawtransaction: %w", err)
	}
	d.w.sent(tx)
	return id.String(), nil
}

// MineTo mines one block whose coinbase pays its whole reward to script
// (built here and sent with submitblock) and returns the new head and the
// coinbase's txid. It holds no other transaction.
func (d *Devnet) MineTo(script []byte) (uint64, string, error) {
	d.mu.Lock()
	head, txid, err := d.mineToLocked(script)
	d.mu.Unlock()
	if err == nil {
		d.notify(head)
	}
	return head, txid, err
}

func (d *Devnet) mineToLocked(script []byte) (uint64, string, error) {
	if d.closed {
		return 0, "", errors.New("bitcoin devnet: closed")
	}
	tip := d.blocks[len(d.blocks)-1]
	height := int64(len(d.blocks))
	// The extra nonce tells apart blocks built on the same parent in the
	// same second (a reorg's branch, after an earlier one was invalidated).
	extra := make([]byte, 8)
	rand.Read(extra)
	sig, err := txscript.NewScriptBuilder().AddInt64(height).AddData(extra).Script()
	if err != nil {
		return 0, "", err
	}
	cb := wire.NewMsgTx(1)
	cb.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Index: wire.MaxPrevOutIndex}, SignatureScript: sig, Sequence: wire.MaxTxInSequenceNum})
	cb.AddTxOut(wire.NewTxOut(subsidy(height), script))
	ts := time.Now().Truncate(time.Second)
	if last := tip.Header.Timestamp; !ts.After(last) {
		ts = last.Add(time.Second)
	}
	blk := &wire.MsgBlock{Header: wire.BlockHeader{Version: 0x20000000, PrevBlock: tip.BlockHash(), MerkleRoot: cb.TxHash(),
		Timestamp: ts, Bits: tip.Header.Bits}, Transactions: []*wire.MsgTx{cb}}
	target := compactToBig(tip.Header.Bits)
	for nonce := uint32(0); ; nonce++ {
		blk.Header.Nonce = nonce
		h := blk.BlockHash()
		if hashToBig(&h).Cmp(target) <= 0 {
			break
		}
		if nonce == ^uint32(0) {
			return 0, "", errors.New("bitcoin devnet: no nonce solves the block")
		}
	}
	if err := d.rpc.SubmitBlock(btcutil.NewBlock(blk), nil); err != nil {
		return 0, "", fmt.Errorf("submitblock: %w", err)
	}
	h := blk.BlockHash()
	if err := d.connectLocked(&h); err != nil {
		return 0, "", err
	}
	return uint64(d.height()), cb.TxHash().String(), nil
}

// subsidy is regtest's block reward at a height (halving every 150 blocks).
func subsidy(height int64) int64 {
	halvings := height / 150
	if halvings >= 64 {
		return 0
	}
	return (50 * btcutil.SatoshiPerBitcoin) >> uint(halvings)
}

// Reorg replaces the newest depth blocks with a longer branch, on the real
// node: invalidateblock at the fork (the node keeps the old branch, marked
// invalid) and a new branch mined on the block below. Without drop the
// orphaned payments are mined again in the new branch, which is depth+1
// blocks long (one more if a payment spent a coinbase too young to spend
// at its new height); with drop the new branch is depth+1 blocks without
// them and a block holding one replacement that spends all their inputs
// back to the wallet (BIP125), so they can never be mined.
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
		return 0, errors.New("bitcoin devnet: closed")
	}
	if depth < 1 || depth > 100 || depth >= d.height() {
		return 0, fmt.Errorf("reorg depth %d: want 1 to %d", depth, min(100, d.height()-1))
	}
	fork := d.height() - depth
	var orphaned []*wire.MsgTx
	for _, b := range d.blocks[fork+1:] {
		orphaned = append(orphaned, b.Transactions[1:]...)
	}
	first := d.blocks[fork+1].BlockHash()
	if err := d.rpc.InvalidateBlock(&first); err != nil {
		return 0, fmt.Errorf("invalidateblock: %w", err)
	}
	best, err := d.rpc.GetBestBlockHash()
	if err != nil {
		return 0, err
	}
	if *best != d.blocks[fork].BlockHash() {
		return 0, fmt.Errorf("bitcoin devnet: after invalidateblock the node follows %s, not block %d", best, fork)
	}
	d.truncateFiles(fork + 1)
	d.blocks = d.blocks[:fork+1]
	d.w.rebuild(d.blocks)
	if drop {
		// The new branch is built here, without the mempool, so that the
		// orphaned payments (which the node put back in its mempool) are
		// not in it; then one replacement spends all their inputs, mined
		// on top. A coinbase one of them spent may be too young to spend
		// until the branch is as long as the old one was, which it now is.
		for range depth + 1 {
			if _, _, err := d.mineToLocked(d.w.script); err != nil {
				return 0, err
			}
		}
		if err := d.doubleSpend(orphaned); err != nil {
			return 0, err
		}
		if _, err := d.mineLocked(1); err != nil {
			return 0, err
		}
		for _, tx := range orphaned {
			if d.isMined(tx.TxHash(), fork+1) {
				return 0, fmt.Errorf("bitcoin devnet: dropped transaction %s was mined again", tx.TxHash())
			}
		}
		return uint64(d.height()), nil
	}
	// The orphaned payments are mined again: each as soon as it is valid
	// (one spending a young coinbase waits for the branch to grow).
	resend := func() int {
		left := 0
		for _, tx := range orphaned {
			if d.isMined(tx.TxHash(), fork+1) {
				continue
			}
			left++
			if _, err := d.rpc.SendRawTransaction(tx, true); err != nil && !alreadyKnown(err) {
				continue
			}
			d.w.sent(tx)
		}
		return left
	}
	for range depth + 1 {
		resend()
		if _, err := d.mineLocked(1); err != nil {
			return 0, err
		}
	}
	if resend() > 0 {
		if _, err := d.mineLocked(1); err != nil {
			return 0, err
		}
	}
	return uint64(d.height()), nil
}

// isMined reports whether a transaction is in a canonical block from
// height from up.
func (d *Devnet) isMined(id chainhash.Hash, from int) bool {
	for _, b := range d.blocks[from:] {
		for _, tx := range b.Transactions {
			if tx.TxHash() == id {
				return true
			}
		}
	}
	return false
}

// vsize is a transaction's virtual size.
func vsize(tx *wire.MsgTx) int64 {
	base, total := int64(tx.SerializeSizeStripped()), int64(tx.SerializeSize())
	return (3*base + total + 3) / 4
}

func alreadyKnown(err error) bool {
	var re *btcjson.RPCError
	if errors.As(err, &re) && re.Code == btcjson.ErrRPCVerifyAlreadyInChain {
		return true
	}
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "already have") || strings.Contains(s, "already exists") || strings.Contains(s, "already in")
}

// doubleSpend sends one transaction spending every input of the orphaned
// transactions that they did not create themselves, back to the wallet,
// with a fee above theirs (BIP125): every one of them then conflicts with
// it, here or through an ancestor.
func (d *Devnet) doubleSpend(orphaned []*wire.MsgTx) error {
	if len(orphaned) == 0 {
		return nil
	}
	made := map[chainhash.Hash]bool{}
	for _, tx := range orphaned {
		made[tx.TxHash()] = true
	}
	tx := wire.NewMsgTx(2)
	var coins []coin
	var in int64
	for _, o := range orphaned {
		for _, ti := range o.TxIn {
			if made[ti.PreviousOutPoint.Hash] {
				continue
			}
			c, ok := d.w.coins[ti.PreviousOutPoint]
			if !ok {
				return fmt.Errorf("bitcoin devnet: input %s of an orphaned transaction is not the wallet's", ti.PreviousOutPoint)
			}
			tx.AddTxIn(&wire.TxIn{PreviousOutPoint: ti.PreviousOutPoint, Sequence: wire.MaxTxInSequenceNum - 2})
			coins = append(coins, c)
			in += c.value
		}
	}
	// Each orphaned transaction's fee and fee rate: the replacement pays
	// more than all of them together, at a higher rate than any (BIP125).
	values := map[wire.OutPoint]int64{}
	for _, o := range orphaned {
		for i, out := range o.TxOut {
			values[wire.OutPoint{Hash: o.TxHash(), Index: uint32(i)}] = out.Value
		}
	}
	for _, c := range coins {
		values[c.op] = c.value
	}
	var fees int64
	var rate float64
	for _, o := range orphaned {
		var in, out int64
		for _, ti := range o.TxIn {
			in += values[ti.PreviousOutPoint]
		}
		for _, to := range o.TxOut {
			out += to.Value
		}
		fees += max(in-out, 0)
		rate = max(rate, float64(in-out)/float64(vsize(o)))
	}
	size := int64(11 + 68*len(coins) + outputVSize(d.w.script))
	fee := max(fees+feeRate*size+10_000, int64(rate*1.5*float64(size))+feeRate*size)
	if in-fee <= 0 {
		return errors.New("bitcoin devnet: orphaned inputs do not cover the replacement's fee")
	}
	tx.AddTxOut(wire.NewTxOut(in-fee, d.w.script))
	for _, c := range coins {
		delete(d.w.coins, c.op)
	}
	if err := d.w.sign(tx, coins); err != nil {
		return err
	}
	if _, err := d.rpc.SendRawTransaction(tx, true); err != nil {
		return fmt.Errorf("sendrawtransaction (double spend): %w", err)
	}
	d.w.sent(tx)
	return nil
}

// Mempool lists the node's mempool txids, sorted.
func (d *Devnet) Mempool() ([]string, error) {
	hs, err := d.rpc.GetRawMempool()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	sort.Strings(out)
	return out, nil
}

// RawRequest passes a JSON-RPC call to btcd (for tests that read the
// node's own view, such as its verbose blocks).
func (d *Devnet) RawRequest(method string, params ...any) (json.RawMessage, error) {
	var ps []json.RawMessage
	for _, p := range params {
		b, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		ps = append(ps, b)
	}
	return d.rpc.RawRequest(method, ps)
}

// Wait blocks until btcd exits or ctx ends (for tests that kill it).
func (d *Devnet) Wait(ctx context.Context) error {
	select {
	case err := <-d.exit:
		d.exit <- err
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// keyFor derives a deterministic private key from a label.
func keyFor(label string) *btcec.PrivateKey {
	seed := sha256.Sum256([]byte(label))
	k, _ := btcec.PrivKeyFromBytes(seed[:])
	return k
}
