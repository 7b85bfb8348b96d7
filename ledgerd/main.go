// Command ledgerd is the single writer of Inflow's money state: it consumes
// the chain topics, keeps deposits, statuses and balances, relays events and
// address changes, delivers webhooks, and serves the internal API to apid.
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

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("ledgerd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configPath = fs.String("config", "", "JSON configuration file")
		dataDir    = fs.String("data", "", "data directory")
		brokers    = fs.String("kafka-brokers", "", "comma-separated Kafka seed brokers")
		httpAddr   = fs.String("http", "", "internal API and operator endpoint address")
		token      = fs.String("internal-token", "", "shared secret apid sends (default: $INFLOW_INTERNAL_TOKEN)")
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
	if *token != "" {
		cfg.InternalToken = *token
	} else if v := os.Getenv("INFLOW_INTERNAL_TOKEN"); v != "" && cfg.InternalToken == "" {
		cfg.InternalToken = v
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
