package solana

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	bin "github.com/gagliardetto/binary"
	sol "github.com/gagliardetto/solana-go"
	"github.com/mr-tron/base58"
)

// txRecord is a transaction as a block holds it: its wire bytes, and the
// meta its execution made, rendered once as the node writes it.
type txRecord struct {
	sig      sol.Signature
	wire     []byte
	tx       *sol.Transaction
	v0       bool
	meta     []byte // the meta object, JSON
	failed   bool
	errMsg   string // why it failed, as preflight says it
	loadedW  []sol.PublicKey
	loadedRO []sol.PublicKey
}

// decodeTx reads a transaction's wire bytes.
func decodeTx(wire []byte) (*sol.Transaction, error) {
	tx, err := sol.TransactionFromDecoder(bin.NewBinDecoder(wire))
	if err != nil {
		return nil, err
	}
	if len(tx.Signatures) == 0 || len(tx.Signatures) != int(tx.Message.Header.NumRequiredSignatures) {
		return nil, fmt.Errorf("%d signatures for %d required", len(tx.Signatures), tx.Message.Header.NumRequiredSignatures)
	}
	return tx, nil
}

// lookupTableData lays an address lookup table out: its 56-byte meta
// (type 1, never deactivated, no authority), then the addresses.
func lookupTableData(addrs []sol.PublicKey) []byte {
	d := make([]byte, 56, 56+32*len(addrs))
	binary.LittleEndian.PutUint32(d[0:4], 1)
	binary.LittleEndian.PutUint64(d[4:12], math.MaxUint64)
	for _, a := range addrs {
		d = append(d, a[:]...)
	}
	return d
}

// resolve gives a transaction's full account list: its static keys, then
// the writable and the readonly accounts its lookups load.
func resolve(st *state, tx *sol.Transaction) (keys, w, ro []sol.PublicKey, err error) {
	keys = append(keys, tx.Message.AccountKeys...)
	for _, l := range tx.Message.AddressTableLookups {
		t := st.get(l.AccountKey)
		if t.owner != lookupProgram || len(t.data) < 56 || (len(t.data)-56)%32 != 0 {
			return nil, nil, nil, fmt.Errorf("address table %s not found", l.AccountKey)
		}
		n := (len(t.data) - 56) / 32
		at := func(i uint8) (sol.PublicKey, error) {
			if int(i) >= n {
				return sol.PublicKey{}, fmt.Errorf("address table %s has no index %d", l.AccountKey, i)
			}
			return sol.PublicKeyFromBytes(t.data[56+32*int(i) : 56+32*int(i)+32]), nil
		}
		for _, i := range l.WritableIndexes {
			k, err := at(i)
			if err != nil {
				return nil, nil, nil, err
			}
			w = append(w, k)
		}
		for _, i := range l.ReadonlyIndexes {
			k, err := at(i)
			if err != nil {
				return nil, nil, nil, err
			}
			ro = append(ro, k)
		}
	}
	keys = append(append(keys, w...), ro...)
	return keys, w, ro, nil
}

type uiAmount struct {
	Amount         string   `json:"amount"`
	Decimals       uint8    `json:"decimals"`
	UIAmount       *float64 `json:"uiAmount"`
	UIAmountString string   `json:"uiAmountString"`
}

type tokenBalanceJSON struct {
	AccountIndex  int      `json:"accountIndex"`
	Mint          string   `json:"mint"`
	Owner         string   `json:"owner"`
	ProgramID     string   `json:"programId"`
	UITokenAmount uiAmount `json:"uiTokenAmount"`
}

type innerJSON struct {
	ProgramIDIndex int    `json:"programIdIndex"`
	Accounts       []int  `json:"accounts"`
	Data           string `json:"data"`
	StackHeight    int    `json:"stackHeight"`
}

type innerSetJSON struct {
	Index        int         `json:"index"`
	Instructions []innerJSON `json:"instructions"`
}

type metaJSON struct {
	Err                  json.RawMessage    `json:"err"`
	Status               json.RawMessage    `json:"status"`
	Fee                  uint64             `json:"fee"`
	PreBalances          []uint64           `json:"preBalances"`
	PostBalances         []uint64           `json:"postBalances"`
	InnerInstructions    []innerSetJSON     `json:"innerInstructions"`
	LogMessages          []string           `json:"logMessages"`
	PreTokenBalances     []tokenBalanceJSON `json:"preTokenBalances"`
	PostTokenBalances    []tokenBalanceJSON `json:"postTokenBalances"`
	Rewards              []any              `json:"rewards"`
	LoadedAddresses      loadedJSON         `json:"loadedAddresses"`
	ComputeUnitsConsumed uint64             `json:"computeUnitsConsumed"`
}

