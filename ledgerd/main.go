// Command ledgerd is the single writer of Inflow's money state: it consumes
// the chain topics, keeps deposits, statuses and balances, relays events and
// address changes, delivers webhooks, and serves the internal API to apid.
// `ledgerd resume` resumes a chain it halted, on the operator's decision.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/inflowhq/inflow/ledgerd/daemon"
	"github.com/inflowhq/inflow/pkg/config"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "resume" {
		os.Exit(runResume(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("ledgerd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configPath = fs.String("config", "", "JSON configuration file")
		dataDir    = fs.String("data", "", "data directory")
		brokers    = fs.String("kafka-brokers", "", "comma-separated Kafka seed brokers")
		httpAddr   = fs.String("http", "", "internal API and operator endpoint address")
		token      = fs.String("internal-token", "", "shared secret apid sends (visible in ps: prefer --internal-token-file or $INFLOW_INTERNAL_TOKEN)")
		tokenFile  = fs.String("internal-token-file", "", "file holding the shared secret apid sends")
		adminKey   = fs.String("admin-key", "", "admin key for the admin routes (prefer --admin-key-file or $INFLOW_ADMIN_KEY; empty disables them)")
		adminFile  = fs.String("admin-key-file", "", "file holding the admin key")
		logLevel   = fs.String("log-level", "", "debug, info, warn or error")
		chDSN      = fs.String("clickhouse-dsn", "", "run the history sink into this ClickHouse (clickhouse://127.0.0.1:9000/inflow)")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := daemon.DefaultConfig()
	if *configPath != "" {
		var err error
		if cfg, err = daemon.LoadConfig(*configPath); err != nil {
			fmt.Fprintln(stderr, "ledgerd:", err)
			return 2
		}
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *brokers != "" {
		cfg.KafkaBrokers = strings.Split(*brokers, ",")
	}
	if *httpAddr != "" {
		cfg.HTTP = *httpAddr
	}
	for _, sec := range []struct {
		value, file, env string
		dst              *string
	}{{*token, *tokenFile, "INFLOW_INTERNAL_TOKEN", &cfg.InternalToken}, {*adminKey, *adminFile, "INFLOW_ADMIN_KEY", &cfg.AdminKey}} {
		v, err := config.Secret(sec.value, sec.file, sec.env)
		if err != nil {
			fmt.Fprintln(stderr, "ledgerd:", err)
			return 2
		}
		if v != "" {
			*sec.dst = v
		}
	}
	if *chDSN != "" {
		cfg.ClickHouseDSN = *chDSN
	}
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	log := config.Logger(stderr, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := daemon.New(cfg, log, nil)
	if err != nil {
		fmt.Fprintln(stderr, "ledgerd:", err)
		return 2
	}
	defer d.Close()
	if err := d.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("ledgerd stopped", "err", err)
		return 1
	}
	log.Info("ledgerd stopped cleanly")
	return 0
}
