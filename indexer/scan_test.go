package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	sol "github.com/gagliardetto/solana-go"

	btcfixture "github.com/inflowhq/inflow/indexer/bitcoin/fixturerpc"
	"github.com/inflowhq/inflow/indexer/evm/fixturerpc"
	"github.com/inflowhq/inflow/pkg/chain"
	devbtc "github.com/inflowhq/inflow/pkg/devnet/bitcoin"
	devsol "github.com/inflowhq/inflow/pkg/devnet/solana"
	devtron "github.com/inflowhq/inflow/pkg/devnet/tron"
	"github.com/inflowhq/inflow/pkg/testenv"
)

func loadExpected(t *testing.T, path string, kind string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, key(m, kind))
	}
	return out
}

// key renders the comparable part of a row: everything the fixtures state.
func key(m map[string]any, kind string) string {
	s := fmt.Sprintf("%s %v %v %v", kind, m["tx_hash"], m["from"], m["to"])
	if kind == "erc20" {
		s += fmt.Sprintf(" %v %v", m["log_index"], m["token"])
	}
	return s + fmt.Sprintf(" %v", m["value"])
}

func scanOut(t *testing.T, args ...string) (rows []map[string]any, stderr string, rc int) {
	t.Helper()
	var out, errb bytes.Buffer
	rc = run(append([]string{"scan"}, args...), &out, &errb)
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("bad NDJSON line %q: %v", sc.Text(), err)
		}
		rows = append(rows, m)
	}
	return rows, errb.String(), rc
}

