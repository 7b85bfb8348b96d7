package evm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRawHTTPAnswers: the raw batch path reads a node's answers as the RPC
// client did: a null block is ErrNotFound, an error member is the node's
// error, and a malformed or failed answer is an error, never a block.
func TestRawHTTPAnswers(t *testing.T) {
	cases := map[string]struct {
		status int
		body   string
		want   string
	}{
		"null block":      {200, `[{"jsonrpc":"2.0","id":1,"result":null},{"jsonrpc":"2.0","id":2,"result":null}]`, "not found"},
		"error member":    {200, `[{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"header not found"}},{"jsonrpc":"2.0","id":2,"result":null}]`, "header not found"},
		"truncated":       {200, `[{"jsonrpc":"2.0","id":1,"result":{"number":"0x1"`, "malformed"},
		"not an array":    {200, `{"jsonrpc":"2.0","id":1,"result":null}`, "malformed"},
		"no block answer": {200, `[{"jsonrpc":"2.0","id":2,"result":[]}]`, "no result for the block"},
		"server error":    {502, `bad gateway`, "502"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				w.Write([]byte(c.body))
			}))
			defer srv.Close()
			cl, err := Dial(context.Background(), srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			b, err := cl.FetchBlock(context.Background(), 1)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("FetchBlock = %v, %v; want an error with %q", b, err, c.want)
			}
			if name == "null block" && !errors.Is(err, ErrNotFound) {
				t.Errorf("a null block is %v, not ErrNotFound", err)
			}
		})
	}
}
