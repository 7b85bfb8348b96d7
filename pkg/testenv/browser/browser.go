// Package browser starts a real headless Chromium for tests, driven with
// chromedp over the DevTools protocol: Debian's chromium in CI (.ci/run
// installs it), or the binary $INFLOW_CHROMIUM names. A test without it
// fails in CI and skips elsewhere, saying how to get it.
package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/inflowhq/inflow/pkg/testenv"
)

// Path finds the browser: $INFLOW_CHROMIUM, else chromium,
// chromium-browser or google-chrome on $PATH.
func Path() (string, bool) {
	if p := os.Getenv("INFLOW_CHROMIUM"); p != "" {
		return p, true
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// Browser is one headless Chromium and the page errors it saw.
type Browser struct {
	Ctx context.Context

	mu     sync.Mutex
	errors []string
}

// New starts headless Chromium for t (stopped at its end), with a fresh
// profile, and records the page's uncaught exceptions and console errors.
func New(t testing.TB) *Browser { t.Helper(); return NewSized(t, 412, 915) } // a phone

// NewDesktop is New with a desktop's window.
func NewDesktop(t testing.TB) *Browser { t.Helper(); return NewSized(t, 1280, 900) }

// NewSized is New with a window of w×h pixels.
func NewSized(t testing.TB, w, h int) *Browser {
	t.Helper()
	path, ok := Path()
	if !ok {
		testenv.Missing(t, "Chromium", "install Debian's chromium (apt-get install chromium) or set INFLOW_CHROMIUM to a Chrome binary")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // containers run tests as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(w, h),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	b := &Browser{Ctx: ctx}
	// Start the browser, then read its console until the test ends.
	if err := chromedp.Do(ctx); err != nil {
		cancelTimeout()
		cancel()
		cancelAlloc()
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.add(m.String())
			}
		}
	}()
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
		<-done
	})
	return b
}

func (b *Browser) add(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, s)
}

// Errors are the page errors seen so far.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// Screenshot saves the whole page as name.png in $INFLOW_SCREENSHOTS (to
// look at while developing), or in the test's temporary folder, and
// returns the file's path.
func (b *Browser) Screenshot(t testing.TB, name string) string {
	t.Helper()
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("INFLOW_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
