package tronbench

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/inflowhq/inflow/indexer/tron"
	"github.com/inflowhq/inflow/pkg/chain"
)

// Replay serves a contiguous chain of mainnet-shaped Tron blocks over
// java-tron's gRPC Wallet and WalletSolidity services, as fast as it can:
// block n is block n mod k of a corpus of Build (about 350 transactions,
// mostly USDT TRC20 transfers, as mainnet's) with its header's number,
// parent id and time rewritten and its id computed as java-tron does (the
// number, then the header's sha256), so the chain links. GetNowBlock2,
// GetBlockByNum2 and GetTransactionInfoByBlockNum; the solidity node's
// head is the full node's.
type Replay struct {
	blocks []*api.BlockExtention
	infos  []*api.TransactionInfoList
	// Tips is how many transfers each corpus block holds; Recipients are
	// their recipients, in order.
	Tips       []int
	Recipients [][]chain.Address
	// Head is the newest block served; set it to move the chain.
	Head atomic.Uint64
	// Addr is the gRPC listener's host:port.
	Addr string
	mu   sync.Mutex
	ids  map[uint64][]byte // block n's id, once computed
	srv  *grpc.Server
}

// StartReplay builds a corpus of blocks blocks of about txs transactions and
// serves it on a loopback port, its head at 0.
func StartReplay(blocks, txs int) (*Replay, error) {
	c, err := Build(blocks, txs, 21)
	if err != nil {
		return nil, err
	}
	r := &Replay{ids: map[uint64][]byte{}}
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
		r.Tips, r.Recipients = append(r.Tips, len(got.Transfers)), append(r.Recipients, to)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.Addr = ln.Addr().String()
	r.srv = grpc.NewServer(grpc.ConnectionTimeout(10*time.Second), grpc.MaxConcurrentStreams(256), grpc.MaxSendMsgSize(64<<20))
	api.RegisterWalletServer(r.srv, tronReplayWallet{r: r})
	api.RegisterWalletSolidityServer(r.srv, tronReplaySolidity{r: r})
	go r.srv.Serve(ln)
	return r, nil
}

// Close stops serving.
func (r *Replay) Close() { r.srv.Stop() }

// Blocks is how many corpus blocks the chain cycles through.
func (r *Replay) Blocks() int { return len(r.blocks) }

// header is block n's header, linked to block n-1's id.
func (r *Replay) header(n uint64) *core.BlockHeaderRaw {
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
func (r *Replay) id(n uint64) []byte {
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
func (r *Replay) block(n int64, full bool) *api.BlockExtention {
	if n < 0 || uint64(n) > r.Head.Load() {
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
	r *Replay
}

func (w tronReplayWallet) GetNowBlock2(context.Context, *api.EmptyMessage) (*api.BlockExtention, error) {
	return w.r.block(int64(w.r.Head.Load()), false), nil
}

func (w tronReplayWallet) GetBlockByNum2(_ context.Context, in *api.NumberMessage) (*api.BlockExtention, error) {
	return w.r.block(in.Num, true), nil
}

func (w tronReplayWallet) GetTransactionInfoByBlockNum(_ context.Context, in *api.NumberMessage) (*api.TransactionInfoList, error) {
	if in.Num < 0 || uint64(in.Num) > w.r.Head.Load() {
		return &api.TransactionInfoList{}, nil
	}
	return w.r.infos[uint64(in.Num)%uint64(len(w.r.infos))], nil
}

type tronReplaySolidity struct {
	api.UnimplementedWalletSolidityServer
	r *Replay
}

func (s tronReplaySolidity) GetNowBlock2(context.Context, *api.EmptyMessage) (*api.BlockExtention, error) {
	return s.r.block(int64(s.r.Head.Load()), false), nil
}

func (s tronReplaySolidity) GetBlockByNum2(_ context.Context, in *api.NumberMessage) (*api.BlockExtention, error) {
	return s.r.block(in.Num, true), nil
}
