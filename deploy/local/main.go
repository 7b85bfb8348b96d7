// Command inflow is Inflow in one process, for a laptop: the embedded Kafka
// broker, the local EVM devnet with background traffic, and the indexer,
// all persistent under --data. `make run` starts it.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/inflowhq/inflow/indexer/daemon"
	"github.com/inflowhq/inflow/pkg/chain"
	devevm "github.com/inflowhq/inflow/pkg/devnet/evm"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// devAddresses are the watched devnet addresses: deterministic, so a restart
// watches the same ones.
func devAddresses(n int) []common.Address {
	out := make([]common.Address, n)
	for i := range out {
		h := sha256.Sum256([]byte("inflow-dev-address-" + strconv.Itoa(i)))
		copy(out[i][:], h[:20])
	}
	return out
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inflow", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		dataDir   = fs.String("data", "./data", "data directory (Kafka, devnet chain, indexer state)")
		blockTime = fs.Duration("block-time", 2*time.Second, "devnet block interval")
		rpcAddr   = fs.String("rpc", "127.0.0.1:8545", "devnet JSON-RPC address (HTTP and WebSocket)")
		kafkaPort = fs.Int("kafka-port", 19092, "embedded Kafka port on 127.0.0.1")
		opsAddr   = fs.String("ops", "127.0.0.1:9101", "indexer /healthz, /readyz and /metrics")
		traffic   = fs.Float64("traffic", 2, "devnet background transfers per second")
		watchN    = fs.Int("dev-addresses", 100, "devnet addresses to watch")
		logLevel  = fs.String("log-level", "info", "debug, info, warn or error")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "inflow: --log-level %q\n", *logLevel)
		return 2
	}
	if *blockTime < 100*time.Millisecond {
		fmt.Fprintln(stderr, "inflow: --block-time below 100ms")
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := start(ctx, log, stdout, *dataDir, *blockTime, *rpcAddr, *kafkaPort, *opsAddr, *traffic, *watchN); err != nil {
		log.Error("inflow stopped", "err", err)
		return 1
	}
	log.Info("inflow stopped cleanly; the next start continues from " + *dataDir)
	return 0
}

func start(ctx context.Context, log *slog.Logger, stdout io.Writer, dataDir string, blockTime time.Duration,
	rpcAddr string, kafkaPort int, opsAddr string, traffic float64, watchN int) error {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	broker, err := kafka.StartEmbedded(kafka.EmbeddedOptions{DataDir: filepath.Join(dataDir, "kafka"), Port: kafkaPort})
	if err != nil {
		return err
	}
	defer broker.Close()
	kcfg := kafka.Config{Brokers: broker.Addrs(), ClientID: "inflow-local"}

	watched := devAddresses(watchN)
	dn, err := devevm.Start(devevm.Config{
		Addr: rpcAddr, DataDir: filepath.Join(dataDir, "devnet"), BlockTime: blockTime,
		TrafficRate: traffic, TrafficTargets: func() []common.Address { return watched },
		Logger: log.With("component", "devnet"),
	})
	if err != nil {
		return err
	}
	defer dn.Close()

	// Watch the dev addresses: publish them once; the topic is compacted.
	admin, err := kafka.NewAdmin(kcfg)
	if err != nil {
		return err
	}
	err = kafka.EnsureTopics(ctx, admin, kafka.AddressesTopic(), kafka.ChainTopic(devevm.ChainID))
	admin.Close()
	if err != nil {
		return err
	}
	prod, err := kafka.NewProducer(kcfg, kgo.DefaultProduceTopic(kafka.TopicAddresses))
	if err != nil {
		return err
	}
	for i, a := range watched {
		r := events.AddressRecord{Address: chain.EVMAddress(a), ID: uint64(i + 1)}
		if err := prod.ProduceSync(ctx, &kgo.Record{Key: r.Key(), Value: r.Value()}).FirstErr(); err != nil {
			prod.Close()
			return fmt.Errorf("watch dev addresses: %w", err)
		}
	}
	prod.Close()

	from := uint64(1)
	d, err := daemon.New(daemon.Config{
		DataDir: filepath.Join(dataDir, "indexer"), KafkaBrokers: kcfg.Brokers, HTTP: opsAddr, LogLevel: "info",
		Chains: []daemon.ChainConfig{{ID: devevm.ChainID, RPC: dn.WSURL(), From: &from, PollInterval: daemon.Duration(blockTime / 4)}},
	}, log.With("component", "indexer"), nil)
	if err != nil {
		return err
	}
	defer d.Close()

	fmt.Fprintf(stdout, `
Inflow is running (embedded mode).

  devnet JSON-RPC   %s  (chain %s, a block every %s)
  Kafka             %s  (topics %s, %s)
  indexer           http://%s/metrics  ·  /healthz  ·  /readyz

Watching %d devnet addresses (the first is %s); about one background
transfer in ten goes to them. Matched deposits so far:
  curl -s http://%s/metrics | grep inflow_indexer_follow_matched_transfers_total

Ctrl-C stops; the next start continues from %s.
`, dn.URL(), devevm.ChainID, blockTime, kcfg.Brokers[0], devevm.ChainID.Topic(), kafka.TopicAddresses,
		opsAddr, watchN, watched[0].Hex(), opsAddr, dataDir)

	if err := d.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
