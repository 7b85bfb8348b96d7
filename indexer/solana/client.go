package solana

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"

	"github.com/inflowhq/inflow/indexer/follow"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/jsonscan"
)

// The node's error codes the client acts on.
const (
	codeBlockNotAvailable   = -32004 // not produced yet (or not here yet)
	codeSlotSkipped         = -32007 // skipped, or missing after a ledger jump
	codeLongTermSkipped     = -32009 // skipped, as long-term storage says
	codeUnsupportedVersion  = -32015 // a transaction version above maxSupportedTransactionVersion
	defaultMaxResponseBytes = 512 << 20
	ownerCacheSize          = 1 << 17
	skipCacheTTL            = 5 * time.Second
	getBlocksSpan           = 256
	nearHead                = 32 // slots below the head where getBlocks is not worth a call
)

// ErrNodeError is a JSON-RPC error the client has no special meaning for.
var ErrNodeError = errors.New("solana: node error")

// ClientOptions configure a Client.
type ClientOptions struct {
	// URL is the node's JSON-RPC endpoint (http:// or https://).
	URL string
	// Timeout bounds each call (default 60s: a full mainnet block is
	// several MB).
	Timeout time.Duration
	// MaxSupportedTransactionVersion is sent with every getBlock (default
	// 0: legacy and v0; LegacyOnly sends none, as old clients do). A
	// block with a newer version halts the chain.
	MaxSupportedTransactionVersion int
	// Encoding of getBlock's transactions: "base64" (default; the wire
	// bytes, the fastest to read) or "json".
	Encoding string
	// Watched says which owners to reconcile (see Options in Extract).
	Watched func(key []byte) bool
	// OnMismatch receives each reconciliation mismatch.
	OnMismatch func(slot uint64, m Mismatch)
	// MaxResponseBytes caps a response body (default 512 MiB).
	MaxResponseBytes int64
}

// Client reads heads, blocks and finality from a Solana node's JSON-RPC API
// with solana-go's rpc client, and looks up the owners of token accounts a
// block does not name. It is safe for concurrent use.
type Client struct {
	o   ClientOptions
	rpc *rpc.Client

	mu     sync.Mutex
	owners map[[32]byte]ownerEntry
	// skips: slots getBlocks said have no block, valid until skipUntil.
	skips     map[uint64]bool
	skipFrom  uint64
	skipTo    uint64 // covered: [skipFrom, skipTo]
	skipUntil time.Time
	head      atomic.Uint64 // the last head read
}

type ownerEntry struct {
	owner [32]byte
	ok    bool // false: not a token account (or gone)
}

// Dial checks the options and makes a client (no connection is opened).
func Dial(o ClientOptions) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("solana rpc %q: want an http:// or https:// URL", o.URL)
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.MaxSupportedTransactionVersion < LegacyOnly || o.MaxSupportedTransactionVersion > 255 {
		return nil, fmt.Errorf("solana: maxSupportedTransactionVersion %d: want 0 to 255, or legacy", o.MaxSupportedTransactionVersion)
	}
	switch o.Encoding {
	case "":
		o.Encoding = "base64"
	case "base64", "json":
	default:
		return nil, fmt.Errorf("solana: encoding %q: want base64 or json", o.Encoding)
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = defaultMaxResponseBytes
	}
	hc := &http.Client{
		Timeout: o.Timeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			MaxIdleConnsPerHost:   32,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: o.Timeout,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	rc := jsonrpc.NewClientWithOpts(o.URL, &jsonrpc.RPCClientOpts{HTTPClient: hc})
	return &Client{o: o, rpc: rpc.NewWithCustomRPCClient(rc), owners: map[[32]byte]ownerEntry{}}, nil
}

// Close releases the client's connections.
func (c *Client) Close() { _ = c.rpc.Close() }

// RPCError is a JSON-RPC error answer.
type RPCError struct {
	Method  string
	Code    int
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("%s: node error %d: %s", e.Method, e.Code, e.Message)
}

