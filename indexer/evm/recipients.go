package evm

import (
	"bytes"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/jsonscan"
)

// recipients reads, from the batch answer b for block n, only what decides
// whether the block can credit anyone: its reference, and every address it
// could credit, each transaction's recipient and the third topic of each
// log whose first topic is Transfer's. A rescan asks its matcher about
// them, and reads the block in full (extractInPlace) only when one is
// watched: most blocks hold none of the addresses a rescan looks for, and
// extracting them was three quarters of its CPU (go run ./bench backfill).
//
// It does not walk the answer's structure. In the block it hops from one
// 'o' to the next with IndexByte ('o' is no hex digit and in none of the
// literals, so it lands only in keys, a few times a transaction) and reads
// each "to" where it lands, up to the "jsonrpc" of the receipts' answer. In
// the receipts it hops from one 'p' to the next (in "topics", once a log,
// and in "type") and counts the receipts by their one 'A' (in
// "contractAddress"). What makes that sound:
//   - Every key the extractor would read as "to" or "topics" is those bytes
//     in the answer, opening quote to closing quote (jsonscan keeps escapes
//     as they are), so none is missed, and the value after it is the one the
//     extractor reads. The addresses found are a superset of the recipients
//     the extractor would emit: failed transactions, removed logs, zero
//     values and logs with other data are in it.
//   - The receipts' answer begins at the first "jsonrpc" after the block's
//     transactions with "}},{" before it, and no "jsonrpc" follows in the
//     receipts (a 'p' is in it): a block that imitates that header inside
//     a transaction is refused, for the real one follows. (An answer whose
//     receipts' part had no "jsonrpc" member, which JSON-RPC 2.0 requires,
//     could hide the transactions after such an imitation; the extractor
//     would read them. A node that lies can hide a transfer from both.)
//   - The answer must have the usual shape, checked where it is cheap: the
//     block's answer (id 1) first and an object with number, hash,
//     parentHash and timestamp before its transactions, the receipts' (id 2)
//     an array, nothing after it; as many receipts (each has one
//     "contractAddress") as transactions (each has one "to"), and the first
//     blockHash in the receipts this block's (the array is one call's
//     answer, for one block; the extraction checks each receipt's).
//     An answer otherwise shaped, an escaped quote where a value is read, a
//     recipient that is not 20 bytes of hex, or a block fetched without full
//     transactions returns ok false: the caller reads the answer in full,
//     which gives the block or the error.
//
// addrs is appended to (its backing array is reused) and returned.
func (x *Extractor) recipients(b []byte, n uint64, addrs [][20]byte) (ref chain.BlockRef, txs int, out [][20]byte, ok bool) {
	defer x.release()
	out = addrs[:0]
	s := jsonscan.Scanner{B: b}
	if !s.Expect('[') || !answerHeader(&s, 1, '{') {
		return ref, 0, out, false
	}
	var h headerFields
	inTxs := false
	for more := s.Enter('{'); more; more = s.More('}') {
		key := s.Key()
		if h.field(&s, key) {
			continue
		}
		if string(key) == "transactions" {
			inTxs = true
			break
		}
		s.Skip()
	}
	if s.Err != nil || !inTxs || !h.num || !h.hash || !h.parent || !h.time || h.ref.Number != n || s.Peek() != '[' {
		return ref, 0, out, false
	}
	ref = h.ref
	// The transactions' recipients, as sent (nil for none).
	tos := x.topics[:0]
	defer func() { x.topics = tos }()
	// The block's transactions: hop from 'o' to 'o' for "to", until the
	// "jsonrpc" of the receipts' answer.
	rstart := -1
	for i := s.Pos; ; i++ {
		k := bytes.IndexByte(b[i:], 'o')
		if k < 0 {
			return ref, 0, out, false
		}
		i += k
		if i+1 < len(b) && b[i+1] == '"' && b[i-1] == 't' && b[i-2] == '"' { // "to"
			v, end, isKey, good := memberValue(b, i+2)
			if !isKey {
				continue
			}
			if !good {
				return ref, 0, out, false
			}
			tos = append(tos, v)
			i = end - 1
			continue
		}
		if b[i-1] == 's' && bytes.HasPrefix(b[i-3:], []byte(`"jsonrpc"`)) {
			// The receipts' answer follows the block's ("}},{" before it).
			_, open, ok := tailAt(b[:i-3], "}},{")
			if !ok {
				return ref, 0, out, false
			}
			s := jsonscan.Scanner{B: b, Pos: open}
			if !answerHeader(&s, 2, '[') {
				return ref, 0, out, false
			}
			rstart = s.Pos
			break
		}
	}
	// The receipts: nothing after them but the closing brackets, and their
	// block this one.
	j, _, ok := tailAt(b, "]}]")
	if !ok || j < rstart {
		return ref, 0, out, false
	}
	rb := b[:j] // the receipts, without their closing bracket
	if k := bytes.Index(rb[rstart:], []byte(`"blockHash"`)); k >= 0 {
		v, _, isKey, good := memberValue(rb, rstart+k+len(`"blockHash"`))
		var hv chain.Hash
		if !isKey || !good || v != nil && !bytes.Equal(v, h.hashHex) && (!fixedHex(hv[:], v) || hv != ref.Hash) {
			return ref, 0, out, false
		}
	} else if len(tos) > 0 {
		return ref, 0, out, false
	}
	// As many receipts as transactions: one "contractAddress" in each
	// ('A' is in no other key, nor in a node's lower-case hex).
	nreceipts := 0
	for i := rstart; ; i++ {
		k := bytes.IndexByte(rb[i:], 'A')
		if k < 0 {
			break
		}
		i += k
		if i >= 9 && rb[i-1] == 't' && bytes.HasPrefix(rb[i-9:], []byte(`"contractAddress"`)) {
			nreceipts++
		}
	}
	if nreceipts != len(tos) {
		return ref, 0, out, false
	}
	// The logs' topics: hop from 'p' to 'p' (once per log, and in "type").
	for i := rstart; ; i++ {
		k := bytes.IndexByte(rb[i:], 'p')
		if k < 0 {
			break
		}
		i += k
		if i < 6 || rb[i-1] != 'o' {
			if i >= 6 && rb[i-1] == 'r' && bytes.HasPrefix(rb[i-6:], []byte(`"jsonrpc"`)) {
				return ref, 0, out, false // a third answer
			}
			continue
		}
		if !bytes.HasPrefix(rb[i-3:], []byte(`"topics"`)) {
			continue
		}
		var first, third []byte
		end, count, good := topicsFrom(rb, i+5, &first, &third)
		if !good {
			return ref, 0, out, false
		}
		i = end - 1
		// The recipient is the topic's low 20 bytes. (The extractor
		// skips a log whose topic is not 32 bytes of hex; its high 12
		// bytes are not read here, which can only add a recipient.)
		var a [20]byte
		if count >= 3 && len(third) == 66 && isTransferTopic(first) && rawHex(a[:], third[26:]) {
			out = append(out, a)
		}
	}
	for _, to := range tos {
		if to == nil {
			continue
		}
		var a [20]byte
		if !fixedHex(a[:], to) {
			return ref, 0, out, false
		}
		out = append(out, a)
	}
	return ref, len(tos), out, true
}

