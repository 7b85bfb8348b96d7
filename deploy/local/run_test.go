package main

import (
	"bytes"
	"context"
	"encoding/json"

	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a child's output, read while it writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
func (s *syncBuffer) Reset()         { s.mu.Lock(); defer s.mu.Unlock(); s.b.Reset() }

// shellWords splits a command line the way sh does for the quoting the
// welcome text uses: single quotes, and backslash-newline continuations.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			cur.WriteByte(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == '\\' && i+1 < len(s) && s[i+1] == '\n':
			i++
		case c == ' ' || c == '\n' || c == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// curl performs a printed curl command (-s, -X, -H, -d).
func curl(t *testing.T, words []string) []byte {
	t.Helper()
	method, url, body := "GET", "", ""
	hdr := http.Header{}
	for i := 1; i < len(words); i++ {
		switch words[i] {
		case "-s":
		case "-X":
			i++
			method = words[i]
		case "-H":
			i++
			k, v, _ := strings.Cut(words[i], ":")
			hdr.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-d":
			i++
			body = words[i]
			if method == "GET" {
				method = "POST"
			}
		default:
			if strings.HasPrefix(words[i], "-") {
				t.Fatalf("the printed curl uses an option this test does not know: %s", words[i])
			}
			url = words[i]
		}
	}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return b
}

// TestMakeRunAsANewUser starts the all-in-one command the way `make run`
// does (with a fast devnet), then runs the curl commands it prints, in order,
// and watches the deposit complete.
func TestMakeRunAsANewUser(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	needBtcd(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	dir := t.TempDir()
	args := []string{"--data", dir, "--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--kafka-port", "0",
		"--indexer-ops", "127.0.0.1:0", "--ledger-http", "127.0.0.1:0", "--block-time", "100ms", "--finality-lag", "8",
		"--bitcoin-rpc", "127.0.0.1:0", "--bitcoin-block-time", "150ms", "--tron-rpc", "127.0.0.1:0", "--tron-block-time", "50ms",
		"--solana-rpc", "127.0.0.1:0", "--solana-block-time", "30ms"}
	go func() { done <- run(ctx, args, &out, &errb) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "Ctrl-C stops") {
		if time.Now().After(deadline) {
			t.Fatalf("no welcome text; stderr: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	text := out.String()
	var cmds [][]string
	for _, block := range strings.Split(text, "\n\n") {
		for _, part := range strings.Split(block, "\n  #") {
			i := strings.Index(part, "curl ")
			if i < 0 {
				continue
			}
			cmd := part[i:]
			// A command ends at the first line that does not continue.
			lines := strings.Split(cmd, "\n")
			var keep []string
			for _, l := range lines {
				keep = append(keep, l)
				if !strings.HasSuffix(l, "\\") {
					break
				}
			}
			cmds = append(cmds, shellWords(strings.Join(keep, "\n")))
			// The third step prints two commands, one per line.
			for _, l := range lines[len(keep):] {
				if w := strings.TrimSpace(l); strings.HasPrefix(w, "curl ") {
					cmds = append(cmds, shellWords(w))
				}
			}
		}
	}
	if len(cmds) != 16 {
		t.Fatalf("found %d curl commands (want 4 for USDT, 4 for BTC, 4 for Tron USDT, 4 for Solana USDT) in:\n%s", len(cmds), text)
	}
	// Both quick starts at once: bind, send, then watch each complete.
	type flow struct {
		cmds   [][]string
		amount string
		txHash string
	}
	flows := []*flow{{cmds: cmds[:4], amount: "25"}, {cmds: cmds[4:8], amount: "0.5"}, {cmds: cmds[8:12], amount: "10"}, {cmds: cmds[12:], amount: "20"}}
	for _, f := range flows {
		var bind struct{ Address, Protocol string }
		if err := json.Unmarshal(curl(t, f.cmds[0]), &bind); err != nil || bind.Address == "" {
			t.Fatalf("bind answer: %v %+v", err, bind)
		}
		if f.amount == "0.5" && (bind.Protocol != "bitcoin" || !strings.HasPrefix(bind.Address, "bcrt1") && !strings.HasPrefix(bind.Address, "m") && !strings.HasPrefix(bind.Address, "n") && !strings.HasPrefix(bind.Address, "2")) {
			t.Fatalf("BTC bind gave %+v, want a regtest address", bind)
		}
		if f.amount == "20" && bind.Protocol != "solana" {
			t.Fatalf("Solana bind gave %+v, want a solana owner address", bind)
		}
		for i, w := range f.cmds[1] {
			f.cmds[1][i] = strings.ReplaceAll(w, "ADDRESS", bind.Address)
		}
		var sent struct{ TxHash string }
		json.Unmarshal(curl(t, f.cmds[1]), &sent)
		if sent.TxHash == "" {
			t.Fatal("transfer gave no txHash")
		}
		f.txHash = sent.TxHash
	}
	for _, f := range flows {
		deadline = time.Now().Add(60 * time.Second)
		for {
			var l struct {
				Data []struct{ Status, Amount, TxHash string }
			}
			json.Unmarshal(curl(t, f.cmds[2]), &l)
			if len(l.Data) == 1 && l.Data[0].Status == "completed" && l.Data[0].Amount == f.amount && l.Data[0].TxHash == f.txHash {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the %s deposit never completed: %+v", f.amount, l)
			}
			time.Sleep(100 * time.Millisecond)
		}
		var bal struct {
			Data []struct{ Currency, Available string }
		}
		json.Unmarshal(curl(t, f.cmds[3]), &bal)
		if len(bal.Data) != 1 || bal.Data[0].Available != f.amount {
			t.Errorf("balance = %+v, want %s", bal, f.amount)
		}
	}
	cancel()
	if rc := <-done; rc != 0 {
		t.Errorf("inflow exited %d: %s", rc, errb.String())
	}
	if !strings.Contains(errb.String(), "stopped cleanly") {
		t.Errorf("no clean stop: %s", errb.String())
	}
}
