// Package fixturerpc serves recorded Bitcoin blocks (../shared/fixtures/bitcoin)
// over bitcoind's JSON-RPC, the way bitcoind does: getblockcount,
// getblockhash, getblock at verbosity 0, 1 and 2, getblockheader,
// getrawtransaction and getbestblockhash, behind HTTP basic
// authentication. Tests and benchmarks run the real client against real
// mainnet data with it.
//
// The recorded blocks are verbosity-2 JSON. A raw block (verbosity 0) is
// built from their header fields and each transaction's hex, and its header
// must hash to the recorded hash. Blocks are not contiguous: each is served
// at its own height.
package fixturerpc

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"time"
)

// Block is one recorded block.
type Block struct {
	Height   uint64
	Hash     string
	Dir      string
	Verbose  json.RawMessage // getblock <hash> 2, as recorded
	Raw      []byte          // the serialized block
	Trimmed  bool            // the source cut transactions out (SOURCE says TRIMMED)
	Expected string          // expected_outputs.ndjson

	header   []byte
	txids    []string
	txs      map[string]json.RawMessage
	prevouts map[string]json.RawMessage
}

// Load reads every block under dir (fixtures/bitcoin/mainnet).
func Load(dir string) ([]*Block, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []*Block
	for _, e := range ents {
		h, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.IsDir() {
			continue
		}
		b := &Block{Height: h, Dir: filepath.Join(dir, e.Name())}
		if b.Verbose, err = os.ReadFile(filepath.Join(b.Dir, "block.json")); err != nil {
			return nil, err
		}
		if exp, err := os.ReadFile(filepath.Join(b.Dir, "expected_outputs.ndjson")); err == nil {
			b.Expected = string(exp)
		}
		if src, err := os.ReadFile(filepath.Join(b.Dir, "SOURCE")); err == nil {
			b.Trimmed = bytes.Contains(src, []byte("TRIMMED block"))
		}
		if pv, err := os.ReadFile(filepath.Join(b.Dir, "prevouts.json")); err == nil {
			if err := json.Unmarshal(pv, &b.prevouts); err != nil {
				return nil, fmt.Errorf("%s: prevouts: %w", b.Dir, err)
			}
		}
		if err := b.build(); err != nil {
			return nil, fmt.Errorf("%s: %w", b.Dir, err)
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Height < out[j].Height })
	if len(out) == 0 {
		return nil, fmt.Errorf("no blocks under %s", dir)
	}
	return out, nil
}

// build serializes the block from its recorded fields.
func (b *Block) build() error {
	var v struct {
		Hash       string            `json:"hash"`
		Height     uint64            `json:"height"`
		Version    int32             `json:"version"`
		Previous   string            `json:"previousblockhash"`
		MerkleRoot string            `json:"merkleroot"`
		Time       uint32            `json:"time"`
		Bits       string            `json:"bits"`
		Nonce      uint32            `json:"nonce"`
		Tx         []json.RawMessage `json:"tx"`
	}
	if err := json.Unmarshal(b.Verbose, &v); err != nil {
		return err
	}
	if v.Height != b.Height {
		return fmt.Errorf("block.json is at height %d", v.Height)
	}
	b.Hash = v.Hash
	hdr := binary.LittleEndian.AppendUint32(nil, uint32(v.Version))
	for _, h := range []string{v.Previous, v.MerkleRoot} {
		raw := make([]byte, 32)
		if h != "" {
			d, err := hex.DecodeString(h)
			if err != nil || len(d) != 32 {
				return fmt.Errorf("hash %q", h)
			}
			for i := range d {
				raw[i] = d[31-i]
			}
		}
		hdr = append(hdr, raw...)
	}
	bits, err := strconv.ParseUint(v.Bits, 16, 32)
	if err != nil {
		return fmt.Errorf("bits %q", v.Bits)
	}
	hdr = binary.LittleEndian.AppendUint32(hdr, v.Time)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(bits))
	hdr = binary.LittleEndian.AppendUint32(hdr, v.Nonce)
	if got := displayHash(hdr); got != v.Hash {
		return fmt.Errorf("the header rebuilt from block.json hashes to %s, not %s", got, v.Hash)
	}
	b.header = hdr
	raw := append([]byte(nil), hdr...)
	raw = appendVarInt(raw, uint64(len(v.Tx)))
	b.txs = map[string]json.RawMessage{}
	for i, t := range v.Tx {
		var tx struct {
			Txid string `json:"txid"`
			Hex  string `json:"hex"`
		}
		if err := json.Unmarshal(t, &tx); err != nil {
			return fmt.Errorf("tx %d: %w", i, err)
		}
		d, err := hex.DecodeString(tx.Hex)
		if err != nil || len(d) == 0 {
			return fmt.Errorf("tx %d has no hex", i)
		}
		raw = append(raw, d...)
		b.txids = append(b.txids, tx.Txid)
		b.txs[tx.Txid] = t
	}
	b.Raw = raw
	return nil
}

func displayHash(b []byte) string {
	h := sha256.Sum256(b)
	h = sha256.Sum256(h[:])
	for i := 0; i < 16; i++ {
		h[i], h[31-i] = h[31-i], h[i]
	}
	return hex.EncodeToString(h[:])
}

func appendVarInt(b []byte, v uint64) []byte {
	switch {
	case v < 0xfd:
		return append(b, byte(v))
	case v <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(v))
	case v <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(v))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xff), v)
}

