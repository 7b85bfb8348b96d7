package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/inflowhq/inflow/indexer/tron"
	"github.com/inflowhq/inflow/indexer/tron/tronbench"
	"github.com/inflowhq/inflow/pkg/chain"
)

// tronReplay serves a contiguous chain of mainnet-shaped Tron blocks over
// java-tron's gRPC Wallet and WalletSolidity services, as fast as it can:
// block n is block n mod k of a tronbench corpus (about 350 transactions,
// mostly USDT TRC20 transfers, as mainnet's) with its header's number,
// parent id and time rewritten and its id computed as java-tron does (the
// number, then the header's sha256), so the chain links. GetNowBlock2,
// GetBlockByNum2 and GetTransactionInfoByBlockNum; the solidity node's
// head is the full node's.
type tronReplay struct {
	blocks []*api.BlockExtention
	infos  []*api.TransactionInfoList
	tips   []int
	recips [][]chain.Address // each corpus block's recipients, in order
	head   atomic.Uint64
	mu     sync.Mutex
	ids    map[uint64][]byte // block n's id, once computed
	srv    *grpc.Server
	addr   string
}

func startTronReplay(blocks, txs int) (*tronReplay, error) {
	c, err := tronbench.Build(blocks, txs, 21)
	if err != nil {
		return nil, err
	}
	r := &tronReplay{ids: map[uint64][]byte{}}
	for _, b := range c.Blocks {
		ext, infos := &api.BlockExtention{}, &api.TransactionInfoList{}
		if err := proto.Unmarshal(b.Block, ext); err != nil {
			return nil, err
		}
		if err := proto.Unmarshal(b.Infos, infos); err != nil {
			return nil, err
		}
		got, err := tron.Extract(ext, infos.TransactionInfo)
		if err != nil {
			return nil, err
		}
		var to []chain.Address
		for _, t := range got.Transfers {
			to = append(to, t.To)
		}
		r.blocks, r.infos = append(r.blocks, ext), append(r.infos, infos)
		r.tips, r.recips = append(r.tips, len(got.Transfers)), append(r.recips, to)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.addr = ln.Addr().String()
	r.srv = grpc.NewServer(grpc.ConnectionTimeout(10*time.Second), grpc.MaxConcurrentStreams(256), grpc.MaxSendMsgSize(64<<20))
	api.RegisterWalletServer(r.srv, tronReplayWallet{r: r})
	api.RegisterWalletSolidityServer(r.srv, tronReplaySolidity{r: r})
	go r.srv.Serve(ln)
	return r, nil
}

func (r *tronReplay) Close() { r.srv.Stop() }

func (r *tronReplay) transfersIn(from, to uint64) int { return cycleSum(r.tips, from, to) }

// header is block n's header, linked to block n-1's id.
func (r *tronReplay) header(n uint64) *core.BlockHeaderRaw {
	src := r.blocks[n%uint64(len(r.blocks))].BlockHeader.RawData
	h := proto.Clone(src).(*core.BlockHeaderRaw)
	h.Number, h.Timestamp = int64(n), 1_740_000_000_000+3000*int64(n)
	h.ParentHash = make([]byte, 32)
	if n > 0 {
		h.ParentHash = r.id(n - 1)
	}
	return h
}

// id is block n's id: its number, then the last 24 bytes of its header's
// sha256.
func (r *tronReplay) id(n uint64) []byte {
	r.mu.Lock()
	id, ok := r.ids[n]
	r.mu.Unlock()
	if ok {
		return id
	}
	hb, _ := proto.Marshal(r.header(n))
	h := sha256.Sum256(hb)
	binary.BigEndian.PutUint64(h[:8], n)
	r.mu.Lock()
	r.ids[n] = h[:]
	r.mu.Unlock()
	return h[:]
}

// block is block n, or the empty block java-tron answers above its head.
func (r *tronReplay) block(n int64, full bool) *api.BlockExtention {
	if n < 0 || uint64(n) > r.head.Load() {
		return &api.BlockExtention{}
	}
	src := r.blocks[uint64(n)%uint64(len(r.blocks))]
	out := &api.BlockExtention{BlockHeader: &core.BlockHeader{RawData: r.header(uint64(n)), WitnessSignature: src.BlockHeader.WitnessSignature},
		Blockid: r.id(uint64(n))}
	if full {
		out.Transactions = src.Transactions
	}
	return out
}

type tronReplayWallet struct {
	api.UnimplementedWalletServer
	r *tronReplay
}

func (w tronReplayWallet) GetNowBlock2(context.Context, *api.EmptyMessage) (*api.BlockExtention, error) {
	return w.r.block(int64(w.r.head.Load()), false), nil
}

func (w tronReplayWallet) GetBlockByNum2(_ context.Context, in *api.NumberMessage) (*api.BlockExtention, error) {
	return w.r.block(in.Num, true), nil
}

func (w tronReplayWallet) GetTransactionInfoByBlockNum(_ context.Context, in *api.NumberMessage) (*api.TransactionInfoList, error) {
	if in.Num < 0 || uint64(in.Num) > w.r.head.Load() {
		return &api.TransactionInfoList{}, nil
	}
	return w.r.infos[uint64(in.Num)%uint64(len(w.r.infos))], nil
}

type tronReplaySolidity struct {
	api.UnimplementedWalletSolidityServer
	r *tronReplay
}

func (s tronReplaySolidity) GetNowBlock2(context.Context, *api.EmptyMessage) (*api.BlockExtention, error) {
	return s.r.block(int64(s.r.head.Load()), false), nil
}

func (s tronReplaySolidity) GetBlockByNum2(_ context.Context, in *api.NumberMessage) (*api.BlockExtention, error) {
	return s.r.block(in.Num, true), nil
}

// String names the node for progress lines.
func (r *tronReplay) String() string {
	return fmt.Sprintf("tron replay of %d mainnet-shaped blocks at %s", len(r.blocks), r.addr)
}
