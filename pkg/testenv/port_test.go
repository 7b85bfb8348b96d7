package testenv

import (
	"net"
	"testing"
)

func TestFreePort(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		addr := FreePort(t)
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		host, _, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("%s is not a loopback address", addr)
		}
	}
	ln, err := net.Listen("tcp", FreePort(t))
	if err != nil {
		t.Fatalf("the port is not free: %v", err)
	}
	ln.Close()
}
