// Package evm is Inflow's local EVM chain (chain id evm-devnet): go-ethereum's
// simulated backend (a real go-ethereum node driven by its simulated beacon)
// serving standard JSON-RPC over HTTP and WebSocket on loopback.
//
// It holds two ERC20 tokens, USDT (6 decimals) and DAI (18), beside the native
// ETH. It mines on an interval or on request, serves a `finalized` tag that
// lags the head by a configurable depth, and on request sends transfers,
// reorganises the chain (re-including or dropping the orphaned transactions)
// and generates background traffic, most of it to strangers.
//
// Invariants: mining, transfers and reorgs are serialised by one lock, so a
// reorg never interleaves with a block. A reorg is refused below the
// finalized depth, as a real chain would never do it.
package evm

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/catalyst"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/filters"
	gethlog "github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/httpserver"
)

// ChainID is the devnet's chain id slug.
const ChainID chain.ID = "evm-devnet"

// Token addresses are fixed, so that configuration can name them.
var (
	USDTAddress = common.HexToAddress("0x00000000000000000000000000000000000a5d70")
	DAIAddress  = common.HexToAddress("0x00000000000000000000000000000000000da100")
)

// Token describes a devnet token.
type Token struct {
	Symbol   string
	Address  common.Address
	Decimals uint8
}

// Tokens lists the devnet's ERC20 tokens.
var Tokens = []Token{{"USDT", USDTAddress, 6}, {"DAI", DAIAddress, 18}}

// Config configures the devnet.
type Config struct {
	// Addr is the loopback host:port of JSON-RPC (HTTP and WebSocket on the
	// same port). Default 127.0.0.1:0.
	Addr string
	// DataDir keeps the chain across restarts; empty keeps it in memory.
	DataDir string
	// BlockTime mines a block every interval; 0 mines only on request.
	BlockTime time.Duration
	// FinalityLag is how far the `finalized` tag lags the head. Default 64.
	FinalityLag uint64
	// TrafficRate is background transfers per second (0: none).
	TrafficRate float64
	// TrafficTargets, if set, returns watched addresses; about one transfer
	// in ten goes to one of them, the rest to strangers.
	TrafficTargets func() []chain.Address
	// HTTPLimits are the RPC listener's timeouts and caps (pkg/httpserver
	// defaults when zero).
	HTTPLimits httpserver.Options
	Logger     *slog.Logger
}

// Devnet is a running local chain.
type Devnet struct {
	cfg    Config
	log    *slog.Logger
	stack  *node.Node
	eth    *eth.Ethereum
	beacon *catalyst.SimulatedBeacon
	srv    *rpc.Server
	http   *http.Server
	ln     net.Listener
	signer types.Signer

	mu      sync.Mutex // serialises mining, sending and reorgs
	keys    []*ecdsa.PrivateKey
	nonces  map[common.Address]uint64 // next nonce per sender, at least the pool's
	stop    chan struct{}
	wg      sync.WaitGroup
	onBlock []func(uint64)
}

// faucetKey derives the i-th deterministic funded key. Key 0 sends requested
// transfers; the others send background traffic.
func faucetKey(i int) *ecdsa.PrivateKey {
	seed := sha256.Sum256([]byte(fmt.Sprintf("inflow-devnet-faucet-%d", i)))
	k, err := crypto.ToECDSA(seed[:])
	if err != nil {
		panic(err)
	}
	return k
}

const faucets = 4

// Start starts the devnet and its RPC server.
// DevDatabaseCache is the devnet's database cache in MiB; it makes 4 MiB
// memtables and write-ahead logs.
const DevDatabaseCache = 32

