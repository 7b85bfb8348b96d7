package evm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/jsonscan"
)

// rawHTTP fetches a block and its receipts in one JSON-RPC batch over plain
// HTTP and splits the answer with jsonscan, without go-ethereum's RPC
// client: that client decodes every answer with encoding/json into a
// RawMessage, which validated each byte at about 50 MB/s and was nine
// tenths of a backfill's CPU (go run ./bench backfill). The extractor then
// reads the raw block as before. Errors of the node's (an error member)
// come back as rpcError, so the caller's fallbacks work alike.
type rawHTTP struct {
	url    string
	client *http.Client
}

func newRawHTTP(url string) *rawHTTP {
	return &rawHTTP{url: url, client: &http.Client{Timeout: 60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second, ResponseHeaderTimeout: 30 * time.Second}}}
}

// nodeError is a JSON-RPC error member of an answer.
type nodeError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *nodeError) Error() string  { return e.Message }
func (e *nodeError) ErrorCode() int { return e.Code }

// maxAnswer bounds one answer: a mainnet block with its receipts is a few MB.
const maxAnswer = 256 << 20

// post sends the batch for block n and reads the answer into buf (empty).
func (h *rawHTTP) post(ctx context.Context, n uint64, buf *bytes.Buffer) error {
	body := `[{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["` + hexNum(n) + `",true]},` +
		`{"jsonrpc":"2.0","id":2,"method":"eth_getBlockReceipts","params":["` + hexNum(n) + `"]}]`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.ContentLength > 0 && resp.ContentLength < maxAnswer {
		// The room for the read that finds the end too: ReadFrom grows a
		// full buffer (a copy, and a fresh zeroed one) before reading again.
		buf.Grow(int(resp.ContentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(smallReads{io.LimitReader(resp.Body, maxAnswer+1)}); err != nil {
		return err
	}
	if buf.Len() > maxAnswer {
		return fmt.Errorf("answer larger than %d bytes", maxAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(buf.Bytes()[:min(buf.Len(), 200)]))
	}
	return nil
}

// readChunk bounds one read of an answer from the socket.
const readChunk = 64 << 10

// smallReads reads at most readChunk bytes a call, however much room the
// caller offers. Reading a half-megabyte answer in one read per wakeup (all
// the socket held) cost the node about a fifth more CPU per block than
// reading it in 64 KiB steps as it arrives, and the rescan was then bound
// by the node (go run ./bench backfill: 255 against 213 µs of the node's
// CPU per block).
type smallReads struct{ r io.Reader }

func (s smallReads) Read(p []byte) (int, error) {
	if len(p) > readChunk {
		p = p[:readChunk]
	}
	return s.r.Read(p)
}

// split returns the two results of a batch answer (each may be null; they
// alias b) and their error members.
func split(b []byte) (block, receipts json.RawMessage, berr, rerr error, err error) {
	results := map[string]json.RawMessage{}
	errs := map[string]error{}
	s := jsonscan.New(b)
	s.Array(func() {
		var id string
		var res json.RawMessage
		var e error
		s.Object(func(key []byte) {
			switch string(key) {
			case "id":
				if s.Peek() == '"' {
					id = string(s.Str())
				} else {
					id = strconv.FormatUint(s.Uint(), 10)
				}
			case "result":
				res = s.Raw()
			case "error":
				var ne nodeError
				if err := json.Unmarshal(s.Raw(), &ne); err == nil {
					e = &ne
				} else {
					e = errors.New("malformed error member")
				}
			default:
				s.Skip()
			}
		})
		results[id], errs[id] = res, e
	})
	if s.Err != nil {
		return nil, nil, nil, nil, fmt.Errorf("answer: %w", s.Err)
	}
	if _, ok := results["1"]; !ok {
		return nil, nil, nil, nil, errors.New("answer: no result for the block")
	}
	return results["1"], results["2"], errs["1"], errs["2"], nil
}

// extractInPlace reads the batch answer b in one pass, extracting the block
// and its receipts where they lie in it, when it has the usual shape: an
// array of the block's answer (id 1) then the receipts' (id 2), each id
// before its result, neither result null nor an error. For any other shape,
// or anything malformed, it returns false and the caller splits the answer
// and extracts the parts, which gives the same block or the error that
// explains it: out is not to be used then. (Splitting first scanned the
// half megabyte twice; bench backfill.)
func (x *Extractor) extractInPlace(b []byte, out *chain.Block) bool {
	defer x.release()
	s := jsonscan.Scanner{B: b}
	if !s.Expect('[') {
		return false
	}
	for elem := uint64(1); elem <= 2; elem++ {
		if elem == 2 && !s.Expect(',') {
			return false
		}
		if !s.Expect('{') {
			return false
		}
		idSeen, done := false, false
		for s.Err == nil && !done {
			key := s.Str()
			if !s.Expect(':') {
				return false
			}
			switch string(key) {
			case "id":
				if c := s.Peek(); c < '0' || c > '9' || s.Uint() != elem {
					return false
				}
				idSeen = true
			case "result":
				want := byte('{')
				if elem == 2 {
					want = '['
				}
				if !idSeen || s.Peek() != want {
					return false
				}
				if elem == 1 {
					ref, err := x.parseBlockFrom(&s)
					if err != nil {
						return false
					}
					out.Ref, out.TxCount, out.Transfers = ref, len(x.txs), out.Transfers[:0]
				} else if x.receiptsFrom(&s, out) != nil {
					return false
				}
				done = true
			case "jsonrpc":
				s.Skip()
			default:
				return false // an error member, or one this reader does not know
			}
			if s.Err != nil {
				return false
			}
			if !done && !s.Expect(',') {
				return false
			}
		}
		if !done || !s.Expect('}') {
			return false
		}
	}
	if !s.Expect(']') {
		return false
	}
	s.Peek()
	return s.Err == nil && s.Pos == len(s.B)
}
