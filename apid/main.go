// Command apid serves the merchant REST API. It is stateless: it
// authenticates, validates and rate-limits, then forwards to ledgerd.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/inflowhq/inflow/apid/api"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chstore"
	"github.com/inflowhq/inflow/pkg/config"
	"github.com/inflowhq/inflow/pkg/ops"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("apid", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		httpAddr = fs.String("http", "127.0.0.1:8080", "API address")
		ledger   = fs.String("ledger", "http://127.0.0.1:9201", "ledgerd internal API")
		token    = fs.String("internal-token", "", "shared secret for ledgerd (default: $INFLOW_INTERNAL_TOKEN)")
		adminKey = fs.String("admin-key", "", "X-Admin-Key for /admin/v1 (default: $INFLOW_ADMIN_KEY; empty disables)")
		rps      = fs.Float64("rate-limit", 50, "requests per second per API key")
		burst    = fs.Int("burst", 100, "burst per API key")
		assetsF  = fs.String("assets", "", "JSON file extending the built-in chains and assets")
		logLevel = fs.String("log-level", "info", "debug, info, warn or error")
		chDSN    = fs.String("clickhouse-dsn", "", "answer analytics and exports from this ClickHouse (default: ledgerd's own store)")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *token == "" {
		*token = os.Getenv("INFLOW_INTERNAL_TOKEN")
	}
	if *adminKey == "" {
		*adminKey = os.Getenv("INFLOW_ADMIN_KEY")
	}
	log := config.Logger(stderr, *logLevel)
	table, err := assets.LoadOrDefault(*assetsF)
	if err != nil {
		fmt.Fprintln(stderr, "apid:", err)
		return 2
	}
	reg := ops.NewRegistry()
	cfg := api.Config{LedgerURL: *ledger, InternalToken: *token, AdminKey: *adminKey, RateLimit: *rps, Burst: *burst,
		Assets: table, Logger: log, Registerer: reg}
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
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		fmt.Fprintln(stderr, "apid:", err)
		return 1
	}
	hs := &http.Server{Handler: api.Mount(ctx, srv, reg), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		hs.Shutdown(sctx)
	}()
	log.Info("apid listening", "addr", "http://"+ln.Addr().String(), "ledger", *ledger)
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Error("apid stopped", "err", err)
		return 1
	}
	return 0
}