func Start(cfg Config) (*Devnet, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.FinalityLag == 0 {
		cfg.FinalityLag = 64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("devnet addr %q: %w", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("devnet addr %q: only loopback addresses are allowed", cfg.Addr)
	}
	// go-ethereum logs through its own global logger; keep it quiet.
	gethlog.SetDefault(gethlog.NewLogger(slog.DiscardHandler))

	d := &Devnet{cfg: cfg, log: cfg.Logger, stop: make(chan struct{}), nonces: map[common.Address]uint64{}}
	alloc := types.GenesisAlloc{}
	balances := map[common.Address]*uint256.Int{}
	for i := 0; i < faucets; i++ {
		k := faucetKey(i)
		d.keys = append(d.keys, k)
		a := crypto.PubkeyToAddress(k.PublicKey)
		alloc[a] = types.Account{Balance: new(big.Int).Exp(big.NewInt(10), big.NewInt(30), nil)}
		balances[a] = new(uint256.Int).Exp(uint256.NewInt(10), uint256.NewInt(40))
	}
	for _, t := range Tokens {
		alloc[t.Address] = types.Account{Code: tokenCode(t.Decimals), Storage: tokenStorage(balances), Balance: new(big.Int)}
	}
	genesisAlloc := core.SystemContractAllocs()
	for a, acc := range alloc {
		genesisAlloc[a] = acc
	}

	nodeConf := node.DefaultConfig
	nodeConf.DataDir = cfg.DataDir
	nodeConf.P2P = p2p.Config{NoDiscovery: true, MaxPeers: 0, ListenAddr: ""}
	nodeConf.HTTPHost, nodeConf.WSHost, nodeConf.IPCPath, nodeConf.AuthPort = "", "", "", 0
	nodeConf.Name = "inflow-devnet"
	ethConf := ethconfig.Defaults
	ethConf.Genesis = &core.Genesis{Config: params.AllDevChainProtocolChanges, GasLimit: 60_000_000, Alloc: genesisAlloc, BaseFee: big.NewInt(params.InitialBaseFee)}
	ethConf.SyncMode = ethconfig.FullSync
	// Archive mode over the hash scheme: every block's state is written to
	// the database with the block, instead of being held in memory (the
	// path scheme keeps the last 128 blocks' state in memory and journals
	// it only on a clean Close), so a kill -9 and a restart continue the
	// same chain instead of going back to the last clean stop.
	ethConf.NoPruning = true
	// go-ethereum sizes its database for a mainnet node: a 2 GiB cache,
	// which makes four 256 MiB memtables, and pebble pre-allocates every
	// write-ahead log to its memtable's size, 1.4 GB on disk within
	// minutes. A dev chain's blocks are a few KB: DevDatabaseCache keeps
	// the footprint proportional to the data.
	ethConf.DatabaseCache = DevDatabaseCache
	ethConf.StateScheme = rawdb.HashScheme
	ethConf.TxPool.NoLocals = true
	ethConf.TxPool.AccountSlots = 4096
	ethConf.TxPool.GlobalSlots = 65536
	ethConf.TxPool.AccountQueue = 4096
	ethConf.TxPool.GlobalQueue = 65536

	stack, err := node.New(&nodeConf)
	if err != nil {
		return nil, fmt.Errorf("devnet node: %w", err)
	}
	backend, err := eth.New(stack, &ethConf)
	if err != nil {
		stack.Close()
		if strings.Contains(err.Error(), "incompatible state scheme") {
			return nil, fmt.Errorf("devnet eth: %w (the chain in %s was written by an earlier version that did not survive a kill; remove that folder to start a new devnet chain)", err, cfg.DataDir)
		}
		return nil, fmt.Errorf("devnet eth: %w", err)
	}
	filterAPI := filters.NewFilterAPI(filters.NewFilterSystem(backend.APIBackend, filters.Config{}))
	stack.RegisterAPIs([]rpc.API{{Namespace: "eth", Service: filterAPI}})
	if err := stack.Start(); err != nil {
		stack.Close()
		return nil, fmt.Errorf("devnet start: %w", err)
	}
	beacon, err := catalyst.NewSimulatedBeacon(0, common.Address{}, backend)
	if err != nil {
		stack.Close()
		return nil, fmt.Errorf("devnet beacon: %w", err)
	}
	d.stack, d.eth, d.beacon = stack, backend, beacon
	d.signer = types.LatestSignerForChainID(backend.BlockChain().Config().ChainID)

	// The public server: go-ethereum's own APIs, plus the tag override.
	d.srv = rpc.NewServer()
	for _, api := range backend.APIs() {
		if err := d.srv.RegisterName(api.Namespace, api.Service); err != nil {
			d.Close()
			return nil, fmt.Errorf("devnet rpc %s: %w", api.Namespace, err)
		}
	}
	if err := d.srv.RegisterName("eth", filterAPI); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.srv.RegisterName("eth", &tagAPI{d: d, inner: stack.Attach()}); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.srv.RegisterName("web3", web3API{}); err != nil {
		d.Close()
		return nil, err
	}
	ln, err := httpserver.Listen(cfg.Addr, cfg.HTTPLimits)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("devnet: %w", err)
	}
	d.ln = ln
	ws := d.srv.WebsocketHandler([]string{"*"})
	d.http = httpserver.New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			ws.ServeHTTP(w, r)
			return
		}
		d.srv.ServeHTTP(w, r)
	}), cfg.HTTPLimits)
	go d.http.Serve(ln)

	if cfg.BlockTime > 0 {
		d.wg.Add(1)
		go d.mineLoop()
	}
	if cfg.TrafficRate > 0 {
		d.wg.Add(1)
		go d.trafficLoop()
	}
	d.log.Info("evm devnet up", "rpc", d.URL(), "head", d.Head(), "block_time", cfg.BlockTime)
	return d, nil
}

