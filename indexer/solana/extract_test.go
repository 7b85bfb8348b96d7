package solana

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/programs/token"
	"github.com/mr-tron/base58"

	"github.com/inflowhq/inflow/pkg/chain"
)

// key is a fresh key; the label only names it where it is made.
func key(string) sol.PrivateKey {
	k, err := sol.NewRandomPrivateKey()
	if err != nil {
		panic(err)
	}
	return k
}

// signed builds and signs a transaction with solana-go: its real wire
// bytes.
func signed(t *testing.T, ixs []sol.Instruction, opts []sol.TransactionOption, signers ...sol.PrivateKey) *sol.Transaction {
	t.Helper()
	opts = append(opts, sol.TransactionPayer(signers[0].PublicKey()))
	tx, err := sol.NewTransaction(ixs, sol.Hash{1, 2, 3}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Sign(func(k sol.PublicKey) *sol.PrivateKey {
		for i := range signers {
			if signers[i].PublicKey() == k {
				return &signers[i]
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return tx
}

// meta is the part of a transaction's meta a case sets.
type meta struct {
	Err          any                 `json:"err"`
	Fee          uint64              `json:"fee"`
	Pre          []uint64            `json:"preBalances"`
	Post         []uint64            `json:"postBalances"`
	Inner        []map[string]any    `json:"innerInstructions"`
	PreTok       []map[string]any    `json:"preTokenBalances"`
	PostTok      []map[string]any    `json:"postTokenBalances"`
	Loaded       map[string][]string `json:"loadedAddresses"`
	LogMessages  []string            `json:"logMessages"`
	ComputeUnits uint64              `json:"computeUnitsConsumed"`
}

func tokBal(i int, mint, owner sol.PublicKey, amount uint64) map[string]any {
	return map[string]any{"accountIndex": i, "mint": mint.String(), "owner": owner.String(), "programId": sol.TokenProgramID.String(),
		"uiTokenAmount": map[string]any{"amount": fmt.Sprint(amount), "decimals": 6, "uiAmount": nil, "uiAmountString": "0"}}
}

// block writes a getBlock result with one transaction, in the base64 or
// the json encoding.
func block(t *testing.T, tx *sol.Transaction, m meta, enc string) []byte {
	t.Helper()
	if m.Loaded == nil {
		m.Loaded = map[string][]string{"writable": {}, "readonly": {}}
	}
	mj, _ := json.Marshal(m)
	var txj []byte
	if enc == "base64" {
		wire, err := tx.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		txj, _ = json.Marshal([]string{base64.StdEncoding.EncodeToString(wire), "base64"})
	} else {
		ixs := []map[string]any{}
		for _, in := range tx.Message.Instructions {
			ixs = append(ixs, map[string]any{"programIdIndex": in.ProgramIDIndex, "accounts": in.Accounts, "data": base58.Encode(in.Data), "stackHeight": nil})
		}
		keys := []string{}
		for _, k := range tx.Message.AccountKeys {
			keys = append(keys, k.String())
		}
		txj, _ = json.Marshal(map[string]any{"signatures": []string{tx.Signatures[0].String()},
			"message": map[string]any{"accountKeys": keys, "header": tx.Message.Header, "recentBlockhash": tx.Message.RecentBlockhash.String(), "instructions": ixs}})
	}
	return []byte(fmt.Sprintf(`{"blockHeight":9,"blockTime":1700000000,"blockhash":"%s","parentSlot":99,"previousBlockhash":"%s","transactions":[{"meta":%s,"transaction":%s,"version":0}]}`,
		sol.Hash{9}.String(), sol.Hash{8}.String(), mj, txj))
}

func idx(tx *sol.Transaction, k sol.PublicKey) int {
	for i, a := range tx.Message.AccountKeys {
		if a == k {
			return i
		}
	}
	return -1
}

func addr(k sol.PublicKey) chain.Address { return chain.MustAddress(chain.FamilySolana, k[:]) }

// TestInstructionTable runs the rules over real encodings, each built and
// signed with solana-go: what each case gives, exactly.
func TestInstructionTable(t *testing.T) {
	payer, dest, owner, base := key("payer"), key("dest"), key("owner"), key("base")
	mint := key("mint").PublicKey()
	src, dst := key("src").PublicKey(), key("dst").PublicKey()
	seeded, err := sol.CreateWithSeed(base.PublicKey(), "inflow", sol.SystemProgramID)
	if err != nil {
		t.Fatal(err)
	}
	router := key("router").PublicKey()
	table := key("table").PublicKey()
	lookedUp := key("looked-up").PublicKey()

	type want struct {
		kind, at, value string
		to, token, acct chain.Address
	}
	type tcase struct {
		name  string
		tx    *sol.Transaction
		meta  func(tx *sol.Transaction) meta
		wants []want
		// mismatches is how many reconciliation mismatches a watch of
		// owner and dest gives.
		mismatches int
	}
	bal := func(n int) []uint64 { return make([]uint64, n) }
	sysTx := signed(t, []sol.Instruction{system.NewTransferInstruction(1_500_000_000, payer.PublicKey(), dest.PublicKey()).Build()}, nil, payer)
	seedTx := signed(t, []sol.Instruction{system.NewTransferWithSeedInstruction(7_000, "inflow", sol.SystemProgramID, seeded, base.PublicKey(), dest.PublicKey()).Build()}, nil, payer, base)
	splTx := signed(t, []sol.Instruction{token.NewTransferCheckedInstruction(2_500_000, 6, src, mint, dst, payer.PublicKey(), nil).Build()}, nil, payer)
	feeData := binary.LittleEndian.AppendUint64([]byte{26, 1}, 1_000_000)
	feeData = binary.LittleEndian.AppendUint64(append(feeData, 6), 10_000)
	t22Accts := sol.AccountMetaSlice{sol.Meta(src).WRITE(), sol.Meta(mint), sol.Meta(dst).WRITE(), sol.Meta(payer.PublicKey()).SIGNER()}
	feeTx := signed(t, []sol.Instruction{sol.NewInstruction(sol.Token2022ProgramID, t22Accts, feeData)}, nil, payer)
	checkedData := append(binary.LittleEndian.AppendUint64([]byte{12}, 1_000_000), 6)
	hiddenFeeTx := signed(t, []sol.Instruction{sol.NewInstruction(sol.Token2022ProgramID, t22Accts, checkedData)}, nil, payer)
	cpiTx := signed(t, []sol.Instruction{sol.NewInstruction(router, sol.AccountMetaSlice{sol.Meta(payer.PublicKey()).WRITE().SIGNER(), sol.Meta(dest.PublicKey()).WRITE(), sol.Meta(sol.SystemProgramID)}, []byte{0, 1})}, nil, payer)
	v0Tx := signed(t, []sol.Instruction{system.NewTransferInstruction(42, payer.PublicKey(), lookedUp).Build()},
		[]sol.TransactionOption{sol.TransactionAddressTables(map[sol.PublicKey]sol.PublicKeySlice{table: {lookedUp}})}, payer)
	mintToData := binary.LittleEndian.AppendUint64([]byte{7}, 5_000)
	mintToTx := signed(t, []sol.Instruction{sol.NewInstruction(sol.TokenProgramID, sol.AccountMetaSlice{sol.Meta(mint).WRITE(), sol.Meta(dst).WRITE(), sol.Meta(payer.PublicKey()).SIGNER()}, mintToData)}, nil, payer)

	cases := []tcase{
		{name: "system transfer", tx: sysTx, meta: func(tx *sol.Transaction) meta {
			pre, post := bal(3), bal(3)
			pre[0], post[0] = 2_000_005_000, 500_000_000
			post[idx(tx, dest.PublicKey())] = 1_500_000_000
			return meta{Fee: 5000, Pre: pre, Post: post}
		}, wants: []want{{"native", "0", "1500000000", addr(dest.PublicKey()), chain.Address{}, chain.Address{}}}},
		{name: "transferWithSeed", tx: seedTx, meta: func(tx *sol.Transaction) meta {
			n := len(tx.Message.AccountKeys)
			pre, post := bal(n), bal(n)
			pre[idx(tx, seeded)] = 10_000
			post[idx(tx, seeded)], post[idx(tx, dest.PublicKey())] = 3_000, 7_000
			pre[0], post[0] = 20_000, 10_000
			return meta{Fee: 10_000, Pre: pre, Post: post}
		}, wants: []want{{"native", "0", "7000", addr(dest.PublicKey()), chain.Address{}, chain.Address{}}}},
		{name: "transferChecked", tx: splTx, meta: func(tx *sol.Transaction) meta {
			n := len(tx.Message.AccountKeys)
			return meta{Fee: 5000, Pre: bal(n), Post: bal(n),
				PreTok:  []map[string]any{tokBal(idx(tx, src), mint, payer.PublicKey(), 9_000_000)},
				PostTok: []map[string]any{tokBal(idx(tx, src), mint, payer.PublicKey(), 6_500_000), tokBal(idx(tx, dst), mint, owner.PublicKey(), 2_500_000)}}
		}, wants: []want{{"spl", "0", "2500000", addr(owner.PublicKey()), addr(mint), addr(dst)}}},
		{name: "Token-2022 transferCheckedWithFee", tx: feeTx, meta: func(tx *sol.Transaction) meta {
			n := len(tx.Message.AccountKeys)
			return meta{Fee: 5000, Pre: bal(n), Post: bal(n),
				PreTok:  []map[string]any{tokBal(idx(tx, src), mint, payer.PublicKey(), 1_000_000), tokBal(idx(tx, dst), mint, owner.PublicKey(), 5)},
				PostTok: []map[string]any{tokBal(idx(tx, src), mint, payer.PublicKey(), 0), tokBal(idx(tx, dst), mint, owner.PublicKey(), 990_005)}}
		}, wants: []want{{"spl", "0", "990000", addr(owner.PublicKey()), addr(mint), addr(dst)}}},
		{name: "Token-2022 transferChecked on a fee mint", tx: hiddenFeeTx, meta: func(tx *sol.Transaction) meta {
			n := len(tx.Message.AccountKeys)
			return meta{Fee: 5000, Pre: bal(n), Post: bal(n),
				PreTok:  []map[string]any{tokBal(idx(tx, src), mint, payer.PublicKey(), 1_000_000)},
				PostTok: []map[string]any{tokBal(idx(tx, src), mint, payer.PublicKey(), 0), tokBal(idx(tx, dst), mint, owner.PublicKey(), 990_000)}}
		}, wants: []want{{"spl", "0", "990000", addr(owner.PublicKey()), addr(mint), addr(dst)}}},
		{name: "inner System transfer", tx: cpiTx, meta: func(tx *sol.Transaction) meta {
			n := len(tx.Message.AccountKeys)
			pre, post := bal(n), bal(n)
			pre[0], post[0] = 1_000_000, 995_000-250
			post[idx(tx, dest.PublicKey())] = 250
			inner := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint32(nil, 2), 250)
			return meta{Fee: 5000, Pre: pre, Post: post, Inner: []map[string]any{{"index": 0, "instructions": []map[string]any{
				{"programIdIndex": idx(tx, sol.SystemProgramID), "accounts": []int{0, idx(tx, dest.PublicKey())}, "data": base58.Encode(inner), "stackHeight": 2}}}}}
		}, wants: []want{{"native", "0.1", "250", addr(dest.PublicKey()), chain.Address{}, chain.Address{}}}},
		{name: "lookup-table account", tx: v0Tx, meta: func(tx *sol.Transaction) meta {
			n := len(tx.Message.AccountKeys) + 1
			pre, post := bal(n), bal(n)
			pre[0], post[0] = 10_000, 10_000-5000-42
			post[n-1] = 42
			return meta{Fee: 5000, Pre: pre, Post: post, Loaded: map[string][]string{"writable": {lookedUp.String()}, "readonly": {}}}
		}, wants: []want{{"native", "0", "42", addr(lookedUp), chain.Address{}, chain.Address{}}}},
		{name: "failed", tx: sysTx, meta: func(tx *sol.Transaction) meta {
			return meta{Err: map[string]any{"InstructionError": []any{0, map[string]int{"Custom": 1}}}, Fee: 5000, Pre: bal(3), Post: bal(3)}
		}},
		{name: "mint-to: no transfer, a mismatch", tx: mintToTx, meta: func(tx *sol.Transaction) meta {
			n := len(tx.Message.AccountKeys)
			return meta{Fee: 5000, Pre: bal(n), Post: bal(n), PostTok: []map[string]any{tokBal(idx(tx, dst), mint, owner.PublicKey(), 5_000)}}
		}, mismatches: 1},
	}
	watched := map[string]bool{addr(owner.PublicKey()).Raw(): true, addr(dest.PublicKey()).Raw(): true}
	for _, c := range cases {
		for _, enc := range []string{"base64", "json"} {
			if c.tx.Message.GetVersion() == sol.MessageVersionV0 && enc == "json" {
				continue // the test's json writer writes legacy messages
			}
			raw := block(t, c.tx, c.meta(c.tx), enc)
			res, err := Extract(raw, 100, Options{Watched: func(k []byte) bool { return watched[string(k)] }})
			if err != nil {
				t.Fatalf("%s (%s): %v", c.name, enc, err)
			}
			if res.ParentSlot != 99 || res.Block.Ref.Parent.Format(chain.FamilySolana) != (sol.Hash{8}).String() {
				t.Errorf("%s: parent %d %v", c.name, res.ParentSlot, res.Block.Ref.Parent)
			}
			trs := res.Block.Transfers
			if len(trs) != len(c.wants) {
				t.Errorf("%s (%s): %d transfers %+v, want %d", c.name, enc, len(trs), trs, len(c.wants))
				continue
			}
			for i, w := range c.wants {
				tr := trs[i]
				if tr.Kind.String() != w.kind || chain.SolanaPosition(tr.Index) != w.at || tr.Value.String() != w.value || tr.To != w.to ||
					tr.Token != w.token || tr.TokenAccount != w.acct || base58.Encode(tr.TxHash) != c.tx.Signatures[0].String() {
					t.Errorf("%s (%s): %s at %s, %s to %s (token %s, account %s); want %+v", c.name, enc, tr.Kind, chain.SolanaPosition(tr.Index),
						tr.Value, tr.To, tr.Token, tr.TokenAccount, w)
				}
			}
			if len(res.Mismatches) != c.mismatches {
				t.Errorf("%s (%s): mismatches %+v, want %d", c.name, enc, res.Mismatches, c.mismatches)
			}
		}
	}
}

// TestMalformed: bad input is an error, never a panic or a guess.
func TestMalformed(t *testing.T) {
	for _, raw := range []string{``, `{`, `[]`, `{"blockhash":"x"}`, `{"blockhash":"` + sol.Hash{1}.String() + `","transactions":[{"meta":{},"transaction":["!!","base64"]}]}`,
		`{"blockhash":"` + sol.Hash{1}.String() + `","transactions":[{"meta":null,"transaction":["AA==","base64"]}]}`,
		`{"blockhash":"` + sol.Hash{1}.String() + `","transactions":[{"meta":{"err":null},"transaction":["AQ==","base64"]}]}`} {
		if _, err := Extract([]byte(raw), 1, Options{}); err == nil {
			t.Errorf("%q: no error", raw)
		} else if strings.Contains(err.Error(), "panic") {
			t.Errorf("%q: %v", raw, err)
		}
	}
}

// TestNullMetaParts: a node may write null for the meta's optional parts
// (legacy answers): they are empty, not an error.
func TestNullMetaParts(t *testing.T) {
	payer, dest := key("payer"), key("dest")
	tx := signed(t, []sol.Instruction{system.NewTransferInstruction(9, payer.PublicKey(), dest.PublicKey()).Build()}, nil, payer)
	wire, _ := tx.MarshalBinary()
	raw := fmt.Sprintf(`{"blockhash":"%s","previousBlockhash":"%s","parentSlot":1,"blockTime":null,"transactions":[{"meta":{"err":null,"fee":5000,"preBalances":[10,0,1],"postBalances":[0,9,1],"innerInstructions":null,"preTokenBalances":null,"postTokenBalances":null,"loadedAddresses":null,"logMessages":null},"transaction":["%s","base64"]}]}`,
		sol.Hash{9}, sol.Hash{8}, base64.StdEncoding.EncodeToString(wire))
	res, err := Extract([]byte(raw), 2, Options{})
	if err != nil || len(res.Block.Transfers) != 1 || res.Block.Transfers[0].Value.String() != "9" {
		t.Fatalf("%v %+v", err, res)
	}
}
