package main

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/inflowhq/inflow/deploy/local/stack"
	"github.com/inflowhq/inflow/pkg/httpserver"
)

// TestListenerLimits: every listener of the all-in-one (the merchant API,
// apid's operator address, ledgerd, the indexer's operator address and the
// devnet's RPC) cuts off a client that never finishes its request.
func TestListenerLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ctx, cancel := context.WithCancel(context.Background())
	indexerOps := freePort(t)
	s, err := stack.Start(ctx, stack.Options{DataDir: t.TempDir(), HTTP: "127.0.0.1:0", RPC: "127.0.0.1:0", IndexerOps: indexerOps,
		LedgerHTTP: "127.0.0.1:0", FinalityLag: 6, PoolSize: 2,
		HTTPLimits: httpserver.Options{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); s.Wait() }()
	laddr, err := s.Ledger.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, addr := range map[string]string{
		"merchant API": strings.TrimPrefix(s.APIURL, "http://"), "apid operator": strings.TrimPrefix(s.APIOpsURL, "http://"),
		"ledgerd": laddr.String(), "indexer operator": indexerOps, "devnet RPC": strings.TrimPrefix(s.Devnet.URL(), "http://"),
	} {
		for _, partial := range []string{"GET / HTTP/1.1\r\nHost: x\r\n", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"} {
			var conn net.Conn
			var err error
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				// The indexer's operator address comes up with its Run.
				if conn, err = net.Dial("tcp", addr); err == nil || time.Now().After(deadline) {
					break
				}
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			io.WriteString(conn, partial)
			start := time.Now()
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.Copy(io.Discard, conn)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Errorf("%s held an unfinished request (%q) for 5 s", name, partial[:4])
			} else if d := time.Since(start); d > 3*time.Second {
				t.Errorf("%s cut off an unfinished request after %s", name, d)
			}
			conn.Close()
		}
	}
}
