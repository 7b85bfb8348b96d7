package testenv

import (
	"net"
	"sync"
	"testing"
)

var (
	portsMu sync.Mutex
	ports   = map[string]bool{} // handed out by FreePort in this process
)

// FreePort returns a loopback address (127.0.0.1:port) that nothing listened
// on a moment ago, for a daemon the test starts with it as a flag. No two
// calls in one test binary return the same port: a port closed after the
// probe can come back from the next one, and a daemon given two flags with
// the same port fails to start. (Another process may still take it in the
// meantime; the kernel's ephemeral ports make that rare.)
func FreePort(t testing.TB) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !ports[addr] {
			ports[addr] = true
			return addr
		}
	}
	t.Fatal("no loopback port that was not handed out before")
	return ""
}