// URL is the HTTP JSON-RPC endpoint.
func (d *Devnet) URL() string { return "http://" + d.ln.Addr().String() }

// WSURL is the WebSocket JSON-RPC endpoint.
func (d *Devnet) WSURL() string { return "ws://" + d.ln.Addr().String() }

// Head returns the current head number.
func (d *Devnet) Head() uint64 { return d.eth.BlockChain().CurrentBlock().Number.Uint64() }

// Finalized is the number the `finalized` tag names: head − FinalityLag.
func (d *Devnet) Finalized() uint64 {
	h := d.Head()
	if h < d.cfg.FinalityLag {
		return 0
	}
	return h - d.cfg.FinalityLag
}

// OnBlock registers a function called after each mined block.
func (d *Devnet) OnBlock(fn func(uint64)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onBlock = append(d.onBlock, fn)
}

// Close stops mining, traffic and the node.
func (d *Devnet) Close() error {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	d.wg.Wait()
	if d.http != nil {
		d.http.Close()
	}
	if d.srv != nil {
		d.srv.Stop()
	}
	var err error
	if d.beacon != nil {
		err = d.beacon.Stop()
	}
	if d.stack != nil {
		err = errors.Join(err, d.stack.Close())
	}
	return err
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
				d.log.Warn("devnet mine failed", "err", err)
			}
		}
	}
}

