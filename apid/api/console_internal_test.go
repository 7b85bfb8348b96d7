package api

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

// TestConsoleTokens: a token reads back as signed, until it expires; one
// changed anywhere, or signed with another secret, does not read.
func TestConsoleTokens(t *testing.T) {
	var c, other consoleState
	if err := c.init(nil); err != nil {
		t.Fatal(err)
	}
	other.init(nil)
	if err := c.init([]byte("short")); err == nil {
		t.Error("a short secret accepted")
	}
	now := time.Unix(1_800_000_000, 0)
	m := consoleSession{keyHash: sha256.Sum256([]byte("sk_test_x")), until: now.Add(time.Hour)}
	tok := c.sign(m)
	if got, ok := c.verify(tok, now); !ok || got.admin || got.keyHash != m.keyHash || !got.until.Equal(m.until) {
		t.Fatalf("merchant token: %+v %v", got, ok)
	}
	if _, ok := c.verify(tok, now.Add(2*time.Hour)); ok {
		t.Error("an expired token reads")
	}
	if _, ok := other.verify(tok, now); ok {
		t.Error("a token of another secret reads")
	}
	for i := range tok {
		b := []byte(tok)
		b[i] ^= 1
		if _, ok := c.verify(string(b), now); ok && string(b) != tok {
			t.Fatalf("a token changed at byte %d reads", i)
		}
	}
	a := c.sign(consoleSession{admin: true, until: now.Add(time.Hour)})
	if got, ok := c.verify(a, now); !ok || !got.admin {
		t.Errorf("admin token: %+v %v", got, ok)
	}
	// A merchant's payload cannot pass for the operator's.
	p64, mac, _ := strings.Cut(tok, ".")
	if _, ok := c.verify("YQ"+p64[2:]+"."+mac, now); ok {
		t.Error("a merchant token relabelled as admin reads")
	}
}
