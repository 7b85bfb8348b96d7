package solana

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	sol "github.com/gagliardetto/solana-go"
)

// The programs the devnet's runtime executes.
var (
	systemProgram  = sol.SystemProgramID
	tokenProgram   = sol.TokenProgramID
	token2022      = sol.Token2022ProgramID
	ataProgram     = sol.SPLAssociatedTokenAccountProgramID
	computeBudget  = sol.MustPublicKeyFromBase58("ComputeBudget111111111111111111111111111111")
	voteProgram    = sol.VoteProgramID
	lookupProgram  = sol.MustPublicKeyFromBase58("AddressLookupTab1e1111111111111111111111111")
	memoProgram    = sol.MustPublicKeyFromBase58("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
	routerProgram  = keyOf("inflow-solana-devnet-router").PublicKey()
	lamportsPerSig = uint64(5000)
)

// Sizes of the token program's accounts.
const (
	tokenAccountLen = 165
	mintLen         = 82
	multisigLen     = 355
)

// rentExempt is the minimum balance of an account of size bytes (the
// default rent: 3,480 lamports per byte-year, two years, 128 bytes of
// overhead).
func rentExempt(size int) uint64 { return uint64(128+size) * 3480 * 2 }

// account is an account as the runtime keeps it.
type account struct {
	lamports uint64
	owner    sol.PublicKey
	data     []byte
}

// mintInfo is what the runtime reads of a mint.
type mintInfo struct {
	decimals uint8
	program  sol.PublicKey
	feeBps   uint16
	maxFee   uint64
}

// state is the accounts.
type state struct {
	accts map[sol.PublicKey]*account
}

func newState() *state { return &state{accts: map[sol.PublicKey]*account{}} }

func (s *state) get(k sol.PublicKey) *account {
	if a := s.accts[k]; a != nil {
		return a
	}
	return &account{owner: systemProgram}
}

func (s *state) put(k sol.PublicKey, a *account) {
	if a.lamports == 0 && len(a.data) == 0 {
		delete(s.accts, k)
		return
	}
	s.accts[k] = a
}

// tokenAccount reads a token account's mint, owner and amount.
func tokenAccount(a *account) (mint, owner sol.PublicKey, amount uint64, ok bool) {
	if a == nil || (a.owner != tokenProgram && a.owner != token2022) || len(a.data) < tokenAccountLen || len(a.data) == multisigLen {
		return
	}
	if len(a.data) > tokenAccountLen && a.data[tokenAccountLen] != 2 {
		return
	}
	if a.data[108] == 0 {
		return // uninitialized
	}
	copy(mint[:], a.data[0:32])
	copy(owner[:], a.data[32:64])
	return mint, owner, binary.LittleEndian.Uint64(a.data[64:72]), true
}

func setTokenAmount(a *account, v uint64) { binary.LittleEndian.PutUint64(a.data[64:72], v) }

// Token-2022 extension types the devnet writes.
const (
	extTransferFeeConfig = 1
	extTransferFeeAmount = 2
	extImmutableOwner    = 7
)

// mintOf reads a mint account (Token or Token-2022 with a transfer fee).
func mintOf(a *account) (mintInfo, bool) {
	if a == nil || (a.owner != tokenProgram && a.owner != token2022) || len(a.data) < mintLen || a.data[45] == 0 {
		return mintInfo{}, false
	}
	m := mintInfo{decimals: a.data[44], program: a.owner}
	if a.owner == token2022 && len(a.data) > tokenAccountLen {
		if a.data[tokenAccountLen] != 1 {
			return mintInfo{}, false
		}
		for p := tokenAccountLen + 1; p+4 <= len(a.data); {
			typ, n := binary.LittleEndian.Uint16(a.data[p:]), int(binary.LittleEndian.Uint16(a.data[p+2:]))
			p += 4
			if p+n > len(a.data) {
				break
			}
			if typ == extTransferFeeConfig && n == 108 {
				newer := a.data[p+32+32+8+18:]
				m.maxFee = binary.LittleEndian.Uint64(newer[8:16])
				m.feeBps = binary.LittleEndian.Uint16(newer[16:18])
			}
			p += n
		}
	}
	return m, true
}

// mintData lays a mint out: the base 82 bytes (no mint authority, the
// supply, the decimals, initialized), and for Token-2022 with a fee the
// TransferFeeConfig extension.
func mintData(supply uint64, decimals uint8, is2022 bool, feeBps uint16, maxFee uint64) []byte {
	d := make([]byte, mintLen)
	binary.LittleEndian.PutUint64(d[36:44], supply)
	d[44], d[45] = decimals, 1
	if !is2022 || feeBps == 0 {
		return d
	}
	d = append(d, make([]byte, tokenAccountLen-mintLen)...)
	d = append(d, 1) // AccountType::Mint
	ext := make([]byte, 108)
	fee := func(b []byte) {
		binary.LittleEndian.PutUint64(b[8:16], maxFee)
		binary.LittleEndian.PutUint16(b[16:18], feeBps)
	}
	fee(ext[72:90])
	fee(ext[90:108])
	d = binary.LittleEndian.AppendUint16(d, extTransferFeeConfig)
	d = binary.LittleEndian.AppendUint16(d, 108)
	return append(d, ext...)
}

// tokenAccountData lays a token account out; a Token-2022 account of a
// fee mint carries TransferFeeAmount, an associated one ImmutableOwner.
func tokenAccountData(mint, owner sol.PublicKey, amount uint64, is2022, feeMint, immutable bool) []byte {
	d := make([]byte, tokenAccountLen)
	copy(d[0:32], mint[:])
	copy(d[32:64], owner[:])
	binary.LittleEndian.PutUint64(d[64:72], amount)
	d[108] = 1 // initialized
	if !is2022 || (!feeMint && !immutable) {
		return d
	}
	d = append(d, 2) // AccountType::Account
	if feeMint {
		d = binary.LittleEndian.AppendUint16(d, extTransferFeeAmount)
		d = binary.LittleEndian.AppendUint16(d, 8)
		d = append(d, make([]byte, 8)...)
	}
	if immutable {
		d = binary.LittleEndian.AppendUint16(d, extImmutableOwner)
		d = binary.LittleEndian.AppendUint16(d, 0)
	}
	return d
}

// addWithheld adds a Token-2022 fee to the account's TransferFeeAmount.
func addWithheld(a *account, fee uint64) {
	for p := tokenAccountLen + 1; p+4 <= len(a.data); {
		typ, n := binary.LittleEndian.Uint16(a.data[p:]), int(binary.LittleEndian.Uint16(a.data[p+2:]))
		p += 4
		if typ == extTransferFeeAmount && n == 8 && p+8 <= len(a.data) {
			binary.LittleEndian.PutUint64(a.data[p:], binary.LittleEndian.Uint64(a.data[p:])+fee)
			return
		}
		p += n
	}
}

// innerIx is an instruction a program invoked (CPI), recorded in meta.
type innerIx struct {
	program  int
	accounts []int
	data     []byte
	stack    int
}

// txErr is a transaction's error as the node writes it in meta.err.
type txErr struct {
	json string // the JSON value
	msg  string
}

func (e *txErr) Error() string { return e.msg }

func instrErr(i int, custom int, msg string) *txErr {
	return &txErr{json: fmt.Sprintf(`{"InstructionError":[%d,{"Custom":%d}]}`, i, custom), msg: msg}
}

func instrErrNamed(i int, name, msg string) *txErr {
	return &txErr{json: fmt.Sprintf(`{"InstructionError":[%d,"%s"]}`, i, name), msg: msg}
}

// exec runs a transaction's instructions over st (already charged its
// fee), recording the inner instructions; on an error st is left as it
// was given back by the caller's copy.
type exec struct {
	st      *state
	keys    []sol.PublicKey
	signers int
	inner   map[int][]innerIx
	top     int
}

func (x *exec) signed(i int) bool { return i >= 0 && i < x.signers }

// run executes one instruction (top-level when stack is 1).
func (x *exec) run(program int, accts []int, data []byte, stack int) *txErr {
	if stack > 1 {
		x.inner[x.top] = append(x.inner[x.top], innerIx{program: program, accounts: accts, data: data, stack: stack})
	}
	if program < 0 || program >= len(x.keys) {
		return instrErrNamed(x.top, "UnsupportedProgramId", "no such program")
	}
	key := func(n int) (sol.PublicKey, int, bool) {
		if n >= len(accts) || accts[n] >= len(x.keys) {
			return sol.PublicKey{}, 0, false
		}
		return x.keys[accts[n]], accts[n], true
	}
	switch x.keys[program] {
	case computeBudget, voteProgram, memoProgram:
		return nil
	case systemProgram:
		return x.system(accts, data, key)
	case tokenProgram, token2022:
		return x.token(x.keys[program], data, key)
	case ataProgram:
		return x.ata(program, accts, data, key, stack)
	case routerProgram:
		return x.router(accts, data, stack)
	}
	return instrErrNamed(x.top, "UnsupportedProgramId", "the devnet does not run program "+x.keys[program].String())
}

type keyFn func(n int) (sol.PublicKey, int, bool)

func (x *exec) system(accts []int, data []byte, key keyFn) *txErr {
	if len(data) < 4 {
		return instrErrNamed(x.top, "InvalidInstructionData", "short system instruction")
	}
	switch binary.LittleEndian.Uint32(data) {
	case 0: // CreateAccount {lamports, space, owner}: [from, new]
		from, fi, ok1 := key(0)
		to, ti, ok2 := key(1)
		if !ok1 || !ok2 || len(data) < 52 {
			return instrErrNamed(x.top, "NotEnoughAccountKeys", "create account")
		}
		if !x.signed(fi) || !x.signed(ti) && !x.pda(ti) {
			return instrErrNamed(x.top, "MissingRequiredSignature", "create account")
		}
		lamports, space := binary.LittleEndian.Uint64(data[4:12]), binary.LittleEndian.Uint64(data[12:20])
		var owner sol.PublicKey
		copy(owner[:], data[20:52])
		fa, ta := x.st.get(from), x.st.get(to)
		if ta.lamports != 0 || len(ta.data) != 0 {
			return instrErr(x.top, 0, "account already in use") // SystemError::AccountAlreadyInUse
		}
		if fa.lamports < lamports {
			return instrErr(x.top, 1, "insufficient lamports") // ResultWithNegativeLamports
		}
		if space > 10<<20 {
			return instrErr(x.top, 3, "space too large")
		}
		fa.lamports -= lamports
		x.st.put(from, fa)
		x.st.put(to, &account{lamports: lamports, owner: owner, data: make([]byte, space)})
		return nil
	case 2, 11: // Transfer {lamports}: [from, to]; TransferWithSeed {lamports, seed, owner}: [from, base, to]
		if len(data) < 12 {
			return instrErrNamed(x.top, "InvalidInstructionData", "transfer")
		}
		lamports := binary.LittleEndian.Uint64(data[4:12])
		fromN, toN, signer := 0, 1, 0
		if binary.LittleEndian.Uint32(data) == 11 {
			fromN, toN, signer = 0, 2, 1
		}
		from, _, ok1 := key(fromN)
		to, ti, ok2 := key(toN)
		_, si, ok3 := key(signer)
		if !ok1 || !ok2 || !ok3 {
			return instrErrNamed(x.top, "NotEnoughAccountKeys", "transfer")
		}
		if !x.signed(si) {
			return instrErrNamed(x.top, "MissingRequiredSignature", "transfer")
		}
		if signer == 1 {
			// The source must be the address derived from base, seed, owner.
			if len(data) < 20 {
				return instrErrNamed(x.top, "InvalidInstructionData", "transfer with seed")
			}
			n := binary.LittleEndian.Uint64(data[12:20])
			if n > 32 || len(data) < 20+int(n)+32 {
				return instrErrNamed(x.top, "InvalidInstructionData", "transfer with seed")
			}
			base, _, _ := key(1)
			var owner sol.PublicKey
			copy(owner[:], data[20+n:20+n+32])
			derived, err := sol.CreateWithSeed(base, string(data[20:20+n]), owner)
			if err != nil || derived != from {
				return instrErr(x.top, 5, "address does not match the seed") // AddressWithSeedMismatch
			}
		}
		fa := x.st.get(from)
		if fa.lamports < lamports {
			return instrErr(x.top, 1, "insufficient lamports")
		}
		if from == to {
			return nil
		}
		ta := x.st.get(to)
		if ta.lamports == 0 && len(ta.data) == 0 && lamports < rentExempt(0) {
			return &txErr{json: fmt.Sprintf(`{"InsufficientFundsForRent":{"account_index":%d}}`, ti), msg: fmt.Sprintf("Transaction results in an account (%d) with insufficient funds for rent", ti)}
		}
		fa.lamports -= lamports
		ta.lamports += lamports
		x.st.put(from, fa)
		x.st.put(to, ta)
		return nil
	}
	return instrErrNamed(x.top, "InvalidInstructionData", "a system instruction the devnet does not run")
}

// pda says whether account i is one a program may create without its
// signature (an associated token account, created by the ATA program).
func (x *exec) pda(i int) bool { return i >= 0 && !sol.PublicKey(x.keys[i]).IsOnCurve() }

func (x *exec) token(program sol.PublicKey, data []byte, key keyFn) *txErr {
	if len(data) == 0 {
		return instrErrNamed(x.top, "InvalidInstructionData", "empty token instruction")
	}
	switch data[0] {
	case 21: // GetAccountDataSize: [mint]
		return nil
	case 22: // InitializeImmutableOwner: [account]
		return nil
	case 18: // InitializeAccount3 {owner}: [account, mint]
		acct, _, ok1 := key(0)
		mint, _, ok2 := key(1)
		if !ok1 || !ok2 || len(data) < 33 {
			return instrErrNamed(x.top, "NotEnoughAccountKeys", "initialize account")
		}
		a := x.st.get(acct)
		m, ok := mintOf(x.st.get(mint))
		if a.owner != program || !ok || m.program != program {
			return instrErrNamed(x.top, "IncorrectProgramId", "initialize account")
		}
		if len(a.data) >= tokenAccountLen && a.data[108] != 0 {
			return instrErr(x.top, 6, "already in use") // TokenError::AlreadyInUse
		}
		var owner sol.PublicKey
		copy(owner[:], data[1:33])
		d := tokenAccountData(mint, owner, 0, program == token2022, m.feeBps > 0, len(a.data) > tokenAccountLen && program == token2022)
		if len(d) != len(a.data) {
			return instrErrNamed(x.top, "InvalidAccountData", "account size")
		}
		a.data = d
		x.st.put(acct, a)
		return nil
	case 3, 12, 26: // Transfer, TransferChecked, TransferFeeExtension
		var amount, fee uint64
		var srcN, mintN, dstN, authN int
		var decimals int = -1
		withFee := false
		switch {
		case data[0] == 3 && len(data) >= 9:
			amount, srcN, mintN, dstN, authN = binary.LittleEndian.Uint64(data[1:9]), 0, -1, 1, 2
		case data[0] == 12 && len(data) >= 10:
			amount, decimals, srcN, mintN, dstN, authN = binary.LittleEndian.Uint64(data[1:9]), int(data[9]), 0, 1, 2, 3
		case data[0] == 26 && program == token2022 && len(data) >= 19 && data[1] == 1:
			amount, decimals, fee, withFee = binary.LittleEndian.Uint64(data[2:10]), int(data[10]), binary.LittleEndian.Uint64(data[11:19]), true
			srcN, mintN, dstN, authN = 0, 1, 2, 3
		default:
			return instrErrNamed(x.top, "InvalidInstructionData", "token transfer")
		}
		src, _, ok1 := key(srcN)
		dst, _, ok2 := key(dstN)
		_, ai, ok3 := key(authN)
		if !ok1 || !ok2 || !ok3 {
			return instrErrNamed(x.top, "NotEnoughAccountKeys", "token transfer")
		}
		sa, da := x.st.get(src), x.st.get(dst)
		smint, sowner, sbal, sok := tokenAccount(sa)
		dmint, _, dbal, dok := tokenAccount(da)
		if !sok || !dok || sa.owner != program || da.owner != program {
			return instrErrNamed(x.top, "InvalidAccountData", "not token accounts of this program")
		}
		if smint != dmint {
			return instrErr(x.top, 3, "mint mismatch") // TokenError::MintMismatch
		}
		m, _ := mintOf(x.st.get(smint))
		if mintN >= 0 {
			mk, _, ok := key(mintN)
			if !ok || mk != smint {
				return instrErr(x.top, 3, "mint mismatch")
			}
			if decimals != int(m.decimals) {
				return instrErr(x.top, 18, "decimals mismatch") // TokenError::MintDecimalsMismatch
			}
		}
		if x.keys[ai] != sowner || !x.signed(ai) && !x.delegated(ai) {
			return instrErr(x.top, 4, "owner does not match") // TokenError::OwnerMismatch
		}
		if sbal < amount {
			return instrErr(x.top, 1, "insufficient funds") // TokenError::InsufficientFunds
		}
		want := uint64(0)
		if m.feeBps > 0 {
			if mintN < 0 {
				return instrErr(x.top, 35, "a fee mint needs transferChecked") // MintRequiredForTransfer
			}
			f := new(big.Int).Mul(new(big.Int).SetUint64(amount), big.NewInt(int64(m.feeBps)))
			f.Add(f, big.NewInt(9999))
			f.Div(f, big.NewInt(10000))
			want = min(f.Uint64(), m.maxFee)
		}
		if withFee && fee != want {
			return instrErr(x.top, 37, "fee mismatch") // TokenError::FeeMismatch
		}
		if src == dst {
			return nil
		}
		setTokenAmount(sa, sbal-amount)
		setTokenAmount(da, dbal+amount-want)
		if want > 0 {
			addWithheld(da, want)
		}
		x.st.put(src, sa)
		x.st.put(dst, da)
		return nil
	}
	return instrErrNamed(x.top, "InvalidInstructionData", "a token instruction the devnet does not run")
}

// delegated: the router program acts for the accounts its instruction
// names as signers (its CPI passes their signatures on).
func (x *exec) delegated(int) bool { return false }

// ata runs the Associated Token Account program's Create (0 or empty) and
// CreateIdempotent (1): [payer, ata, wallet, mint, system, token program],
// with its CPIs recorded as inner instructions, as the real program makes
// them.
func (x *exec) ata(program int, accts []int, data []byte, key keyFn, stack int) *txErr {
	if len(data) > 1 || (len(data) == 1 && data[0] > 1) {
		return instrErrNamed(x.top, "InvalidInstructionData", "ata")
	}
	_, pi, ok1 := key(0)
	ataK, ati, ok2 := key(1)
	wallet, _, ok3 := key(2)
	mint, mi, ok4 := key(3)
	_, si, ok5 := key(4)
	tp, tpi, ok6 := key(5)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return instrErrNamed(x.top, "NotEnoughAccountKeys", "ata")
	}
	want, _, err := sol.FindProgramAddress([][]byte{wallet[:], tp[:], mint[:]}, ataProgram)
	if err != nil || want != ataK {
		return instrErrNamed(x.top, "InvalidSeeds", "not the associated token address")
	}
	if a := x.st.get(ataK); len(a.data) > 0 {
		if len(data) == 1 && data[0] == 1 {
			return nil // idempotent
		}
		return instrErr(x.top, 0, "account already in use")
	}
	m, ok := mintOf(x.st.get(mint))
	if !ok || m.program != tp {
		return instrErrNamed(x.top, "IncorrectProgramId", "ata mint")
	}
	size := tokenAccountLen
	if tp == token2022 {
		size = len(tokenAccountData(mint, wallet, 0, true, m.feeBps > 0, true))
	}
	if e := x.run(tpi, []int{mi}, []byte{21}, stack+1); e != nil {
		return e
	}
	ca := binary.LittleEndian.AppendUint32(nil, 0)
	ca = binary.LittleEndian.AppendUint64(ca, rentExempt(size))
	ca = binary.LittleEndian.AppendUint64(ca, uint64(size))
	ca = append(ca, tp[:]...)
	if e := x.run(si, []int{pi, ati}, ca, stack+1); e != nil {
		return e
	}
	if tp == token2022 {
		if e := x.run(tpi, []int{ati}, []byte{22}, stack+1); e != nil {
			return e
		}
	}
	return x.run(tpi, []int{ati, mi}, append([]byte{18}, wallet[:]...), stack+1)
}

// router is the devnet's own program: it pays out by CPI, as a DEX or a
// payment program does, so deposits arrive in inner instructions.
//
//	[0, lamports u64]: system transfer accounts[0] → accounts[1] (system at accounts[2])
//	[1, amount u64, decimals u8]: token transferChecked [src, mint, dst,
//	authority] = accounts[0..4] (token program at accounts[4])
func (x *exec) router(accts []int, data []byte, stack int) *txErr {
	if len(data) < 9 {
		return instrErrNamed(x.top, "InvalidInstructionData", "router")
	}
	switch {
	case data[0] == 0 && len(accts) >= 3:
		d := binary.LittleEndian.AppendUint32(nil, 2)
		return x.run(accts[2], accts[:2], append(d, data[1:9]...), stack+1)
	case data[0] == 1 && len(data) >= 10 && len(accts) >= 5:
		d := append([]byte{12}, data[1:10]...)
		return x.run(accts[4], accts[:4], d, stack+1)
	}
	return instrErrNamed(x.top, "InvalidInstructionData", "router")
}

var errNoFee = errors.New("the fee payer cannot pay the fee")
