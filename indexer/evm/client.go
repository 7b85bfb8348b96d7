package evm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/rpc"

	"github.com/inflowhq/inflow/indexer/follow"
	"github.com/inflowhq/inflow/pkg/chain"
)

// Errors of this package.
var (
	ErrNotFound   = follow.ErrNotFound // the same sentinel, so the follower recognises it
	ErrNoFinality = errors.New("evm: node has no finalized block")
)

// Client reads blocks, heads and finality from one EVM JSON-RPC endpoint over
// HTTP or WebSocket. It is safe for concurrent use.
type Client struct {
	rpc *rpc.Client
	ws  bool
	// raw fetches blocks over http(s) without the RPC client's decoding
	// (rawhttp.go); nil over WebSocket.
	raw *rawHTTP

	// noBlockReceipts is set once the node has answered that it lacks
	// eth_getBlockReceipts; from then on receipts come per transaction.
	noBlockReceipts atomic.Bool
	extractors      sync.Pool
}

// Dial connects to an endpoint: http(s):// or ws(s)://.
func Dial(ctx context.Context, url string) (*Client, error) {
	c, err := rpc.DialContext(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	cl := &Client{rpc: c, ws: strings.HasPrefix(url, "ws")}
	if strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") {
		cl.raw = newRawHTTP(url)
	}
	return cl, nil
}

// NewClient wraps an existing go-ethereum RPC client.
func NewClient(c *rpc.Client, websocket bool) *Client { return &Client{rpc: c, ws: websocket} }

// Close closes the connection.
func (c *Client) Close() { c.rpc.Close() }

// PerTransactionReceipts reports whether the node lacked eth_getBlockReceipts.
func (c *Client) PerTransactionReceipts() bool { return c.noBlockReceipts.Load() }

func hexNum(n uint64) string { return fmt.Sprintf("0x%x", n) }

// Head returns the number of the node's latest block.
func (c *Client) Head(ctx context.Context) (uint64, error) {
	var s string
	if err := c.rpc.CallContext(ctx, &s, "eth_blockNumber"); err != nil {
		return 0, fmt.Errorf("eth_blockNumber: %w", err)
	}
	n, ok := quantity([]byte(s))
	if !ok {
		return 0, fmt.Errorf("eth_blockNumber: bad quantity %q", s)
	}
	return n, nil
}

// Header returns the reference of the canonical block at n, without its
// transactions.
func (c *Client) Header(ctx context.Context, n uint64) (chain.BlockRef, error) {
	return c.headerByTag(ctx, hexNum(n))
}

// Finalized returns the block the node's `finalized` tag names.
func (c *Client) Finalized(ctx context.Context) (chain.BlockRef, error) {
	ref, err := c.headerByTag(ctx, "finalized")
	if errors.Is(err, ErrNotFound) {
		return ref, ErrNoFinality
	}
	var rerr rpc.Error
	if errors.As(err, &rerr) {
		return ref, fmt.Errorf("%w: %v", ErrNoFinality, err)
	}
	return ref, err
}

func (c *Client) headerByTag(ctx context.Context, tag string) (chain.BlockRef, error) {
	var raw json.RawMessage
	if err := c.rpc.CallContext(ctx, &raw, "eth_getBlockByNumber", tag, false); err != nil {
		return chain.BlockRef{}, fmt.Errorf("eth_getBlockByNumber(%s): %w", tag, err)
	}
	if isNull(raw) {
		return chain.BlockRef{}, fmt.Errorf("block %s: %w", tag, ErrNotFound)
	}
	return parseHeader(raw)
}

func isNull(raw []byte) bool {
	s := bytes.TrimSpace(raw) // not string(raw): a block's answer is half a megabyte
	return len(s) == 0 || string(s) == "null"
}

// FetchBlock returns the canonical block at n with every transfer in it. The
// block and its receipts come in one batched request; if a reorg lands
// between them the pair is fetched again.
func (c *Client) FetchBlock(ctx context.Context, n uint64) (*chain.Block, error) {
	return c.FetchBlockFor(ctx, n, nil)
}

