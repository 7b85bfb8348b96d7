package solana

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	sol "github.com/gagliardetto/solana-go"
	"github.com/mr-tron/base58"
)

// The version the devnet reports, as getVersion and contexts write it.
const apiVersion = "2.2.0"

// JSON-RPC error codes, as the node uses them.
const (
	codeInvalidRequest     = -32600
	codeMethodNotFound     = -32601
	codeInvalidParams      = -32602
	codeSendFailure        = -32002
	codeSigVerify          = -32003
	codeBlockNotAvailable  = -32004
	codeSlotSkipped        = -32007
	codeUnsupportedVersion = -32015
	maxRequestBytes        = 1 << 20
	maxGetBlocksRange      = 500_000
)

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string { return e.Message }

func errf(code int, format string, args ...any) *rpcError {
	return &rpcError{Code: code, Message: fmt.Sprintf(format, args...)}
}

type request struct {
	JSONRPC string            `json:"jsonrpc"`
	ID      json.RawMessage   `json:"id"`
	Method  string            `json:"method"`
	Params  []json.RawMessage `json:"params"`
}

// serveRPC answers JSON-RPC 2.0 over HTTP POST, single and batch.
func (d *Devnet) serveRPC(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "Used HTTP Method is not allowed. POST is required", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil || len(body) > maxRequestBytes {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var reqs []request
		if err := json.Unmarshal(body, &reqs); err != nil || len(reqs) == 0 || len(reqs) > 100 {
			writeResponse(w, nil, nil, errf(codeInvalidRequest, "Invalid request"))
			return
		}
		var buf bytes.Buffer
		buf.WriteByte('[')
		for i, rq := range reqs {
			if i > 0 {
				buf.WriteByte(',')
			}
			res, rerr := d.dispatch(rq)
			writeResponse(&buf, rq.ID, res, rerr)
		}
		buf.WriteByte(']')
		w.Write(buf.Bytes())
		return
	}
	var rq request
	if err := json.Unmarshal(body, &rq); err != nil {
		writeResponse(w, nil, nil, &rpcError{Code: -32700, Message: "Parse error"})
		return
	}
	res, rerr := d.dispatch(rq)
	writeResponse(w, rq.ID, res, rerr)
}

func writeResponse(w io.Writer, id json.RawMessage, result []byte, rerr *rpcError) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	if rerr != nil {
		e, _ := json.Marshal(rerr)
		fmt.Fprintf(w, `{"jsonrpc":"2.0","error":%s,"id":%s}`, e, id)
		return
	}
	io.WriteString(w, `{"jsonrpc":"2.0","result":`)
	w.Write(result)
	fmt.Fprintf(w, `,"id":%s}`, id)
}

func marshal(v any) ([]byte, *rpcError) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, errf(-32603, "Internal error: %v", err)
	}
	return b, nil
}

// config is the union of the configuration objects the methods take.
type config struct {
	Commitment                     string          `json:"commitment"`
	Encoding                       string          `json:"encoding"`
	TransactionDetails             string          `json:"transactionDetails"`
	Rewards                        *bool           `json:"rewards"`
	MaxSupportedTransactionVersion *int            `json:"maxSupportedTransactionVersion"`
	Mint                           string          `json:"mint"`
	ProgramID                      string          `json:"programId"`
	SkipPreflight                  bool            `json:"skipPreflight"`
	SearchTransactionHistory       bool            `json:"searchTransactionHistory"`
	MinContextSlot                 *uint64         `json:"minContextSlot"`
	DataSlice                      json.RawMessage `json:"dataSlice"`
}

func param[T any](p []json.RawMessage, i int, what string) (T, bool, *rpcError) {
	var v T
	if i >= len(p) || string(p[i]) == "null" {
		return v, false, nil
	}
	if err := json.Unmarshal(p[i], &v); err != nil {
		return v, false, errf(codeInvalidParams, "Invalid params: %s: %v", what, err)
	}
	return v, true, nil
}

