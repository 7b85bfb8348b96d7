// Package tron is Inflow's local Tron chain (chain id tron-devnet): a
// wire-faithful node serving java-tron's own gRPC services, Wallet and
// WalletSolidity from gotron-sdk's generated protobuf, so the indexer
// talks to it exactly as to java-tron.
//
// Blocks are made on an interval (3 s in the all-in-one) or on request,
// signed by the devnet's witness. Ids are computed as java-tron does: a
// block's id is its number in the first 8 bytes and the rest of sha256 of
// its raw header; a transaction's id is sha256 of its raw data, signed
// with secp256k1 by its owner (r‖s‖v). Transactions are TRX transfers,
// TRC10 transfers of the devnet's BTT (1002000), and calls to its USDT
// TRC20 contract, whose transfer emits a real Transfer log in the
// transaction's info; a call the owner cannot cover, or with too low a
// fee limit, fails in its block (REVERT, OUT_OF_ENERGY), as on mainnet.
// The solidified block lags the head by 19 blocks; a reorg replaces only
// blocks above it.
//
// Invariants: making blocks, sending and reorgs are serialised by one
// lock; the balances are what the canonical blocks make from the genesis
// (recomputed after a reorg); with DataDir, every block is appended to a
// log before it is served, and a restart replays it.
package tron

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/inflowhq/inflow/pkg/chain"
)

// ChainID is the devnet's chain id slug.
const ChainID chain.ID = "tron-devnet"

// BTTID is the devnet's TRC10 asset.
const BTTID = "1002000"

// USDTAddress is the devnet's USDT contract
// (TDpb5Me1roYN1uTj1jS3kaaePU8E3tJuEE): 0x41 and 20 bytes of
// sha256("inflow-tron-devnet-usdt").
var USDTAddress = func() addr {
	h := sha256.Sum256([]byte("inflow-tron-devnet-usdt"))
	var a addr
	a[0] = 0x41
	copy(a[1:], h[:20])
	return a
}()

// SolidityLag is how far the solidified block lags the head.
const SolidityLag = 19

// Config configures the devnet.
type Config struct {
	// Addr is the loopback host:port of the gRPC services (Wallet and
	// WalletSolidity on one port). Default 127.0.0.1:0.
	Addr string
	// DataDir keeps the chain across restarts; empty keeps it in memory.
	DataDir string
	// BlockTime makes a block every interval; 0 only on request.
	BlockTime time.Duration
	// TrafficRate is background transactions per second (0: none): TRX and
	// USDT transfers, most to strangers, about one in ten to a
	// TrafficTargets address, and now and then one that fails.
	TrafficRate    float64
	TrafficTargets func() []chain.Address
	Logger         *slog.Logger
}

// Devnet is a running local Tron node.
type Devnet struct {
	cfg Config
	log *slog.Logger
	srv *grpc.Server
	ln  net.Listener

	mu      sync.Mutex
	blocks  []*block // canonical, by number (0: genesis)
	st      *state
	pending []*core.Transaction
	known   map[string]bool // ids of pending and mined transactions
	logf    *os.File
	offsets []int64 // log offset of each block (for truncation on a reorg)
	closed  bool
	onBlock []func(uint64)
	stop    chan struct{}
	wg      sync.WaitGroup
}

// keyFor derives a deterministic key from a label.
func keyFor(label string) *ecdsa.PrivateKey {
	seed := sha256.Sum256([]byte(label))
	k, err := crypto.ToECDSA(seed[:])
	if err != nil {
		panic(err)
	}
	return k
}

var (
	faucetKey  = keyFor("inflow-tron-devnet-faucet")
	witnessKey = keyFor("inflow-tron-devnet-witness")
	// poorKey holds TRX for fees and no USDT: its USDT transfers revert.
	poorKey = keyFor("inflow-tron-devnet-poor")
)

