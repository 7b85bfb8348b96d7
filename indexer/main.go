// Command indexer follows chains and publishes their events to Kafka
// (`indexer run`), scans a block range to NDJSON (`indexer scan`), decodes
// chain topic records to NDJSON (`indexer events decode`), and drives a
// running indexer's admin routes: `indexer rescan` backfills a block range
// for given addresses through ledgerd, `indexer resume` resumes a halted
// chain.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/inflowhq/inflow/indexer/bitcoin"
	"github.com/inflowhq/inflow/indexer/daemon"
	"github.com/inflowhq/inflow/indexer/evm"
	"github.com/inflowhq/inflow/indexer/scan"
	"github.com/inflowhq/inflow/indexer/solana"
	"github.com/inflowhq/inflow/indexer/tron"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/config"
)

const usage = `usage:
  indexer run  [--config FILE] [--data DIR] [--kafka-brokers H:P,...] [--http ADDR]
               [--chain ID --rpc URL [--rpc-cookie FILE] [--solidity-rpc URL] [--from N]] [--log-level LEVEL]
  indexer events decode [--input sized|hex|base64|raw] [--assets FILE]   (chain records → NDJSON)
  indexer rescan --chain ID --from N [--to M] (--addresses FILE | --all)   (backfill, through ledgerd)
  indexer rescan status [ID] | cancel ID;  indexer resume --chain ID --reason TEXT
               (indexer rescan --help for the admin key and the rest)
  indexer scan --chain ID --rpc URL --from N --to M (--watch FILE | --all) [--fetchers N]
               [--rpc-cookie FILE] [--verbose-blocks] [--api-key KEY]

  On Bitcoin chains --rpc is http://user:pass@host:8332 (or name bitcoind's
  cookie file with --rpc-cookie), and a row is one output: its vout, and its
  address on the chain's network, or script:<hex> for a script without one.
  On Tron chains --rpc is grpc://host:50051 (grpcs:// for TLS), and kind is
  native, trc10 or trc20.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "run":
		return runDaemon(ctx, args[1:], stderr)
	case "scan":
		return runScan(ctx, args[1:], stdout, stderr)
	case "events":
		return runEvents(args[1:], os.Stdin, stdout, stderr)
	case "rescan":
		return daemon.RescanCommand(ctx, args[1:], stdout, stderr)
	case "resume":
		return daemon.ResumeCommand(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "indexer: unknown command %q\n%s", args[0], usage)
	return 2
}

func runDaemon(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("indexer run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configPath = fs.String("config", "", "JSON configuration file")
		dataDir    = fs.String("data", "", "data directory (overrides the file)")
		brokers    = fs.String("kafka-brokers", "", "comma-separated Kafka seed brokers (overrides the file)")
		httpAddr   = fs.String("http", "", "operator endpoint address (overrides the file)")
		chainID    = fs.String("chain", "", "follow this chain (with --rpc), in addition to the file's")
		rpcURL     = fs.String("rpc", "", "JSON-RPC endpoint of --chain")
		rpcCookie  = fs.String("rpc-cookie", "", "bitcoind's .cookie file for --chain (instead of user:pass in --rpc)")
		solidity   = fs.String("solidity-rpc", "", "Tron: the solidity node's gRPC endpoint for --chain, where the provider splits it (default: --rpc)")
		from       = fs.String("from", "", "first block of --chain when it has no checkpoint (default: the head)")
		logLevel   = fs.String("log-level", "", "debug, info, warn or error")
		adminFile  = fs.String("admin-key-file", "", "file holding the admin key of the admin routes (rescan, resume); also $INFLOW_ADMIN_KEY")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := daemon.DefaultConfig()
	if *configPath != "" {
		var err error
		if cfg, err = daemon.LoadConfig(*configPath); err != nil {
			fmt.Fprintln(stderr, "indexer:", err)
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
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	if key, err := config.Secret("", *adminFile, "INFLOW_ADMIN_KEY"); err != nil {
		fmt.Fprintln(stderr, "indexer:", err)
		return 2
	} else if key != "" {
		cfg.AdminKey = key
	}
	if *chainID != "" || *rpcURL != "" {
		if *chainID == "" || *rpcURL == "" {
			fmt.Fprintln(stderr, "indexer: --chain and --rpc go together")
			return 2
		}
		cc := daemon.ChainConfig{ID: chain.ID(*chainID), RPC: *rpcURL, RPCCookie: *rpcCookie, SolidityRPC: *solidity}
		if *from != "" {
			n, err := strconv.ParseUint(*from, 10, 64)
			if err != nil {
				fmt.Fprintf(stderr, "indexer: --from %q is not a block number\n", *from)
				return 2
			}
			cc.From = &n
		}
		cfg.Chains = append(cfg.Chains, cc)
	}
	log := config.Logger(stderr, cfg.LogLevel)
	d, err := daemon.New(cfg, log, nil)
	if err != nil {
		fmt.Fprintln(stderr, "indexer:", err)
		return 2
	}
	defer d.Close()
	if err := d.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("indexer stopped", "err", err)
		return 1
	}
	log.Info("indexer stopped cleanly")
	return 0
}

func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("indexer scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		chainID  = fs.String("chain", "", "chain id, e.g. ethereum")
		rpcURL   = fs.String("rpc", "", "JSON-RPC endpoint")
		from     = fs.Uint64("from", 0, "first block")
		to       = fs.Uint64("to", 0, "last block (inclusive)")
		watch    = fs.String("watch", "", "file with one address per line: print only transfers to them")
		all      = fs.Bool("all", false, "print every transfer")
		fetchers = fs.Int("fetchers", 8, "parallel block fetches")
		assetsF  = fs.String("assets", "", "JSON file extending the built-in chains")
		cookie   = fs.String("rpc-cookie", "", "Bitcoin: the node's .cookie file, instead of user:pass in --rpc")
		apiKey   = fs.String("api-key", "", "Tron: the TRON-PRO-API-KEY header (TronGrid); $INFLOW_TRON_API_KEY also works")
		verbose  = fs.Bool("verbose-blocks", false, "Bitcoin: fetch verbose blocks (getblock <hash> 2) instead of raw ones")
		legacy   = fs.Bool("legacy-only", false, "Solana: ask for legacy transactions only (no maxSupportedTransactionVersion); a block with a v0 one stops the scan")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "indexer scan: "+format+"\n", a...)
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case *chainID == "" || *rpcURL == "":
		return fail("--chain and --rpc are required")
	case !set["from"] || !set["to"]:
		return fail("--from and --to are required")
	case *to < *from:
		return fail("--to %d is below --from %d", *to, *from)
	case (*watch == "") == !*all:
		return fail("choose exactly one of --watch FILE or --all")
	case *fetchers < 1 || *fetchers > 256:
		return fail("--fetchers %d outside 1..256", *fetchers)
	}
	id, err := chain.ParseID(*chainID)
	if err != nil {
		return fail("%v", err)
	}
	table, err := assets.LoadOrDefault(*assetsF)
	if err != nil {
		return fail("%v", err)
	}
	fam, net := chain.FamilyEVM, chain.NetworkMainnet
	if spec, err := table.Chain(id); err == nil {
		fam, net = spec.Family, spec.AddressNet()
	}
	if (*cookie != "" || *verbose) && fam != chain.FamilyBitcoin {
		return fail("--rpc-cookie and --verbose-blocks are for Bitcoin chains; %s is %s", id, fam)
	}
	if *apiKey == "" {
		*apiKey = os.Getenv("INFLOW_TRON_API_KEY")
	}
	opts := scan.Options{Chain: id, Family: fam, Network: net, From: *from, To: *to, Fetchers: *fetchers, Progress: time.Second}
	switch fam {
	case chain.FamilyEVM:
		client, err := evm.Dial(ctx, *rpcURL)
		if err != nil {
			return fail("%v", err)
		}
		defer client.Close()
		opts.Source = client
	case chain.FamilyBitcoin:
		client, err := bitcoin.Dial(bitcoin.Options{URL: *rpcURL, CookieFile: *cookie, Network: net, Conns: *fetchers, Verbose: *verbose})
		if err != nil {
			return fail("%v", err)
		}
		defer client.Close()
		opts.Source = client
	case chain.FamilyTron:
		client, err := tron.Dial(tron.Options{URL: *rpcURL, APIKey: *apiKey})
		if err != nil {
			return fail("%v", err)
		}
		defer client.Close()
		opts.Source = client
	case chain.FamilySolana:
		version := 0
		if *legacy {
			version = solana.LegacyOnly
		}
		client, err := solana.Dial(solana.ClientOptions{URL: *rpcURL, MaxSupportedTransactionVersion: version})
		if err != nil {
			return fail("%v", err)
		}
		defer client.Close()
		opts.Source = client
	default:
		return fail("chain %s is %s; this build scans EVM, Tron, Bitcoin and Solana chains", id, fam)
	}
	if *watch != "" {
		if opts.Watch, err = scan.ReadWatchFile(*watch, fam); err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(stderr, "scan %s: watching %d addresses\n", id, len(opts.Watch))
	}
	if _, err := scan.Run(ctx, opts, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "indexer scan:", err)
		return 1
	}
	return 0
}
