package solana

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/programs/token"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/devnet"
)

// ID is the chain's id.
func (d *Devnet) ID() chain.ID { return ChainID }

// Currencies are the currencies Transfer takes: SOL, USDT (SPL Token) and
// USDF (Token-2022, with a 1% transfer fee).
func (d *Devnet) Currencies() []string { return []string{"SOL", "USDT", "USDF"} }

// parseOwner reads a base58 owner address.
func parseOwner(to string) (sol.PublicKey, error) {
	a, err := chain.ParseAddress(chain.FamilySolana, to)
	if err != nil {
		return sol.PublicKey{}, fmt.Errorf("%w: %v", devnet.ErrBadAddress, err)
	}
	return sol.PublicKeyFromBytes(a.Bytes()), nil
}

// baseUnits reads a positive decimal amount with at most decimals places.
func baseUnits(amount string, decimals int) (uint64, error) {
	whole, frac, _ := strings.Cut(amount, ".")
	if whole == "" || len(frac) > decimals || strings.Trim(whole+frac, "0123456789") != "" || (strings.Contains(amount, ".") && frac == "") {
		return 0, fmt.Errorf("%w: %q is not a positive decimal with at most %d places", devnet.ErrBadAmount, amount, decimals)
	}
	v, ok := new(big.Int).SetString(whole+frac+strings.Repeat("0", decimals-len(frac)), 10)
	if !ok || v.Sign() <= 0 || !v.IsUint64() {
		return 0, fmt.Errorf("%w: %q", devnet.ErrBadAmount, amount)
	}
	return v.Uint64(), nil
}

// Transfer sends amount of SOL (a System transfer), USDT (transferChecked
// into the owner's associated token account, created first when it does
// not exist) or USDF (the same under Token-2022; the owner receives the
// amount less the 1% fee) from the faucet to the owner to. It returns the
// signature.
func (d *Devnet) Transfer(to, currency, amount string) (string, error) {
	owner, err := parseOwner(to)
	if err != nil {
		return "", err
	}
	switch currency {
	case "SOL":
		v, err := baseUnits(amount, 9)
		if err != nil {
			return "", err
		}
		return d.send([]sol.Instruction{system.NewTransferInstruction(v, faucetKey.PublicKey(), owner).Build()}, faucetKey)
	case "USDT", "USDF":
		mint, program, dec := USDTMint, tokenProgram, USDTDecimals
		if currency == "USDF" {
			mint, program, dec = USDFMint, token2022, USDFDecimals
		}
		v, err := baseUnits(amount, dec)
		if err != nil {
			return "", err
		}
		return d.send(d.tokenToOwner(faucetKey.PublicKey(), owner, mint, program, dec, v), faucetKey)
	}
	return "", fmt.Errorf("%w: %q (solana-localnet has SOL, USDT and USDF)", devnet.ErrBadCurrency, currency)
}

// createATA is the ATA program's CreateIdempotent.
func createATA(payer, owner, mint, program sol.PublicKey) sol.Instruction {
	return sol.NewInstruction(ataProgram, sol.AccountMetaSlice{
		sol.Meta(payer).WRITE().SIGNER(), sol.Meta(ATA(owner, mint, program)).WRITE(), sol.Meta(owner), sol.Meta(mint),
		sol.Meta(systemProgram), sol.Meta(program),
	}, []byte{1})
}

// transferChecked is SPL Token's TransferChecked, under either program.
func transferChecked(program, src, mint, dst, authority sol.PublicKey, amount uint64, decimals int) sol.Instruction {
	if program == tokenProgram {
		return token.NewTransferCheckedInstruction(amount, uint8(decimals), src, mint, dst, authority, nil).Build()
	}
	data := binary.LittleEndian.AppendUint64([]byte{12}, amount)
	return sol.NewInstruction(program, sol.AccountMetaSlice{
		sol.Meta(src).WRITE(), sol.Meta(mint), sol.Meta(dst).WRITE(), sol.Meta(authority).SIGNER(),
	}, append(data, byte(decimals)))
}