// DevAddresses are the first n dev deposit addresses: deterministic keys'
// addresses, so a restart finds the same ones.
func DevAddresses(n int) []chain.Address {
	out := make([]chain.Address, n)
	for i := range out {
		a := addressOf(&keyFor(fmt.Sprintf("inflow-dev-tron-address-%d", i)).PublicKey)
		out[i] = chain.MustAddress(chain.FamilyTron, a[:])
	}
	return out
}

// Faucet is the address requested transfers come from.
func Faucet() chain.Address {
	a := addressOf(&faucetKey.PublicKey)
	return chain.MustAddress(chain.FamilyTron, a[:])
}

// Start starts the devnet: it replays its log (or makes the genesis) and
// serves gRPC.
func Start(cfg Config) (*Devnet, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("tron devnet addr %q: %w", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("tron devnet addr %q: the devnet listens on loopback only", cfg.Addr)
	}
	d := &Devnet{cfg: cfg, log: cfg.Logger, known: map[string]bool{}, stop: make(chan struct{})}
	if err := d.open(); err != nil {
		return nil, err
	}
	if d.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		d.closeLog()
		return nil, err
	}
	d.srv = newServer(d)
	go d.srv.Serve(d.ln)
	if cfg.BlockTime > 0 {
		d.wg.Add(1)
		go d.mineLoop()
	}
	if cfg.TrafficRate > 0 {
		d.wg.Add(1)
		go d.trafficLoop()
	}
	return d, nil
}

// genesis funds the faucet (TRX, USDT, BTT) and the poor key (TRX only).
func genesisState() *state {
	s := newState()
	f := addressOf(&faucetKey.PublicKey)
	p := addressOf(&poorKey.PublicKey)
	s.trx[f] = 90_000_000_000_000_000 // 90 billion TRX in sun
	s.usdt[f] = new(big.Int).Mul(big.NewInt(1_000_000_000_000), big.NewInt(1_000_000))
	s.trc10[f] = 1_000_000_000_000_000
	s.trx[p] = 1_000_000_000_000
	return s
}

func (d *Devnet) genesis() *block {
	raw := &core.BlockHeaderRaw{Timestamp: 1_700_000_000_000, Number: 0, ParentHash: make([]byte, 32), TxTrieRoot: make([]byte, 32),
		WitnessAddress: witnessAddr(), Version: 30}
	id, _ := blockID(raw)
	return &block{ext: &api.BlockExtention{BlockHeader: &core.BlockHeader{RawData: raw}, Blockid: id}}
}

func witnessAddr() []byte { a := addressOf(&witnessKey.PublicKey); return a[:] }

