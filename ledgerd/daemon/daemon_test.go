package daemon

import (
	"errors"
	"strings"
	"testing"

	"github.com/inflowhq/inflow/ledgerd/rpc"
)

// TestNeedsToken: ledgerd does not start without an internal token, so that
// its internal API never trusts whoever reaches it.
func TestNeedsToken(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	_, err := New(cfg, nil, nil)
	if !errors.Is(err, rpc.ErrNoToken) {
		t.Fatalf("ledgerd without a token: %v, want a refusal", err)
	}
	cfg.InternalToken = "short"
	if _, err := New(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "16 characters") {
		t.Fatalf("ledgerd with a 5-character token: %v", err)
	}
	cfg.InternalToken = "a-token-long-enough-for-ledgerd"
	cfg.AdminKey = "short"
	if _, err := New(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "admin key") {
		t.Fatalf("ledgerd with a 5-character admin key: %v", err)
	}
	cfg.AdminKey = ""
	d, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatalf("ledgerd with a token: %v", err)
	}
	d.Close()
}
