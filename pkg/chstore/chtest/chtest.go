// Package chtest starts a ClickHouse server for a test: Debian's
// clickhouse-server on a loopback port with a temporary data folder, stopped
// when the test ends. Where it is not installed the test fails in CI and
// skips elsewhere.
package chtest

import (
	"context"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

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

// States reads what a test asserts of deposit_states: how many deposits it
// holds, how many of them do not net to exactly one state, and how many
// (deposit, status, sign) rows are in more than once. Stop the table's
// merges first, or a row inserted twice may collapse out of sight.
func States(ctx context.Context, conn driver.Conn) (deposits, notOne, repeated uint64, err error) {
	err = conn.QueryRow(ctx, "SELECT count(), countIf(n != 1) FROM (SELECT deposit_id, sum(sign) AS n FROM deposit_states GROUP BY deposit_id)").Scan(&deposits, &notOne)
	if err != nil {
		return
	}
	err = conn.QueryRow(ctx, "SELECT count() FROM (SELECT deposit_id, status, sign FROM deposit_states GROUP BY deposit_id, status, sign HAVING count() > 1)").Scan(&repeated)
	return
}