// FetchBlockFor is FetchBlock for a reader that looks for some recipients
// only (follow.RecipientFetcher; a rescan): want is asked about every
// address the block could credit, read from the answer without extracting
// it (Extractor.recipients), and when it wants none the block comes back
// with its reference and transaction count and no transfers. A nil want,
// one that wants any, or an answer not of the usual shape gives what
// FetchBlock gives. Over WebSocket, or from a node without
// eth_getBlockReceipts, it is FetchBlock.
func (c *Client) FetchBlockFor(ctx context.Context, n uint64, want func(addrs [][]byte) bool) (*chain.Block, error) {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		var b *chain.Block
		b, err = c.fetchOnce(ctx, n, want)
		if err == nil || !errors.Is(err, ErrInconsistent) {
			return b, err
		}
	}
	return nil, fmt.Errorf("fetch block %d: %w", n, err)
}

func (c *Client) extractor() *Extractor {
	if x, ok := c.extractors.Get().(*Extractor); ok {
		return x
	}
	return &Extractor{}
}

func (c *Client) fetchOnce(ctx context.Context, n uint64, want func(addrs [][]byte) bool) (*chain.Block, error) {
	buf := answers.Get().(*bytes.Buffer)
	defer func() {
		// The extracted block holds copies of what it needs: the answer's
		// buffer serves the next fetch. A buffer past a few blocks' size
		// is let go rather than kept.
		if buf.Cap() <= maxPooledAnswer {
			buf.Reset()
			answers.Put(buf)
		}
	}()
	x := c.extractor()
	defer c.extractors.Put(x)
	var b *chain.Block
	answered := false
	if c.raw != nil && !c.noBlockReceipts.Load() {
		if err := c.raw.post(ctx, n, buf); err != nil {
			return nil, fmt.Errorf("fetch block %d: %w", n, err)
		}
		answered = true
		if want != nil {
			if ref, txs, ok := x.wantsNone(buf.Bytes(), n, want); ok {
				return &chain.Block{Ref: ref, TxCount: txs}, nil
			}
		}
		if out := (&chain.Block{}); x.extractInPlace(buf.Bytes(), out) {
			b = out
		}
	}
	if b == nil {
		block, receipts, err := c.fetchRawAnswered(ctx, n, buf, answered)
		if err != nil {
			return nil, err
		}
		if b, err = x.Extract(block, receipts); err != nil {
			return nil, fmt.Errorf("block %d: %w", n, err)
		}
	}
	if b.Ref.Number != n {
		return nil, fmt.Errorf("%w: asked for block %d, node sent %d", ErrInconsistent, n, b.Ref.Number)
	}
	return b, nil
}

// FetchRaw returns the raw JSON of block n (with full transactions) and of its
// receipts as one array in transaction order.
func (c *Client) FetchRaw(ctx context.Context, n uint64) (block, receipts json.RawMessage, err error) {
	return c.fetchRaw(ctx, n, new(bytes.Buffer))
}

// answers are the buffers the raw HTTP path reads answers into, reused
// from one fetch to the next: growing a fresh one to a block's half
// megabyte, zeroed and copied at each doubling, was a tenth of a
// backfill's CPU.
var answers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledAnswer = 8 << 20

// fetchRaw is FetchRaw reading the batch answer into buf, which the
// results alias: they are valid until buf is reused.
func (c *Client) fetchRaw(ctx context.Context, n uint64, buf *bytes.Buffer) (block, receipts json.RawMessage, err error) {
	return c.fetchRawAnswered(ctx, n, buf, false)
}

