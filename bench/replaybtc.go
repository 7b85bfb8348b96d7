package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inflowhq/inflow/indexer/bitcoin"
	"github.com/inflowhq/inflow/indexer/bitcoin/fixturerpc"
)

// btcReplay serves a contiguous chain of Bitcoin blocks over bitcoind's
// JSON-RPC: block n is the recorded mainnet block n mod k with its header's
// previous-block hash set to block n-1's, so each hashes to its own id and
// the chain links (the merkle root and transactions stay as recorded).
// getblockcount, getblockhash, getblock at verbosity 0 and getblockheader,
// behind basic authentication.
type btcReplay struct {
	raws [][]byte // the recorded serialized blocks
	tips []int    // outputs the extractor finds in each
	head atomic.Uint64
	mu   sync.Mutex
	hdrs map[uint64][]byte // header of block n, once computed
	byID map[string]uint64 // display hash → n
	srv  *http.Server
	url  string
}

func startBTCReplay(dir string) (*btcReplay, error) {
	blocks, err := fixturerpc.Load(dir)
	if err != nil {
		return nil, err
	}
	r := &btcReplay{hdrs: map[uint64][]byte{}, byID: map[string]uint64{}}
	for _, b := range blocks {
		raw, _ := json.Marshal(hex.EncodeToString(b.Raw))
		got, err := bitcoin.DecodeRawResult(raw, b.Height)
		if err != nil {
			return nil, err
		}
		r.raws, r.tips = append(r.raws, b.Raw), append(r.tips, len(got.Transfers))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.url = "http://replay:replay@" + ln.Addr().String()
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *btcReplay) Close() { r.srv.Close() }

func (r *btcReplay) transfersIn(from, to uint64) int { return cycleSum(r.tips, from, to) }

// header returns block n's header, linking it to block n-1's.
func (r *btcReplay) header(n uint64) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.headerLocked(n)
}

func (r *btcReplay) headerLocked(n uint64) []byte {
	if h, ok := r.hdrs[n]; ok {
		return h
	}
	h := bytes.Clone(r.raws[n%uint64(len(r.raws))][:80])
	if n > 0 {
		prev := doubleSHA(r.headerLocked(n - 1))
		copy(h[4:36], prev[:])
	}
	r.hdrs[n] = h
	id := doubleSHA(h)
	for i := 0; i < 16; i++ {
		id[i], id[31-i] = id[31-i], id[i]
	}
	r.byID[hex.EncodeToString(id[:])] = n
	return h
}

func doubleSHA(b []byte) [32]byte {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}

func (r *btcReplay) displayHash(n uint64) string {
	id := doubleSHA(r.header(n))
	for i := 0; i < 16; i++ {
		id[i], id[31-i] = id[31-i], id[i]
	}
	return hex.EncodeToString(id[:])
}

func (r *btcReplay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if u, p, ok := req.BasicAuth(); !ok || u != "replay" || p != "replay" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	var q struct {
		ID     json.RawMessage   `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(body, &q); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	res, rerr := r.answer(q.Method, q.Params)
	w.Header().Set("Content-Type", "application/json")
	var out bytes.Buffer
	out.WriteString(`{"id":`)
	out.Write(q.ID)
	if rerr != "" {
		fmt.Fprintf(&out, `,"result":null,"error":{"code":-8,"message":%q}}`, rerr)
	} else {
		out.WriteString(`,"error":null,"result":`)
		out.Write(res)
		out.WriteByte('}')
	}
	w.Write(out.Bytes())
}

func (r *btcReplay) answer(method string, p []json.RawMessage) ([]byte, string) {
	head := r.head.Load()
	byHash := func() (uint64, bool) {
		var h string
		if len(p) < 1 || json.Unmarshal(p[0], &h) != nil {
			return 0, false
		}
		r.mu.Lock()
		n, ok := r.byID[h]
		r.mu.Unlock()
		return n, ok && n <= head
	}
	switch method {
	case "getblockcount":
		return fmt.Appendf(nil, "%d", head), ""
	case "getblockhash":
		var n uint64
		if len(p) < 1 || json.Unmarshal(p[0], &n) != nil || n > head {
			return nil, "Block height out of range"
		}
		return fmt.Appendf(nil, "%q", r.displayHash(n)), ""
	case "getblock":
		n, ok := byHash()
		if !ok {
			return nil, "Block not found"
		}
		raw := r.raws[n%uint64(len(r.raws))]
		out := make([]byte, 0, 2*len(raw)+2)
		out = append(out, '"')
		out = hex.AppendEncode(out, r.header(n))
		out = hex.AppendEncode(out, raw[80:])
		return append(out, '"'), ""
	case "getblockheader":
		n, ok := byHash()
		if !ok {
			return nil, "Block not found"
		}
		return fmt.Appendf(nil, "%q", hex.EncodeToString(r.header(n))), ""
	}
	return nil, "Method not found"
}
