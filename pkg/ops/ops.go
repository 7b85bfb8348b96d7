// Package ops serves what every Inflow daemon exposes to operators: /healthz
// (the process is alive), /readyz (every component is up) and Prometheus
// /metrics, plus pprof under /debug/pprof.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/inflowhq/inflow/pkg/httpserver"
)

// Readiness tracks the components a daemon waits for.
type Readiness struct {
	mu    sync.Mutex
	state map[string]error // nil: ready
}

// NewReadiness starts with every named component not ready.
func NewReadiness(components ...string) *Readiness {
	r := &Readiness{state: map[string]error{}}
	for _, c := range components {
		r.state[c] = errors.New("starting")
	}
	return r
}

// Set marks a component ready (err == nil) or not, with the reason.
func (r *Readiness) Set(component string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state[component] = err
}

// Check returns the components that are not ready, by name.
func (r *Readiness) Check() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for c, err := range r.state {
		if err != nil {
			out[c] = err.Error()
		}
	}
	return out
}

// NewRegistry returns a registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the operator endpoints.
func Handler(reg *prometheus.Registry, ready *Readiness) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		bad := ready.Check()
		w.Header().Set("Content-Type", "application/json")
		if len(bad) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		names := make([]string, 0, len(bad))
		for n := range bad {
			names = append(names, n)
		}
		sort.Strings(names)
		json.NewEncoder(w).Encode(map[string]any{"ready": len(bad) == 0, "not_ready": bad})
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Serve runs the operator endpoints on addr until ctx ends, with the
// limits every listener has (pkg/httpserver).
func Serve(ctx context.Context, addr string, h http.Handler, o httpserver.Options) (net.Addr, error) {
	a, err := httpserver.Start(ctx, addr, h, o)
	if err != nil {
		return nil, fmt.Errorf("ops: %w", err)
	}
	return a, nil
}
