// Package testenv is what Inflow's tests know about their surroundings: where
// the shared mainnet fixtures are, and what to do when something a test needs
// is missing. In CI (CI=true) a missing fixture or service fails the test;
// elsewhere the test skips with a message saying how to get it.
package testenv

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// InCI reports whether the tests run under CI.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing fails the test in CI and skips it elsewhere, saying how to get
// what is missing.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is missing (in CI this is a failure): %s", what, how)
	}
	t.Skipf("%s is missing: %s", what, how)
}

// RepoRoot returns the directory holding the module's go.mod.
func RepoRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// FixturesDir returns the shared fixtures folder: $INFLOW_FIXTURES, or
// ../shared/fixtures beside the repository.
func FixturesDir() (string, bool) {
	if d := os.Getenv("INFLOW_FIXTURES"); d != "" {
		_, err := os.Stat(d)
		return d, err == nil
	}
	root, ok := RepoRoot()
	if !ok {
		return "", false
	}
	d := filepath.Join(root, "..", "shared", "fixtures")
	if _, err := os.Stat(d); err != nil {
		return "", false
	}
	return d, true
}

// Fixtures returns the shared fixtures folder or fails/skips the test.
func Fixtures(t testing.TB) string {
	t.Helper()
	d, ok := FixturesDir()
	if !ok {
		Missing(t, "the shared fixtures folder", "set INFLOW_FIXTURES or place shared/fixtures beside the repository")
	}
	return d
}

// Run runs a daemon's run function for the rest of the test: it is
// cancelled when the test ends, and an error it ends with (other than its
// context's) fails the test. It returns the daemon's context.
func Run(t testing.TB, run func(context.Context) error) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
	})
	return ctx
}

// CopyDir copies the directory tree from to the new directory to. Copied
// while a process writes it, it is what a crash of that process would leave
// (of what the process had synced).
func CopyDir(t testing.TB, from, to string) string {
	t.Helper()
	err := filepath.Walk(from, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, src); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatalf("copying %s: %v", from, err)
	}
	return to
}
