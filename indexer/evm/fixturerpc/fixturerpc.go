// Package fixturerpc serves recorded EVM blocks over standard JSON-RPC, the
// way a node would: eth_getBlockByNumber/ByHash, eth_getBlockReceipts,
// eth_getTransactionReceipt, eth_getTransactionByHash, eth_blockNumber and
// eth_chainId, single or batched. Tests and benchmarks use it to run the real
// client code against real mainnet data (../shared/fixtures/evm).
//
// A missing block answers null, as nodes do. Blocks are not contiguous: each
// is served under its own number.
package fixturerpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Block is one recorded block and its expected transfers.
type Block struct {
	Chain    string
	Number   uint64
	Hash     string
	Dir      string
	Block    json.RawMessage // eth_getBlockByNumber(n, true)
	Receipts json.RawMessage // eth_getBlockReceipts(n)

	txs      map[string]json.RawMessage
	receipts map[string]json.RawMessage
}

// Load reads every block of one chain folder, e.g. fixtures/evm/ethereum.
func Load(dir string) ([]*Block, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []*Block
	for _, e := range ents {
		n, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.IsDir() {
			continue
		}
		b := &Block{Chain: filepath.Base(dir), Number: n, Dir: filepath.Join(dir, e.Name())}
		if b.Block, err = os.ReadFile(filepath.Join(b.Dir, "block.json")); err != nil {
			return nil, err
		}
		if b.Receipts, err = os.ReadFile(filepath.Join(b.Dir, "receipts.json")); err != nil {
			return nil, err
		}
		if err := b.index(); err != nil {
			return nil, fmt.Errorf("%s: %w", b.Dir, err)
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	if len(out) == 0 {
		return nil, fmt.Errorf("no blocks under %s", dir)
	}
	return out, nil
}

func (b *Block) index() error {
	var blk struct {
		Hash         string            `json:"hash"`
		Transactions []json.RawMessage `json:"transactions"`
	}
	if err := json.Unmarshal(b.Block, &blk); err != nil {
		return err
	}
	b.Hash = strings.ToLower(blk.Hash)
	b.txs = map[string]json.RawMessage{}
	for _, t := range blk.Transactions {
		var tx struct {
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal(t, &tx); err != nil {
			return err
		}
		b.txs[strings.ToLower(tx.Hash)] = t
	}
	var rs []json.RawMessage
	if err := json.Unmarshal(b.Receipts, &rs); err != nil {
		return err
	}
	b.receipts = map[string]json.RawMessage{}
	for _, r := range rs {
		var rc struct {
			TransactionHash string `json:"transactionHash"`
		}
		if err := json.Unmarshal(r, &rc); err != nil {
			return err
		}
		b.receipts[strings.ToLower(rc.TransactionHash)] = r
	}
	return nil
}

// withoutTxBodies replaces full transactions by their hashes.
func (b *Block) withoutTxBodies() (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b.Block, &m); err != nil {
		return nil, err
	}
	var txs []struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(m["transactions"], &txs); err != nil {
		return nil, err
	}
	hashes := make([]string, len(txs))
	for i, t := range txs {
		hashes[i] = t.Hash
	}
	m["transactions"], _ = json.Marshal(hashes)
	return json.Marshal(m)
}

// ChainIDs maps fixture folders to their eth_chainId.
var ChainIDs = map[string]string{"ethereum": "0x1", "polygon": "0x89", "arbitrum": "0xa4b1"}

// Server is a fake node over a set of blocks.
type Server struct {
	chainID  string
	blocks   map[uint64]*Block
	byHash   map[string]*Block
	head     uint64
	srv      *http.Server
	ln       net.Listener
	calls    sync.Map // method -> *atomic.Int64
	noBlkRcp bool

	// URL is the server's http:// address on loopback.
	URL string
}

// Option configures a Server.
type Option func(*Server)

// WithoutBlockReceipts makes the server answer eth_getBlockReceipts with
// "method not found", like nodes that lack it.
func WithoutBlockReceipts() Option { return func(s *Server) { s.noBlkRcp = true } }

// Start serves the blocks on 127.0.0.1 on an ephemeral port.
func Start(chainID string, blocks []*Block, opts ...Option) (*Server, error) {
	s := &Server{chainID: chainID, blocks: map[uint64]*Block{}, byHash: map[string]*Block{}}
	for _, o := range opts {
		o(s)
	}
	for _, b := range blocks {
		s.blocks[b.Number] = b
		s.byHash[b.Hash] = b
		s.head = max(s.head, b.Number)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Calls returns how often a method was called.
func (s *Server) Calls(method string) int64 {
	if v, ok := s.calls.Load(method); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

type request struct {
	JSONRPC string            `json:"jsonrpc"`
	ID      json.RawMessage   `json:"id"`
	Method  string            `json:"method"`
	Params  []json.RawMessage `json:"params"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var reqs []request
		if err := json.Unmarshal(body, &reqs); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resps := make([]response, len(reqs))
		for i, q := range reqs {
			resps[i] = s.answer(q)
		}
		json.NewEncoder(w).Encode(resps)
		return
	}
	var q request
	if err := json.Unmarshal(body, &q); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	json.NewEncoder(w).Encode(s.answer(q))
}

func (s *Server) answer(q request) response {
	v, _ := s.calls.LoadOrStore(q.Method, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	resp := response{JSONRPC: "2.0", ID: q.ID}
	res, err := s.call(q.Method, q.Params)
	var re *rpcError
	switch {
	case errors.As(err, &re):
		resp.Error = re
	case err != nil:
		resp.Error = &rpcError{Code: -32602, Message: err.Error()}
	case res == nil:
		resp.Result = json.RawMessage("null")
	default:
		resp.Result = res
	}
	return resp
}

func (e *rpcError) Error() string { return e.Message }

func (s *Server) blockFor(p json.RawMessage) (*Block, error) {
	var arg string
	if err := json.Unmarshal(p, &arg); err != nil {
		var obj struct {
			BlockHash string `json:"blockHash"`
		}
		if err := json.Unmarshal(p, &obj); err != nil {
			return nil, fmt.Errorf("bad block argument %s", p)
		}
		arg = obj.BlockHash
	}
	arg = strings.ToLower(arg)
	switch {
	case arg == "latest" || arg == "finalized" || arg == "safe":
		return s.blocks[s.head], nil
	case len(arg) == 66:
		return s.byHash[arg], nil
	case strings.HasPrefix(arg, "0x"):
		n, err := strconv.ParseUint(arg[2:], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("bad block number %q", arg)
		}
		return s.blocks[n], nil
	}
	return nil, fmt.Errorf("bad block argument %q", arg)
}

func (s *Server) call(method string, params []json.RawMessage) (json.RawMessage, error) {
	need := func(n int) error {
		if len(params) < n {
			return fmt.Errorf("%s needs %d params", method, n)
		}
		return nil
	}
	switch method {
	case "eth_chainId":
		return json.RawMessage(strconv.Quote(s.chainID)), nil
	case "eth_blockNumber":
		return json.RawMessage(strconv.Quote(fmt.Sprintf("0x%x", s.head))), nil
	case "eth_getBlockByNumber", "eth_getBlockByHash":
		if err := need(2); err != nil {
			return nil, err
		}
		b, err := s.blockFor(params[0])
		if err != nil || b == nil {
			return nil, err
		}
		if string(params[1]) == "true" {
			return b.Block, nil
		}
		return b.withoutTxBodies()
	case "eth_getBlockReceipts":
		if s.noBlkRcp {
			return nil, &rpcError{Code: -32601, Message: "the method eth_getBlockReceipts does not exist/is not available"}
		}
		if err := need(1); err != nil {
			return nil, err
		}
		b, err := s.blockFor(params[0])
		if err != nil || b == nil {
			return nil, err
		}
		return b.Receipts, nil
	case "eth_getTransactionReceipt", "eth_getTransactionByHash":
		if err := need(1); err != nil {
			return nil, err
		}
		var h string
		if err := json.Unmarshal(params[0], &h); err != nil {
			return nil, err
		}
		h = strings.ToLower(h)
		for _, b := range s.blocks {
			m := b.txs
			if method == "eth_getTransactionReceipt" {
				m = b.receipts
			}
			if r, ok := m[h]; ok {
				return r, nil
			}
		}
		return nil, nil
	}
	return nil, &rpcError{Code: -32601, Message: fmt.Sprintf("the method %s does not exist/is not available", method)}
}
