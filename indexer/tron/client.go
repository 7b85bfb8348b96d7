package tron

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/client"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/inflowhq/inflow/indexer/follow"
	"github.com/inflowhq/inflow/pkg/chain"
)

// ErrNotFound is the follower's sentinel: the node has no block there yet.
var ErrNotFound = follow.ErrNotFound

// Options configure a Client.
type Options struct {
	// URL is the full node's gRPC endpoint: grpc://host:port (plaintext)
	// or grpcs://host:port (TLS).
	URL string
	// SolidityURL is the solidity node's (its WalletSolidity service),
	// where a provider splits them; default URL.
	SolidityURL string
	// APIKey is sent as TRON-PRO-API-KEY (TronGrid).
	APIKey string
	// Timeout bounds each call (default 30s).
	Timeout time.Duration
	// InfoRetries is how many times a block is fetched again while one of
	// its transactions lacks its info (default 10), InfoRetryDelay the
	// pause between (default 300ms).
	InfoRetries    int
	InfoRetryDelay time.Duration
}

// Client reads heads, blocks with their transaction infos, and the
// solidified block from java-tron's gRPC API with gotron-sdk's client. It
// is safe for concurrent use.
type Client struct {
	o        Options
	full     *client.GrpcClient
	sol      *client.GrpcClient
	wallet   api.WalletClient
	solidity api.WalletSolidityClient
}

// dialTarget reads grpc:// and grpcs:// URLs.
func dialTarget(raw string) (string, grpc.DialOption, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, fmt.Errorf("tron rpc %q: %w", raw, err)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" {
		return "", nil, fmt.Errorf("tron rpc %q: want grpc://host:port or grpcs://host:port", raw)
	}
	switch u.Scheme {
	case "grpc":
		return u.Host, grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	case "grpcs":
		return u.Host, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(nil, "")), nil
	}
	return "", nil, fmt.Errorf("tron rpc %q: want grpc://host:port or grpcs://host:port", raw)
}

// Dial connects (lazily, as gRPC does) to the full and solidity nodes.
func Dial(o Options) (*Client, error) {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.InfoRetries <= 0 {
		o.InfoRetries = 10
	}
	if o.InfoRetryDelay <= 0 {
		o.InfoRetryDelay = 300 * time.Millisecond
	}
	if o.SolidityURL == "" {
		o.SolidityURL = o.URL
	}
	c := &Client{o: o}
	for _, e := range []struct {
		url string
		gc  **client.GrpcClient
	}{{o.URL, &c.full}, {o.SolidityURL, &c.sol}} {
		target, creds, err := dialTarget(e.url)
		if err != nil {
			c.Close()
			return nil, err
		}
		gc := client.NewGrpcClientWithTimeout(target, o.Timeout)
		if o.APIKey != "" {
			gc.SetAPIKey(o.APIKey)
		}
		if err := gc.Start(creds, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20))); err != nil {
			c.Close()
			return nil, fmt.Errorf("tron rpc %s: %w", e.url, err)
		}
		*e.gc = gc
	}
	c.wallet = c.full.Client
	c.solidity = api.NewWalletSolidityClient(c.sol.Conn)
	return c, nil
}

// Close closes the connections.
func (c *Client) Close() {
	for _, gc := range []*client.GrpcClient{c.full, c.sol} {
		if gc != nil {
			gc.Stop()
		}
	}
}

// ctx adds the call timeout and the API key.
func (c *Client) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(parent, c.o.Timeout)
	if c.o.APIKey != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "TRON-PRO-API-KEY", c.o.APIKey)
	}
	return ctx, cancel
}

// Head returns the number of the full node's newest block.
func (c *Client) Head(ctx context.Context) (uint64, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	b, err := c.wallet.GetNowBlock2(ctx, &api.EmptyMessage{})
	if err != nil {
		return 0, fmt.Errorf("GetNowBlock2: %w", err)
	}
	ref, err := BlockRef(b)
	if err != nil {
		return 0, fmt.Errorf("GetNowBlock2: %w", err)
	}
	return ref.Number, nil
}

// Finalized returns the solidified block: the solidity node's newest,
// which never rolls back.
func (c *Client) Finalized(ctx context.Context) (chain.BlockRef, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	b, err := c.solidity.GetNowBlock2(ctx, &api.EmptyMessage{})
	if err != nil {
		return chain.BlockRef{}, fmt.Errorf("WalletSolidity.GetNowBlock2: %w", err)
	}
	return BlockRef(b)
}

func (c *Client) block(ctx context.Context, n uint64) (*api.BlockExtention, error) {
	if n > 1<<62 {
		return nil, fmt.Errorf("block %d: %w", n, ErrNotFound)
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	b, err := c.wallet.GetBlockByNum2(ctx, &api.NumberMessage{Num: int64(n)})
	if err != nil {
		return nil, fmt.Errorf("GetBlockByNum2(%d): %w", n, err)
	}
	if b.GetBlockHeader().GetRawData() == nil {
		return nil, fmt.Errorf("block %d: %w", n, ErrNotFound) // java-tron answers an empty block above its head
	}
	if got := b.BlockHeader.RawData.Number; got != int64(n) {
		return nil, fmt.Errorf("%w: GetBlockByNum2(%d) answered block %d", follow.ErrInconsistent, n, got)
	}
	return b, nil
}

// Header returns the reference of the full node's block at n.
func (c *Client) Header(ctx context.Context, n uint64) (chain.BlockRef, error) {
	b, err := c.block(ctx, n)
	if err != nil {
		return chain.BlockRef{}, err
	}
	return BlockRef(b)
}

// FetchBlock returns the block at n with every transfer in it: the block
// and its transaction infos, fetched again (both) while a transaction
// lacks its info, as happens just after a block is made.
func (c *Client) FetchBlock(ctx context.Context, n uint64) (*chain.Block, error) {
	var last error
	for attempt := 0; attempt < c.o.InfoRetries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(c.o.InfoRetryDelay):
			}
		}
		b, err := c.block(ctx, n)
		if err != nil {
			return nil, err
		}
		infos, err := c.infos(ctx, n)
		if err != nil {
			return nil, err
		}
		blk, err := Extract(b, infos)
		if !errors.Is(err, ErrInfoMissing) {
			if err != nil {
				return nil, fmt.Errorf("block %d: %w", n, err)
			}
			return blk, nil
		}
		last = err
	}
	return nil, fmt.Errorf("block %d after %d tries: %w", n, c.o.InfoRetries, last)
}

func (c *Client) infos(ctx context.Context, n uint64) ([]*core.TransactionInfo, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	l, err := c.wallet.GetTransactionInfoByBlockNum(ctx, &api.NumberMessage{Num: int64(n)})
	if err != nil {
		return nil, fmt.Errorf("GetTransactionInfoByBlockNum(%d): %w", n, err)
	}
	return l.GetTransactionInfo(), nil
}