// Unwrap gives the follower's sentinel for the codes that have one.
func (e *RPCError) Unwrap() error {
	switch e.Code {
	case codeSlotSkipped, codeLongTermSkipped:
		return follow.ErrSkipped
	case codeBlockNotAvailable:
		return follow.ErrNotFound
	case codeUnsupportedVersion:
		return follow.ErrHalt
	}
	return ErrNodeError
}

// call makes one call and returns its raw result, reading the body itself
// (through solana-go's callback) so a block of several MB is read once,
// by the extractor, not decoded twice.
func (c *Client) call(ctx context.Context, method string, params ...any) ([]byte, error) {
	var result []byte
	err := c.rpc.RPCCallWithCallback(ctx, method, params, func(_ *http.Request, resp *http.Response) error {
		body, err := io.ReadAll(io.LimitReader(resp.Body, c.o.MaxResponseBytes+1))
		if err != nil {
			return fmt.Errorf("%s: read the answer: %w", method, err)
		}
		if int64(len(body)) > c.o.MaxResponseBytes {
			return fmt.Errorf("%s: the answer is over %d bytes", method, c.o.MaxResponseBytes)
		}
		res, rerr, perr := envelope(body)
		if perr != nil {
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: HTTP %s", method, resp.Status)
			}
			return fmt.Errorf("%s: %w", method, perr)
		}
		if rerr != nil {
			rerr.Method = method
			return rerr
		}
		result = res
		return nil
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}

// envelope reads a JSON-RPC answer.
func envelope(body []byte) (result []byte, rerr *RPCError, err error) {
	s := jsonscan.New(body)
	seen := false
	s.Object(func(k []byte) {
		switch string(k) {
		case "result":
			result, seen = s.Raw(), true
		case "error":
			if s.Null() {
				return
			}
			rerr = &RPCError{}
			s.Object(func(k []byte) {
				switch string(k) {
				case "code":
					rerr.Code = int(s.Int())
				case "message":
					rerr.Message = string(s.Str())
				default:
					s.Skip()
				}
			})
		default:
			s.Skip()
		}
	})
	if s.Err != nil {
		return nil, nil, s.Err
	}
	if rerr != nil {
		return nil, rerr, nil
	}
	if !seen {
		return nil, nil, errors.New("the answer has neither result nor error")
	}
	return result, nil, nil
}

func commitment(level string) map[string]any { return map[string]any{"commitment": level} }

func (c *Client) slot(ctx context.Context, level string) (uint64, error) {
	raw, err := c.call(ctx, "getSlot", commitment(level))
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("getSlot: %q is not a slot", raw)
	}
	return n, nil
}

// Head returns the newest confirmed slot.
func (c *Client) Head(ctx context.Context) (uint64, error) {
	n, err := c.slot(ctx, "confirmed")
	if err == nil {
		c.head.Store(n)
	}
	return n, err
}

func (c *Client) blockConfig(details, level string) map[string]any {
	cfg := map[string]any{
		"encoding":           c.o.Encoding,
		"transactionDetails": details,
		"rewards":            false,
		"commitment":         level,
	}
	if c.o.MaxSupportedTransactionVersion != LegacyOnly {
		cfg["maxSupportedTransactionVersion"] = c.o.MaxSupportedTransactionVersion
	}
	return cfg
}

// LegacyOnly as MaxSupportedTransactionVersion asks for legacy
// transactions only: a block with a v0 one halts the chain.
const LegacyOnly = -1

// Header returns the reference of the confirmed block at slot n, read
// without its transactions. A reorg walk calls it, so it also forgets the
// skipped slots getBlocks named.
func (c *Client) Header(ctx context.Context, n uint64) (chain.BlockRef, error) {
	c.mu.Lock()
	c.skips, c.skipUntil = nil, time.Time{}
	c.mu.Unlock()
	return c.header(ctx, n, "confirmed")
}

