package bitcoin

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/inflowhq/inflow/indexer/follow"
	"github.com/inflowhq/inflow/pkg/chain"
)

// ErrNotFound is the follower's sentinel: the node has no block there yet.
var ErrNotFound = follow.ErrNotFound

// Options configure a Client.
type Options struct {
	// URL is the node's JSON-RPC endpoint, http(s)://[user:pass@]host:port.
	URL string
	// CookieFile is bitcoind's .cookie file, read again on every request
	// (bitcoind rewrites it when it restarts). It replaces user:pass.
	CookieFile string
	// Network is the chain's address encoding, against which the verbose
	// fallback checks the addresses the node writes.
	Network chain.Network
	// Conns is the number of connections, which bounds the parallel
	// requests (rpcclient sends one request at a time per connection).
	// Default 8.
	Conns int
	// Verbose always fetches blocks with `getblock <hash> 2`. Without it the
	// client asks for raw blocks and falls back to verbose ones only if
	// the node refuses them.
	Verbose bool
	// Timeout bounds each call. Default 60s.
	Timeout time.Duration
}

// Client reads heads, headers and blocks from bitcoind (Core 25 or later)
// or btcd over JSON-RPC, with btcd's rpcclient. Blocks are fetched raw
// (`getblock <hash> 0`) and decoded with btcd's wire: a verbose getblock
// costs the node about twenty times more. It is safe for concurrent use.
type Client struct {
	o       Options
	conns   []*rpcclient.Client
	next    atomic.Uint32
	verbose atomic.Bool
}

// Dial makes a client; it does not connect until the first call.
func Dial(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("bitcoin rpc %q: %w", redact(o.URL), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("bitcoin rpc %q: want an http:// or https:// URL", redact(o.URL))
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("bitcoin rpc %q: want scheme://[user:pass@]host:port and nothing more", redact(o.URL))
	}
	if o.Conns <= 0 {
		o.Conns = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	cfg := &rpcclient.ConnConfig{Host: u.Host, HTTPPostMode: true, DisableTLS: u.Scheme == "http", CookiePath: o.CookieFile}
	if o.CookieFile == "" {
		if u.User == nil {
			return nil, fmt.Errorf("bitcoin rpc %q: no credentials: put user:pass in the URL or name the node's cookie file", redact(o.URL))
		}
		cfg.User = u.User.Username()
		cfg.Pass, _ = u.User.Password()
	}
	c := &Client{o: o}
	c.verbose.Store(o.Verbose)
	for i := 0; i < o.Conns; i++ {
		rc, err := rpcclient.New(cfg, nil)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("bitcoin rpc %s: %w", redact(o.URL), err)
		}
		c.conns = append(c.conns, rc)
	}
	return c, nil
}

// redact hides a URL's password.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// Close releases the connections.
func (c *Client) Close() {
	for _, rc := range c.conns {
		rc.Shutdown()
	}
}

// Verbose reports whether the client fetches verbose blocks (asked to, or
// fallen back because the node refused raw ones).
func (c *Client) Verbose() bool { return c.verbose.Load() }

func (c *Client) conn() *rpcclient.Client {
	return c.conns[int(c.next.Add(1))%len(c.conns)]
}