// Options change how the server answers.
type Options struct {
	// User and Pass are the basic-auth credentials it requires.
	User, Pass string
	// RefuseRaw answers getblock at verbosity 0 with bitcoind's invalid
	// parameter error, as some hosted nodes do.
	RefuseRaw bool
	// Tip is what getblockcount answers (default: the highest block).
	Tip uint64
}

// Server is a running fake bitcoind.
type Server struct {
	URL   string // http://user:pass@127.0.0.1:port
	Calls atomic.Int64
	// Verbose counts getblock calls at verbosity 1 or 2.
	Verbose atomic.Int64

	o        Options
	byHeight map[uint64]*Block
	byHash   map[string]*Block
	srv      *http.Server
	ln       net.Listener
}

// Start serves blocks on a loopback port.
func Start(blocks []*Block, o Options) (*Server, error) {
	if o.User == "" {
		o.User, o.Pass = "inflow", "fixture"
	}
	s := &Server{o: o, byHeight: map[uint64]*Block{}, byHash: map[string]*Block{}}
	for _, b := range blocks {
		s.byHeight[b.Height] = b
		s.byHash[b.Hash] = b
		if b.Height > s.o.Tip && o.Tip == 0 {
			s.o.Tip = b.Height
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go s.srv.Serve(ln)
	s.URL = fmt.Sprintf("http://%s:%s@%s", o.User, o.Pass, ln.Addr())
	return s, nil
}

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type request struct {
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
	ID     json.RawMessage   `json:"id"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != s.o.User || pass != s.o.Pass {
		w.Header().Set("WWW-Authenticate", `Basic realm="jsonrpc"`)
		http.Error(w, "", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "parse error", http.StatusBadRequest)
		return
	}
	s.Calls.Add(1)
	res, rerr := s.answer(req)
	out := map[string]any{"result": res, "error": rerr, "id": req.ID}
	if rerr != nil {
		out["result"] = nil
	}
	w.Header().Set("Content-Type", "application/json")
	if rerr != nil && rerr.Code == -32601 {
		w.WriteHeader(http.StatusNotFound)
	} else if rerr != nil {
		w.WriteHeader(http.StatusInternalServerError) // as bitcoind does
	}
	json.NewEncoder(w).Encode(out)
}

var errParams = &rpcError{Code: -8, Message: "Invalid parameter"}

func (s *Server) block(p []json.RawMessage) (*Block, *rpcError) {
	var h string
	if len(p) < 1 || json.Unmarshal(p[0], &h) != nil {
		return nil, errParams
	}
	b, ok := s.byHash[h]
	if !ok {
		return nil, &rpcError{Code: -5, Message: "Block not found"}
	}
	return b, nil
}

// verbosity reads getblock's second parameter: a number, or the old
// boolean (true is 1).
func verbosity(p []json.RawMessage, def int) (int, bool) {
	if len(p) < 2 {
		return def, true
	}
	var n int
	if json.Unmarshal(p[1], &n) == nil {
		return n, n >= 0 && n <= 3
	}
	var b bool
	if json.Unmarshal(p[1], &b) == nil {
		if b {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func (s *Server) answer(req request) (any, *rpcError) {
	p := req.Params
	switch req.Method {
	case "getblockcount":
		return s.o.Tip, nil
	case "getbestblockhash":
		if b, ok := s.byHeight[s.o.Tip]; ok {
			return b.Hash, nil
		}
		return nil, &rpcError{Code: -1, Message: "no best block"}
	case "getblockhash":
		var h int64
		if len(p) < 1 || json.Unmarshal(p[0], &h) != nil {
			return nil, errParams
		}
		b, ok := s.byHeight[uint64(h)]
		if h < 0 || uint64(h) > s.o.Tip || !ok {
			return nil, &rpcError{Code: -8, Message: "Block height out of range"}
		}
		return b.Hash, nil
	case "getblock":
		b, e := s.block(p)
		if e != nil {
			return nil, e
		}
		v, ok := verbosity(p, 1)
		if !ok {
			return nil, errParams
		}
		switch v {
		case 0:
			if s.o.RefuseRaw {
				return nil, &rpcError{Code: -8, Message: "Raw blocks are not served here"}
			}
			return hex.EncodeToString(b.Raw), nil
		case 1:
			s.Verbose.Add(1)
			var m map[string]json.RawMessage
			json.Unmarshal(b.Verbose, &m)
			ids, _ := json.Marshal(b.txids)
			m["tx"] = ids
			return m, nil
		default:
			s.Verbose.Add(1)
			return b.Verbose, nil
		}
	case "getblockheader":
		b, e := s.block(p)
		if e != nil {
			return nil, e
		}
		verbose := true
		if len(p) > 1 && json.Unmarshal(p[1], &verbose) != nil {
			return nil, errParams
		}
		if !verbose {
			return hex.EncodeToString(b.header), nil
		}
		var m map[string]json.RawMessage
		json.Unmarshal(b.Verbose, &m)
		delete(m, "tx")
		return m, nil
	case "getrawtransaction":
		var id string
		if len(p) < 1 || json.Unmarshal(p[0], &id) != nil {
			return nil, errParams
		}
		for _, b := range s.byHeight {
			if t, ok := b.txs[id]; ok {
				return t, nil
			}
			if t, ok := b.prevouts[id]; ok {
				return t, nil
			}
		}
		return nil, &rpcError{Code: -5, Message: "No such mempool or blockchain transaction"}
	}
	return nil, &rpcError{Code: -32601, Message: "Method not found"}
}