func (c *Client) header(ctx context.Context, n uint64, level string) (chain.BlockRef, error) {
	raw, err := c.call(ctx, "getBlock", n, c.blockConfig("none", level))
	if err != nil {
		return chain.BlockRef{}, fmt.Errorf("slot %d: %w", n, err)
	}
	if string(raw) == "null" {
		return chain.BlockRef{}, fmt.Errorf("slot %d: %w", n, follow.ErrNotFound)
	}
	res, err := Extract(raw, n, Options{})
	if err != nil {
		return chain.BlockRef{}, fmt.Errorf("slot %d: %w", n, err)
	}
	if err := checkParent(res, n); err != nil {
		return chain.BlockRef{}, err
	}
	return res.Block.Ref, nil
}

func checkParent(res *Result, n uint64) error {
	if res.ParentSlot >= n && n != 0 {
		return fmt.Errorf("%w: slot %d names parent slot %d", follow.ErrInconsistent, n, res.ParentSlot)
	}
	return nil
}

// Finalized returns the newest finalized block.
func (c *Client) Finalized(ctx context.Context) (chain.BlockRef, error) {
	n, err := c.slot(ctx, "finalized")
	if err != nil {
		return chain.BlockRef{}, err
	}
	return c.header(ctx, n, "finalized")
}

// skipped says whether getBlocks named slot n as having no block: during a
// backfill one getBlocks call covers the slots about to be fetched, so a
// skipped slot costs no getBlock. Near the head it is not asked.
func (c *Client) skipped(ctx context.Context, n uint64) bool {
	if head := c.head.Load(); head < n+nearHead {
		return false // following the head: one getBlock per slot is the cheapest
	}
	c.mu.Lock()
	if c.skips != nil && time.Now().Before(c.skipUntil) && n >= c.skipFrom && n <= c.skipTo {
		s := c.skips[n]
		c.mu.Unlock()
		return s
	}
	c.mu.Unlock()
	raw, err := c.call(ctx, "getBlocks", n, n+getBlocksSpan-1, commitment("confirmed"))
	if err != nil {
		return false // getBlock will tell
	}
	var slots []uint64
	if err := json.Unmarshal(raw, &slots); err != nil || len(slots) == 0 {
		return false
	}
	top := slots[len(slots)-1]
	skips := make(map[uint64]bool)
	have := make(map[uint64]bool, len(slots))
	for _, s := range slots {
		have[s] = true
	}
	for s := n; s <= top; s++ {
		if !have[s] {
			skips[s] = true
		}
	}
	c.mu.Lock()
	c.skips, c.skipFrom, c.skipTo, c.skipUntil = skips, n, top, time.Now().Add(skipCacheTTL)
	c.mu.Unlock()
	return skips[n]
}

// FetchBlock returns the confirmed block at slot n with every transfer in
// it, its token-account owners resolved. A skipped slot is ErrSkipped; a
// block the node will not serve for its transaction version halts.
func (c *Client) FetchBlock(ctx context.Context, n uint64) (*chain.Block, error) {
	if c.skipped(ctx, n) {
		return nil, fmt.Errorf("slot %d: %w", n, follow.ErrSkipped)
	}
	raw, err := c.call(ctx, "getBlock", n, c.blockConfig("full", "confirmed"))
	if err != nil {
		var re *RPCError
		if errors.As(err, &re) && re.Code == codeUnsupportedVersion {
			return nil, fmt.Errorf("slot %d holds a transaction of a version the client does not ask for (maxSupportedTransactionVersion %s); raise max_tx_version in the chain's configuration to go on: %w",
				n, versionText(c.o.MaxSupportedTransactionVersion), err)
		}
		return nil, fmt.Errorf("slot %d: %w", n, err)
	}
	if string(raw) == "null" {
		return nil, fmt.Errorf("slot %d: %w", n, follow.ErrNotFound)
	}
	res, err := Extract(raw, n, Options{Watched: c.o.Watched})
	if err != nil {
		return nil, fmt.Errorf("slot %d: %w", n, err)
	}
	if err := checkParent(res, n); err != nil {
		return nil, err
	}
	if err := c.resolve(ctx, res); err != nil {
		return nil, fmt.Errorf("slot %d: %w", n, err)
	}
	if c.o.OnMismatch != nil {
		for _, m := range res.Mismatches {
			c.o.OnMismatch(n, m)
		}
	}
	return res.Block, nil
}

