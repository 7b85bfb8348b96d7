// Command apid serves the merchant REST API. It is stateless: it
// authenticates, validates and rate-limits, then forwards to ledgerd.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/inflowhq/inflow/apid/api"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chstore"
	"github.com/inflowhq/inflow/pkg/config"
	"github.com/inflowhq/inflow/pkg/httpserver"
	"github.com/inflowhq/inflow/pkg/ops"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("apid", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		httpAddr  = fs.String("http", "127.0.0.1:8080", "API address")
		opsAddr   = fs.String("ops", "127.0.0.1:9301", "operator address: /healthz, /readyz, /metrics, /debug/pprof")
		ledger    = fs.String("ledger", "http://127.0.0.1:9201", "ledgerd internal API")
		token     = fs.String("internal-token", "", "shared secret for ledgerd (visible in ps: prefer --internal-token-file or $INFLOW_INTERNAL_TOKEN)")
		tokenFile = fs.String("internal-token-file", "", "file holding the shared secret for ledgerd")
		adminKey  = fs.String("admin-key", "", "X-Admin-Key checked here before /admin/v1 is forwarded (prefer --admin-key-file or $INFLOW_ADMIN_KEY); ledgerd checks its own")
		adminFile = fs.String("admin-key-file", "", "file holding the admin key")
		rps       = fs.Float64("rate-limit", 50, "requests per second per API key")
		burst     = fs.Int("burst", 100, "burst per API key")
		ipRPS     = fs.Float64("ip-rate-limit", 200, "requests per second per client address, before authentication")
		proxies   = fs.String("trusted-proxies", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed")
		assetsF   = fs.String("assets", "", "JSON file extending the built-in chains and assets")
		logLevel  = fs.String("log-level", "info", "debug, info, warn or error")
		chDSN     = fs.String("clickhouse-dsn", "", "answer analytics and exports from this ClickHouse (default: ledgerd's own store)")
		idxOps    = fs.String("indexer-ops", "", "the indexer's operator address (http://10.0.0.4:9101): the console shows each chain's node head and lag from its /metrics")
		loopback  = fs.Bool("allow-loopback-webhooks", false, "accept http://127.0.0.1 webhook URLs (local development and tests; ledgerd's allow_loopback_webhooks delivers to them)")
		csFile    = fs.String("console-secret-file", "", "file holding the console's signing secret (32+ bytes; or $INFLOW_CONSOLE_SECRET); the same on every replica keeps sign-ins across them and restarts (default: random per process)")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if *token, err = config.Secret(*token, *tokenFile, "INFLOW_INTERNAL_TOKEN"); err != nil {
		fmt.Fprintln(stderr, "apid:", err)
		return 2
	}
	if *adminKey, err = config.Secret(*adminKey, *adminFile, "INFLOW_ADMIN_KEY"); err != nil {
		fmt.Fprintln(stderr, "apid:", err)
		return 2
	}
	consoleSecret, err := config.Secret("", *csFile, "INFLOW_CONSOLE_SECRET")
	if err != nil {
		fmt.Fprintln(stderr, "apid:", err)
		return 2
	}
	var trusted []netip.Prefix
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			fmt.Fprintf(stderr, "apid: --trusted-proxies %q: %v\n", p, err)
			return 2
		}
		trusted = append(trusted, pfx)
	}
	log := config.Logger(stderr, *logLevel)
	table, err := assets.LoadOrDefault(*assetsF)
	if err != nil {
		fmt.Fprintln(stderr, "apid:", err)
		return 2
	}
	reg := ops.NewRegistry()
	cfg := api.Config{LedgerURL: *ledger, InternalToken: *token, AdminKey: *adminKey, RateLimit: *rps, Burst: *burst,
		IPRateLimit: *ipRPS, TrustedProxies: trusted, Assets: table, Logger: log, Registerer: reg,
		ConsoleSecret: []byte(consoleSecret), IndexerOps: *idxOps, AllowLoopbackWebhooks: *loopback}
	if *chDSN != "" {
		octx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		db, err := chstore.Open(octx, *chDSN, log)
		cancel()
		if err != nil {
			fmt.Fprintln(stderr, "apid:", err)
			return 1
		}
		defer db.Close()
		cfg.History = db
	}
	srv, err := api.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "apid:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	public, operator := api.Mount(ctx, srv, reg)
	hopts := httpserver.Options{Logger: log}
	ln, err := httpserver.Listen(*httpAddr, hopts)
	if err != nil {
		fmt.Fprintln(stderr, "apid:", err)
		return 1
	}
	oaddr, err := ops.Serve(ctx, *opsAddr, operator, hopts)
	if err != nil {
		fmt.Fprintln(stderr, "apid:", err)
		return 1
	}
	log.Info("apid listening", "addr", "http://"+ln.Addr().String(), "ops", "http://"+oaddr.String(), "ledger", *ledger)
	if err := httpserver.Serve(ctx, ln, public, hopts); err != nil {
		log.Error("apid stopped", "err", err)
		return 1
	}
	return 0
}