// wantsNone reads the recipients of the batch answer b for block n and
// asks want about them: ok says the answer was read so and want wants none
// of them, so the block credits nobody its reader looks for.
func (x *Extractor) wantsNone(b []byte, n uint64, want func(addrs [][]byte) bool) (ref chain.BlockRef, txs int, ok bool) {
	ref, txs, x.addrs, ok = x.recipients(b, n, x.addrs)
	if !ok {
		return ref, 0, false
	}
	keys := x.keys[:0]
	for i := range x.addrs {
		keys = append(keys, x.addrs[i][:])
	}
	x.keys = keys
	wanted := want(keys)
	clear(keys)
	return ref, txs, !wanted
}

// answerHeader reads the members of one JSON-RPC answer before its result,
// in the order a geth-style node sends them: "jsonrpc", then "id" (the
// number id), then "result", whose value must begin with open. It leaves s
// at that value. Any other order or member is false: the answer is then
// read in full.
func answerHeader(s *jsonscan.Scanner, id uint64, open byte) bool {
	if !s.Expect('{') || string(s.Key()) != "jsonrpc" {
		return false
	}
	s.Skip()
	if !s.Expect(',') || string(s.Key()) != "id" {
		return false
	}
	if c := s.Peek(); c < '0' || c > '9' || s.Uint() != id {
		return false
	}
	if !s.Expect(',') || string(s.Key()) != "result" {
		return false
	}
	return s.Err == nil && s.Peek() == open
}