// tokenToOwner pays an owner's associated token account, creating it in
// the same transaction when it does not exist yet.
func (d *Devnet) tokenToOwner(from, owner, mint, program sol.PublicKey, decimals int, amount uint64) []sol.Instruction {
	dst := ATA(owner, mint, program)
	var ixs []sol.Instruction
	d.mu.Lock()
	exists := len(d.st.get(dst).data) > 0
	d.mu.Unlock()
	if !exists {
		ixs = append(ixs, createATA(from, owner, mint, program))
	}
	return append(ixs, transferChecked(program, ATA(from, mint, program), mint, dst, from, amount, decimals))
}

// TransferToTokenAccount pays USDT into a new token account of the owner
// that is not its associated one: a fresh keypair's account, created and
// initialized in the same transaction (two signers). It returns the
// signature and the token account.
func (d *Devnet) TransferToTokenAccount(to string, amount uint64) (string, chain.Address, error) {
	owner, err := parseOwner(to)
	if err != nil {
		return "", chain.Address{}, err
	}
	acct, err := sol.NewRandomPrivateKey()
	if err != nil {
		return "", chain.Address{}, err
	}
	f := faucetKey.PublicKey()
	ixs := []sol.Instruction{
		system.NewCreateAccountInstruction(rentExempt(tokenAccountLen), tokenAccountLen, tokenProgram, f, acct.PublicKey()).Build(),
		token.NewInitializeAccount3Instruction(owner, acct.PublicKey(), USDTMint).Build(),
		transferChecked(tokenProgram, ATA(f, USDTMint, tokenProgram), USDTMint, acct.PublicKey(), f, amount, USDTDecimals),
	}
	sig, err := d.send(ixs, faucetKey, acct)
	k := acct.PublicKey()
	return sig, chain.MustAddress(chain.FamilySolana, k[:]), err
}

// TransferWithFee pays USDF with Token-2022's transferCheckedWithFee,
// naming the fee; the owner's account receives amount less it.
func (d *Devnet) TransferWithFee(to string, amount uint64) (string, error) {
	owner, err := parseOwner(to)
	if err != nil {
		return "", err
	}
	f := faucetKey.PublicKey()
	fee := min((amount*USDFFeeBps+9999)/10000, USDFMaxFee)
	dst := ATA(owner, USDFMint, token2022)
	ixs := []sol.Instruction{createATA(f, owner, USDFMint, token2022)}
	data := binary.LittleEndian.AppendUint64([]byte{26, 1}, amount)
	data = binary.LittleEndian.AppendUint64(append(data, USDFDecimals), fee)
	ixs = append(ixs, sol.NewInstruction(token2022, sol.AccountMetaSlice{
		sol.Meta(ATA(f, USDFMint, token2022)).WRITE(), sol.Meta(USDFMint), sol.Meta(dst).WRITE(), sol.Meta(f).SIGNER(),
	}, data))
	return d.send(ixs, faucetKey)
}

// TransferFailing sends a USDT transferChecked from an account holding
// none, with skipPreflight: it fails in its block (InstructionError Custom 1, insufficient
// funds), its fee charged, nothing moved.
func (d *Devnet) TransferFailing(to string, amount uint64) (string, error) {
	owner, err := parseOwner(to)
	if err != nil {
		return "", err
	}
	p := poorKey.PublicKey()
	ixs := []sol.Instruction{
		createATA(p, owner, USDTMint, tokenProgram),
		transferChecked(tokenProgram, ATA(p, USDTMint, tokenProgram), USDTMint, ATA(owner, USDTMint, tokenProgram), p, amount, USDTDecimals),
	}
	return d.sendOpts(ixs, nil, false, poorKey) // skipPreflight, to land it failed
}

// TransferViaRouter pays lamports through the devnet's router program: the
// deposit is an inner System transfer (a CPI), as from a DEX or a payment
// program.
func (d *Devnet) TransferViaRouter(to string, lamports uint64) (string, error) {
	owner, err := parseOwner(to)
	if err != nil {
		return "", err
	}
	f := faucetKey.PublicKey()
	ix := sol.NewInstruction(routerProgram, sol.AccountMetaSlice{sol.Meta(f).WRITE().SIGNER(), sol.Meta(owner).WRITE(), sol.Meta(systemProgram)},
		binary.LittleEndian.AppendUint64([]byte{0}, lamports))
	return d.send([]sol.Instruction{ix}, faucetKey)
}