// TestScanFixtures runs `indexer scan --all` against a JSON-RPC node serving
// every real fixture block and checks exactly the expected rows come out,
// with exactly the specified fields.
func TestScanFixtures(t *testing.T) {
	dir := filepath.Join(testenv.Fixtures(t), "evm")
	for name, id := range fixturerpc.ChainIDs {
		blocks, err := fixturerpc.Load(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		srv, err := fixturerpc.Start(id, blocks)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		for _, b := range blocks {
			n := fmt.Sprint(b.Number)
			rows, stderr, rc := scanOut(t, "--chain", name, "--rpc", srv.URL, "--from", n, "--to", n, "--all")
			if rc != 0 {
				t.Fatalf("%s/%s: rc=%d: %s", name, n, rc, stderr)
			}
			if !strings.Contains(stderr, "1/1 blocks") {
				t.Errorf("%s/%s: no progress on stderr: %q", name, n, stderr)
			}
			var got []string
			for _, r := range rows {
				kind := r["kind"].(string)
				want := []string{"block_hash", "block_number", "chain", "from", "kind", "to", "tx_hash", "value"}
				if kind == "erc20" {
					want = append(want, "log_index", "token")
				}
				var keys []string
				for k := range r {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				sort.Strings(want)
				if !slices.Equal(keys, want) {
					t.Fatalf("%s/%s: row fields %v, want %v", name, n, keys, want)
				}
				if r["chain"] != name || r["block_number"].(json.Number).String() != n || r["block_hash"] != b.Hash {
					t.Fatalf("%s/%s: row header %v", name, n, r)
				}
				for _, f := range []string{"from", "to", "token", "tx_hash"} {
					if v, ok := r[f].(string); ok && v != strings.ToLower(v) {
						t.Fatalf("%s/%s: %s not lowercase: %s", name, n, f, v)
					}
				}
				got = append(got, key(r, kind))
			}
			want := append(loadExpected(t, filepath.Join(b.Dir, "expected_native.ndjson"), "native"),
				loadExpected(t, filepath.Join(b.Dir, "expected_erc20.ndjson"), "erc20")...)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s/%s: %d rows, want %d", name, n, len(got), len(want))
			}
		}
	}
}

func TestScanWatchAndErrors(t *testing.T) {
	dir := filepath.Join(testenv.Fixtures(t), "evm")
	blocks, err := fixturerpc.Load(filepath.Join(dir, "ethereum"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := fixturerpc.Start("0x1", blocks)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// Two recipients of block 17000000, one written in EIP-55 form.
	var b *fixturerpc.Block
	for _, x := range blocks {
		if x.Number == 17000000 {
			b = x
		}
	}
	want := loadExpected(t, filepath.Join(b.Dir, "expected_erc20.ndjson"), "erc20")
	var recipients []string
	for _, w := range want {
		recipients = append(recipients, strings.Fields(w)[3])
	}
	a1, a2 := recipients[0], recipients[len(recipients)-1]
	watch := filepath.Join(t.TempDir(), "watch.txt")
	os.WriteFile(watch, []byte("# deposit addresses\n"+a1+"\n\n"+strings.ToUpper(a2[:2])[:1]+"x"+strings.ToUpper(a2[2:])+"\n"), 0o644)
	rows, stderr, rc := scanOut(t, "--chain", "ethereum", "--rpc", srv.URL, "--from", "17000000", "--to", "17000000", "--watch", watch)
	if rc != 0 {
		t.Fatalf("rc=%d: %s", rc, stderr)
	}
	if len(rows) == 0 {
		t.Fatal("no rows for watched addresses")
	}
	for _, r := range rows {
		if r["to"] != a1 && r["to"] != a2 {
			t.Errorf("unwatched row %v", r)
		}
	}
	wantN := 0
	for _, w := range append(want, loadExpected(t, filepath.Join(b.Dir, "expected_native.ndjson"), "native")...) {
		if to := strings.Fields(w)[3]; to == a1 || to == a2 {
			wantN++
		}
	}
	if len(rows) != wantN {
		t.Errorf("%d watched rows, want %d", len(rows), wantN)
	}

	// A bad line names the file and line.
	bad := filepath.Join(t.TempDir(), "bad.txt")
	os.WriteFile(bad, []byte(a1+"\n0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD\n"), 0o644)
	_, stderr, rc = scanOut(t, "--chain", "ethereum", "--rpc", srv.URL, "--from", "1", "--to", "1", "--watch", bad)
	if rc != 2 || !strings.Contains(stderr, "bad.txt:2") || !strings.Contains(stderr, "checksum") {
		t.Errorf("bad watch file: rc=%d %q", rc, stderr)
	}
	// A block the node does not have fails the scan, saying which.
	_, stderr, rc = scanOut(t, "--chain", "ethereum", "--rpc", srv.URL, "--from", "17000000", "--to", "17000001", "--all")
	if rc != 1 || !strings.Contains(stderr, "block 17000001") || !strings.Contains(stderr, "not found") {
		t.Errorf("missing block: rc=%d %q", rc, stderr)
	}
	for _, args := range [][]string{
		{"--chain", "ethereum", "--rpc", srv.URL, "--from", "1", "--to", "2"},                            // neither --all nor --watch
		{"--chain", "ethereum", "--rpc", srv.URL, "--from", "1", "--to", "2", "--all", "--watch", watch}, // both
		{"--chain", "ethereum", "--rpc", srv.URL, "--to", "2", "--all"},                                  // no --from
		{"--chain", "Ethereum", "--rpc", srv.URL, "--from", "1", "--to", "2", "--all"},                   // bad id
	} {
		if _, stderr, rc := scanOut(t, args...); rc != 2 {
			t.Errorf("%v: rc=%d %q", args, rc, stderr)
		}
	}
}

// TestScanBitcoin runs `indexer scan --chain bitcoin` against a bitcoind
// serving every real fixture block, raw and (with --verbose-blocks)
// verbose, and checks exactly the specified fields and exactly the expected
// outputs: an output with an address is its expected row; a P2PK output is
// script:<hex> and compared on (txid, vout, value), as the fixture README
// says; one the recorded block names no address for is not in the rows.
func TestScanBitcoin(t *testing.T) {
	blocks, err := btcfixture.Load(filepath.Join(testenv.Fixtures(t), "bitcoin", "mainnet"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := btcfixture.Start(blocks, btcfixture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	type want struct {
		Txid    string `json:"txid"`
		Vout    uint32 `json:"vout"`
		Address string `json:"address"`
		Value   int64  `json:"value_sats"`
		Type    string `json:"script_type"`
	}
	for _, verbose := range []bool{false, true} {
		for _, b := range blocks {
			n := fmt.Sprint(b.Height)
			args := []string{"--chain", "bitcoin", "--rpc", srv.URL, "--from", n, "--to", n, "--all"}
			if verbose {
				args = append(args, "--verbose-blocks")
			}
			rows, stderr, rc := scanOut(t, args...)
			if rc != 0 {
				t.Fatalf("%s: rc=%d: %s", n, rc, stderr)
			}
			expected := map[string]want{}
			for _, line := range strings.Split(strings.TrimSpace(b.Expected), "\n") {
				var w want
				if err := json.Unmarshal([]byte(line), &w); err != nil {
					t.Fatal(err)
				}
				expected[fmt.Sprintf("%s:%d", w.Txid, w.Vout)] = w
			}
			seen := map[string]bool{}
			lastTx, lastVout := "", -1
			for _, r := range rows {
				var keys []string
				for k := range r {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				if want := []string{"block_hash", "block_number", "chain", "kind", "to", "tx_hash", "value", "vout"}; !slices.Equal(keys, want) {
					t.Fatalf("%s: row fields %v, want %v", n, keys, want)
				}
				if r["chain"] != "bitcoin" || r["block_number"].(json.Number).String() != n || r["block_hash"] != b.Hash || r["kind"] != "native" {
					t.Fatalf("%s: row header %v", n, r)
				}
				tx, to, value := r["tx_hash"].(string), r["to"].(string), r["value"].(string)
				vout, _ := r["vout"].(json.Number).Int64()
				if tx != strings.ToLower(tx) || strings.HasPrefix(tx, "0x") || len(tx) != 64 {
					t.Fatalf("%s: tx_hash %q", n, tx)
				}
				if tx == lastTx && int(vout) <= lastVout {
					t.Fatalf("%s: outputs out of order at %s:%d", n, tx, vout)
				}
				lastTx, lastVout = tx, int(vout)
				k := fmt.Sprintf("%s:%d", tx, vout)
				w, ok := expected[k]
				switch {
				case !ok && strings.HasPrefix(to, "script:") && chain.ClassifyScript(mustHex(t, to[7:])) == chain.ScriptP2PK:
					continue // the recorded block gives this P2PK output no address
				case !ok:
					t.Errorf("%s: unexpected row %v", n, r)
				case w.Type == "pubkey":
					if !strings.HasPrefix(to, "script:") || value != fmt.Sprint(w.Value) {
						t.Errorf("%s: P2PK row %v, want script:<hex> and %d", n, r, w.Value)
					}
				case to != w.Address || value != fmt.Sprint(w.Value):
					t.Errorf("%s: row %v, want %s %d", n, r, w.Address, w.Value)
				}
				seen[k] = true
			}
			for k := range expected {
				if !seen[k] {
					t.Errorf("%s: expected output %s not printed", n, k)
				}
			}
		}
	}
	// A watch file of bech32 and base58 addresses: only their outputs.
	watch := filepath.Join(t.TempDir(), "watch.txt")
	os.WriteFile(watch, []byte("328RFS1pcLAWKMtRfsUqdKUXqAx12d8Bvs\n14zKeMXBrD9JKVjijSnDk2aercJAdV22Yh\nbc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\n"), 0o644)
	rows, stderr, rc := scanOut(t, "--chain", "bitcoin", "--rpc", srv.URL, "--from", "696402", "--to", "696402", "--watch", watch)
	if rc != 0 || len(rows) != 2 {
		t.Fatalf("watch: rc=%d, %d rows: %s", rc, len(rows), stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.txt")
	os.WriteFile(bad, []byte("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5\n"), 0o644)
	if _, stderr, rc := scanOut(t, "--chain", "bitcoin", "--rpc", srv.URL, "--from", "0", "--to", "0", "--watch", bad); rc != 2 || !strings.Contains(stderr, "bad.txt:1") {
		t.Errorf("bad bech32 in the watch file: rc=%d %q", rc, stderr)
	}
	if _, stderr, rc := scanOut(t, "--chain", "bitcoin", "--rpc", "http://"+srv.Addr(), "--from", "0", "--to", "0", "--all"); rc != 2 || !strings.Contains(stderr, "credentials") {
		t.Errorf("no credentials: rc=%d %q", rc, stderr)
	}
}

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScanBtcd scans blocks a real btcd made, with outputs of every
// address type (P2WPKH, P2TR, P2SH-P2WPKH, P2PKH, several in one
// transaction, and a coinbase), raw and verbose, and requires each row to
// be the output as btcd itself writes it in its verbose getblock: the same
// address and value, in order.
func TestScanBtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs btcd")
	}
	if _, err := devbtc.FindBtcd(); err != nil {
		testenv.Missing(t, "btcd", "make build builds it into bin/")
	}
	dn, err := devbtc.Start(devbtc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer dn.Close()
	var outs []devbtc.Output
	for i := 0; i < 8; i++ {
		s, _ := devbtc.ParseAddress(devbtc.DevAddress(i))
		outs = append(outs, devbtc.Output{Script: s, Value: int64(1000 * (i + 1))})
	}
	// And a P2WSH output (of a 1-of-1 multisig witness script).
	ws := append(append([]byte{0x51, 0x21}, make([]byte, 33)...), 0x51, 0xae)
	ws[2] = 2
	wsh := sha256.Sum256(ws)
	outs = append(outs, devbtc.Output{Script: append([]byte{0x00, 0x20}, wsh[:]...), Value: 5000})
	if _, err := dn.Send(outs...); err != nil {
		t.Fatal(err)
	}
	if _, err := dn.Transfer(devbtc.DevAddress(1), "BTC", "0.5"); err != nil {
		t.Fatal(err)
	}
	from, _ := dn.Mine(1)
	s, _ := devbtc.ParseAddress(devbtc.DevAddress(2))
	to, _, err := dn.MineTo(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, verbose := range []bool{false, true} {
		args := []string{"--chain", "bitcoin-regtest", "--rpc", dn.URL(), "--from", fmt.Sprint(from), "--to", fmt.Sprint(to), "--all"}
		if verbose {
			args = append(args, "--verbose-blocks")
		}
		rows, stderr, rc := scanOut(t, args...)
		if rc != 0 {
			t.Fatalf("rc=%d: %s", rc, stderr)
		}
		var want []string
		for h := from; h <= to; h++ {
			hash, _ := dn.BlockHash(h)
			raw, err := dn.RawRequest("getblock", hex.EncodeToString(hash[:]), 2)
			if err != nil {
				t.Fatal(err)
			}
			var b struct {
				Tx []struct {
					Txid string `json:"txid"`
					Vout []struct {
						Value        json.Number `json:"value"`
						N            int         `json:"n"`
						ScriptPubKey struct {
							Type, Address, Hex string
						} `json:"scriptPubKey"`
					} `json:"vout"`
				} `json:"rawtx"`
			}
			if err := json.Unmarshal(raw, &b); err != nil {
				t.Fatal(err)
			}
			for _, tx := range b.Tx {
				for _, o := range tx.Vout {
					if o.ScriptPubKey.Type == "nulldata" {
						continue
					}
					f, _ := o.Value.Float64()
					want = append(want, fmt.Sprintf("%d %s:%d %s %d", h, tx.Txid, o.N, o.ScriptPubKey.Address, int64(math.Round(f*1e8))))
				}
			}
		}
		var got []string
		types := map[chain.ScriptType]bool{}
		for _, r := range rows {
			vout, _ := r["vout"].(json.Number).Int64()
			got = append(got, fmt.Sprintf("%v %v:%d %v %v", r["block_number"], r["tx_hash"], vout, r["to"], r["value"]))
			a, _, err := chain.ParseBitcoinAddress(r["to"].(string))
			if err != nil {
				t.Fatal(err)
			}
			types[chain.ClassifyScript(a.Bytes())] = true
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("verbose %v: scan\n%s\nbtcd\n%s", verbose, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, st := range []chain.ScriptType{chain.ScriptP2WPKH, chain.ScriptP2WSH, chain.ScriptP2TR, chain.ScriptP2SH, chain.ScriptP2PKH} {
			if !types[st] {
				t.Errorf("no %s output scanned", st)
			}
		}
	}
}

// TestScanTron scans the Tron devnet over gRPC: TRX, BTT (TRC10) and USDT
// (TRC20) transfers with exactly their fields, base58 addresses, the TRC10
// id and the TRC20 contract as token, and nothing for the failed ones.
func TestScanTron(t *testing.T) {
	dn, err := devtron.Start(devtron.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer dn.Close()
	to := devtron.DevAddresses(1)[0].String()
	trx, _ := dn.Transfer(to, "TRX", "1.000001")
	usdt, _ := dn.Transfer(to, "USDT", "42")
	btt, _ := dn.Transfer(to, "BTT", "0.5")
	dn.TransferFailing(to, false)
	dn.TransferFailing(to, true)
	head, _ := dn.Mine(1)
	n := fmt.Sprint(head)
	rows, stderr, rc := scanOut(t, "--chain", "tron-devnet", "--rpc", dn.URL(), "--from", n, "--to", n, "--all")
	if rc != 0 {
		t.Fatalf("rc=%d: %s", rc, stderr)
	}
	id, _ := dn.BlockID(head)
	want := map[string]string{
		trx:  "native  TRX " + devtron.Faucet().String() + " " + to + " 1000001",
		usdt: "trc20 0 TDpb5Me1roYN1uTj1jS3kaaePU8E3tJuEE " + devtron.Faucet().String() + " " + to + " 42000000",
		btt:  "trc10  1002000 " + devtron.Faucet().String() + " " + to + " 500000",
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows: %v", len(rows), rows)
	}
	for _, r := range rows {
		var keys []string
		for k := range r {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fields := []string{"block_hash", "block_number", "chain", "from", "kind", "to", "tx_hash", "value"}
		switch r["kind"] {
		case "trc20":
			fields = append(fields, "log_index", "token")
		case "trc10":
			fields = append(fields, "token")
		}
		sort.Strings(fields)
		if !slices.Equal(keys, fields) {
			t.Errorf("row fields %v, want %v", keys, fields)
		}
		if r["block_hash"] != hex.EncodeToString(id[:]) || r["chain"] != "tron-devnet" {
			t.Errorf("row header %v", r)
		}
		li := ""
		if v, ok := r["log_index"].(json.Number); ok {
			li = v.String()
		}
		tok, _ := r["token"].(string)
		if tok == "" {
			tok = "TRX"
		}
		got := fmt.Sprintf("%v %s %s %v %v %v", r["kind"], li, tok, r["from"], r["to"], r["value"])
		if got != want[r["tx_hash"].(string)] {
			t.Errorf("row %s, want %s", got, want[r["tx_hash"].(string)])
		}
	}
}

// TestScanSolana scans a range of the Solana devnet's slots, skipped ones
// among them: SOL and USDT rows with exactly their fields (kind, the
// instruction's position, the mint, owners, the token account), an inner
// transfer at "0.1", and nothing for the failed transfer or the votes.
func TestScanSolana(t *testing.T) {
	dn, err := devsol.Start(devsol.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer dn.Close()
	from, _ := dn.Mine(1)
	to := devsol.DevAddresses(1)[0].String()
	solSig, _ := dn.Transfer(to, "SOL", "0.25")
	usdtSig, _ := dn.Transfer(to, "USDT", "42")
	cpiSig, _ := dn.TransferViaRouter(to, 7)
	dn.TransferFailing(to, 5)
	slot, _ := dn.Mine(1)
	last, _ := dn.Mine(12)
	rows, stderr, rc := scanOut(t, "--chain", "solana-localnet", "--rpc", dn.URL(), "--from", fmt.Sprint(from), "--to", fmt.Sprint(last), "--all")
	if rc != 0 {
		t.Fatalf("rc=%d: %s", rc, stderr)
	}
	faucet := devsol.Faucet().String()
	ata := devsol.ATA(sol.PublicKeyFromBytes(devsol.DevAddresses(1)[0].Bytes()), devsol.USDTMint, sol.TokenProgramID).String()
	want := map[string]string{
		solSig:  "native 0  " + faucet + " " + to + "  250000000",
		usdtSig: "spl 1 FTtVx8qMb5fZpvr7pesu9pCZ359UnMajhSAfnAiYKtXc " + faucet + " " + to + " " + ata + " 42000000",
		cpiSig:  "native 0.1  " + faucet + " " + to + "  7",
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows: %v", len(rows), rows)
	}
	h, _ := dn.BlockHash(slot)
	for _, r := range rows {
		var keys []string
		for k := range r {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fields := []string{"block_hash", "block_number", "chain", "from", "index", "kind", "to", "tx_hash", "value"}
		if r["kind"] == "spl" {
			fields = append(fields, "to_token_account", "token")
		}
		sort.Strings(fields)
		if !slices.Equal(keys, fields) {
			t.Errorf("row fields %v, want %v", keys, fields)
		}
		if r["block_hash"] != h.Format(chain.FamilySolana) || r["block_number"].(json.Number).String() != fmt.Sprint(slot) {
			t.Errorf("row header %v", r)
		}
		tok, _ := r["token"].(string)
		acct, _ := r["to_token_account"].(string)
		got := fmt.Sprintf("%v %v %s %v %v %s %v", r["kind"], r["index"], tok, r["from"], r["to"], acct, r["value"])
		if got != want[r["tx_hash"].(string)] {
			t.Errorf("row %s, want %s", got, want[r["tx_hash"].(string)])
		}
	}
	if !strings.Contains(stderr, fmt.Sprintf("%d/%d blocks", last-from+1, last-from+1)) {
		t.Errorf("progress: %s", stderr)
	}
}
