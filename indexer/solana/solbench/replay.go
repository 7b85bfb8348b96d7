package solbench

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	sol "github.com/gagliardetto/solana-go"

	"github.com/inflowhq/inflow/indexer/solana"
	"github.com/inflowhq/inflow/pkg/chain"
)

// Replay serves a contiguous chain of mainnet-sized Solana blocks over
// the JSON-RPC API, as fast as it can: slot n is block n mod k of a
// corpus of Build (real ed25519-signed transactions made by the local
// node in mainnet's mix: two thirds votes, router swaps with inner
// transfers, USDT and SOL transfers) with its blockhash, previous
// blockhash, parent slot and height rewritten so the chain links, no slot
// skipped. getSlot (every commitment is the head), getBlock (full or none,
// base64), getBlocks, getAccountInfo (no account: the blocks name every
// owner) and getVersion.
type Replay struct {
	txs [][]byte // each corpus block's `,"transactions":[…]}` tail, base64
	// Tips is how many transfers each corpus block holds; Recipients are
	// their recipients, in order.
	Tips       []int
	Recipients [][]chain.Address
	// Head is the newest slot served; set it to move the chain.
	Head atomic.Uint64
	// URL is the JSON-RPC endpoint.
	URL string
	srv *http.Server
}

// StartReplay builds a corpus of blocks blocks of about txs transactions on
// an in-process local node and serves it on a loopback port, its head at 0.
func StartReplay(blocks, txs int, progress io.Writer) (*Replay, error) {
	c, err := Build(blocks, txs, 31, progress)
	if err != nil {
		return nil, err
	}
	r := &Replay{}
	for _, b := range c.Blocks {
		i := bytes.Index(b.Base64, []byte(`,"transactions":`))
		if i < 0 {
			return nil, fmt.Errorf("solana replay: slot %d's block has no transactions", b.Slot)
		}
		got, err := solana.Extract(b.Base64, b.Slot, solana.Options{})
		if err != nil {
			return nil, err
		}
		var to []chain.Address
		for _, t := range got.Block.Transfers {
			if !t.To.IsZero() {
				to = append(to, t.To)
			}
		}
		r.txs, r.Tips, r.Recipients = append(r.txs, b.Base64[i:]), append(r.Tips, len(got.Block.Transfers)), append(r.Recipients, to)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.URL = "http://" + ln.Addr().String()
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

// Close stops serving.
func (r *Replay) Close() { r.srv.Close() }

// Blocks is how many corpus blocks the chain cycles through.
func (r *Replay) Blocks() int { return len(r.txs) }

type rpcRequest struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
}

func solReplayHash(n uint64) string {
	h := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("solana replay"), n))
	return sol.Hash(h).String()
}

func (r *Replay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var q rpcRequest
	if err := json.Unmarshal(body, &q); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var out bytes.Buffer
	out.WriteString(`{"jsonrpc":"2.0","id":`)
	out.Write(q.ID)
	if msg := r.answer(&out, q); msg != "" {
		out.Reset()
		out.WriteString(`{"jsonrpc":"2.0","id":`)
		out.Write(q.ID)
		fmt.Fprintf(&out, `,"error":{"code":-32602,"message":%q}}`, msg)
	} else {
		out.WriteByte('}')
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out.Bytes())
}

// answer writes `,"result":…` or returns an error message.
func (r *Replay) answer(out *bytes.Buffer, q rpcRequest) string {
	head := r.Head.Load()
	slot := func(i int) (uint64, bool) {
		if len(q.Params) <= i {
			return 0, false
		}
		n, err := strconv.ParseUint(string(q.Params[i]), 10, 64)
		return n, err == nil
	}
	switch q.Method {
	case "getVersion":
		out.WriteString(`,"result":{"feature-set":3294202862,"solana-core":"2.1.0"}`)
	case "getSlot":
		fmt.Fprintf(out, `,"result":%d`, head)
	case "getBlocks":
		lo, ok := slot(0)
		hi, ok2 := slot(1)
		if !ok || !ok2 || hi < lo {
			return "Invalid params: getBlocks wants a start and an end slot"
		}
		out.WriteString(`,"result":[`)
		for s := lo; s <= min(hi, head); s++ {
			if s > lo {
				out.WriteByte(',')
			}
			out.WriteString(strconv.FormatUint(s, 10))
		}
		out.WriteByte(']')
	case "getAccountInfo":
		fmt.Fprintf(out, `,"result":{"context":{"slot":%d},"value":null}`, head)
	case "getBlock":
		n, ok := slot(0)
		if !ok {
			return "Invalid params: getBlock wants a slot"
		}
		if n > head || n == 0 {
			out.WriteString(`,"result":null`)
			return ""
		}
		var cfg struct {
			TransactionDetails string `json:"transactionDetails"`
			Encoding           string `json:"encoding"`
		}
		if len(q.Params) > 1 {
			json.Unmarshal(q.Params[1], &cfg)
		}
		if cfg.TransactionDetails == "full" && cfg.Encoding != "base64" {
			return "Invalid params: the replay node serves the base64 encoding"
		}
		fmt.Fprintf(out, `,"result":{"blockHeight":%d,"blockTime":%d,"blockhash":"%s","parentSlot":%d,"previousBlockhash":"%s"`,
			n, 1_740_000_000+n*2/5, solReplayHash(n), n-1, solReplayHash(n-1))
		if cfg.TransactionDetails == "full" {
			out.Write(r.txs[n%uint64(len(r.txs))])
		} else {
			out.WriteByte('}')
		}
	default:
		return "Method not found"
	}
	return ""
}