type loadedJSON struct {
	Writable []string `json:"writable"`
	Readonly []string `json:"readonly"`
}

func uiOf(amount uint64, decimals uint8) uiAmount {
	s := strconv.FormatUint(amount, 10)
	ui := uiAmount{Amount: s, Decimals: decimals}
	// uiAmountString: the amount in units, without trailing zeros.
	for len(s) <= int(decimals) {
		s = "0" + s
	}
	whole, frac := s[:len(s)-int(decimals)], s[len(s)-int(decimals):]
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	ui.UIAmountString = whole
	if frac != "" {
		ui.UIAmountString += "." + frac
	}
	if amount != 0 {
		f, _ := strconv.ParseFloat(ui.UIAmountString, 64)
		ui.UIAmount = &f
	}
	return ui
}

func tokenBalances(st *state, keys []sol.PublicKey) []tokenBalanceJSON {
	out := []tokenBalanceJSON{}
	for i, k := range keys {
		a := st.accts[k]
		mint, owner, amount, ok := tokenAccount(a)
		if !ok {
			continue
		}
		m, _ := mintOf(st.get(mint))
		out = append(out, tokenBalanceJSON{AccountIndex: i, Mint: mint.String(), Owner: owner.String(), ProgramID: a.owner.String(),
			UITokenAmount: uiOf(amount, m.decimals)})
	}
	return out
}

func strs(ks []sol.PublicKey) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.String()
	}
	return out
}

