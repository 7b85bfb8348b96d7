package tron

import (
	"context"
	"errors"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The devnet serves the parts of java-tron's Wallet and WalletSolidity
// services an indexer and a wallet use: heads, blocks, transaction infos,
// transactions and accounts, and BroadcastTransaction. The rest answer
// Unimplemented, as gRPC does for a method a server lacks.

// newServer makes the gRPC server, with limits like every Inflow listener:
// a handshake deadline, idle connections closed, streams and message sizes
// capped.
func newServer(d *Devnet) *grpc.Server {
	s := grpc.NewServer(
		grpc.ConnectionTimeout(10*time.Second),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 2 * time.Minute, Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(256),
		grpc.MaxRecvMsgSize(4<<20),
		grpc.MaxSendMsgSize(64<<20),
	)
	api.RegisterWalletServer(s, &wallet{d: d})
	api.RegisterWalletSolidityServer(s, &solidity{d: d})
	return s
}

type wallet struct {
	api.UnimplementedWalletServer
	d *Devnet
}

type solidity struct {
	api.UnimplementedWalletSolidityServer
	d *Devnet
}

// blockAt returns the block at n, no higher than limit (the head, or the
// solidified block), as an empty block where there is none, as java-tron
// answers.
func (d *Devnet) blockAt(n int64, solid bool) *api.BlockExtention {
	d.mu.Lock()
	defer d.mu.Unlock()
	top := int64(len(d.blocks) - 1)
	if solid {
		top = int64(d.solidLocked())
	}
	if n < 0 || n > top {
		return &api.BlockExtention{}
	}
	return d.blocks[n].ext
}

func (d *Devnet) now(solid bool) *api.BlockExtention {
	d.mu.Lock()
	n := int64(len(d.blocks) - 1)
	if solid {
		n = int64(d.solidLocked())
	}
	d.mu.Unlock()
	return d.blockAt(n, solid)
}

func (d *Devnet) infosAt(n int64, solid bool) *api.TransactionInfoList {
	d.mu.Lock()
	defer d.mu.Unlock()
	top := int64(len(d.blocks) - 1)
	if solid {
		top = int64(d.solidLocked())
	}
	if n < 0 || n > top {
		return &api.TransactionInfoList{}
	}
	return &api.TransactionInfoList{TransactionInfo: d.blocks[n].infos}
}

func (d *Devnet) findTx(id []byte, solid bool) (*core.Transaction, *core.TransactionInfo) {
	d.mu.Lock()
	defer d.mu.Unlock()
	top := len(d.blocks) - 1
	if solid {
		top = d.solidLocked()
	}
	for n := top; n > 0; n-- {
		b := d.blocks[n]
		for i, tx := range b.ext.Transactions {
			if string(tx.Txid) == string(id) {
				return tx.Transaction, b.infos[i]
			}
		}
	}
	if !solid {
		for _, tx := range d.pending {
			if got, _ := txID(tx); string(got) == string(id) {
				return tx, nil
			}
		}
	}
	return nil, nil
}

func (d *Devnet) account(a []byte) *core.Account {
	k, err := toAddr(a)
	if err != nil {
		return &core.Account{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	acct := &core.Account{Address: a, Balance: d.st.trx[k]}
	if v := d.st.trc10[k]; v > 0 {
		acct.AssetV2 = map[string]int64{BTTID: v}
	}
	return acct
}

func (w *wallet) GetNowBlock2(context.Context, *api.EmptyMessage) (*api.BlockExtention, error) {
	return w.d.now(false), nil
}

func (w *wallet) GetBlockByNum2(_ context.Context, in *api.NumberMessage) (*api.BlockExtention, error) {
	return w.d.blockAt(in.Num, false), nil
}

func (w *wallet) GetBlockByLimitNext2(_ context.Context, in *api.BlockLimit) (*api.BlockListExtention, error) {
	if in.EndNum <= in.StartNum || in.EndNum-in.StartNum > 100 {
		return nil, status.Error(codes.InvalidArgument, "end must be above start, by at most 100")
	}
	out := &api.BlockListExtention{}
	for n := in.StartNum; n < in.EndNum; n++ {
		b := w.d.blockAt(n, false)
		if b.BlockHeader == nil {
			break
		}
		out.Block = append(out.Block, b)
	}
	return out, nil
}

func (w *wallet) GetTransactionInfoByBlockNum(_ context.Context, in *api.NumberMessage) (*api.TransactionInfoList, error) {
	return w.d.infosAt(in.Num, false), nil
}

func (w *wallet) GetTransactionById(_ context.Context, in *api.BytesMessage) (*core.Transaction, error) {
	tx, _ := w.d.findTx(in.Value, false)
	if tx == nil {
		return &core.Transaction{}, nil
	}
	return tx, nil
}

func (w *wallet) GetTransactionInfoById(_ context.Context, in *api.BytesMessage) (*core.TransactionInfo, error) {
	_, info := w.d.findTx(in.Value, false)
	if info == nil {
		return &core.TransactionInfo{}, nil
	}
	return info, nil
}

func (w *wallet) GetAccount(_ context.Context, in *core.Account) (*core.Account, error) {
	return w.d.account(in.Address), nil
}

// BroadcastTransaction takes a signed transaction (TRX, BTT, or a USDT
// transfer) and answers as java-tron does: a result, and a code and
// message when refused.
func (w *wallet) BroadcastTransaction(_ context.Context, tx *core.Transaction) (*api.Return, error) {
	tx = proto.Clone(tx).(*core.Transaction)
	if _, err := w.d.Broadcast(tx); err != nil {
		code := api.Return_OTHER_ERROR
		switch {
		case errors.Is(err, errSignature):
			code = api.Return_SIGERROR
		case errors.Is(err, errNoBalance), errors.Is(err, errBadTx), errors.Is(err, errNoContract):
			code = api.Return_CONTRACT_VALIDATE_ERROR
		}
		return &api.Return{Result: false, Code: code, Message: []byte(err.Error())}, nil
	}
	return &api.Return{Result: true, Code: api.Return_SUCCESS}, nil
}

func (s *solidity) GetNowBlock2(context.Context, *api.EmptyMessage) (*api.BlockExtention, error) {
	return s.d.now(true), nil
}

func (s *solidity) GetBlockByNum2(_ context.Context, in *api.NumberMessage) (*api.BlockExtention, error) {
	return s.d.blockAt(in.Num, true), nil
}

func (s *solidity) GetTransactionInfoById(_ context.Context, in *api.BytesMessage) (*core.TransactionInfo, error) {
	_, info := s.d.findTx(in.Value, true)
	if info == nil {
		return &core.TransactionInfo{}, nil
	}
	return info, nil
}

func (s *solidity) GetTransactionById(_ context.Context, in *api.BytesMessage) (*core.Transaction, error) {
	tx, _ := s.d.findTx(in.Value, true)
	if tx == nil {
		return &core.Transaction{}, nil
	}
	return tx, nil
}

func (s *solidity) GetAccount(_ context.Context, in *core.Account) (*core.Account, error) {
	return s.d.account(in.Address), nil
}
