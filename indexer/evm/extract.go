package evm

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/jsonscan"
)

// transferTopic is keccak256("Transfer(address,address,uint256)").
var transferTopic = [32]byte{
	0xdd, 0xf2, 0x52, 0xad, 0x1b, 0xe2, 0xc8, 0x9b, 0x69, 0xc2, 0xb0, 0x68, 0xfc, 0x37, 0x8d, 0xaa,
	0x95, 0x2b, 0xa7, 0xf1, 0x63, 0xc4, 0xa1, 0x16, 0x28, 0xf5, 0x5a, 0x4d, 0xf5, 0x23, 0xb3, 0xef,
}

// ErrInconsistent means the block and its receipts do not belong together:
// usually a reorg landed between the two requests. Fetch both again.
var ErrInconsistent = errors.New("evm: block and receipts disagree")

type txInfo struct {
	hash  [32]byte
	from  [20]byte
	to    [20]byte
	hasTo bool
	value [32]byte
}

type receiptInfo struct {
	txHash [32]byte
	failed bool
}

// Extractor turns eth_getBlockByNumber(n, true) and eth_getBlockReceipts
// results into transfers. It reuses its buffers between calls, so one
// Extractor must not be used by two goroutines at once.
//
// The rules:
//   - native: the top-level value of a transaction with a recipient, value > 0
//     and a successful receipt. A receipt with no status (pre-Byzantium) counts
//     as successful. Internal (trace) transfers are not seen.
//   - ERC20: a log whose first topic is Transfer(address,address,uint256), with
//     exactly 3 topics and exactly 32 bytes of data: from and to are the low 20
//     bytes of topics 1 and 2, the value is the data. ERC721 (4 topics) and
//     other shapes are not transfers. Logs marked removed are ignored.
type Extractor struct {
	txs    []txInfo
	topics [][]byte // the raw topics of the log being read (they alias the answer until it ends)
}