// open replays the log, or starts a chain.
func (d *Devnet) open() error {
	d.blocks = []*block{d.genesis()}
	d.st = genesisState()
	if d.cfg.DataDir == "" {
		return nil
	}
	if err := os.MkdirAll(d.cfg.DataDir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(d.cfg.DataDir, "blocks.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	d.logf = f
	r := bufio.NewReader(f)
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
		b, err := decodeBlock(buf)
		if err != nil || b.number() != int64(len(d.blocks)) || string(b.ext.BlockHeader.RawData.ParentHash) != string(d.blocks[len(d.blocks)-1].ext.Blockid) {
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
		d.log.Info("tron devnet: chain restored", "height", len(d.blocks)-1)
	}
	return nil
}

// encodeBlock is how a block is kept in the log: the block's length and
// bytes, then its infos as a TransactionInfoList.
func encodeBlock(b *block) ([]byte, error) {
	eb, err := proto.Marshal(b.ext)
	if err != nil {
		return nil, err
	}
	ib, err := proto.Marshal(&api.TransactionInfoList{TransactionInfo: b.infos})
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(len(eb)))
	out = append(out, eb...)
	return append(out, ib...), nil
}

func decodeBlock(buf []byte) (*block, error) {
	if len(buf) < 4 {
		return nil, errors.New("short")
	}
	n := binary.BigEndian.Uint32(buf)
	if int(n) > len(buf)-4 {
		return nil, errors.New("short")
	}
	b := &block{ext: &api.BlockExtention{}}
	if err := proto.Unmarshal(buf[4:4+n], b.ext); err != nil {
		return nil, err
	}
	var l api.TransactionInfoList
	if err := proto.Unmarshal(buf[4+n:], &l); err != nil {
		return nil, err
	}
	b.infos = l.TransactionInfo
	return b, nil
}

// connect applies a block to the state and the chain (it is already
// executed: its infos are what applying made).
func (d *Devnet) connect(b *block) {
	for _, tx := range b.ext.Transactions {
		d.st.apply(tx.Transaction, tx.Txid, b.number(), b.ext.BlockHeader.RawData.Timestamp)
		d.known[string(tx.Txid)] = true
	}
	d.blocks = append(d.blocks, b)
}

func (d *Devnet) keep(b *block) error {
	if d.logf == nil {
		return nil
	}
	rec, err := encodeBlock(b)
	if err != nil {
		return err
	}
	off, err := d.logf.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	buf := binary.BigEndian.AppendUint32(nil, uint32(len(rec)))
	if _, err := d.logf.Write(append(buf, rec...)); err != nil {
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

// URL is the gRPC endpoint, grpc://host:port.
func (d *Devnet) URL() string { return "grpc://" + d.ln.Addr().String() }

// Addr is host:port.
func (d *Devnet) Addr() string { return d.ln.Addr().String() }

// Head is the newest block's number.
func (d *Devnet) Head() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return uint64(len(d.blocks) - 1)
}

// Solidified is the number of the solidified block.
func (d *Devnet) Solidified() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return uint64(d.solidLocked())
}

func (d *Devnet) solidLocked() int {
	return max(0, len(d.blocks)-1-SolidityLag)
}

// BlockID is the id of the canonical block at n.
func (d *Devnet) BlockID(n uint64) (chain.Hash, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n >= uint64(len(d.blocks)) {
		return chain.Hash{}, fmt.Errorf("no block %d", n)
	}
	return chain.Hash(d.blocks[n].ext.Blockid), nil
}

// OnBlock registers fn to run after each block (with the new head),
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
	d.srv.Stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closeLog()
	return nil
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
				d.log.Warn("tron devnet: block", "err", err)
			}
		}
	}
}

// Mine makes n blocks now, with the pending transactions in the first.
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

