// Package httpserver makes every HTTP listener of Inflow the same way, so
// that none is left without limits: a deadline to read the headers and the
// whole request, a deadline to write the answer, an idle timeout for
// kept-alive connections, a cap on header bytes, and a cap on connections
// held at once (past it, new connections wait in the kernel's backlog
// until one closes). A handler that streams its answer (an export) sets a
// longer write deadline of its own with http.ResponseController.
//
// A slow client (a body trickled a byte at a time, or headers that never
// end) is cut off at ReadTimeout; a connection that was upgraded (a
// WebSocket) leaves these deadlines behind when net/http hands it over.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Options are a listener's limits. Zero fields take the defaults.
type Options struct {
	ReadHeaderTimeout time.Duration // default 10s
	ReadTimeout       time.Duration // the whole request, body included; default 30s
	WriteTimeout      time.Duration // from the end of the headers; default 60s
	IdleTimeout       time.Duration // between requests on a kept connection; default 120s
	MaxHeaderBytes    int           // default 64 KiB
	MaxConns          int           // connections held at once; default 4096
	Logger            *slog.Logger
}

func (o Options) withDefaults() Options {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&o.ReadHeaderTimeout, 10*time.Second)
	set(&o.ReadTimeout, 30*time.Second)
	set(&o.WriteTimeout, 60*time.Second)
	set(&o.IdleTimeout, 120*time.Second)
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	if o.MaxConns == 0 {
		o.MaxConns = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// New makes a server for h with the limits of o.
func New(h http.Handler, o Options) *http.Server {
	o = o.withDefaults()
	return &http.Server{Handler: h, ReadHeaderTimeout: o.ReadHeaderTimeout, ReadTimeout: o.ReadTimeout,
		WriteTimeout: o.WriteTimeout, IdleTimeout: o.IdleTimeout, MaxHeaderBytes: o.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug)}
}

// Listen listens on addr, holding at most o.MaxConns connections at once.
func Listen(addr string, o Options) (net.Listener, error) {
	o = o.withDefaults()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return netutil.LimitListener(ln, o.MaxConns), nil
}

// Serve serves h on ln until ctx ends, then shuts down, giving requests in
// flight up to 5 seconds. It returns when the server has stopped.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, o Options) error {
	srv := New(h, o)
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return err
}

// Start listens on addr and serves h in the background until ctx ends; it
// returns the address it listens on.
func Start(ctx context.Context, addr string, h http.Handler, o Options) (net.Addr, error) {
	ln, err := Listen(addr, o)
	if err != nil {
		return nil, err
	}
	log := o.withDefaults().Logger
	go func() {
		if err := Serve(ctx, ln, h, o); err != nil {
			log.Error("http server", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return ln.Addr(), nil
}
