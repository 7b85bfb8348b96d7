package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	os.WriteFile(file, []byte("from-the-file-0123456789\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	t.Setenv("INFLOW_TEST_SECRET", "from-the-environment-0123")
	for _, c := range []struct {
		value, file, env, want string
		fails                  bool
	}{
		{"from-the-flag-0123456789", "", "INFLOW_TEST_SECRET", "from-the-flag-0123456789", false},
		{"", file, "INFLOW_TEST_SECRET", "from-the-file-0123456789", false},
		{"", "", "INFLOW_TEST_SECRET", "from-the-environment-0123", false},
		{"", "", "INFLOW_TEST_UNSET", "", false},
		{"x-flag-and-file-0123456789", file, "", "", true},
		{"", empty, "", "", true},
		{"", filepath.Join(dir, "missing"), "", "", true},
		{"short", "", "", "", true},
	} {
		got, err := Secret(c.value, c.file, c.env)
		if (err != nil) != c.fails || got != c.want {
			t.Errorf("Secret(%q, %q, %q) = %q, %v", c.value, c.file, c.env, got, err)
		}
	}
}
