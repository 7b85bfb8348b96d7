package solana

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sol "github.com/gagliardetto/solana-go"
	"github.com/mr-tron/base58"

	"github.com/inflowhq/inflow/indexer/follow"
	"github.com/inflowhq/inflow/pkg/chain"
	devsol "github.com/inflowhq/inflow/pkg/devnet/solana"
)

func mustDial(t *testing.T, o ClientOptions) *Client {
	t.Helper()
	c, err := Dial(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestClientOnDevnet reads the devnet through solana-go's rpc client: the
// head, finality, skipped slots, and every deposit path the devnet makes,
// each credited to its owner with what the account received; the failed
// transfer and the vote give nothing, and the watched owners reconcile.
func TestClientOnDevnet(t *testing.T) {
	d, err := devsol.Start(devsol.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	owners := devsol.DevAddresses(3)
	to, other := owners[2], owners[1]
	watched := map[string]bool{to.Raw(): true, other.Raw(): true}
	var mu sync.Mutex
	var mismatches []Mismatch
	c := mustDial(t, ClientOptions{URL: d.URL(), Watched: func(k []byte) bool { return watched[string(k)] },
		OnMismatch: func(_ uint64, m Mismatch) { mu.Lock(); mismatches = append(mismatches, m); mu.Unlock() }})
	ctx := context.Background()
	d.Mine(1)
	solSig, err := d.Transfer(to.String(), "SOL", "1.5")
	if err != nil {
		t.Fatal(err)
	}
	usdtSig, _ := d.Transfer(to.String(), "USDT", "7.25") // creates the ATA
	usdfSig, _ := d.Transfer(to.String(), "USDF", "100")  // Token-2022, 1% fee
	feeSig, _ := d.TransferWithFee(other.String(), 50_000_000)
	acctSig, acct, _ := d.TransferToTokenAccount(to.String(), 3_000_000)
	cpiSig, _ := d.TransferViaRouter(to.String(), 2_000_000_000)
	cpiTokSig, _ := d.TokenViaRouter(other.String(), 4_000_000)
	v0Sig, _ := d.TransferV0(other.String(), 900_000_000)
	failSig, err := d.TransferFailing(to.String(), 1_000)
	if err != nil {
		t.Fatal(err)
	}
	slot, err := d.Mine(1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Head(ctx); err != nil || got != slot {
		t.Fatalf("head %d %v, want %d", got, err, slot)
	}
	b, err := c.FetchBlock(ctx, slot)
	if err != nil {
		t.Fatal(err)
	}
	if b.TxCount != 10 { // nine and the vote
		t.Errorf("%d transactions", b.TxCount)
	}
	type want struct {
		kind, value, token string
		to                 chain.Address
		at                 string
	}
	usdt, usdf := "FTtVx8qMb5fZpvr7pesu9pCZ359UnMajhSAfnAiYKtXc", "2ndukHx67uZigm2US5uQJrCs1jQHi8R37pMbTRngxMee"
	wants := map[string][]want{
		solSig:    {{"native", "1500000000", "", to, "0"}},
		usdtSig:   {{"spl", "7250000", usdt, to, "1"}}, // after the ATA's create
		usdfSig:   {{"spl", "99000000", usdf, to, "1"}},
		feeSig:    {{"spl", "49500000", usdf, other, "1"}},
		acctSig:   {{"native", "", "", chain.Address{}, ""}, {"spl", "3000000", usdt, to, "2"}},
		cpiSig:    {{"native", "2000000000", "", to, "0.1"}},
		cpiTokSig: {{"spl", "4000000", usdt, other, "1.1"}},
		v0Sig:     {{"native", "900000000", "", other, "0"}},
	}
	got := map[string][]chain.Transfer{}
	for _, tr := range b.Transfers {
		got[base58.Encode(tr.TxHash)] = append(got[base58.Encode(tr.TxHash)], tr)
	}
	if len(got[failSig]) != 0 {
		t.Errorf("the failed transfer gave %+v", got[failSig])
	}
	// The token account's creation is a System createAccount, not a
	// transfer: only the deposit is there.
	wants[acctSig] = wants[acctSig][1:]
	for sig, ws := range wants {
		trs := got[sig]
		if len(trs) != len(ws) {
			t.Errorf("%s: %d transfers %+v, want %d", sig, len(trs), trs, len(ws))
			continue
		}
		for i, w := range ws {
			tr := trs[i]
			if tr.Kind.String() != w.kind || tr.Value.String() != w.value || tr.To != w.to || chain.SolanaPosition(tr.Index) != w.at {
				t.Errorf("%s: %s %s to %s at %s, want %+v", sig, tr.Kind, tr.Value, tr.To, chain.SolanaPosition(tr.Index), w)
			}
			if w.token != "" && tr.Token.String() != w.token {
				t.Errorf("%s: token %s", sig, tr.Token)
			}
		}
	}
	if trs := got[acctSig]; len(trs) == 1 && trs[0].TokenAccount != acct {
		t.Errorf("the non-associated account deposit's token account %s, want %s", trs[0].TokenAccount, acct)
	}
	if trs := got[usdtSig]; len(trs) == 1 {
		ata := devsol.ATA(solKey(to), devsol.USDTMint, tokenKey())
		if trs[0].TokenAccount.String() != ata.String() {
			t.Errorf("USDT token account %s, want the ATA %s", trs[0].TokenAccount, ata)
		}
	}
	// The json encoding gives the same transfers.
	cj := mustDial(t, ClientOptions{URL: d.URL(), Encoding: "json"})
	bj, err := cj.FetchBlock(ctx, slot)
	if err != nil || len(bj.Transfers) != len(b.Transfers) {
		t.Fatalf("json encoding: %v, %d transfers", err, len(bj.Transfers))
	}
	for i := range bj.Transfers {
		if bj.Transfers[i].Value.String() != b.Transfers[i].Value.String() || bj.Transfers[i].To != b.Transfers[i].To ||
			bj.Transfers[i].Index != b.Transfers[i].Index || bj.Ref != b.Ref {
			t.Errorf("json transfer %d %+v, base64 %+v", i, bj.Transfers[i], b.Transfers[i])
		}
	}
	// Every watched owner's flows agree with its balances: the devnet's
	// transfers are all parsed.
	mu.Lock()
	if len(mismatches) != 0 {
		t.Errorf("mismatches %+v", mismatches)
	}
	mu.Unlock()
	// Skipped slots: the client says ErrSkipped. Far below the head
	// getBlocks names them, and they cost no getBlock (counted through a
	// proxy); near the head getBlock's -32007 does.
	head, _ := d.Mine(80)
	var calls struct {
		sync.Mutex
		getBlock int
	}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		calls.Lock()
		calls.getBlock += strings.Count(string(body), `"method":"getBlock"`)
		calls.Unlock()
		resp, err := http.Post(d.URL(), "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	cp := mustDial(t, ClientOptions{URL: proxy.URL})
	if got, err := cp.Head(ctx); err != nil || got != head {
		t.Fatalf("head %d %v", got, err)
	}
	far, near := 0, 0
	for s := slot + 1; s < head; s++ {
		if _, ok := d.BlockHash(s); ok {
			continue
		}
		calls.Lock()
		before := calls.getBlock
		calls.Unlock()
		if _, err := cp.FetchBlock(ctx, s); !errors.Is(err, follow.ErrSkipped) {
			t.Errorf("skipped slot %d: %v", s, err)
		}
		calls.Lock()
		asked := calls.getBlock - before
		calls.Unlock()
		if s+nearHead <= head {
			far++
			if asked != 0 {
				t.Errorf("skipped slot %d, %d below the head, cost %d getBlock calls", s, head-s, asked)
			}
		} else {
			near++
		}
	}
	calls.Lock()
	before := calls.getBlock
	calls.Unlock()
	if _, err := cp.FetchBlock(ctx, slot); err != nil {
		t.Fatal(err)
	}
	calls.Lock()
	if calls.getBlock != before+1 {
		t.Errorf("a block cost %d getBlock calls as counted: the count is not seeing them", calls.getBlock-before)
	}
	calls.Unlock()
	if far == 0 || near == 0 {
		t.Errorf("80 blocks: %d skipped slots far from the head, %d near it", far, near)
	}
	if _, err := c.FetchBlock(ctx, head+1); !errors.Is(err, follow.ErrNotFound) {
		t.Errorf("a slot above the head: %v", err)
	}
	fin, err := c.Finalized(ctx)
	if err != nil || fin.Number != d.Finalized() || fin.Number+devsol.FinalityLag > head {
		t.Fatalf("finalized %v %v (devnet %d, head %d)", fin, err, d.Finalized(), head)
	}
	if h, _ := d.BlockHash(fin.Number); h != fin.Hash {
		t.Error("the finalized block's hash is not the devnet's")
	}
	hdr, err := c.Header(ctx, slot)
	if err != nil || hdr != b.Ref {
		t.Errorf("header %v %v, block %v", hdr, err, b.Ref)
	}
	for _, bad := range []string{"grpc://" + d.Addr(), d.Addr(), "http://"} {
		if _, err := Dial(ClientOptions{URL: bad}); err == nil {
			t.Errorf("Dial(%q) accepted", bad)
		}
	}
}

// TestUnsupportedVersionHalts: a client that asks for legacy transactions
// only gets -32015 for a block with a v0 one, and the error halts the
// chain (follow.ErrHalt); the block is never taken for skipped.
func TestUnsupportedVersionHalts(t *testing.T) {
	d, err := devsol.Start(devsol.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.Mine(1)
	d.TransferV0(devsol.DevAddresses(1)[0].String(), 1_000_000_000)
	slot, _ := d.Mine(1)
	c := mustDial(t, ClientOptions{URL: d.URL(), MaxSupportedTransactionVersion: LegacyOnly})
	_, err = c.FetchBlock(context.Background(), slot)
	if !errors.Is(err, follow.ErrHalt) || errors.Is(err, follow.ErrSkipped) {
		t.Fatalf("a v0 block for a legacy-only client: %v", err)
	}
	c = mustDial(t, ClientOptions{URL: d.URL()})
	if b, err := c.FetchBlock(context.Background(), slot); err != nil || len(b.Transfers) != 1 {
		t.Fatalf("with version 0: %v %+v", err, b)
	}
}

func solKey(a chain.Address) sol.PublicKey { return sol.PublicKeyFromBytes(a.Bytes()) }

func tokenKey() sol.PublicKey { return sol.TokenProgramID }
