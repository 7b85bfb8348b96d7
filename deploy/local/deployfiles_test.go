package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/inflowhq/inflow/deploy/local/stack"
	indexer "github.com/inflowhq/inflow/indexer/daemon"
	ledgerd "github.com/inflowhq/inflow/ledgerd/daemon"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chstore/chtest"
	"github.com/inflowhq/inflow/pkg/testenv"
)

// TestDeployConfigs: the daemons' configuration files the compose and
// Kubernetes deployments ship read with the daemons' own loaders, strictly,
// and pass their validation.
func TestDeployConfigs(t *testing.T) {
	root, ok := testenv.RepoRoot()
	if !ok {
		t.Skip("no repository root")
	}
	dir := t.TempDir()
	files := map[string]string{}
	for _, name := range []string{"indexer.json", "ledgerd.json"} {
		files["compose/"+name] = filepath.Join(root, "deploy", "compose", name)
	}
	// The ConfigMaps' files.
	cm, err := os.ReadFile(filepath.Join(root, "deploy", "k8s", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?s)  (indexer|ledgerd)\.json: \|\n(.*?)(?:\n---|\z)`).FindAllStringSubmatch(string(cm), -1) {
		p := filepath.Join(dir, m[1]+".json")
		if err := os.WriteFile(p, []byte(m[2]), 0o644); err != nil {
			t.Fatal(err)
		}
		files["k8s/"+m[1]+".json"] = p
	}
	if len(files) != 4 {
		t.Fatalf("config files found: %v", files)
	}
	table := assets.Default()
	for name, p := range files {
		if strings.Contains(name, "indexer") {
			c, err := indexer.LoadConfig(p)
			if err == nil {
				err = c.Validate(table)
			}
			if err != nil || len(c.Chains) != 4 {
				t.Errorf("%s: %v (%d chains)", name, err, len(c.Chains))
			}
			continue
		}
		c, err := ledgerd.LoadConfig(p)
		if err == nil {
			c.InternalToken = "a-token-of-at-least-16" // from the secret file, as the deployments give it
			err = c.Validate(table)
		}
		if err != nil || len(c.Chains) != 4 {
			t.Errorf("%s: %v (%d chains)", name, err, len(c.Chains))
		}
	}
}

// TestObservabilityMetrics: every metric the alert rules and the Grafana
// dashboard name is exported by a running stack (with ClickHouse, for the
// history sink's), so no alert or panel watches a series that never exists.
func TestObservabilityMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	root, ok := testenv.RepoRoot()
	if !ok {
		t.Skip("no repository root")
	}
	named := map[string][]string{}
	metric := regexp.MustCompile(`\binflow_[a-z0-9_]+`)
	for _, f := range []string{"deploy/observability/alerts.yaml", "deploy/observability/dashboards/inflow.json"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".json") && !json.Valid(b) {
			t.Fatalf("%s is not JSON", f)
		}
		for _, m := range metric.FindAllString(string(b), -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				m = strings.TrimSuffix(m, suffix)
			}
			named[m] = append(named[m], filepath.Base(f))
		}
	}
	srv := chtest.Server(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := stack.Start(ctx, stack.Options{DataDir: t.TempDir(), HTTP: "127.0.0.1:0", RPC: "127.0.0.1:0", IndexerOps: "127.0.0.1:0",
		LedgerHTTP: "127.0.0.1:0", FinalityLag: 6, PoolSize: 4, ClickHouseDSN: srv.DSN("inflow")})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := s.Wait(); err != nil {
			t.Errorf("stack: %v", err)
		}
	})
	c := &client{t: t, base: s.APIURL, key: s.DevAPIKey}
	var bind struct{ Address string }
	c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "metrics", "currency": "USDT", "chainId": "evm-devnet"}, &bind)
	c.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": bind.Address, "currency": "USDT", "amount": "1"}, nil)
	c.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 1}, nil)
	exported := map[string]bool{}
	scrape := func() {
		for _, base := range []string{s.IndexerOpsURL, s.LedgerURL, s.APIOpsURL} {
			resp, err := http.Get(base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, m := range regexp.MustCompile(`(?m)^# TYPE (inflow_[a-z0-9_]+) `).FindAllStringSubmatch(string(b), -1) {
				exported[m[1]] = true
			}
		}
	}
	missing := func() []string {
		var out []string
		for m := range named {
			if !exported[m] {
				out = append(out, m+" ("+strings.Join(named[m], ", ")+")")
			}
		}
		sort.Strings(out)
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for scrape(); len(missing()) > 0 && time.Now().Before(deadline); scrape() {
		time.Sleep(200 * time.Millisecond)
	}
	if m := missing(); len(m) > 0 {
		t.Errorf("named but not exported: %s", strings.Join(m, "; "))
	}
	t.Logf("%d metrics named by the rules and the dashboard, all exported", len(named))
}