// TokenViaRouter pays USDT through the router: an inner transferChecked
// into the owner's associated token account (created first, top-level).
func (d *Devnet) TokenViaRouter(to string, amount uint64) (string, error) {
	owner, err := parseOwner(to)
	if err != nil {
		return "", err
	}
	f := faucetKey.PublicKey()
	data := binary.LittleEndian.AppendUint64([]byte{1}, amount)
	ix := sol.NewInstruction(routerProgram, sol.AccountMetaSlice{
		sol.Meta(ATA(f, USDTMint, tokenProgram)).WRITE(), sol.Meta(USDTMint), sol.Meta(ATA(owner, USDTMint, tokenProgram)).WRITE(),
		sol.Meta(f).SIGNER(), sol.Meta(tokenProgram),
	}, append(data, USDTDecimals))
	return d.send([]sol.Instruction{createATA(f, owner, USDTMint, tokenProgram), ix}, faucetKey)
}

// TransferV0 pays lamports in a v0 transaction whose destination is
// loaded from the devnet's address lookup table (it must be one of the
// first 16 dev addresses, or one of the table's strangers).
func (d *Devnet) TransferV0(to string, lamports uint64) (string, error) {
	owner, err := parseOwner(to)
	if err != nil {
		return "", err
	}
	table := lookupTableAddresses()
	if !slices.Contains(table, owner) {
		return "", fmt.Errorf("%w: %s is not in the devnet's lookup table", devnet.ErrBadAddress, to)
	}
	ix := system.NewTransferInstruction(lamports, faucetKey.PublicKey(), owner).Build()
	return d.sendOpts([]sol.Instruction{ix}, []sol.TransactionOption{sol.TransactionAddressTables(map[sol.PublicKey]sol.PublicKeySlice{LookupTable: table})}, true, faucetKey)
}

func (d *Devnet) send(ixs []sol.Instruction, signers ...sol.PrivateKey) (string, error) {
	return d.sendOpts(ixs, nil, true, signers...)
}

// sendOpts builds a transaction on the newest blockhash, signs it with
// solana-go and submits it as sendTransaction does, with its preflight
// simulation or (preflight false, skipPreflight) without.
func (d *Devnet) sendOpts(ixs []sol.Instruction, opts []sol.TransactionOption, preflight bool, signers ...sol.PrivateKey) (string, error) {
	d.mu.Lock()
	bh := d.blocks[len(d.blocks)-1].hash
	d.mu.Unlock()
	opts = append(opts, sol.TransactionPayer(signers[0].PublicKey()))
	tx, err := sol.NewTransaction(ixs, bh, opts...)
	if err != nil {
		return "", err
	}
	if _, err := tx.Sign(func(k sol.PublicKey) *sol.PrivateKey {
		for i := range signers {
			if signers[i].PublicKey() == k {
				return &signers[i]
			}
		}
		return nil
	}); err != nil {
		return "", err
	}
	wire, err := tx.MarshalBinary()
	if err != nil {
		return "", err
	}
	return d.submit(wire, preflight)
}

// Errors of Submit.
var (
	ErrBadSignature     = errors.New("transaction signature verification failure")
	ErrBlockhash        = errors.New("blockhash not found")
	ErrAlreadyProcessed = errors.New("this transaction has already been processed")
	ErrNoFunds          = errors.New("attempt to debit an account but found no record of a prior credit")
	// ErrPreflight: the transaction fails when simulated after the pending
	// ones (a program error, or an account left below rent exemption); it
	// is not taken. Sent with skipPreflight it would land
	// in its block as failed.
	ErrPreflight = errors.New("transaction simulation failed")
)

// Submit takes a signed transaction's wire bytes for the next block, as
// sendTransaction does: its signatures must verify, its blockhash be
// recent, its fee payer able to pay, and its simulation succeed
// (preflight: on the newest block's state after the pending transactions,
// as a cluster's processed commitment shows it).
func (d *Devnet) Submit(wire []byte) (string, error) { return d.submit(wire, true) }

// SubmitSkipPreflight is Submit as sendTransaction with skipPreflight:
// a transaction that fails is taken, and lands in its block as failed.
func (d *Devnet) SubmitSkipPreflight(wire []byte) (string, error) { return d.submit(wire, false) }

