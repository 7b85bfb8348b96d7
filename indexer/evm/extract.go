package evm

import (
	"bytes"
	"encoding/binary"
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

// txInfo is what the receipts' pass needs of a transaction. The raw fields
// alias the answer being read: they are valid until the extraction ends,
// and decoded only for a transaction that is a native transfer (most are
// not: decoding every sender and recipient was a tenth of a rescan's CPU).
type txInfo struct {
	hash    [32]byte
	hashHex []byte // the hash as sent, to match the receipt's without decoding it
	from    []byte // 0x and 40 hex digits
	to      []byte // the same, or nil without a recipient
	value   [32]byte
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
	txs      []txInfo
	blockHex []byte   // the block's hash as sent (it aliases the answer until the extraction ends)
	topics   [][]byte // the raw topics of the log being read (the same)
	// A rescan's reading of recipients only (recipients.go).
	addrs [][20]byte
	keys  [][]byte
}

// release drops the extractor's views of the answer it read, so that a
// pooled extractor does not keep an answer's buffer alive.
func (x *Extractor) release() {
	for i := range x.txs {
		x.txs[i].hashHex, x.txs[i].from, x.txs[i].to = nil, nil, nil
	}
	clear(x.topics)
	x.blockHex = nil
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
	defer x.release()
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
	if !s.Null() {
		for more := s.Enter('['); more; more = s.More(']') {
			var tx *txInfo
			if ri < len(x.txs) {
				tx = &x.txs[ri]
			}
			rec, tstart := x.parseReceipt(s, ref, tx, out)
			if s.Err != nil {
				break
			}
			ri++
			if tx == nil {
				continue
			}
			if tx.hash != rec.txHash {
				s.Err = fmt.Errorf("%w: receipt %d is for tx %x, block has %x", ErrInconsistent, ri-1, rec.txHash, tx.hash)
				break
			}
			// Native value first, so output is in block order.
			if tx.to != nil && tx.value != ([32]byte{}) && !rec.failed {
				var from, to [20]byte
				if !fixedHex(from[:], tx.from) {
					s.Fail("bad transaction sender")
					break
				}
				if !fixedHex(to[:], tx.to) {
					s.Fail("bad transaction recipient")
					break
				}
				out.Transfers = append(out.Transfers, chain.Transfer{})
				copy(out.Transfers[tstart+1:], out.Transfers[tstart:])
				v, _ := chain.AmountFromBytes(tx.value[:])
				out.Transfers[tstart] = chain.Transfer{
					TxHash: append([]byte(nil), tx.hash[:]...),
					Index:  chain.IndexNative,
					Kind:   chain.KindNative,
					From:   chain.EVMAddress(from),
					To:     chain.EVMAddress(to),
					Value:  v,
				}
			}
		}
	}
	if s.Err != nil {
		return fmt.Errorf("receipts of block %d: %w", ref.Number, s.Err)
	}
	if ri != len(x.txs) {
		return fmt.Errorf("%w: block %d has %d transactions and %d receipts", ErrInconsistent, ref.Number, len(x.txs), ri)
	}
	return nil
}

// addrHex says b can be an address: 0x and 40 digits (which are checked
// where the address is decoded, if it is).
func addrHex(b []byte) bool {
	h, ok := trim0x(b)
	return ok && len(h) == 40
}

// headerFields collects the block reference from a block or header object.
type headerFields struct {
	ref               chain.BlockRef
	hashHex           []byte // the hash as sent
	num, hash, parent bool
	time              bool // timestamp seen (the extractor does not require it)
}

// field consumes key's value if it is a header field and reports whether it was.
func (h *headerFields) field(s *jsonscan.Scanner, key []byte) bool {
	switch string(key) {
	case "number":
		h.ref.Number, h.num = quantity(s.Str())
	case "hash":
		h.hashHex = s.Str()
		h.hash = fixedHex(h.ref.Hash[:], h.hashHex)
	case "parentHash":
		h.parent = fixedHex(h.ref.Parent[:], s.Str())
	case "timestamp":
		t, ok := quantity(s.Str())
		if !ok || t > 1<<62 {
			s.Fail("bad timestamp")
		}
		h.ref.Time, h.time = int64(t), true
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
	for more := s.Enter('{'); more; more = s.More('}') {
		if key := s.Key(); !h.field(&s, key) {
			s.Skip()
		}
	}
	return h.result(&s, "header")
}

func (x *Extractor) parseBlock(b []byte) (chain.BlockRef, error) {
	s := jsonscan.Scanner{B: b}
	return x.parseBlockFrom(&s)
}

// parseBlockFrom reads the block object at s into x.txs and its reference,
// leaving s after it. The containers are walked with Enter and More, not
// Object's closures: a call per member was a fifth of the scan.
func (x *Extractor) parseBlockFrom(s *jsonscan.Scanner) (chain.BlockRef, error) {
	var h headerFields
	x.txs = x.txs[:0]
	if s.Null() {
		return h.ref, ErrNotFound
	}
	for more := s.Enter('{'); more; more = s.More('}') {
		key := s.Key()
		if h.field(s, key) {
			continue
		}
		if string(key) != "transactions" || s.Null() {
			s.Skip()
			continue
		}
		for more := s.Enter('['); more; more = s.More(']') {
			if s.Peek() == '"' {
				s.Fail("block was fetched without full transactions")
				break
			}
			x.txs = append(x.txs, txInfo{})
			tx := &x.txs[len(x.txs)-1]
			x.parseTx(s, tx)
		}
	}
	x.blockHex = h.hashHex
	return h.result(s, "block")
}

func (x *Extractor) parseTx(s *jsonscan.Scanner, tx *txInfo) {
	for more := s.Enter('{'); more; more = s.More('}') {
		switch string(s.Key()) {
		case "hash":
			tx.hashHex = s.Str()
			if !fixedHex(tx.hash[:], tx.hashHex) {
				s.Fail("bad transaction hash")
			}
		case "from":
			if tx.from = s.Str(); !addrHex(tx.from) {
				s.Fail("bad transaction sender")
			}
		case "to":
			if tx.to = s.StrOrNull(); tx.to != nil && !addrHex(tx.to) {
				s.Fail("bad transaction recipient")
			}
		case "value":
			if !word256(&tx.value, s.Str()) {
				s.Fail("bad transaction value")
			}
		default:
			s.Skip()
		}
	}
}

// parseReceipt reads one receipt, appending its ERC20 transfers to out. It
// returns the receipt and the index in out.Transfers where its transfers
// begin. tx is the block's transaction at the receipt's place, if any: a
// transaction hash sent as it is there is not decoded again.
func (x *Extractor) parseReceipt(s *jsonscan.Scanner, ref chain.BlockRef, tx *txInfo, out *chain.Block) (receiptInfo, int) {
	var rec receiptInfo
	start := len(out.Transfers)
	var haveTx bool
	for more := s.Enter('{'); more; more = s.More('}') {
		switch string(s.Key()) {
		case "transactionHash":
			if raw := s.Str(); tx != nil && len(raw) > 0 && bytes.Equal(raw, tx.hashHex) {
				rec.txHash, haveTx = tx.hash, true
			} else {
				haveTx = fixedHex(rec.txHash[:], raw)
			}
		case "blockHash":
			var h chain.Hash
			if v := s.StrOrNull(); v != nil && !bytes.Equal(v, x.blockHex) && fixedHex(h[:], v) && h != ref.Hash {
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
			if s.Null() {
				break
			}
			for more := s.Enter('['); more; more = s.More(']') {
				x.parseLog(s, out)
			}
		default:
			s.Skip()
		}
	}
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

// transferTopicHex is transferTopic as nodes send it.
var transferTopicHex = []byte("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")

// transferTopicWord is transferTopicHex's first eight digits as one word.
var transferTopicWord = binary.LittleEndian.Uint64(transferTopicHex[2:10])

// isTransferTopic says whether the raw topic is transferTopic, in any case.
func isTransferTopic(raw []byte) bool {
	if len(raw) != 66 {
		return false
	}
	// Another event's topic, most often: its first eight digits, folded to
	// lower case in one word (a digit is unchanged by the fold, and every
	// spelling of Transfer's folds to its own), decide most.
	if binary.LittleEndian.Uint64(raw[2:10])|0x2020202020202020 != transferTopicWord {
		return false
	}
	if bytes.Equal(raw, transferTopicHex) {
		return true
	}
	var t [32]byte
	return fixedHex(t[:], raw) && t == transferTopic
}

func (x *Extractor) parseLog(s *jsonscan.Scanner, out *chain.Block) {
	var (
		addrRaw  []byte
		rawData  []byte
		logIndex uint64
		haveIdx  bool
		removed  bool
	)
	// Topics, data and the address are decoded only for a log that can be
	// a transfer (three topics, the first Transfer's): most logs are not.
	x.topics = x.topics[:0]
	for more := s.Enter('{'); more; more = s.More('}') {
		switch string(s.Key()) {
		case "address":
			if addrRaw = s.Str(); !addrHex(addrRaw) {
				s.Fail("bad log address")
			}
		case "topics":
			if s.Null() {
				break
			}
			for more := s.Enter('['); more; more = s.More(']') {
				x.topics = append(x.topics, s.Str())
			}
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
	}
	// Exactly 32 bytes of data: "0x" and 64 hex digits.
	if s.Err != nil || removed || len(x.topics) != 3 || len(rawData) != 66 || !isTransferTopic(x.topics[0]) {
		return
	}
	var addr, from, to [20]byte
	var topic [32]byte
	var data [32]byte
	if !fixedHex(topic[:], x.topics[1]) {
		return
	}
	copy(from[:], topic[12:])
	if !fixedHex(topic[:], x.topics[2]) {
		return
	}
	copy(to[:], topic[12:])
	if !fixedHex(data[:], rawData) {
		return
	}
	if !fixedHex(addr[:], addrRaw) {
		s.Fail("bad log address")
		return
	}
	if !haveIdx || logIndex > uint64(^uint32(0)-1) {
		s.Fail("Transfer log without a usable logIndex")
		return
	}
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
