// Package chtest starts a ClickHouse server for a test: Debian's
// clickhouse-server on a loopback port with a temporary data folder, stopped
// when the test ends. Where it is not installed the test fails in CI and
// skips elsewhere.
package chtest

import (
	"testing"

	"github.com/inflowhq/inflow/pkg/chstore"
	"github.com/inflowhq/inflow/pkg/testenv"
)

// Server starts a server for t.
func Server(t testing.TB) *chstore.LocalServer {
	t.Helper()
	if _, _, ok := chstore.ServerBinary(); !ok {
		testenv.Missing(t, "clickhouse-server", "apt-get install clickhouse-server (the tests start it themselves)")
	}
	s, err := chstore.StartLocalServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}
