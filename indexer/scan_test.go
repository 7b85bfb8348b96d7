package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/inflowhq/inflow/indexer/evm/fixturerpc"
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