// mineLocked makes one block of the pending transactions; salt changes the
// timestamp's milliseconds, so a reorg's branch has other ids.
func (d *Devnet) mineLocked(salt int64) (uint64, error) {
	if d.closed {
		return 0, errors.New("tron devnet: closed")
	}
	parent := d.blocks[len(d.blocks)-1]
	number := parent.number() + 1
	// The block of the next 3-second slot, as a witness makes it: its time
	// is after the transactions it holds were sent.
	ts := max((time.Now().UnixMilli()/3000+1)*3000, parent.ext.BlockHeader.RawData.Timestamp+3000) + salt
	txs := d.pending
	d.pending = nil
	b := &block{ext: &api.BlockExtention{}}
	var plain []*core.Transaction
	for _, tx := range txs {
		// A copy: the pool's may be being served (GetTransactionById).
		tx = proto.Clone(tx).(*core.Transaction)
		id, err := txID(tx)
		if err != nil {
			continue
		}
		if err := d.st.check(tx, id); err != nil {
			// No longer valid here (a reorg moved it): it is not mined.
			delete(d.known, string(id))
			continue
		}
		ret, info := d.st.apply(tx, id, number, ts)
		tx.Ret = []*core.Transaction_Result{ret}
		b.ext.Transactions = append(b.ext.Transactions, &api.TransactionExtention{Transaction: tx, Txid: id, Result: &api.Return{Result: true}})
		b.infos = append(b.infos, info)
		plain = append(plain, tx)
	}
	raw := &core.BlockHeaderRaw{Timestamp: ts, TxTrieRoot: txTrieRoot(plain), ParentHash: parent.ext.Blockid, Number: number,
		WitnessAddress: witnessAddr(), Version: 30}
	id, err := blockID(raw)
	if err != nil {
		return 0, err
	}
	hash := sha256.Sum256(mustMarshal(raw))
	sig, err := crypto.Sign(hash[:], witnessKey)
	if err != nil {
		return 0, err
	}
	b.ext.BlockHeader = &core.BlockHeader{RawData: raw, WitnessSignature: sig}
	b.ext.Blockid = id
	if err := d.keep(b); err != nil {
		return 0, err
	}
	d.blocks = append(d.blocks, b)
	return uint64(number), nil
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// Reorg replaces the newest depth blocks, which must all be above the
// solidified block, with a branch one block longer. Without drop their
// transactions are mined again in it; with drop they are not, and are
// forgotten (they can never be mined: their reference block and
// expiration are left behind).
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
		return 0, errors.New("tron devnet: closed")
	}
	top := len(d.blocks) - 1
	if depth < 1 || depth > top-d.solidLocked() {
		return 0, fmt.Errorf("reorg depth %d: want 1 to %d (only blocks above the solidified block %d can be replaced)", depth, top-d.solidLocked(), d.solidLocked())
	}
	keep := top - depth
	var orphaned []*core.Transaction
	for _, b := range d.blocks[keep+1:] {
		for _, tx := range b.ext.Transactions {
			orphaned = append(orphaned, tx.Transaction)
		}
	}
	if d.logf != nil {
		off := d.offsets[keep] // the offset of block keep+1 (offsets[0] is block 1)
		if err := d.logf.Truncate(off); err != nil {
			return 0, err
		}
		if _, err := d.logf.Seek(off, io.SeekStart); err != nil {
			return 0, err
		}
		d.offsets = d.offsets[:keep]
	}
	// Recompute the state from the genesis up to the fork.
	all := d.blocks
	d.blocks = all[:1:1]
	d.st = genesisState()
	d.known = map[string]bool{}
	for _, b := range all[1 : keep+1] {
		d.connect(b)
	}
	pending := d.pending
	d.pending = nil
	if !drop {
		for _, tx := range orphaned {
			tx = proto.Clone(tx).(*core.Transaction) // the old block may be being served
			tx.Ret = nil
			d.pending = append(d.pending, tx)
		}
	}
	for _, tx := range pending {
		id, _ := txID(tx)
		if !d.known[string(id)] {
			d.pending = append(d.pending, tx)
			d.known[string(id)] = true
		}
	}
	for i := 0; i <= depth; i++ {
		if _, err := d.mineLocked(1 + int64(rand.IntN(999))); err != nil {
			return 0, err
		}
	}
	return uint64(len(d.blocks) - 1), nil
}

// TxStatus returns the canonical block holding a transaction (hex id),
// whether one does, and whether the transaction failed there (its info's
// result FAILED: REVERT or OUT_OF_ENERGY, the fee charged, nothing moved).
func (d *Devnet) TxStatus(id string) (block uint64, mined, failed bool) {
	want, err := hex.DecodeString(strings.TrimPrefix(id, "0x"))
	if err != nil {
		return 0, false, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range slices.Backward(d.blocks) {
		for i, tx := range b.ext.Transactions {
			if string(tx.Txid) == string(want) {
				failed := i < len(b.infos) && b.infos[i].Result == core.TransactionInfo_FAILED
				return uint64(b.number()), true, failed
			}
		}
	}
	return 0, false, false
}

// TxBlock returns the number of the canonical block holding a
// transaction (hex id), if one does.
func (d *Devnet) TxBlock(id string) (uint64, bool) {
	n, mined, _ := d.TxStatus(id)
	return n, mined
}