// resolve fills the owners the block does not name from the token
// accounts themselves (getAccountInfo). An account that is gone or is no
// token account leaves its transfer without an owner: it is never
// attributed, and never guessed.
func (c *Client) resolve(ctx context.Context, res *Result) error {
	for _, l := range res.Lookups {
		owner, ok, err := c.Owner(ctx, l.Account)
		if err != nil {
			return err
		}
		if ok {
			res.Block.Transfers[l.Transfer].To = owner
		}
	}
	if len(res.Lookups) == 0 {
		return nil
	}
	// A transfer left without an owner cannot be matched; drop it.
	kept := res.Block.Transfers[:0]
	for _, t := range res.Block.Transfers {
		if !t.To.IsZero() {
			kept = append(kept, t)
		}
	}
	res.Block.Transfers = kept
	return nil
}

// Owner reads a token account's owner (SPL Token or Token-2022): bytes
// 32..64 of its data. ok is false when the account is gone or is not a
// token account.
func (c *Client) Owner(ctx context.Context, account chain.Address) (chain.Address, bool, error) {
	key := [32]byte([]byte(account.Raw()))
	c.mu.Lock()
	e, hit := c.owners[key]
	c.mu.Unlock()
	if !hit {
		raw, err := c.call(ctx, "getAccountInfo", account.String(), map[string]any{"encoding": "base64", "commitment": "confirmed"})
		if err != nil {
			return chain.Address{}, false, err
		}
		e, err = parseTokenAccount(raw)
		if err != nil {
			return chain.Address{}, false, fmt.Errorf("getAccountInfo %s: %w", account, err)
		}
		c.mu.Lock()
		if len(c.owners) >= ownerCacheSize {
			clear(c.owners)
		}
		c.owners[key] = e
		c.mu.Unlock()
	}
	if !e.ok {
		return chain.Address{}, false, nil
	}
	return chain.MustAddress(chain.FamilySolana, e.owner[:]), true, nil
}

func parseTokenAccount(raw []byte) (ownerEntry, error) {
	var v struct {
		Value *struct {
			Owner string   `json:"owner"`
			Data  []string `json:"data"`
		} `json:"value"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return ownerEntry{}, err
	}
	if v.Value == nil {
		return ownerEntry{}, nil // gone
	}
	if v.Value.Owner != tokenProgramID && v.Value.Owner != token2022ID {
		return ownerEntry{}, nil
	}
	if len(v.Value.Data) != 2 || v.Value.Data[1] != "base64" {
		return ownerEntry{}, fmt.Errorf("data is not base64")
	}
	data, err := base64.StdEncoding.DecodeString(v.Value.Data[0])
	if err != nil {
		return ownerEntry{}, err
	}
	// A token account is 165 bytes; a Token-2022 one with extensions is
	// longer, with its account type (2) at byte 165. A multisig is 355
	// bytes, a mint 82 (or longer, type 1).
	switch {
	case len(data) == 165:
	case len(data) > 165 && len(data) != 355 && data[165] == 2 && v.Value.Owner == token2022ID:
	default:
		return ownerEntry{}, nil
	}
	if data[108] == 0 {
		return ownerEntry{}, nil // uninitialized
	}
	return ownerEntry{owner: [32]byte(data[32:64]), ok: true}, nil
}

// Program ids as text.
const (
	tokenProgramID = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
	token2022ID    = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
)

// Version reads the node's getVersion (for the log).
func (c *Client) Version(ctx context.Context) (string, error) {
	raw, err := c.call(ctx, "getVersion")
	if err != nil {
		return "", err
	}
	var v struct {
		Core string `json:"solana-core"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("getVersion: %w", err)
	}
	return strings.TrimSpace(v.Core), nil
}

func versionText(v int) string {
	if v == LegacyOnly {
		return "legacy"
	}
	return strconv.Itoa(v)
}
