package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/inflowhq/inflow/deploy/local/stack"
)

type keyList struct {
	Data []struct{ ID, Prefix, CreatedAt string }
}

// TestKeysLast: the all-in-one keeps its dev API key and admin key in its
// data folder and prints the same ones on every start, without piling up
// keys; merchants and the operator list, create and revoke keys.
func TestKeysLast(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	dir := t.TempDir()
	start := func() (*stack.Stack, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := stack.Start(ctx, stack.Options{DataDir: dir, HTTP: "127.0.0.1:0", RPC: "127.0.0.1:0", IndexerOps: "127.0.0.1:0",
			LedgerHTTP: "127.0.0.1:0", FinalityLag: 6, PoolSize: 4})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		return s, func() {
			cancel()
			if err := s.Wait(); err != nil {
				t.Errorf("stack: %v", err)
			}
		}
	}
	s, stop := start()
	devKey, adminKey := s.DevAPIKey, s.AdminKey
	if fi, err := os.Stat(filepath.Join(dir, stack.KeysFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys file: %v %v, want mode 0600", fi, err)
	}
	m := &client{t: t, base: s.APIURL, key: devKey}
	admin := func(method, path string, out any) int {
		t.Helper()
		req, _ := http.NewRequest(method, s.APIURL+path, nil)
		req.Header.Set("X-Admin-Key", s.AdminKey)
		return doJSON(t, req, out)
	}

	var keys keyList
	if st := m.do("GET", "/api/v1/api-keys", nil, &keys); st != 200 || len(keys.Data) != 1 || keys.Data[0].Prefix != devKey[:12] {
		t.Fatalf("keys: %d %+v", st, keys)
	}
	devKeyID := keys.Data[0].ID
	var created struct{ ID, Prefix, APIKey string }
	if st := m.do("POST", "/api/v1/api-keys", nil, &created); st != 201 || created.APIKey[:12] != created.Prefix || created.Prefix[:8] != "sk_test_" {
		t.Fatalf("create key: %d %+v", st, created)
	}
	second := &client{t: t, base: s.APIURL, key: created.APIKey}
	if st := second.do("GET", "/api/v1/deposits", nil, nil); st != 200 {
		t.Fatalf("the new key: %d", st)
	}
	if st := m.do("GET", "/api/v1/api-keys", nil, &keys); st != 200 || len(keys.Data) != 2 {
		t.Fatalf("keys after one more: %d %+v", st, keys)
	}
	var e apiError
	if st := m.do("DELETE", "/api/v1/api-keys/"+created.ID, nil, nil); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if st := second.do("GET", "/api/v1/deposits", nil, &e); st != 401 {
		t.Fatalf("a revoked key: %d %+v, want 401 at once", st, e)
	}
	if st := m.do("DELETE", "/api/v1/api-keys/"+created.ID, nil, &e); st != 404 || e.Code != "API_KEY_NOT_FOUND" {
		t.Errorf("revoke again: %d %+v", st, e)
	}
	if st := m.do("DELETE", "/api/v1/api-keys/"+devKeyID, nil, &e); st != 409 || e.Code != "LAST_API_KEY" {
		t.Errorf("revoke the last key: %d %+v", st, e)
	}
	if st := m.do("DELETE", "/api/v1/api-keys/key_../x", nil, &e); st != 404 {
		t.Errorf("a key id with a path in it: %d %+v", st, e)
	}

	// The operator's view: every merchant, and their keys.
	var ms struct {
		Data []struct{ MerchantID, Name string }
	}
	if st := admin("GET", "/admin/v1/merchants", &ms); st != 200 || len(ms.Data) != 1 || ms.Data[0].Name != "dev" || ms.Data[0].MerchantID != s.MerchantID {
		t.Fatalf("merchants: %d %+v", st, ms)
	}
	base := "/admin/v1/merchants/" + s.MerchantID + "/api-keys"
	if st := admin("POST", base, &created); st != 201 || created.APIKey == "" {
		t.Fatalf("operator creates a key: %d %+v", st, created)
	}
	if st := admin("GET", base, &keys); st != 200 || len(keys.Data) != 2 {
		t.Fatalf("operator lists keys: %d %+v", st, keys)
	}
	if st := admin("DELETE", base+"/"+created.ID, nil); st != 200 {
		t.Fatalf("operator revokes a key: %d", st)
	}
	if st := admin("GET", "/admin/v1/merchants/mer_0123456789abcdef/api-keys", &e); st != 404 || e.Code != "MERCHANT_NOT_FOUND" {
		t.Errorf("keys of no merchant: %d %+v", st, e)
	}
	stop()

	// The same keys on the next start, and no new key for the merchant.
	s, stop = start()
	defer stop()
	if s.DevAPIKey != devKey || s.AdminKey != adminKey {
		t.Fatalf("keys changed on restart: %s %s, were %s %s", s.DevAPIKey, s.AdminKey, devKey, adminKey)
	}
	m.base = s.APIURL
	if st := m.do("GET", "/api/v1/api-keys", nil, &keys); st != 200 || len(keys.Data) != 1 || keys.Data[0].ID != devKeyID {
		t.Fatalf("keys after a restart: %d %+v", st, keys)
	}
	if st := admin("GET", "/admin/v1/merchants", &ms); st != 200 {
		t.Fatalf("the admin key after a restart: %d", st)
	}
}

// doJSON sends req and decodes its answer into out (when not nil).
func doJSON(t *testing.T, req *http.Request, out any) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %d: %v", req.Method, req.URL, resp.StatusCode, err)
		}
	}
	return resp.StatusCode
}
