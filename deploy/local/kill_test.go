package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	devbtc "github.com/inflowhq/inflow/pkg/devnet/bitcoin"
	"github.com/inflowhq/inflow/pkg/testenv"
)

const childEnv = "INFLOW_ALLINONE_CHILD_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, strings.Split(args, "\x1f"), io.Discard, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// needBtcd fails (in CI) or skips a test that runs the all-in-one with its
// default bitcoin-regtest when btcd is not built.
func needBtcd(t *testing.T) {
	t.Helper()
	if _, err := devbtc.FindBtcd(); err != nil {
		testenv.Missing(t, "btcd", "make build builds it into bin/ (go build -o bin/btcd github.com/btcsuite/btcd)")
	}
}

// freePort is testenv.FreePort: never the same port twice in this binary.
func freePort(t *testing.T) string { return testenv.FreePort(t) }

// TestKill9AllInOne kills the real all-in-one process (this test binary
// running as inflow) with SIGKILL while its devnet mines, restarts it on the
// same data folder, and checks that the chain goes on where it was (the
// devnet keeps every block, not only what a clean stop flushed) and that
// deposits keep flowing: every transfer made before and after the kills is
// credited once and completes, and the balance is their sum.
func TestKill9AllInOne(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts and kills the all-in-one process")
	}
	needBtcd(t)
	data := t.TempDir()
	key := "sk_test_kill9kill9kill9kill9kill9"
	var api, rpcAddr string
	var args []string
	// pick chooses the ports. A port probed free can be taken (by any
	// process's outgoing connection) before the child binds it; the child
	// then exits with "address already in use", and up picks them again.
	pick := func() {
		api, rpcAddr = freePort(t), freePort(t)
		args = []string{"--data", data, "--http", api, "--rpc", rpcAddr, "--kafka-port", strings.Split(freePort(t), ":")[1],
			"--indexer-ops", freePort(t), "--ledger-http", freePort(t), "--api-ops", freePort(t),
			"--block-time", "200ms", "--finality-lag", "4", "--traffic", "0", "--dev-addresses", "5",
			"--bitcoin-rpc", freePort(t), "--bitcoin-block-time", "300ms", "--tron-rpc", freePort(t), "--tron-block-time", "100ms",
			"--solana-rpc", freePort(t), "--solana-block-time", "50ms",
			"--dev-api-key", key, "--admin-key", "adm_kill9kill9kill9kill9", "--log-level", "error"}
	}
	pick()
	var cmd *exec.Cmd
	var exited chan struct{} // closed when cmd has exited, waitErr then set
	var waitErr error
	var stderr syncBuffer
	start := func() {
		stderr.Reset()
		cmd = exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, "\x1f"))
		cmd.Stderr = io.MultiWriter(os.Stderr, &stderr)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited = make(chan struct{})
		go func(cmd *exec.Cmd, exited chan struct{}) {
			waitErr = cmd.Wait()
			close(exited)
		}(cmd, exited)
	}
	t.Cleanup(func() {
		if cmd != nil && cmd.Process != nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	c := &client{t: t, base: "http://" + api, key: key}
	up := func() {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for again := 0; ; {
			if resp, err := http.Get(c.base + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
			select {
			case <-exited:
				if !strings.Contains(stderr.String(), "address already in use") || again == 3 {
					t.Fatalf("the all-in-one exited before it came up: %s", stderr.String())
				}
				again++
				t.Logf("a probed port was taken before the all-in-one bound it; starting it on new ports (%d)", again)
				pick()
				c.base = "http://" + api
				start()
				deadline = time.Now().Add(60 * time.Second)
				continue
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("the all-in-one did not come up")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	head := func() uint64 {
		t.Helper()
		resp, err := http.Post("http://"+rpcAddr, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ Result string }
		json.NewDecoder(resp.Body).Decode(&v)
		n, err := strconv.ParseUint(strings.TrimPrefix(v.Result, "0x"), 16, 64)
		if err != nil {
			t.Fatalf("eth_blockNumber: %q", v.Result)
		}
		return n
	}

	start()
	up()
	var bind struct{ Address string }
	if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "k9", "currency": "USDT", "chainId": "evm-devnet"}, &bind); st != 201 {
		t.Fatalf("bind: %d", st)
	}
	sent := 0
	send := func() {
		t.Helper()
		sent++
		if st := c.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": bind.Address, "currency": "USDT", "amount": "1"}, nil); st != 200 {
			t.Fatalf("transfer: %d", st)
		}
	}
	seen := func() int {
		var l depositList
		c.do("GET", "/api/v1/deposits?depositReference=k9&limit=100", nil, &l)
		n := 0
		for _, d := range l.Data {
			if d.Status != "orphaned" {
				n++
			}
		}
		return n
	}
	for kill := 0; kill < 3; kill++ {
		send()
		eventually(t, fmt.Sprintf("deposit %d detected", sent), func() bool { return seen() >= sent })
		time.Sleep(time.Duration(300+kill*250) * time.Millisecond) // mid-mining
		before := head()
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-exited
		start()
		up()
		// The devnet continues from where it was killed: at most the
		// block being mined at the kill is lost, never a run of blocks.
		if after := head(); after+1 < before {
			t.Fatalf("kill %d: the devnet came back at block %d, %d blocks behind the %d it had reached", kill, after, before-after, before)
		}
	}
	send()
	eventually(t, "every deposit completed after the kills", func() bool {
		var l depositList
		c.do("GET", "/api/v1/deposits?depositReference=k9&status=completed&limit=100", nil, &l)
		return len(l.Data) == sent
	})
	if n := seen(); n != sent {
		t.Errorf("%d deposits not orphaned for %d transfers", n, sent)
	}
	var bal struct {
		Data []struct{ Currency, Pending, Available string }
	}
	c.do("GET", "/api/v1/balances?depositReference=k9", nil, &bal)
	if len(bal.Data) != 1 || bal.Data[0].Available != strconv.Itoa(sent) || bal.Data[0].Pending != "0" {
		t.Errorf("balance after %d transfers of 1 USDT: %+v", sent, bal.Data)
	}
	// A clean stop after all this still works.
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("clean stop: %v", waitErr)
		}
	case <-time.After(30 * time.Second):
		t.Error("the all-in-one did not stop on SIGINT")
	}
	cmd = nil
}
