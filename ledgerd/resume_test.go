package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestResumeCommand: ledgerd resume sends the admin route with the token,
// the admin key and the reason, and says what ledgerd answered.
func TestResumeCommand(t *testing.T) {
	var got *http.Request
	var body map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
		if r.Header.Get("X-Inflow-Admin-Key") != "an-admin-key-long-enough" {
			w.WriteHeader(401)
			io.WriteString(w, `{"code":"UNAUTHORIZED","message":"X-Admin-Key missing or wrong"}`)
			return
		}
		io.WriteString(w, `{"chainId":"evm-devnet","resumed":true,"acceptReorg":true,"haltReason":"reorg of depth 33","tip":37,"finalized":0}`)
	}))
	defer srv.Close()
	t.Setenv("INFLOW_INTERNAL_TOKEN", "a-token-long-enough-for-ledgerd")
	t.Setenv("INFLOW_ADMIN_KEY", "an-admin-key-long-enough")
	var out, errb bytes.Buffer
	if rc := runResume([]string{"--ledger", srv.URL, "--chain", "evm-devnet", "--reason", "OPS-7"}, &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	if got.Method != "POST" || got.URL.Path != "/internal/v1/admin/chains/evm-devnet/resume" || got.Header.Get("X-Inflow-Internal-Token") != "a-token-long-enough-for-ledgerd" || body["reason"] != "OPS-7" {
		t.Errorf("sent %s %s %v", got.Method, got.URL.Path, body)
	}
	if !strings.Contains(out.String(), "resumed evm-devnet") || !strings.Contains(out.String(), "reorg is applied") {
		t.Errorf("said %q", out.String())
	}
	t.Setenv("INFLOW_ADMIN_KEY", "another-admin-key-long-enough")
	errb.Reset()
	if rc := runResume([]string{"--ledger", srv.URL, "--chain", "evm-devnet", "--reason", "x"}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "UNAUTHORIZED") {
		t.Errorf("a wrong key: rc %d, %q", rc, errb.String())
	}
	if rc := runResume([]string{"--chain", "evm-devnet"}, &out, &errb); rc != 2 {
		t.Errorf("no reason: rc %d", rc)
	}
}