func pubkeyParam(p []json.RawMessage, i int) (sol.PublicKey, *rpcError) {
	s, ok, rerr := param[string](p, i, "pubkey")
	if rerr != nil {
		return sol.PublicKey{}, rerr
	}
	if !ok {
		return sol.PublicKey{}, errf(codeInvalidParams, "Invalid params: missing pubkey")
	}
	k, err := sol.PublicKeyFromBase58(s)
	if err != nil {
		return sol.PublicKey{}, errf(codeInvalidParams, "Invalid param: Invalid")
	}
	return k, nil
}

// commitmentBlock is the newest block at a commitment level.
func (d *Devnet) commitmentBlock(level string) (*block, *rpcError) {
	switch level {
	case "", "finalized", "max", "root":
		if level == "" {
			return d.finalizedLocked(), nil
		}
		return d.finalizedLocked(), nil
	case "confirmed", "processed", "recent", "single", "singleGossip":
		return d.blocks[len(d.blocks)-1], nil
	}
	return nil, errf(codeInvalidParams, "Invalid params: unknown commitment %q", level)
}

func contextual(slot uint64, v any) ([]byte, *rpcError) {
	return marshal(map[string]any{"context": map[string]any{"apiVersion": apiVersion, "slot": slot}, "value": v})
}