// Extract parses one block and its receipts. receipts is the JSON array of
// receipts in transaction order.
func (x *Extractor) Extract(block, receipts []byte) (*chain.Block, error) {
	out := &chain.Block{}
	if err := x.extract(block, receipts, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (x *Extractor) extract(block, receipts []byte, out *chain.Block) error {
	ref, err := x.parseBlock(block)
	if err != nil {
		return err
	}
	out.Ref = ref
	out.TxCount = len(x.txs)
	out.Transfers = out.Transfers[:0]
	s := jsonscan.Scanner{B: receipts}
	return x.receiptsFrom(&s, out)
}

// receiptsFrom reads the block's receipts (the array at s) after
// parseBlockFrom read the block into out.Ref and x.txs.
func (x *Extractor) receiptsFrom(s *jsonscan.Scanner, out *chain.Block) error {
	ref := out.Ref
	ri := 0
	s.Array(func() {
		rec, tstart := x.parseReceipt(s, ref, out)
		if s.Err != nil {
			return
		}
		// Native value first, so output is in block order.
		if ri < len(x.txs) {
			tx := &x.txs[ri]
			if tx.hash != rec.txHash {
				s.Err = fmt.Errorf("%w: receipt %d is for tx %x, block has %x", ErrInconsistent, ri, rec.txHash, tx.hash)
				return
			}
			if tx.hasTo && tx.value != ([32]byte{}) && !rec.failed {
				out.Transfers = append(out.Transfers, chain.Transfer{})
				copy(out.Transfers[tstart+1:], out.Transfers[tstart:])
				v, _ := chain.AmountFromBytes(tx.value[:])
				out.Transfers[tstart] = chain.Transfer{
					TxHash: append([]byte(nil), tx.hash[:]...),
					Index:  chain.IndexNative,
					Kind:   chain.KindNative,
					From:   chain.EVMAddress(tx.from),
					To:     chain.EVMAddress(tx.to),
					Value:  v,
				}
			}
		}
		ri++
	})
	if s.Err != nil {
		return fmt.Errorf("receipts of block %d: %w", ref.Number, s.Err)
	}
	if ri != len(x.txs) {
		return fmt.Errorf("%w: block %d has %d transactions and %d receipts", ErrInconsistent, ref.Number, len(x.txs), ri)
	}
	return nil
}

// headerFields collects the block reference from a block or header object.
type headerFields struct {
	ref               chain.BlockRef
	num, hash, parent bool
}

// field consumes key's value if it is a header field and reports whether it was.
func (h *headerFields) field(s *jsonscan.Scanner, key []byte) bool {
	switch string(key) {
	case "number":
		h.ref.Number, h.num = quantity(s.Str())
	case "hash":
		h.hash = fixedHex(h.ref.Hash[:], s.Str())
	case "parentHash":
		h.parent = fixedHex(h.ref.Parent[:], s.Str())
	case "timestamp":
		t, ok := quantity(s.Str())
		if !ok || t > 1<<62 {
			s.Fail("bad timestamp")
		}
		h.ref.Time = int64(t)
	default:
		return false
	}
	return true
}

func (h *headerFields) result(s *jsonscan.Scanner, what string) (chain.BlockRef, error) {
	if s.Err != nil {
		return h.ref, fmt.Errorf("%s: %w", what, s.Err)
	}
	if !h.num || !h.hash || !h.parent {
		return h.ref, fmt.Errorf("%s: %w: number, hash or parentHash missing", what, jsonscan.ErrSyntax)
	}
	return h.ref, nil
}

// parseHeader reads a block object's reference, skipping everything else.
func parseHeader(raw []byte) (chain.BlockRef, error) {
	var h headerFields
	s := jsonscan.Scanner{B: raw}
	s.Object(func(key []byte) {
		if !h.field(&s, key) {
			s.Skip()
		}
	})
	return h.result(&s, "header")
}

func (x *Extractor) parseBlock(b []byte) (chain.BlockRef, error) {
	s := jsonscan.Scanner{B: b}
	return x.parseBlockFrom(&s)
}

// parseBlockFrom reads the block object at s into x.txs and its reference,
// leaving s after it.
func (x *Extractor) parseBlockFrom(s *jsonscan.Scanner) (chain.BlockRef, error) {
	var h headerFields
	x.txs = x.txs[:0]
	if s.Null() {
		return h.ref, ErrNotFound
	}
	s.Object(func(key []byte) {
		if h.field(s, key) {
			return
		}
		if string(key) != "transactions" {
			s.Skip()
			return
		}
		s.Array(func() {
			if s.Peek() == '"' {
				s.Fail("block was fetched without full transactions")
				return
			}
			x.txs = append(x.txs, txInfo{})
			tx := &x.txs[len(x.txs)-1]
			s.Object(func(key []byte) {
				switch string(key) {
				case "hash":
					if !fixedHex(tx.hash[:], s.Str()) {
						s.Fail("bad transaction hash")
					}
				case "from":
					if !fixedHex(tx.from[:], s.Str()) {
						s.Fail("bad transaction sender")
					}
				case "to":
					if to := s.StrOrNull(); to != nil {
						if !fixedHex(tx.to[:], to) {
							s.Fail("bad transaction recipient")
						}
						tx.hasTo = true
					}
				case "value":
					if !word256(&tx.value, s.Str()) {
						s.Fail("bad transaction value")
					}
				default:
					s.Skip()
				}
			})
		})
	})
	return h.result(s, "block")
}

// parseReceipt reads one receipt, appending its ERC20 transfers to out. It
// returns the receipt and the index in out.Transfers where its transfers begin.
func (x *Extractor) parseReceipt(s *jsonscan.Scanner, ref chain.BlockRef, out *chain.Block) (receiptInfo, int) {
	var rec receiptInfo
	start := len(out.Transfers)
	var haveTx bool
	s.Object(func(key []byte) {
		switch string(key) {
		case "transactionHash":
			haveTx = fixedHex(rec.txHash[:], s.Str())
		case "blockHash":
			var h chain.Hash
			if v := s.StrOrNull(); v != nil && fixedHex(h[:], v) && h != ref.Hash {
				s.Err = fmt.Errorf("%w: receipt of block %s, want %s", ErrInconsistent, h.Hex(), ref.Hash.Hex())
				s.Pos = len(s.B)
			}
		case "status":
			if v := s.StrOrNull(); v != nil {
				st, ok := quantity(v)
				if !ok {
					s.Fail("bad receipt status")
				}
				rec.failed = st == 0
			}
		case "logs":
			s.Array(func() { x.parseLog(s, out) })
		default:
			s.Skip()
		}
	})
	if s.Err == nil && !haveTx {
		s.Fail("receipt without transactionHash")
	}
	if rec.failed {
		// A failed transaction has no logs; drop any a node reported anyway.
		out.Transfers = out.Transfers[:start]
	}
	for i := start; i < len(out.Transfers); i++ {
		out.Transfers[i].TxHash = append([]byte(nil), rec.txHash[:]...)
	}
	return rec, start
}

func (x *Extractor) parseLog(s *jsonscan.Scanner, out *chain.Block) {
	var (
		addr     [20]byte
		data     [32]byte
		dataOK   bool
		logIndex uint64
		haveIdx  bool
		removed  bool
	)
	// Topics and data are decoded only for a log that can be a transfer
	// (three topics, the first Transfer's): most logs are not.
	x.topics = x.topics[:0]
	defer func() { clear(x.topics) }()
	var rawData []byte
	s.Object(func(key []byte) {
		switch string(key) {
		case "address":
			if !fixedHex(addr[:], s.Str()) {
				s.Fail("bad log address")
			}
		case "topics":
			s.Array(func() { x.topics = append(x.topics, s.Str()) })
		case "data":
			rawData = s.Str()
		case "logIndex":
			logIndex, haveIdx = quantity(s.Str())
		case "removed":
			removed = s.Peek() == 't'
			s.Skip()
		default:
			s.Skip()
		}
	})
	if s.Err != nil || removed || len(x.topics) != 3 {
		return
	}
	var topics [3][32]byte
	for i, t := range x.topics {
		if !fixedHex(topics[i][:], t) || i == 0 && topics[0] != transferTopic {
			return
		}
	}
	// Exactly 32 bytes: "0x" and 64 hex digits.
	dataOK = len(rawData) == 66 && fixedHex(data[:], rawData)
	if !dataOK {
		return
	}
	if !haveIdx || logIndex > uint64(^uint32(0)-1) {
		s.Fail("Transfer log without a usable logIndex")
		return
	}
	var from, to [20]byte
	copy(from[:], topics[1][12:])
	copy(to[:], topics[2][12:])
	v, _ := chain.AmountFromBytes(bytes.TrimLeft(data[:], "\x00"))
	out.Transfers = append(out.Transfers, chain.Transfer{
		Index: uint32(logIndex),
		Kind:  chain.KindERC20,
		Token: chain.EVMAddress(addr),
		From:  chain.EVMAddress(from),
		To:    chain.EVMAddress(to),
		Value: v,
	})
}