// execute runs a transaction over st and returns it as its block holds
// it. It fails (errNoFee, or a lookup it cannot resolve) only when the
// transaction cannot be in a block at all; a transaction whose
// instructions fail is in its block, with meta.err, its fee charged and
// nothing else changed.
func execute(st *state, wire []byte) (*txRecord, error) {
	tx, err := decodeTx(wire)
	if err != nil {
		return nil, err
	}
	keys, w, ro, err := resolve(st, tx)
	if err != nil {
		return nil, err
	}
	fee := lamportsPerSig * uint64(len(tx.Signatures))
	payer := st.get(keys[0])
	if payer.lamports < fee {
		return nil, errNoFee
	}
	pre := make([]uint64, len(keys))
	for i, k := range keys {
		pre[i] = st.get(k).lamports
	}
	saved := snapshot(st, keys)
	preTok := tokenBalances(st, keys)
	payer.lamports -= fee
	st.put(keys[0], payer)
	x := &exec{st: st, keys: keys, signers: int(tx.Message.Header.NumRequiredSignatures), inner: map[int][]innerIx{}}
	var failure *txErr
	logs := []string{}
	for i, in := range tx.Message.Instructions {
		x.top = i
		accts := make([]int, len(in.Accounts))
		for j, a := range in.Accounts {
			accts[j] = int(a)
		}
		prog := int(in.ProgramIDIndex)
		if prog < len(keys) {
			logs = append(logs, fmt.Sprintf("Program %s invoke [1]", keys[prog]))
		}
		if e := x.run(prog, accts, in.Data, 1); e != nil {
			failure = e
			if prog < len(keys) {
				logs = append(logs, fmt.Sprintf("Program %s failed: %s", keys[prog], e.msg))
			}
			break
		}
		if prog < len(keys) {
			logs = append(logs, fmt.Sprintf("Program %s success", keys[prog]))
		}
	}
	if failure != nil {
		// Roll back everything but the fee.
		st.restore(saved)
		p := st.get(keys[0])
		p.lamports -= fee
		st.put(keys[0], p)
		x.inner = map[int][]innerIx{}
	}
	m := metaJSON{Fee: fee, PreBalances: pre, PostBalances: make([]uint64, len(keys)), InnerInstructions: []innerSetJSON{}, LogMessages: logs,
		PreTokenBalances: preTok, PostTokenBalances: tokenBalances(st, keys), Rewards: []any{},
		LoadedAddresses: loadedJSON{Writable: strs(w), Readonly: strs(ro)}, ComputeUnitsConsumed: 150 * uint64(len(tx.Message.Instructions))}
	for i, k := range keys {
		m.PostBalances[i] = st.get(k).lamports
	}
	for i := range tx.Message.Instructions {
		if ins := x.inner[i]; len(ins) > 0 {
			set := innerSetJSON{Index: i}
			for _, in := range ins {
				set.Instructions = append(set.Instructions, innerJSON{ProgramIDIndex: in.program, Accounts: in.accounts, Data: base58.Encode(in.data), StackHeight: in.stack})
			}
			m.InnerInstructions = append(m.InnerInstructions, set)
		}
	}
	if failure != nil {
		m.Err = json.RawMessage(failure.json)
		m.Status = json.RawMessage(`{"Err":` + failure.json + `}`)
	} else {
		m.Err = json.RawMessage("null")
		m.Status = json.RawMessage(`{"Ok":null}`)
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	t := &txRecord{sig: tx.Signatures[0], wire: wire, tx: tx, v0: tx.Message.GetVersion() == sol.MessageVersionV0, meta: mb, failed: failure != nil,
		loadedW: w, loadedRO: ro}
	if failure != nil {
		t.errMsg = failure.msg
	}
	return t, nil
}

// snapshot copies the accounts keys name (nil for one that does not
// exist), for restore.
func snapshot(st *state, keys []sol.PublicKey) map[sol.PublicKey]*account {
	saved := make(map[sol.PublicKey]*account, len(keys))
	for _, k := range keys {
		if a := st.accts[k]; a != nil {
			cp := *a
			cp.data = append([]byte(nil), a.data...)
			saved[k] = &cp
		} else {
			saved[k] = nil
		}
	}
	return saved
}

// restore puts back the accounts a snapshot copied.
func (st *state) restore(saved map[sol.PublicKey]*account) {
	for k, a := range saved {
		if a == nil {
			delete(st.accts, k)
		} else {
			st.accts[k] = a
		}
	}
}

// simulate runs a transaction over st as preflight does, after the
// pending transactions it would follow in its block (the state a
// cluster's processed commitment shows), then puts back every account
// they touched: st is as it was, and the record says whether the
// transaction would fail.
func simulate(st *state, pending [][]byte, wire []byte) (*txRecord, error) {
	var keys []sol.PublicKey
	for _, w := range append(pending[:len(pending):len(pending)], wire) {
		tx, err := decodeTx(w)
		if err != nil {
			continue // execute says why, for this one
		}
		if k, _, _, err := resolve(st, tx); err == nil {
			keys = append(keys, k...)
		}
	}
	defer st.restore(snapshot(st, keys))
	for _, w := range pending {
		_, _ = execute(st, w) // as its block will: one that fails is left out there too
	}
	return execute(st, wire)
}

// jsonTx is a transaction in getBlock's "json" encoding.
func jsonTx(tx *sol.Transaction) any {
	type ix struct {
		ProgramIDIndex uint16   `json:"programIdIndex"`
		Accounts       []uint16 `json:"accounts"`
		Data           string   `json:"data"`
		StackHeight    *int     `json:"stackHeight"`
	}
	type lookup struct {
		AccountKey      string `json:"accountKey"`
		WritableIndexes []int  `json:"writableIndexes"`
		ReadonlyIndexes []int  `json:"readonlyIndexes"`
	}
	msg := map[string]any{
		"accountKeys": strs(tx.Message.AccountKeys),
		"header": map[string]uint8{
			"numRequiredSignatures":       tx.Message.Header.NumRequiredSignatures,
			"numReadonlySignedAccounts":   tx.Message.Header.NumReadonlySignedAccounts,
			"numReadonlyUnsignedAccounts": tx.Message.Header.NumReadonlyUnsignedAccounts,
		},
		"recentBlockhash": tx.Message.RecentBlockhash.String(),
	}
	ixs := make([]ix, len(tx.Message.Instructions))
	for i, in := range tx.Message.Instructions {
		ixs[i] = ix{ProgramIDIndex: in.ProgramIDIndex, Accounts: append([]uint16{}, in.Accounts...), Data: base58.Encode(in.Data)}
	}
	msg["instructions"] = ixs
	if tx.Message.GetVersion() == sol.MessageVersionV0 {
		ls := []lookup{}
		for _, l := range tx.Message.AddressTableLookups {
			ls = append(ls, lookup{AccountKey: l.AccountKey.String(), WritableIndexes: ints(l.WritableIndexes), ReadonlyIndexes: ints(l.ReadonlyIndexes)})
		}
		msg["addressTableLookups"] = ls
	}
	sigs := make([]string, len(tx.Signatures))
	for i, s := range tx.Signatures {
		sigs[i] = s.String()
	}
	return map[string]any{"signatures": sigs, "message": msg}
}

func ints(b []uint8) []int {
	out := make([]int, len(b))
	for i, v := range b {
		out[i] = int(v)
	}
	return out
}