// Mine seals n blocks now and returns the new head.
func (d *Devnet) Mine(n int) (uint64, error) {
	if n < 1 || n > 10_000 {
		return 0, fmt.Errorf("devnet: mine %d blocks: want 1..10000", n)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mineLocked(n)
}

func (d *Devnet) mineLocked(n int) (uint64, error) {
	for i := 0; i < n; i++ {
		before := d.Head()
		// The simulated beacon logs a sealing error and returns (go-ethereum
		// says its pool, block insertion and production can race in
		// simulator mode): a head that did not move is sealed again, a few
		// times, before it is an error. (A bench soak's traffic met one
		// such failure in a CI run.)
		after := before
		for attempt := 0; attempt < 3 && after == before; attempt++ {
			if attempt > 0 {
				d.log.Warn("devnet: sealing did not advance the head; sealing again", "head", before, "attempt", attempt+1)
				time.Sleep(10 * time.Millisecond)
			}
			d.beacon.Commit()
			after = d.Head()
		}
		if after != before+1 {
			return after, fmt.Errorf("devnet: sealing did not advance the head (%d → %d)", before, after)
		}
		if d.cfg.DataDir != "" {
			// go-ethereum writes without syncing, and Pebble keeps a
			// partly filled log block in memory: sync each block, so a
			// kill -9 loses none that was announced.
			if err := d.eth.ChainDb().SyncKeyValue(); err != nil {
				return after, fmt.Errorf("devnet: sync block %d: %w", after, err)
			}
		}
		for _, fn := range d.onBlock {
			fn(after)
		}
	}
	return d.Head(), nil
}

// Send sends amount (base units) of currency (ETH, USDT or DAI) to to and
// returns the transaction hash. It is mined in the next block.
func (d *Devnet) Send(to common.Address, currency string, amount *uint256.Int) (common.Hash, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.send(d.keys[0], to, currency, amount)
}

func (d *Devnet) send(key *ecdsa.PrivateKey, to common.Address, currency string, amount *uint256.Int) (common.Hash, error) {
	from := crypto.PubkeyToAddress(key.PublicKey)
	var (
		txTo  = to
		value = new(big.Int)
		data  []byte
		gas   uint64 = 21_000
	)
	switch strings.ToUpper(currency) {
	case "ETH":
		value = amount.ToBig()
	default:
		tok, ok := TokenBySymbol(currency)
		if !ok {
			return common.Hash{}, fmt.Errorf("devnet: unknown currency %q (ETH, USDT, DAI)", currency)
		}
		txTo, data, gas = tok.Address, transferCall(to, amount), 300_000
	}
	nonce := max(d.nonces[from], d.eth.TxPool().Nonce(from))
	tx, err := types.SignNewTx(key, d.signer, &types.DynamicFeeTx{
		ChainID:   d.signer.ChainID(),
		Nonce:     nonce,
		GasTipCap: big.NewInt(params.GWei),
		GasFeeCap: big.NewInt(100 * params.GWei),
		Gas:       gas,
		To:        &txTo,
		Value:     value,
		Data:      data,
	})
	if err != nil {
		return common.Hash{}, fmt.Errorf("devnet: sign: %w", err)
	}
	if errs := d.eth.TxPool().Add([]*types.Transaction{tx}, true); len(errs) > 0 && errs[0] != nil {
		delete(d.nonces, from) // resynchronise with the pool next time
		return common.Hash{}, fmt.Errorf("devnet: submit: %w", errs[0])
	}
	d.nonces[from] = nonce + 1
	return tx.Hash(), nil
}

// TokenBySymbol finds a devnet token.
func TokenBySymbol(sym string) (Token, bool) {
	for _, t := range Tokens {
		if strings.EqualFold(t.Symbol, sym) {
			return t, true
		}
	}
	return Token{}, false
}

// Reorg replaces the newest depth blocks with a new branch of depth+1 blocks.
// The orphaned branch's transactions are re-included in the new branch, or
// dropped (with every other pending transaction) when drop is set. It returns
// the new head.
func (d *Devnet) Reorg(depth int, drop bool) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	head := d.Head()
	if depth < 1 || uint64(depth) > head {
		return head, fmt.Errorf("devnet: reorg depth %d: want 1..%d", depth, head)
	}
	if uint64(depth) >= d.cfg.FinalityLag {
		return head, fmt.Errorf("devnet: reorg depth %d reaches the finalized block (finality lag %d)", depth, d.cfg.FinalityLag)
	}
	bc := d.eth.BlockChain()
	ancestor := bc.GetBlockByNumber(head - uint64(depth))
	if ancestor == nil {
		return head, fmt.Errorf("devnet: no block at %d", head-uint64(depth))
	}
	if _, err := bc.SetCanonical(ancestor); err != nil {
		return head, fmt.Errorf("devnet: rewind to %d: %w", ancestor.NumberU64(), err)
	}
	// The pool re-injects the orphaned transactions on its reset.
	if err := d.eth.TxPool().Sync(); err != nil {
		return head, fmt.Errorf("devnet: txpool sync: %w", err)
	}
	if drop {
		d.eth.TxPool().Clear()
		clear(d.nonces)
	}
	newHead, err := d.mineLocked(depth + 1)
	if err != nil {
		return newHead, err
	}
	d.log.Info("devnet reorg", "depth", depth, "ancestor", ancestor.NumberU64(), "head", newHead, "dropped", drop)
	return newHead, nil
}