func (d *Devnet) dispatch(rq request) ([]byte, *rpcError) {
	if rq.JSONRPC != "2.0" {
		return nil, errf(codeInvalidRequest, "Invalid request")
	}
	p := rq.Params
	if rq.Method == "sendTransaction" {
		return d.sendTransaction(p) // takes the lock itself
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cfgAt := func(i int) (config, *rpcError) {
		c, _, rerr := param[config](p, i, "config")
		return c, rerr
	}
	switch rq.Method {
	case "getHealth":
		return []byte(`"ok"`), nil
	case "getVersion":
		return []byte(`{"feature-set":3294202862,"solana-core":"` + apiVersion + `"}`), nil
	case "getGenesisHash":
		return marshal(genesisHash.String())
	case "getFirstAvailableBlock":
		return []byte("0"), nil
	case "getSlot", "getBlockHeight":
		c, rerr := cfgAt(0)
		if rerr != nil {
			return nil, rerr
		}
		b, rerr := d.commitmentBlock(c.Commitment)
		if rerr != nil {
			return nil, rerr
		}
		if rq.Method == "getSlot" {
			return []byte(strconv.FormatUint(b.slot, 10)), nil
		}
		return []byte(strconv.FormatUint(b.height, 10)), nil
	case "getLatestBlockhash":
		c, rerr := cfgAt(0)
		if rerr != nil {
			return nil, rerr
		}
		b, rerr := d.commitmentBlock(c.Commitment)
		if rerr != nil {
			return nil, rerr
		}
		return contextual(d.blocks[len(d.blocks)-1].slot, map[string]any{"blockhash": b.hash.String(), "lastValidBlockHeight": b.height + 150})
	case "getMinimumBalanceForRentExemption":
		n, _, rerr := param[int](p, 0, "size")
		if rerr != nil || n < 0 || n > 10<<20 {
			return nil, errf(codeInvalidParams, "Invalid params: size")
		}
		return []byte(strconv.FormatUint(rentExempt(n), 10)), nil
	case "getBlock":
		return d.getBlock(p)
	case "getBlocks":
		return d.getBlocks(p)
	case "getBalance":
		k, rerr := pubkeyParam(p, 0)
		if rerr != nil {
			return nil, rerr
		}
		return contextual(d.blocks[len(d.blocks)-1].slot, d.st.get(k).lamports)
	case "getAccountInfo":
		k, rerr := pubkeyParam(p, 0)
		if rerr != nil {
			return nil, rerr
		}
		c, rerr := cfgAt(1)
		if rerr != nil {
			return nil, rerr
		}
		a := d.st.accts[k]
		if a == nil {
			return contextual(d.blocks[len(d.blocks)-1].slot, nil)
		}
		v, rerr := d.accountJSON(a, c.Encoding)
		if rerr != nil {
			return nil, rerr
		}
		return contextual(d.blocks[len(d.blocks)-1].slot, v)
	case "getTokenAccountsByOwner":
		return d.tokenAccountsByOwner(p)
	case "getSignatureStatuses":
		sigs, _, rerr := param[[]string](p, 0, "signatures")
		if rerr != nil || len(sigs) > 256 {
			return nil, errf(codeInvalidParams, "Invalid params: signatures")
		}
		head := d.blocks[len(d.blocks)-1]
		fin := d.finalizedLocked()
		out := make([]any, len(sigs))
		for i, s := range sigs {
			sig, err := sol.SignatureFromBase58(s)
			if err != nil {
				return nil, errf(codeInvalidParams, "Invalid param: Invalid")
			}
			b := d.bySig[sig]
			if b == nil {
				continue
			}
			var t *txRecord
			for _, x := range b.txs {
				if x.sig == sig {
					t = x
				}
			}
			var meta struct {
				Err json.RawMessage `json:"err"`
			}
			_ = json.Unmarshal(t.meta, &meta)
			st := map[string]any{"slot": b.slot, "err": meta.Err, "status": map[string]any{"Ok": nil}, "confirmationStatus": "confirmed",
				"confirmations": head.height - b.height}
			if t.failed {
				st["status"] = map[string]json.RawMessage{"Err": meta.Err}
			}
			if b.slot <= fin.slot {
				st["confirmationStatus"], st["confirmations"] = "finalized", nil
			}
			out[i] = st
		}
		return contextual(head.slot, out)
	}
	return nil, errf(codeMethodNotFound, "Method not found")
}

func (d *Devnet) sendTransaction(p []json.RawMessage) ([]byte, *rpcError) {
	s, ok, rerr := param[string](p, 0, "transaction")
	if rerr != nil {
		return nil, rerr
	}
	if !ok {
		return nil, errf(codeInvalidParams, "Invalid params: missing transaction")
	}
	c, _, rerr := param[config](p, 1, "config")
	if rerr != nil {
		return nil, rerr
	}
	var wire []byte
	var err error
	switch c.Encoding {
	case "", "base58":
		wire, err = base58.Decode(s)
	case "base64":
		wire, err = base64.StdEncoding.DecodeString(s)
	default:
		return nil, errf(codeInvalidParams, "Invalid params: unsupported encoding %q", c.Encoding)
	}
	if err != nil || len(wire) > 1232 {
		return nil, errf(codeInvalidParams, "invalid transaction: failed to decode, or over 1232 bytes")
	}
	sig, err := d.submit(wire, !c.SkipPreflight)
	switch {
	case errors.Is(err, ErrBadSignature):
		return nil, errf(codeSigVerify, "Transaction signature verification failure")
	case errors.Is(err, ErrPreflight):
		return nil, errf(codeSendFailure, "Transaction simulation failed: %s", strings.TrimPrefix(err.Error(), ErrPreflight.Error()+": "))
	case err != nil:
		return nil, errf(codeSendFailure, "Transaction simulation failed: %v", err)
	}
	return marshal(sig)
}

func (d *Devnet) getBlocks(p []json.RawMessage) ([]byte, *rpcError) {
	start, ok, rerr := param[uint64](p, 0, "start slot")
	if rerr != nil || !ok {
		return nil, errf(codeInvalidParams, "Invalid params: start slot")
	}
	cfgIdx := 2
	var end uint64
	haveEnd := false
	if len(p) > 1 && len(p[1]) > 0 && p[1][0] == '{' {
		cfgIdx = 1
	} else if v, ok, rerr := param[uint64](p, 1, "end slot"); rerr != nil {
		return nil, rerr
	} else if ok {
		end, haveEnd = v, true
	}
	c, _, rerr := param[config](p, cfgIdx, "config")
	if rerr != nil {
		return nil, rerr
	}
	if c.Commitment == "processed" {
		return nil, errf(codeInvalidParams, "Method does not support commitment below `confirmed`")
	}
	top, rerr := d.commitmentBlock(c.Commitment)
	if rerr != nil {
		return nil, rerr
	}
	if !haveEnd {
		end = top.slot
	}
	if end < start {
		return []byte("[]"), nil
	}
	if end-start > maxGetBlocksRange {
		return nil, errf(codeInvalidParams, "Slot range too large; max %d", maxGetBlocksRange)
	}
	out := []uint64{}
	i := sort.Search(len(d.blocks), func(i int) bool { return d.blocks[i].slot >= start })
	for ; i < len(d.blocks) && d.blocks[i].slot <= min(end, top.slot); i++ {
		out = append(out, d.blocks[i].slot)
	}
	return marshal(out)
}

func (d *Devnet) getBlock(p []json.RawMessage) ([]byte, *rpcError) {
	s, ok, rerr := param[uint64](p, 0, "slot")
	if rerr != nil || !ok {
		return nil, errf(codeInvalidParams, "Invalid params: slot")
	}
	var c config
	if len(p) > 1 && len(p[1]) > 0 && p[1][0] == '"' {
		// The old form: an encoding string.
		enc, _, _ := param[string](p, 1, "encoding")
		c.Encoding = enc
	} else if c, _, rerr = param[config](p, 1, "config"); rerr != nil {
		return nil, rerr
	}
	if c.Commitment == "processed" {
		return nil, errf(codeInvalidParams, "Method does not support commitment below `confirmed`")
	}
	top, rerr := d.commitmentBlock(c.Commitment)
	if rerr != nil {
		return nil, rerr
	}
	enc := c.Encoding
	switch enc {
	case "":
		enc = "json"
	case "json", "base64", "base58":
	case "jsonParsed":
		return nil, errf(codeInvalidParams, "Invalid params: the devnet serves getBlock in json, base64 and base58, not jsonParsed")
	default:
		return nil, errf(codeInvalidParams, "Invalid params: unknown encoding %q", enc)
	}
	details := c.TransactionDetails
	switch details {
	case "":
		details = "full"
	case "full", "signatures", "none":
	default:
		return nil, errf(codeInvalidParams, "Invalid params: transactionDetails %q (the devnet serves full, signatures and none)", details)
	}
	rewards := c.Rewards == nil || *c.Rewards
	if s > top.slot {
		return nil, errf(codeBlockNotAvailable, "Block not available for slot %d", s)
	}
	b := d.blockAt(s)
	if b == nil {
		return nil, errf(codeSlotSkipped, "Slot %d was skipped, or missing due to ledger jump to recent snapshot", s)
	}
	maxV := -1
	if c.MaxSupportedTransactionVersion != nil {
		maxV = *c.MaxSupportedTransactionVersion
	}
	if details == "full" || details == "signatures" {
		for _, t := range b.txs {
			if t.v0 && maxV < 0 {
				return nil, errf(codeUnsupportedVersion, "Transaction version (0) is not supported by the requesting client. Please try the request again with the following configuration parameter: \"maxSupportedTransactionVersion\": 0")
			}
		}
	}
	return b.render(enc, details, rewards, maxV >= 0)
}

// render writes a block as getBlock answers it, once per variant.
func (b *block) render(enc, details string, rewards, versioned bool) ([]byte, *rpcError) {
	key := fmt.Sprintf("%s|%s|%t|%t", enc, details, rewards, versioned)
	b.renderMu.Lock()
	defer b.renderMu.Unlock()
	if out, ok := b.rendered[key]; ok {
		return out, nil
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"blockHeight":%d,"blockTime":%d,"blockhash":"%s","parentSlot":%d,"previousBlockhash":"%s"`,
		b.height, b.time, b.hash, b.parent, b.prev)
	if rewards {
		buf.WriteString(`,"rewards":[]`)
	}
	switch details {
	case "signatures":
		sigs := make([]string, len(b.txs))
		for i, t := range b.txs {
			sigs[i] = t.sig.String()
		}
		sb, _ := json.Marshal(sigs)
		buf.WriteString(`,"signatures":`)
		buf.Write(sb)
	case "full":
		buf.WriteString(`,"transactions":[`)
		for i, t := range b.txs {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(`{"meta":`)
			buf.Write(t.meta)
			buf.WriteString(`,"transaction":`)
			switch enc {
			case "base64":
				fmt.Fprintf(&buf, `["%s","base64"]`, base64.StdEncoding.EncodeToString(t.wire))
			case "base58":
				fmt.Fprintf(&buf, `["%s","base58"]`, base58.Encode(t.wire))
			default:
				jb, err := json.Marshal(jsonTx(t.tx))
				if err != nil {
					return nil, errf(-32603, "Internal error: %v", err)
				}
				buf.Write(jb)
			}
			if versioned {
				if t.v0 {
					buf.WriteString(`,"version":0`)
				} else {
					buf.WriteString(`,"version":"legacy"`)
				}
			}
			buf.WriteByte('}')
		}
		buf.WriteByte(']')
	}
	buf.WriteByte('}')
	if b.rendered == nil {
		b.rendered = map[string][]byte{}
	}
	b.rendered[key] = buf.Bytes()
	return buf.Bytes(), nil
}

// accountJSON writes an account as getAccountInfo does.
func (d *Devnet) accountJSON(a *account, enc string) (any, *rpcError) {
	v := map[string]any{"executable": false, "lamports": a.lamports, "owner": a.owner.String(), "rentEpoch": uint64(18446744073709551615), "space": len(a.data)}
	switch enc {
	case "", "base64":
		v["data"] = []string{base64.StdEncoding.EncodeToString(a.data), "base64"}
	case "base58", "binary":
		if len(a.data) > 128 {
			return nil, errf(codeInvalidParams, "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding.")
		}
		v["data"] = []string{base58.Encode(a.data), "base58"}
	case "jsonParsed":
		if mint, owner, amount, ok := tokenAccount(a); ok {
			m, _ := mintOf(d.st.get(mint))
			v["data"] = map[string]any{"program": map[bool]string{true: "spl-token-2022", false: "spl-token"}[a.owner == token2022],
				"space": len(a.data), "parsed": map[string]any{"type": "account", "info": map[string]any{
					"isNative": false, "mint": mint.String(), "owner": owner.String(), "state": "initialized", "tokenAmount": uiOf(amount, m.decimals)}}}
		} else {
			v["data"] = []string{base64.StdEncoding.EncodeToString(a.data), "base64"}
		}
	default:
		return nil, errf(codeInvalidParams, "Invalid params: unknown encoding %q", enc)
	}
	return v, nil
}

func (d *Devnet) tokenAccountsByOwner(p []json.RawMessage) ([]byte, *rpcError) {
	owner, rerr := pubkeyParam(p, 0)
	if rerr != nil {
		return nil, rerr
	}
	filter, ok, rerr := param[config](p, 1, "filter")
	if rerr != nil || !ok || (filter.Mint == "") == (filter.ProgramID == "") {
		return nil, errf(codeInvalidParams, "Invalid params: want a filter of mint or programId")
	}
	c, _, rerr := param[config](p, 2, "config")
	if rerr != nil {
		return nil, rerr
	}
	var keys []sol.PublicKey
	for k, a := range d.st.accts {
		mint, o, _, ok := tokenAccount(a)
		if !ok || o != owner || (filter.Mint != "" && mint.String() != filter.Mint) || (filter.ProgramID != "" && a.owner.String() != filter.ProgramID) {
			continue
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i][:], keys[j][:]) < 0 })
	out := []any{}
	for _, k := range keys {
		v, rerr := d.accountJSON(d.st.accts[k], c.Encoding)
		if rerr != nil {
			return nil, rerr
		}
		out = append(out, map[string]any{"pubkey": k.String(), "account": v})
	}
	return contextual(d.blocks[len(d.blocks)-1].slot, out)
}