// call runs one rpcclient call, which takes no context, under ctx and the
// call timeout.
func call[T any](ctx context.Context, c *Client, what string, fn func(*rpcclient.Client) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	rc := c.conn()
	go func() {
		v, err := fn(rc)
		ch <- result{v, err}
	}()
	t := time.NewTimer(c.o.Timeout)
	defer t.Stop()
	var zero T
	select {
	case r := <-ch:
		if r.err != nil {
			return zero, fmt.Errorf("%s: %w", what, r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-t.C:
		return zero, fmt.Errorf("%s: no answer in %s", what, c.o.Timeout)
	}
}

// Head returns the height of the node's best block.
func (c *Client) Head(ctx context.Context) (uint64, error) {
	n, err := call(ctx, c, "getblockcount", func(rc *rpcclient.Client) (int64, error) { return rc.GetBlockCount() })
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, fmt.Errorf("getblockcount: %d", n)
	}
	return uint64(n), nil
}

// hashAt returns the hash of the node's block at height n.
func (c *Client) hashAt(ctx context.Context, n uint64) (*chainhash.Hash, error) {
	if n > 1<<62 {
		return nil, fmt.Errorf("block %d: %w", n, ErrNotFound)
	}
	h, err := call(ctx, c, fmt.Sprintf("getblockhash %d", n), func(rc *rpcclient.Client) (*chainhash.Hash, error) {
		return rc.GetBlockHash(int64(n))
	})
	if err != nil {
		if outOfRange(err) {
			return nil, fmt.Errorf("block %d: %w", n, ErrNotFound)
		}
		return nil, err
	}
	return h, nil
}

// outOfRange recognises bitcoind's (-8) and btcd's (-1) answer to a height
// above the tip.
func outOfRange(err error) bool {
	var re *btcjson.RPCError
	if !errors.As(err, &re) {
		return false
	}
	return (re.Code == btcjson.ErrRPCInvalidParameter || re.Code == btcjson.ErrRPCOutOfRange) &&
		strings.Contains(strings.ToLower(re.Message), "out of range")
}

// Header returns the reference of the node's block at height n.
func (c *Client) Header(ctx context.Context, n uint64) (chain.BlockRef, error) {
	h, err := c.hashAt(ctx, n)
	if err != nil {
		return chain.BlockRef{}, err
	}
	hdr, err := call(ctx, c, "getblockheader "+h.String(), func(rc *rpcclient.Client) (*wire.BlockHeader, error) {
		return rc.GetBlockHeader(h)
	})
	if err != nil {
		return chain.BlockRef{}, err
	}
	if hdr.BlockHash() != *h {
		return chain.BlockRef{}, fmt.Errorf("%w: header of block %s hashes to %s", follow.ErrInconsistent, h, hdr.BlockHash())
	}
	return chain.BlockRef{Number: n, Hash: displayHash(*h), Parent: displayHash(hdr.PrevBlock), Time: hdr.Timestamp.Unix()}, nil
}

// FetchBlock returns the node's block at height n with one transfer per
// output.
func (c *Client) FetchBlock(ctx context.Context, n uint64) (*chain.Block, error) {
	h, err := c.hashAt(ctx, n)
	if err != nil {
		return nil, err
	}
	b, err := c.FetchBlockByHash(ctx, h, n)
	if err != nil {
		return nil, fmt.Errorf("fetch block %d: %w", n, err)
	}
	return b, nil
}

// FetchBlockByHash fetches one block, raw unless the client is verbose.
func (c *Client) FetchBlockByHash(ctx context.Context, h *chainhash.Hash, n uint64) (*chain.Block, error) {
	hashParam, _ := json.Marshal(h.String())
	if !c.verbose.Load() {
		raw, err := call(ctx, c, "getblock "+h.String()+" 0", func(rc *rpcclient.Client) (json.RawMessage, error) {
			return rc.RawRequest("getblock", []json.RawMessage{hashParam, json.RawMessage("0")})
		})
		var re *btcjson.RPCError
		switch {
		case err == nil:
			return c.decodeRaw(raw, h, n)
		case errors.As(err, &re) && (re.Code == btcjson.ErrRPCInvalidParameter || re.Code == btcjson.ErrRPCMethodNotFound.Code || re.Code == btcjson.ErrRPCInvalidParams.Code):
			// A node (or a proxy in front of one) that will not send raw
			// blocks: fetch verbose ones from now on.
			c.verbose.Store(true)
		default:
			return nil, err
		}
	}
	raw, err := call(ctx, c, "getblock "+h.String()+" 2", func(rc *rpcclient.Client) (json.RawMessage, error) {
		return rc.RawRequest("getblock", []json.RawMessage{hashParam, json.RawMessage("2")})
	})
	if err != nil {
		return nil, err
	}
	b, err := ExtractVerbose(raw, n, c.o.Network)
	if err != nil {
		return nil, err
	}
	if b.Ref.Hash != displayHash(*h) {
		return nil, fmt.Errorf("%w: asked for block %s, got %s", follow.ErrInconsistent, h, b.Ref.Hash.Format(chain.FamilyBitcoin))
	}
	return b, nil
}

// decodeRaw decodes a `getblock <hash> 0` result for the block h.
func (c *Client) decodeRaw(raw json.RawMessage, h *chainhash.Hash, n uint64) (*chain.Block, error) {
	b, err := DecodeRawResult(raw, n)
	if err != nil {
		return nil, fmt.Errorf("block %s: %w", h, err)
	}
	if b.Ref.Hash != displayHash(*h) {
		return nil, fmt.Errorf("%w: asked for block %s, got %s", follow.ErrInconsistent, h, b.Ref.Hash.Format(chain.FamilyBitcoin))
	}
	return b, nil
}

var hexBufs sync.Pool

// DecodeRawResult decodes a `getblock <hash> 0` result (a JSON string of
// the block's hex) at a height and extracts it.
func DecodeRawResult(raw []byte, n uint64) (*chain.Block, error) {
	s := bytes.TrimSpace(raw)
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return nil, fmt.Errorf("%w: getblock <hash> 0 did not answer a hex string", ErrMalformed)
	}
	s = s[1 : len(s)-1]
	bp, _ := hexBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer hexBufs.Put(bp)
	if cap(*bp) < len(s)/2 {
		*bp = make([]byte, len(s)/2)
	}
	buf := (*bp)[:len(s)/2]
	if _, err := hex.Decode(buf, s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return DecodeRaw(buf, n)
}

// DecodeRaw decodes a serialized block at a height and extracts it.
func DecodeRaw(raw []byte, height uint64) (*chain.Block, error) {
	var msg wire.MsgBlock
	r := bytes.NewReader(raw)
	if err := msg.Deserialize(r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the block", ErrMalformed, r.Len())
	}
	return Extract(&msg, height), nil
}