// tailAt says whether b ends, spaces aside, with the bytes of tail (the
// last of them at the end), and where its first and last bytes are.
func tailAt(b []byte, tail string) (first, last int, ok bool) {
	j := len(b) - 1
	for t := len(tail) - 1; t >= 0; t-- {
		for j >= 0 && isSpace(b[j]) {
			j--
		}
		if j < 0 || b[j] != tail[t] {
			return 0, 0, false
		}
		if t == len(tail)-1 {
			last = j
		}
		first = j
		j--
	}
	return first, last, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// afterColon reads, at b[i] just after a string that may be a key, the
// colon and the spaces around it, and returns where the value begins; ok
// is false when no colon follows (the string was a value).
func afterColon(b []byte, i int) (int, bool) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, false
	}
	return skipSpace(b, i+1), true
}

// rawString reads the string at b[i]: its bytes and the index after it. ok
// is false for no string there, or one with an escaped quote, which the
// answer's full read must judge.
func rawString(b []byte, i int) (v []byte, end int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	k := bytes.IndexByte(b[i+1:], '"')
	if k < 0 {
		return nil, i, false
	}
	v = b[i+1 : i+1+k]
	if len(v) > 0 && v[len(v)-1] == '\\' {
		return nil, i, false
	}
	return v, i + 2 + k, true
}

// memberValue reads, at b[i] just after a string that may be a key, the
// colon and a null or string value. isKey is false when no colon follows
// (the string was a value). good is false for a value of another type, or a
// string with an escaped quote. v is the string's bytes (nil for null); end
// is the index after the value.
func memberValue(b []byte, i int) (v []byte, end int, isKey, good bool) {
	i, isKey = afterColon(b, i)
	if !isKey {
		return nil, i, false, false
	}
	if bytes.HasPrefix(b[i:], []byte("null")) {
		return nil, i + 4, true, true
	}
	v, end, good = rawString(b, i)
	return v, end, true, good
}

// topicsFrom reads, at b[i] just after the key "topics", the colon and the
// array of strings, keeping its first and third elements. count is the
// number of elements; good is false for anything but an array of strings
// without escaped quotes (or a null, which is no topics), and end is the
// index after the value.
func topicsFrom(b []byte, i int, first, third *[]byte) (end, count int, good bool) {
	i, ok := afterColon(b, i)
	if !ok {
		return i, 0, false
	}
	if bytes.HasPrefix(b[i:], []byte("null")) {
		return i + 4, 0, true
	}
	if i >= len(b) || b[i] != '[' {
		return i, 0, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, 0, true
	}
	for {
		v, end, ok := rawString(b, i)
		if !ok {
			return i, count, false
		}
		switch count {
		case 0:
			*first = v
		case 2:
			*third = v
		}
		count++
		i = skipSpace(b, end)
		if i >= len(b) {
			return i, count, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1, count, true
		default:
			return i, count, false
		}
	}
}