// fetchRawAnswered is fetchRaw; answered says the raw HTTP batch's answer
// is in buf already.
func (c *Client) fetchRawAnswered(ctx context.Context, n uint64, buf *bytes.Buffer, answered bool) (block, receipts json.RawMessage, err error) {
	if !c.noBlockReceipts.Load() || answered {
		var berr, rerr error
		if c.raw != nil {
			var err error
			if !answered {
				err = c.raw.post(ctx, n, buf)
			}
			if err == nil {
				block, receipts, berr, rerr, err = split(buf.Bytes())
			}
			if err != nil {
				return nil, nil, fmt.Errorf("fetch block %d: %w", n, err)
			}
		} else {
			batch := []rpc.BatchElem{
				{Method: "eth_getBlockByNumber", Args: []any{hexNum(n), true}, Result: &block},
				{Method: "eth_getBlockReceipts", Args: []any{hexNum(n)}, Result: &receipts},
			}
			if err := c.rpc.BatchCallContext(ctx, batch); err != nil {
				return nil, nil, fmt.Errorf("fetch block %d: %w", n, err)
			}
			berr, rerr = batch[0].Error, batch[1].Error
		}
		if berr != nil {
			return nil, nil, fmt.Errorf("eth_getBlockByNumber(%d): %w", n, berr)
		}
		if isNull(block) {
			return nil, nil, fmt.Errorf("block %d: %w", n, ErrNotFound)
		}
		if rerr == nil && !isNull(receipts) {
			return block, receipts, nil
		}
		if rerr != nil && !unsupported(rerr) {
			return nil, nil, fmt.Errorf("eth_getBlockReceipts(%d): %w", n, rerr)
		}
		if rerr != nil {
			c.noBlockReceipts.Store(true)
		}
		// A null result for a block the node just served means a reorg raced
		// us, or a node that does not keep block receipts: fall through to the
		// per-transaction path, which checks block hashes.
	} else {
		if err := c.rpc.CallContext(ctx, &block, "eth_getBlockByNumber", hexNum(n), true); err != nil {
			return nil, nil, fmt.Errorf("eth_getBlockByNumber(%d): %w", n, err)
		}
		if isNull(block) {
			return nil, nil, fmt.Errorf("block %d: %w", n, ErrNotFound)
		}
	}
	receipts, err = c.receiptsPerTx(ctx, block)
	if err != nil {
		return nil, nil, fmt.Errorf("receipts of block %d: %w", n, err)
	}
	return block, receipts, nil
}

// receiptsPerTx fetches every receipt of the block with batched
// eth_getTransactionReceipt calls and joins them into one array.
func (c *Client) receiptsPerTx(ctx context.Context, block []byte) (json.RawMessage, error) {
	x := c.extractor()
	_, err := x.parseBlock(block)
	hashes := make([]string, len(x.txs))
	for i := range x.txs {
		hashes[i] = chain.Hash(x.txs[i].hash).Hex()
	}
	x.release()
	c.extractors.Put(x)
	if err != nil {
		return nil, err
	}
	const perBatch = 200
	results := make([]json.RawMessage, len(hashes))
	for lo := 0; lo < len(hashes); lo += perBatch {
		hi := min(lo+perBatch, len(hashes))
		batch := make([]rpc.BatchElem, hi-lo)
		for i := range batch {
			batch[i] = rpc.BatchElem{Method: "eth_getTransactionReceipt", Args: []any{hashes[lo+i]}, Result: &results[lo+i]}
		}
		if err := c.rpc.BatchCallContext(ctx, batch); err != nil {
			return nil, err
		}
		for i, e := range batch {
			if e.Error != nil {
				return nil, fmt.Errorf("eth_getTransactionReceipt(%s): %w", hashes[lo+i], e.Error)
			}
			if isNull(results[lo+i]) {
				return nil, fmt.Errorf("%w: no receipt for %s", ErrInconsistent, hashes[lo+i])
			}
		}
	}
	size := 2
	for _, r := range results {
		size += len(r) + 1
	}
	out := make([]byte, 0, size)
	out = append(out, '[')
	for i, r := range results {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, r...)
	}
	return append(out, ']'), nil
}

// unsupported reports whether an RPC error says the method does not exist.
func unsupported(err error) bool {
	var rerr rpc.Error
	if errors.As(err, &rerr) && rerr.ErrorCode() == -32601 {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "not found") || strings.Contains(msg, "not supported") ||
		strings.Contains(msg, "does not exist") || strings.Contains(msg, "not available") ||
		strings.Contains(msg, "unsupported")
}

// SubscribeHeads delivers the number of every new head the node announces.
// It works over WebSocket only; over HTTP it returns an error and the caller
// polls instead. The returned function cancels the subscription; the error
// channel reports a dropped subscription.
func (c *Client) SubscribeHeads(ctx context.Context, heads chan<- uint64) (cancel func(), errc <-chan error, err error) {
	if !c.ws {
		return nil, nil, errors.New("evm: head subscription needs a ws:// endpoint")
	}
	ch := make(chan struct {
		Number string `json:"number"`
	}, 16)
	sub, err := c.rpc.EthSubscribe(ctx, ch, "newHeads")
	if err != nil {
		return nil, nil, fmt.Errorf("eth_subscribe newHeads: %w", err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case h := <-ch:
				if n, ok := quantity([]byte(h.Number)); ok {
					select {
					case heads <- n:
					case <-done:
						return
					}
				}
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { sub.Unsubscribe(); close(done) }) }, sub.Err(), nil
}
