package solana

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strconv"

	"github.com/mr-tron/base58"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/jsonscan"
)

// Errors of this package.
var ErrMalformed = errors.New("solana: malformed block")

// Program ids the extractor knows.
var (
	systemProgram  = [32]byte{}
	tokenProgram   = mustKey("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
	token2022      = mustKey("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
	voteProgram    = mustKey("Vote111111111111111111111111111111111111111")
	errShortInstr  = errors.New("short instruction")
	errUnsupported = errors.New("unsupported")
)

func mustKey(s string) [32]byte {
	b, err := base58.Decode(s)
	if err != nil || len(b) != 32 {
		panic(s)
	}
	return [32]byte(b)
}

// instr is one instruction: its program's account index, its accounts and
// its data, and its position.
type instr struct {
	program  int
	accounts []int
	data     []byte
	outer    int
	inner    int  // 1-based among its outer instruction's inner ones; 0 itself
	b58      bool // data is base58 text (JSON), not the wire's bytes
}

// tokenBalance is one entry of pre/postTokenBalances.
type tokenBalance struct {
	index  int // the account's index
	mint   []byte
	owner  []byte // nil where the block has none (old blocks)
	amount uint64 // SPL amounts are u64
}

// tokBalances are a transaction's pre or post token balances.
type tokBalances []tokenBalance

func (l tokBalances) get(i int) (tokenBalance, bool) {
	for _, b := range l {
		if b.index == i {
			return b, true
		}
	}
	return tokenBalance{}, false
}

// tx is one transaction as the extractor reads it.
type tx struct {
	sig      []byte
	keys     [][32]byte
	instrs   []instr
	failed   bool
	vote     bool
	fee      uint64
	pre      []uint64
	post     []uint64
	preTok   tokBalances
	postTok  tokBalances
	inflows  [256]uint8 // token transfers into each account (to tell a Token-2022 fee)
	haveMeta bool
	inner    []instr // meta's inner instructions, after the top-level ones once parsed
	acctBuf  []int   // the instructions' account indexes
	// addrs interns the block's addresses: its transfers name the same
	// mints, senders and programs over and over.
	addrs    map[[32]byte]chain.Address
	txRaw    []byte
	version  []byte
	loadedW  [][32]byte
	loadedRO [][32]byte
	srcs     []chain.Address // per SPL transfer made: its source token account
	wire     []byte
	// keyCache holds the block's base58 keys decoded so far: a block's
	// token balances name the same mints and owners over and over.
	keyCache map[string][]byte
}

// Lookup is a token account whose owner the block does not name (old
// blocks): the client asks the node for it and fills the transfer's To.
type Lookup struct {
	Transfer int // index in the block's transfers
	Account  chain.Address
}

// Mismatch is a watched owner whose parsed inflows and outflows in a
// transaction disagree with its balance change: a mint-to, a close-account
// refund or another path the rules do not parse. It is counted and logged;
// nothing is credited for it.
type Mismatch struct {
	Signature string
	Owner     chain.Address
	Mint      chain.Address // zero for SOL
	Parsed    *big.Int
	Delta     *big.Int
}

// Options tune an extraction.
type Options struct {
	// Watched says which owners to reconcile, by their 32 bytes (nil:
	// none). It is called for every account of every transaction, so it
	// must be cheap: the matcher's filter, then its exact set.
	Watched func(key []byte) bool
}

// Result is an extracted block.
type Result struct {
	Block *chain.Block
	// ParentSlot is the slot of the block's parent (previousBlockhash's).
	ParentSlot uint64
	Lookups    []Lookup
	Mismatches []Mismatch
}

// Extract reads a getBlock result (transactionDetails full; transactions
// encoded base64 or json) at a slot. The rules:
//   - a failed transaction (meta.err) or a vote transaction gives nothing;
//   - SOL: System Program transfer and transferWithSeed, top-level and
//     inner (CPI), to the destination account;
//   - SPL Token and Token-2022: transfer, transferChecked and
//     transferCheckedWithFee, top-level and inner, into a token account,
//     credited to its owner (from the token balances) for its mint. A
//     Token-2022 fee is taken out: the amount is what the account received.
//
// Accounts loaded from lookup tables are part of a transaction's account
// list, after its own.
func Extract(raw []byte, slot uint64, o Options) (*Result, error) {
	s := jsonscan.New(raw)
	out := &chain.Block{Ref: chain.BlockRef{Number: slot}}
	out.Transfers = make([]chain.Transfer, 0, 16+len(raw)/8192)
	res := &Result{Block: out}
	var t tx
	s.Object(func(key []byte) {
		switch string(key) {
		case "blockhash":
			out.Ref.Hash = hash32(s, "blockhash")
		case "previousBlockhash":
			out.Ref.Parent = hash32(s, "previousBlockhash")
		case "parentSlot":
			res.ParentSlot = s.Uint()
		case "blockTime":
			if !s.Null() {
				out.Ref.Time = s.Int()
			}
		case "transactions":
			s.Array(func() {
				t.reset()
				readTx(s, &t)
				if s.Err != nil {
					return
				}
				out.TxCount++
				if err := t.parse(); err != nil {
					s.Err = fmt.Errorf("%w: transaction %d: %v", ErrMalformed, out.TxCount-1, err)
					return
				}
				t.transfers(res, o)
			})
		default:
			s.Skip()
		}
	})
	if s.Err != nil {
		return nil, s.Err
	}
	if out.Ref.Hash.IsZero() {
		return nil, fmt.Errorf("%w: no blockhash", ErrMalformed)
	}
	return res, nil
}

func hash32(s *jsonscan.Scanner, what string) chain.Hash {
	v := s.Str()
	var h chain.Hash
	if s.Err != nil {
		return h
	}
	b, err := base58.Decode(string(v))
	if err != nil || len(b) != 32 {
		s.Fail(what + " is not base58 of 32 bytes")
		return h
	}
	copy(h[:], b)
	return h
}

// reset readies t for the next transaction, keeping its buffers and the
// block's cache of decoded keys.
func (t *tx) reset() {
	*t = tx{keys: t.keys[:0], instrs: t.instrs[:0], pre: t.pre[:0], post: t.post[:0], wire: t.wire[:0], srcs: t.srcs[:0], keyCache: t.keyCache,
		preTok: t.preTok[:0], postTok: t.postTok[:0], inner: t.inner[:0], acctBuf: t.acctBuf[:0], addrs: t.addrs}
}

// readTx reads a transaction's meta in the block's pass and keeps the
// transaction to read after it.
func readTx(s *jsonscan.Scanner, t *tx) {
	s.Object(func(key []byte) {
		switch string(key) {
		case "meta":
			t.readMeta(s)
		case "transaction":
			t.txRaw = s.Raw()
		case "version":
			t.version = s.Raw()
		default:
			s.Skip()
		}
	})
}

// parse reads the transaction, and its meta unless it is a vote.
func (t *tx) parse() error {
	if len(t.txRaw) == 0 || !t.haveMeta {
		return errors.New("no transaction or no meta")
	}
	if t.failed {
		return nil // gives nothing: not even decoded
	}
	var err error
	if t.txRaw[0] == '[' {
		err = t.parseBase64()
	} else {
		err = t.parseJSON()
	}
	if err != nil {
		return err
	}
	for _, in := range t.instrs {
		if in.program < len(t.keys) && t.keys[in.program] == voteProgram {
			t.vote = true
			return nil
		}
	}
	return t.parseMeta()
}

// parseBase64 reads ["<base64>", "base64"]: the wire transaction.
func (t *tx) parseBase64() error {
	s := jsonscan.New(t.txRaw)
	var b64 []byte
	n := 0
	s.Array(func() {
		v := s.Str()
		if n == 0 {
			b64 = v
		} else if string(v) != "base64" {
			s.Fail("transaction encoding is not base64")
		}
		n++
	})
	if s.Err != nil {
		return s.Err
	}
	if n := base64.StdEncoding.DecodedLen(len(b64)); cap(t.wire) < n {
		t.wire = make([]byte, n)
	}
	wire := t.wire[:cap(t.wire)]
	m, err := base64.StdEncoding.Decode(wire, b64)
	if err != nil {
		return err
	}
	return t.parseWire(wire[:m])
}

// wire reads Solana's compact wire format.
type wire struct {
	b   []byte
	err error
}

func (w *wire) shortvec() int {
	v, shift := 0, 0
	for i := 0; i < 3; i++ {
		if len(w.b) == 0 {
			w.err = errShortInstr
			return 0
		}
		c := w.b[0]
		w.b = w.b[1:]
		v |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
		shift += 7
	}
	w.err = errors.New("shortvec too long")
	return 0
}

func (w *wire) take(n int) []byte {
	if w.err != nil || n < 0 || len(w.b) < n {
		w.err = errShortInstr
		return nil
	}
	v := w.b[:n]
	w.b = w.b[n:]
	return v
}

func (t *tx) parseWire(b []byte) error {
	w := &wire{b: b}
	nsig := w.shortvec()
	sigs := w.take(64 * nsig)
	if w.err != nil || nsig == 0 {
		return errors.New("no signature")
	}
	t.sig = sigs[:64]
	versioned := len(w.b) > 0 && w.b[0]&0x80 != 0
	if versioned {
		if v := w.b[0] & 0x7f; v != 0 {
			return fmt.Errorf("%w: transaction version %d", errUnsupported, v)
		}
		w.take(1)
	}
	w.take(3) // header
	nkeys := w.shortvec()
	keys := w.take(32 * nkeys)
	if w.err != nil {
		return w.err
	}
	for i := 0; i < nkeys; i++ {
		t.keys = append(t.keys, [32]byte(keys[32*i:32*i+32]))
	}
	w.take(32) // recent blockhash
	ninstr := w.shortvec()
	for i := 0; i < ninstr && w.err == nil; i++ {
		p := w.take(1)
		if w.err != nil {
			break
		}
		na := w.shortvec()
		accs := w.take(na)
		nd := w.shortvec()
		data := w.take(nd)
		in := instr{program: int(p[0]), data: data, outer: i}
		start := len(t.acctBuf)
		for _, a := range accs {
			t.acctBuf = append(t.acctBuf, int(a))
		}
		in.accounts = t.acctBuf[start:len(t.acctBuf):len(t.acctBuf)]
		t.instrs = append(t.instrs, in)
	}
	return w.err // address table lookups follow in v0: meta.loadedAddresses names them
}

// parseJSON reads the json encoding: {signatures, message: {accountKeys,
// instructions, …}}.
func (t *tx) parseJSON() error {
	s := jsonscan.New(t.txRaw)
	s.Object(func(key []byte) {
		switch string(key) {
		case "signatures":
			n := 0
			s.Array(func() {
				v := s.Str()
				if n == 0 && s.Err == nil {
					b, err := base58.Decode(string(v))
					if err != nil || len(b) != 64 {
						s.Fail("signature is not base58 of 64 bytes")
						return
					}
					t.sig = b
				}
				n++
			})
		case "message":
			s.Object(func(key []byte) {
				switch string(key) {
				case "accountKeys":
					s.Array(func() {
						var v []byte
						if s.Peek() == '{' { // jsonParsed: {pubkey, signer, writable, source}
							s.Object(func(k []byte) {
								if string(k) == "pubkey" {
									v = s.Str()
								} else {
									s.Skip()
								}
							})
						} else {
							v = s.Str()
						}
						b, err := base58.Decode(string(v))
						if err != nil || len(b) != 32 {
							s.Fail("account key is not base58 of 32 bytes")
							return
						}
						t.keys = append(t.keys, [32]byte(b))
					})
				case "instructions":
					i := 0
					s.Array(func() {
						in, ok := t.readJSONInstr(s)
						in.outer = i
						if ok {
							t.instrs = append(t.instrs, in)
						}
						i++
					})
				default:
					s.Skip()
				}
			})
		default:
			s.Skip()
		}
	})
	if s.Err == nil && len(t.sig) == 0 {
		return errors.New("no signature")
	}
	return s.Err
}

// readJSONInstr reads {programIdIndex, accounts, data}. A jsonParsed
// instruction (with "parsed" or "programId" instead) is not read: the
// extractor asks for json or base64.
func (t *tx) readJSONInstr(s *jsonscan.Scanner) (instr, bool) {
	in := instr{program: -1}
	var data []byte
	start := len(t.acctBuf)
	s.Object(func(k []byte) {
		switch string(k) {
		case "programIdIndex":
			if in.program != -2 {
				in.program = int(s.Uint())
			} else {
				s.Skip()
			}
		case "accounts":
			s.Array(func() {
				if s.Peek() == '"' { // jsonParsed names accounts by key: not read
					s.Skip()
					in.program = -2
					return
				}
				t.acctBuf = append(t.acctBuf, int(s.Uint()))
			})
			in.accounts = t.acctBuf[start:len(t.acctBuf):len(t.acctBuf)]
		case "data":
			data = s.Str()
		default:
			s.Skip()
		}
	})
	if s.Err != nil || in.program < 0 {
		return in, false
	}
	in.data, in.b58 = data, true // base58, decoded when the program is one the rules read
	return in, true
}

// readMeta reads the meta in the block's own pass: err, fee, balances,
// token balances, inner instructions and loaded addresses.
func (t *tx) readMeta(s *jsonscan.Scanner) {
	if s.Null() {
		return
	}
	t.haveMeta = true
	s.Object(func(key []byte) {
		switch string(key) {
		case "err":
			t.failed = !s.Null()
			if t.failed {
				s.Skip()
			}
		case "fee":
			t.fee = s.Uint()
		case "preBalances":
			s.Array(func() { t.pre = append(t.pre, s.Uint()) })
		case "postBalances":
			s.Array(func() { t.post = append(t.post, s.Uint()) })
		case "innerInstructions":
			t.readInner(s)
		case "preTokenBalances":
			t.preTok = t.readTokenBalances(s, t.preTok[:0])
		case "postTokenBalances":
			t.postTok = t.readTokenBalances(s, t.postTok[:0])
		case "loadedAddresses":
			if s.Null() {
				return
			}
			s.Object(func(k []byte) {
				var dst *[][32]byte
				switch string(k) {
				case "writable":
					dst = &t.loadedW
				case "readonly":
					dst = &t.loadedRO
				default:
					s.Skip()
					return
				}
				s.Array(func() {
					b, err := base58.Decode(string(s.Str()))
					if err != nil || len(b) != 32 {
						s.Fail("loaded address is not base58 of 32 bytes")
						return
					}
					*dst = append(*dst, [32]byte(b))
				})
			})
		default:
			s.Skip()
		}
	})
}

// parseMeta reads what readMeta kept: the inner instructions, and the
// token balances where a token program is invoked.
func (t *tx) parseMeta() error {
	if t.failed {
		return nil
	}
	t.keys = append(append(t.keys, t.loadedW...), t.loadedRO...)
	t.instrs = append(t.instrs, t.inner...)
	return nil
}

// readInner reads meta.innerInstructions: each set's instructions, at
// their outer instruction's index, 1-based among its inner ones.
func (t *tx) readInner(s *jsonscan.Scanner) {
	if s.Null() {
		return
	}
	s.Array(func() {
		outer, first := -1, len(t.inner)
		s.Object(func(k []byte) {
			switch string(k) {
			case "index":
				outer = int(s.Uint())
			case "instructions":
				n := 0
				s.Array(func() {
					in, ok := t.readJSONInstr(s)
					n++
					if ok {
						in.inner = n
						t.inner = append(t.inner, in)
					}
				})
			default:
				s.Skip()
			}
		})
		if outer < 0 && s.Err == nil {
			s.Fail("inner instructions without an index")
		}
		for k := first; k < len(t.inner); k++ {
			t.inner[k].outer = outer
		}
	})
}

// dataOf returns an instruction's data: raw from the wire, base58 from
// JSON (inner instructions are JSON in every encoding), decoded once. Text
// whose length no transfer of program p can have is not decoded (nil):
// a token transfer's 9, 10 or 19 bytes are 12 to 26 base58 characters, a
// System transfer's 12 are 16 or 17, a transferWithSeed's 52 or more are
// over 70, and none of them starts with a zero byte.
func (t *tx) dataOf(in *instr, p [32]byte) ([]byte, error) {
	if in.b58 {
		n := len(in.data)
		// A leading '1' is a zero first byte: System's createAccount (tag
		// 0), never a transfer (2, 11), nor any token transfer (3, 12, 26).
		if n == 0 || in.data[0] == '1' || p == systemProgram && !(n >= 15 && n <= 18 || n >= 70) || p != systemProgram && (n < 12 || n > 27) {
			return nil, nil
		}
		d, err := base58.Decode(string(in.data))
		if err != nil {
			return nil, err
		}
		in.data, in.b58 = d, false
	}
	return in.data, nil
}

func (t *tx) program(in *instr) [32]byte {
	if in.program < 0 || in.program >= len(t.keys) {
		return [32]byte{0xff}
	}
	return t.keys[in.program]
}

func (t *tx) readTokenBalances(s *jsonscan.Scanner, out tokBalances) tokBalances {
	if s.Null() {
		return out
	}
	s.Array(func() {
		idx := -1
		var tb tokenBalance
		haveAmount := false
		s.Object(func(k []byte) {
			switch string(k) {
			case "accountIndex":
				idx = int(s.Uint())
			case "mint":
				tb.mint = t.decodeKey(s)
			case "owner":
				tb.owner = t.decodeKey(s)
			case "uiTokenAmount":
				s.Object(func(k []byte) {
					if string(k) == "amount" {
						v, err := strconv.ParseUint(string(s.Str()), 10, 64)
						if err != nil {
							s.Fail("token amount is not a u64")
							return
						}
						tb.amount, haveAmount = v, true
					} else {
						s.Skip()
					}
				})
			default:
				s.Skip()
			}
		})
		if idx >= 0 && haveAmount {
			tb.index = idx
			out = append(out, tb)
		}
	})
	return out
}

func (t *tx) decodeKey(s *jsonscan.Scanner) []byte {
	v := s.StrOrNull()
	if v == nil {
		return nil
	}
	if b, ok := t.keyCache[string(v)]; ok {
		return b
	}
	b, err := base58.Decode(string(v))
	if err != nil || len(b) != 32 {
		s.Fail("key is not base58 of 32 bytes")
		return nil
	}
	if t.keyCache == nil {
		t.keyCache = make(map[string][]byte, 512)
	}
	t.keyCache[string(v)] = b
	return b
}

// transfers appends the transaction's transfers to res, reconciling the
// watched owners'.
func (t *tx) transfers(res *Result, o Options) {
	if t.failed || t.vote {
		return
	}
	first := len(res.Block.Transfers)
	var sig []byte
	t.srcs = t.srcs[:0]
	// Inflows into each token account, to tell a Token-2022 fee.
	clear(t.inflows[:])
	for i := range t.instrs {
		in := &t.instrs[i]
		p := t.program(in)
		if p != tokenProgram && p != token2022 {
			continue
		}
		data, err := t.dataOf(in, p)
		if err != nil || len(data) == 0 {
			continue
		}
		if dst, ok := tokenDest(data, in.accounts); ok {
			if dst >= 0 && dst < len(t.inflows) && t.inflows[dst] < 255 {
				t.inflows[dst]++
			}
		}
	}
	for i := range t.instrs {
		in := &t.instrs[i]
		p := t.program(in)
		switch p {
		case systemProgram, tokenProgram, token2022:
		default:
			continue
		}
		data, err := t.dataOf(in, p)
		if err != nil || len(data) == 0 {
			continue
		}
		var tr chain.Transfer
		var ok bool
		if p == systemProgram {
			tr, ok = t.solTransfer(in, data)
		} else {
			tr, ok = t.tokenTransfer(in, data, p == token2022, res)
		}
		if ok {
			if sig == nil {
				sig = bytes.Clone(t.sig) // t.sig lies in the reused wire buffer
			}
			tr.TxHash, tr.Index = sig, chain.SolanaIndex(in.outer, in.inner)
			res.Block.Transfers = append(res.Block.Transfers, tr)
			src := chain.Address{}
			if p != systemProgram {
				src, _ = t.acct(in, 0)
			}
			t.srcs = append(t.srcs, src)
		}
	}
	if o.Watched != nil {
		res.Mismatches = append(res.Mismatches, t.reconcile(res.Block.Transfers[first:], o.Watched)...)
	}
}

func (t *tx) key(i int) (chain.Address, bool) {
	if i < 0 || i >= len(t.keys) {
		return chain.Address{}, false
	}
	k := t.keys[i]
	return t.addr(k[:]), true
}

// addr is the Solana address of 32 bytes, interned for the block.
func (t *tx) addr(b []byte) chain.Address {
	k := [32]byte(b)
	if a, ok := t.addrs[k]; ok {
		return a
	}
	if t.addrs == nil {
		t.addrs = make(map[[32]byte]chain.Address, 512)
	}
	a := chain.MustAddress(chain.FamilySolana, b)
	t.addrs[k] = a
	return a
}

func (t *tx) acct(in *instr, n int) (chain.Address, bool) {
	if n >= len(in.accounts) {
		return chain.Address{}, false
	}
	return t.key(in.accounts[n])
}

// solTransfer reads a System Program transfer (2) or transferWithSeed (11).
func (t *tx) solTransfer(in *instr, data []byte) (chain.Transfer, bool) {
	if len(data) < 12 {
		return chain.Transfer{}, false
	}
	lamports := binary.LittleEndian.Uint64(data[4:12])
	var fromN, toN int
	switch binary.LittleEndian.Uint32(data[:4]) {
	case 2: // Transfer {lamports}: [from, to]
		fromN, toN = 0, 1
	case 11: // TransferWithSeed {lamports, from_seed, from_owner}: [from, base, to]
		fromN, toN = 0, 2
	default:
		return chain.Transfer{}, false
	}
	from, ok1 := t.acct(in, fromN)
	to, ok2 := t.acct(in, toN)
	if !ok1 || !ok2 {
		return chain.Transfer{}, false
	}
	return chain.Transfer{Kind: chain.KindNative, From: from, To: to, Value: chain.AmountFromUint64(lamports)}, true
}

// tokenDest returns the destination account index of a token transfer.
func tokenDest(data []byte, accounts []int) (int, bool) {
	switch {
	case data[0] == 3 && len(accounts) >= 3: // Transfer: [source, destination, authority]
		return accounts[1], true
	case data[0] == 12 && len(accounts) >= 4: // TransferChecked: [source, mint, destination, authority]
		return accounts[2], true
	case data[0] == 26 && len(data) > 1 && data[1] == 1 && len(accounts) >= 4: // TransferCheckedWithFee
		return accounts[2], true
	}
	return 0, false
}

// tokenTransfer reads an SPL Token or Token-2022 transfer (3),
// transferChecked (12) or Token-2022's transferCheckedWithFee (26, 1).
func (t *tx) tokenTransfer(in *instr, data []byte, is2022 bool, res *Result) (chain.Transfer, bool) {
	var amount, fee uint64
	var src, dst, mintN int
	mintN = -1
	switch {
	case data[0] == 3 && len(data) >= 9 && len(in.accounts) >= 3:
		amount, src, dst = binary.LittleEndian.Uint64(data[1:9]), in.accounts[0], in.accounts[1]
	case data[0] == 12 && len(data) >= 10 && len(in.accounts) >= 4:
		amount, src, mintN, dst = binary.LittleEndian.Uint64(data[1:9]), in.accounts[0], in.accounts[1], in.accounts[2]
	case is2022 && data[0] == 26 && len(data) >= 19 && data[1] == 1 && len(in.accounts) >= 4:
		amount, fee = binary.LittleEndian.Uint64(data[2:10]), binary.LittleEndian.Uint64(data[11:19])
		src, mintN, dst = in.accounts[0], in.accounts[1], in.accounts[2]
	default:
		return chain.Transfer{}, false
	}
	account, ok := t.key(dst)
	if !ok {
		return chain.Transfer{}, false
	}
	tr := chain.Transfer{Kind: chain.KindSPL, TokenAccount: account}
	post, hasPost := t.postTok.get(dst)
	pre, hasPre := t.preTok.get(dst)
	bal := post
	if !hasPost {
		bal = pre
	}
	switch {
	case bal.mint != nil:
		tr.Token = t.addr(bal.mint)
	case mintN >= 0:
		tr.Token, _ = t.key(mintN)
	default:
		return chain.Transfer{}, false // no way to tell the mint
	}
	if bal.owner != nil {
		tr.To = t.addr(bal.owner)
	} else {
		res.Lookups = append(res.Lookups, Lookup{Transfer: len(res.Block.Transfers), Account: account})
	}
	if sb, ok := t.postTok.get(src); ok && sb.owner != nil {
		tr.From = t.addr(sb.owner)
	} else if sb, ok := t.preTok.get(src); ok && sb.owner != nil {
		tr.From = t.addr(sb.owner)
	} else {
		tr.From, _ = t.acct(in, len(in.accounts)-1) // the authority
	}
	received := amount - min(fee, amount)
	if is2022 && fee == 0 && dst < len(t.inflows) && t.inflows[dst] == 1 && hasPost {
		// A fee the instruction does not name (transferChecked on a mint
		// with the transfer-fee extension) shows in what the account got.
		before := uint64(0)
		if hasPre {
			before = pre.amount
		}
		if post.amount >= before && post.amount-before <= amount {
			received = post.amount - before
		}
	}
	tr.Value = chain.AmountFromUint64(received)
	return tr, true
}

// reconcile compares, for each watched owner in the transaction, the
// parsed net flows with its balance changes: the lamports of its own
// account (less the fee if it paid it), and the amount of each token
// account it owns. An owner is in the transaction when its account is in
// the account list or the token balances name it as an owner, so a
// mint-to or a close-account refund, which the rules do not parse, shows
// as a mismatch even where the transaction gives no transfer.
func (t *tx) reconcile(trs []chain.Transfer, watched func([]byte) bool) []Mismatch {
	var solCand []int // account indexes
	for i := range t.keys {
		if watched(t.keys[i][:]) {
			solCand = append(solCand, i)
		}
	}
	var tokCand map[int]tokenBalance // token account index -> a balance naming its owner
	for _, l := range []tokBalances{t.preTok, t.postTok} {
		for _, b := range l {
			if b.owner != nil && b.mint != nil && watched(b.owner) {
				if tokCand == nil {
					tokCand = map[int]tokenBalance{}
				}
				tokCand[b.index] = b
			}
		}
	}
	if len(solCand) == 0 && len(tokCand) == 0 {
		return nil
	}
	// Parsed net flows, by account (SOL) and by token account.
	solNet := map[string]*big.Int{}
	tokNet := map[string]*big.Int{}
	add := func(m map[string]*big.Int, a string, v *big.Int, sign int) {
		if m[a] == nil {
			m[a] = new(big.Int)
		}
		if sign > 0 {
			m[a].Add(m[a], v)
		} else {
			m[a].Sub(m[a], v)
		}
	}
	for j, tr := range trs {
		v := tr.Value.Big()
		if tr.Kind == chain.KindNative {
			add(solNet, tr.To.Raw(), v, 1)
			add(solNet, tr.From.Raw(), v, -1)
			continue
		}
		add(tokNet, tr.TokenAccount.Raw(), v, 1)
		if src := t.srcs[j]; !src.IsZero() {
			// What left the source: with a Token-2022 fee, more than what
			// arrived.
			add(tokNet, src.Raw(), v, -1)
		}
	}
	var out []Mismatch
	sig := ""
	mismatch := func(m Mismatch) {
		if sig == "" {
			sig = base58.Encode(t.sig)
		}
		m.Signature = sig
		out = append(out, m)
	}
	for _, i := range solCand {
		if i >= len(t.pre) || i >= len(t.post) {
			continue
		}
		delta := new(big.Int).Sub(new(big.Int).SetUint64(t.post[i]), new(big.Int).SetUint64(t.pre[i]))
		if i == 0 {
			delta.Add(delta, new(big.Int).SetUint64(t.fee)) // the fee payer
		}
		parsed := solNet[string(t.keys[i][:])]
		if parsed == nil {
			parsed = new(big.Int)
		}
		if delta.Cmp(parsed) != 0 {
			mismatch(Mismatch{Owner: chain.MustAddress(chain.FamilySolana, t.keys[i][:]), Parsed: parsed, Delta: delta})
		}
	}
	for i, b := range tokCand {
		if i >= len(t.keys) {
			continue
		}
		before, after := new(big.Int), new(big.Int)
		if pb, ok := t.preTok.get(i); ok {
			before.SetUint64(pb.amount)
		}
		if pb, ok := t.postTok.get(i); ok {
			after.SetUint64(pb.amount)
		}
		delta := new(big.Int).Sub(after, before)
		parsed := tokNet[string(t.keys[i][:])]
		if parsed == nil {
			parsed = new(big.Int)
		}
		if delta.Cmp(parsed) != 0 {
			mismatch(Mismatch{Owner: chain.MustAddress(chain.FamilySolana, b.owner), Mint: chain.MustAddress(chain.FamilySolana, b.mint),
				Parsed: parsed, Delta: delta})
		}
	}
	return out
}