func (d *Devnet) submit(wire []byte, preflight bool) (string, error) {
	tx, err := decodeTx(wire)
	if err != nil {
		return "", fmt.Errorf("failed to deserialize the transaction: %w", err)
	}
	if err := tx.VerifySignatures(); err != nil {
		return "", ErrBadSignature
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return "", errors.New("solana devnet: closed")
	}
	if _, ok := d.recent[tx.Message.RecentBlockhash]; !ok {
		return "", ErrBlockhash
	}
	if d.known[tx.Signatures[0]] {
		return "", ErrAlreadyProcessed
	}
	if d.st.get(tx.Message.AccountKeys[0]).lamports < lamportsPerSig*uint64(len(tx.Signatures)) {
		return "", ErrNoFunds
	}
	if preflight {
		t, err := simulate(d.st, d.pending, wire)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrPreflight, err)
		}
		if t.failed {
			return "", fmt.Errorf("%w: %s", ErrPreflight, t.errMsg)
		}
	}
	d.known[tx.Signatures[0]] = true
	d.pending = append(d.pending, wire)
	return tx.Signatures[0].String(), nil
}

// voteTx is the validator's vote on the parent (TowerSync-shaped data).
func (d *Devnet) voteTx(parent *block) ([]byte, error) {
	data := binary.LittleEndian.AppendUint32(nil, 14)
	data = binary.LittleEndian.AppendUint64(data, parent.slot)
	data = append(data, parent.hash[:]...)
	ix := sol.NewInstruction(voteProgram, sol.AccountMetaSlice{sol.Meta(voteKey.PublicKey()).WRITE(), sol.Meta(validatorKey.PublicKey()).SIGNER()}, data)
	tx, err := sol.NewTransaction([]sol.Instruction{ix}, parent.hash, sol.TransactionPayer(validatorKey.PublicKey()))
	if err != nil {
		return nil, err
	}
	if _, err := tx.Sign(func(sol.PublicKey) *sol.PrivateKey { return &validatorKey }); err != nil {
		return nil, err
	}
	return tx.MarshalBinary()
}

// Balance is an owner's SOL and its associated USDT and USDF accounts'
// amounts, in base units.
func (d *Devnet) Balance(a chain.Address) (lamports, usdt, usdf uint64) {
	k := sol.PublicKeyFromBytes(a.Bytes())
	d.mu.Lock()
	defer d.mu.Unlock()
	_, _, usdt, _ = tokenAccount(d.st.accts[ATA(k, USDTMint, tokenProgram)])
	_, _, usdf, _ = tokenAccount(d.st.accts[ATA(k, USDFMint, token2022)])
	return d.st.get(k).lamports, usdt, usdf
}

// trafficLoop sends background transactions: most to strangers, about one
// in ten to a TrafficTargets owner, and now and then one that fails.
func (d *Devnet) trafficLoop() {
	defer d.wg.Done()
	t := time.NewTicker(time.Duration(float64(time.Second) / d.cfg.TrafficRate))
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		var to string
		if d.cfg.TrafficTargets != nil && rand.IntN(10) == 0 {
			if ts := d.cfg.TrafficTargets(); len(ts) > 0 {
				to = ts[rand.IntN(len(ts))].String()
			}
		}
		if to == "" {
			k, _ := sol.NewRandomPrivateKey()
			to = k.PublicKey().String()
		}
		var err error
		switch r := rand.IntN(20); {
		case r < 7:
			_, err = d.Transfer(to, "SOL", fmt.Sprintf("0.%03d", 1+rand.IntN(999)))
		case r < 12:
			_, err = d.Transfer(to, "USDT", fmt.Sprintf("%d.%02d", rand.IntN(500), rand.IntN(100)))
		case r < 14:
			_, err = d.TransferViaRouter(to, uint64(1_000_000+rand.IntN(1_000_000_000)))
		case r < 16:
			_, err = d.TokenViaRouter(to, uint64(1+rand.IntN(100_000_000)))
		case r < 17:
			_, err = d.TransferWithFee(to, uint64(1+rand.IntN(100_000_000)))
		case r < 18:
			_, err = d.TransferV0(tableStrangers()[rand.IntN(len(tableStrangers()))].String(), uint64(1_000_000+rand.IntN(1_000_000)))
		default:
			_, err = d.TransferFailing(to, 1+uint64(rand.IntN(1000)))
		}
		if err != nil {
			d.log.Debug("solana devnet: traffic", "err", err)
		}
	}
}