func (d *Devnet) trafficLoop() {
	defer d.wg.Done()
	interval := time.Duration(float64(time.Second) / d.cfg.TrafficRate)
	t := time.NewTicker(interval)
	defer t.Stop()
	rng := rand.New(rand.NewPCG(1, 2))
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		var to common.Address
		if d.cfg.TrafficTargets != nil && rng.IntN(10) == 0 {
			if ts := d.cfg.TrafficTargets(); len(ts) > 0 {
				to = common.BytesToAddress(ts[rng.IntN(len(ts))].Bytes())
			}
		}
		if to == (common.Address{}) {
			for i := range to {
				to[i] = byte(rng.UintN(256))
			}
		}
		cur := []string{"ETH", "USDT", "DAI"}[rng.IntN(3)]
		amount := uint256.NewInt(rng.Uint64N(1_000_000) + 1)
		if cur != "USDT" {
			amount.Mul(amount, uint256.NewInt(1_000_000_000))
		}
		d.mu.Lock()
		_, err := d.send(d.keys[1+rng.IntN(faucets-1)], to, cur, amount)
		d.mu.Unlock()
		if err != nil {
			d.log.Debug("devnet traffic", "err", err)
		}
	}
}

// tagAPI overrides the block-tag methods so that `finalized` and `safe` lag
// the head by FinalityLag; every other request goes to go-ethereum as is.
type tagAPI struct {
	d     *Devnet
	inner *rpc.Client
}

func (a *tagAPI) resolve(n rpc.BlockNumber) string {
	if n == rpc.FinalizedBlockNumber || n == rpc.SafeBlockNumber {
		return fmt.Sprintf("0x%x", a.d.Finalized())
	}
	b, _ := n.MarshalText()
	return string(b)
}

// GetBlockByNumber is eth_getBlockByNumber.
func (a *tagAPI) GetBlockByNumber(ctx context.Context, number rpc.BlockNumber, fullTx bool) (json.RawMessage, error) {
	var raw json.RawMessage
	err := a.inner.CallContext(ctx, &raw, "eth_getBlockByNumber", a.resolve(number), fullTx)
	return raw, err
}

// GetHeaderByNumber is eth_getHeaderByNumber.
func (a *tagAPI) GetHeaderByNumber(ctx context.Context, number rpc.BlockNumber) (json.RawMessage, error) {
	var raw json.RawMessage
	err := a.inner.CallContext(ctx, &raw, "eth_getHeaderByNumber", a.resolve(number))
	return raw, err
}

// GetBlockReceipts is eth_getBlockReceipts.
func (a *tagAPI) GetBlockReceipts(ctx context.Context, b rpc.BlockNumberOrHash) (json.RawMessage, error) {
	var arg any = b
	if n, ok := b.Number(); ok {
		arg = a.resolve(n)
	}
	var raw json.RawMessage
	err := a.inner.CallContext(ctx, &raw, "eth_getBlockReceipts", arg)
	return raw, err
}

type web3API struct{}

// ClientVersion is web3_clientVersion.
func (web3API) ClientVersion() string { return "inflow-devnet/go-ethereum" }

// HeaderHash returns the canonical block hash at n.
func (d *Devnet) HeaderHash(n uint64) (chain.Hash, error) {
	h := d.eth.BlockChain().GetHeaderByNumber(n)
	if h == nil {
		return chain.Hash{}, fmt.Errorf("devnet: no block %d", n)
	}
	return chain.Hash(h.Hash()), nil
}

// TxStatus returns the canonical block holding a transaction (0x-hex
// hash), whether one does, and whether the transaction failed there (its
// receipt's status 0: reverted, its gas paid, nothing moved).
func (d *Devnet) TxStatus(hash string) (block uint64, mined, failed bool) {
	bc := d.eth.BlockChain()
	lookup, tx := bc.GetCanonicalTransaction(common.HexToHash(hash))
	if tx == nil || lookup == nil || bc.GetCanonicalHash(lookup.BlockIndex) != lookup.BlockHash {
		return 0, false, false
	}
	rs := bc.GetReceiptsByHash(lookup.BlockHash)
	if lookup.Index >= uint64(len(rs)) {
		return lookup.BlockIndex, true, false
	}
	return lookup.BlockIndex, true, rs[lookup.Index].Status == types.ReceiptStatusFailed
}
