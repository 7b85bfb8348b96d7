package stack

import (
	"context"
	"errors"
	"testing"
)

// TestRunNamesThePart: a part's failure is named once, by the part, whether
// or not the daemon's error names it already.
func TestRunNamesThePart(t *testing.T) {
	for _, c := range []struct{ part, err, want string }{
		{"ledgerd", "ledgerd: listen 127.0.0.1:1: bind: address already in use", "ledgerd: listen 127.0.0.1:1: bind: address already in use"},
		{"apid", "listen 127.0.0.1:1: bind: address already in use", "apid: listen 127.0.0.1:1: bind: address already in use"},
		{"indexer", "indexerd: bad", "indexer: indexerd: bad"},
	} {
		s := &Stack{errc: make(chan error, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		cause := errors.New(c.err)
		s.run(ctx, c.part, func(context.Context) error { return cause })
		s.wg.Wait()
		err := <-s.errc
		if err.Error() != c.want || !errors.Is(err, cause) {
			t.Errorf("%s failing with %q: %q, want %q", c.part, c.err, err, c.want)
		}
		if ctx.Err() == nil {
			t.Errorf("%s: the stack was not stopped", c.part)
		}
	}
}
