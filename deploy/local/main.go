// Command inflow is Inflow in one process, for a laptop: the embedded Kafka
// broker, the local EVM devnet with background traffic, bitcoin-regtest (a
// real btcd), tron-devnet, the indexer, ledgerd and the merchant API, all
// persistent under --data. `make run` starts it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/inflowhq/inflow/deploy/local/stack"
	"github.com/inflowhq/inflow/pkg/assets"
	devbtc "github.com/inflowhq/inflow/pkg/devnet/bitcoin"
	devevm "github.com/inflowhq/inflow/pkg/devnet/evm"
	devsol "github.com/inflowhq/inflow/pkg/devnet/solana"
	devtron "github.com/inflowhq/inflow/pkg/devnet/tron"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command; it stops when ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inflow", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := stack.Options{}
	fs.StringVar(&o.DataDir, "data", "./data", "data directory (Kafka log, devnet chain, indexer and ledger state)")
	fs.StringVar(&o.HTTP, "http", "127.0.0.1:8080", "merchant API and devnet control API")
	fs.DurationVar(&o.BlockTime, "block-time", 2*time.Second, "devnet block interval")
	fs.StringVar(&o.RPC, "rpc", "127.0.0.1:8545", "devnet JSON-RPC (HTTP and WebSocket)")
	fs.BoolVar(&o.Bitcoin, "bitcoin", true, "run bitcoin-regtest (a real btcd, bin/btcd from make build) beside evm-devnet")
	fs.StringVar(&o.BitcoinRPC, "bitcoin-rpc", "127.0.0.1:18443", "bitcoin-regtest's JSON-RPC (btcd)")
	fs.DurationVar(&o.BitcoinBlockTime, "bitcoin-block-time", 5*time.Second, "bitcoin-regtest block interval (0: only on request)")
	fs.BoolVar(&o.Tron, "tron", true, "run tron-devnet (a local node serving java-tron's gRPC) beside evm-devnet")
	fs.StringVar(&o.TronRPC, "tron-rpc", "127.0.0.1:50051", "tron-devnet's gRPC (Wallet and WalletSolidity)")
	fs.DurationVar(&o.TronBlockTime, "tron-block-time", 3*time.Second, "tron-devnet block interval (0: only on request)")
	fs.BoolVar(&o.Solana, "solana", true, "run solana-localnet (a local node serving Solana's JSON-RPC) beside evm-devnet")
	fs.StringVar(&o.SolanaRPC, "solana-rpc", "127.0.0.1:8899", "solana-localnet's JSON-RPC")
	fs.DurationVar(&o.SolanaSlotTime, "solana-block-time", 400*time.Millisecond, "solana-localnet slot interval (0: only on request)")
	fs.IntVar(&o.KafkaPort, "kafka-port", 19092, "embedded Kafka port on 127.0.0.1")
	fs.StringVar(&o.IndexerOps, "indexer-ops", "127.0.0.1:9101", "indexer /healthz, /readyz, /metrics")
	fs.StringVar(&o.LedgerHTTP, "ledger-http", "127.0.0.1:9201", "ledgerd internal API and /healthz, /readyz, /metrics")
	fs.StringVar(&o.APIOps, "api-ops", "127.0.0.1:9301", "apid /healthz, /readyz, /metrics, /debug/pprof (kept off the merchant API's address)")
	fs.Uint64Var(&o.FinalityLag, "finality-lag", 16, "how far the devnet's finalized tag lags its head")
	fs.Float64Var(&o.Traffic, "traffic", 2, "devnet background transfers per second")
	fs.StringVar(&o.DevAPIKey, "dev-api-key", "", "API key of the dev merchant (sk_test_…; default: generated and printed)")
	fs.StringVar(&o.AdminKey, "admin-key", "", "X-Admin-Key for /admin/v1 (default: generated and printed)")
	fs.IntVar(&o.PoolSize, "dev-addresses", 100, "devnet addresses in the dev merchant's pool")
	fs.DurationVar(&o.Cooldown, "cooldown", 30*time.Minute, "how long an unbound address rests before reuse")
	fs.StringVar(&o.PublicURL, "public-url", "", "the public base of payment sessions' checkoutUrl (default: the --http address)")
	fs.StringVar(&o.ClickHouseDSN, "clickhouse-dsn", "", "keep history in ClickHouse (clickhouse://127.0.0.1:9000/inflow); default: the embedded store")
	assetsFile := fs.String("assets", "", "an operator asset file (JSON: chains, policies, tokens) applied over the built-in table and the shipped testnet tokens")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (info: a line per block with matched transfers, deposit status change, reorg and failed webhook attempt)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "inflow: --log-level %q\n", *logLevel)
		return 2
	}
	if o.BlockTime != 0 && o.BlockTime < 50*time.Millisecond {
		fmt.Fprintln(stderr, "inflow: --block-time below 50ms")
		return 2
	}
	if o.BitcoinBlockTime != 0 && o.BitcoinBlockTime < 50*time.Millisecond {
		fmt.Fprintln(stderr, "inflow: --bitcoin-block-time below 50ms")
		return 2
	}
	if o.TronBlockTime != 0 && o.TronBlockTime < 20*time.Millisecond {
		fmt.Fprintln(stderr, "inflow: --tron-block-time below 20ms")
		return 2
	}
	if o.SolanaSlotTime != 0 && o.SolanaSlotTime < 20*time.Millisecond {
		fmt.Fprintln(stderr, "inflow: --solana-block-time below 20ms")
		return 2
	}
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	table, err := stack.TestnetTable()
	if err == nil && *assetsFile != "" {
		var f *os.File
		if f, err = os.Open(*assetsFile); err == nil {
			table, err = assets.Merge(table, f)
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "inflow: --assets: %v\n", err)
		return 2
	}
	o.Assets = table
	s, err := stack.Start(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "inflow:", err)
		return 1
	}
	printWelcome(stdout, s, o)
	if err := s.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "inflow:", err)
		return 1
	}
	fmt.Fprintf(stderr, "inflow stopped cleanly; the next start continues from %s\n", o.DataDir)
	return 0
}

func printWelcome(w io.Writer, s *stack.Stack, o stack.Options) {
	c := devevm.ChainID
	bitcoinLine := ""
	if s.Bitcoin != nil {
		bitcoinLine = fmt.Sprintf("\n  bitcoin        %s (btcd JSON-RPC, chain %s, a block every %s)", s.Bitcoin.URL(), devbtc.ChainID, o.BitcoinBlockTime)
	}
	if s.Tron != nil {
		bitcoinLine += fmt.Sprintf("\n  tron           %s (gRPC Wallet and WalletSolidity, chain %s, a block every %s)", s.Tron.URL(), devtron.ChainID, o.TronBlockTime)
	}
	if s.Solana != nil {
		bitcoinLine += fmt.Sprintf("\n  solana         %s (JSON-RPC, chain %s, a slot every %s)", s.Solana.URL(), devsol.ChainID, o.SolanaSlotTime)
	}
	fmt.Fprintf(w, `
Inflow is running (embedded mode, data in %[1]s).

  console        %[12]s
                 (opens the live console as the dev merchant: chains, deposits, webhooks, the pool;
                  %[2]s/console signs in with any API key, or the admin key for the operator's view)
  merchant API   %[2]s/api/v1   docs %[2]s/docs   OpenAPI %[2]s/openapi.json
  devnet         %[3]s (JSON-RPC, chain %[4]s, a block every %[5]s)%[11]s
  operators      indexer %[6]s/metrics · ledgerd %[7]s/metrics · apid %[10]s/metrics
  dev API key    %[8]s
  admin key      %[9]s

Try it:

  # 1. bind a deposit reference: you get a pooled address
  curl -s -X POST %[2]s/api/v1/deposits/references -H 'X-API-Key: %[8]s' \
    -H 'Content-Type: application/json' \
    -d '{"depositReference":"user_alice","currency":"USDT","chainId":"%[4]s"}'

  # 2. send 25 USDT to that address on the devnet (put the address in "to")
  curl -s -X POST %[2]s/devnet/%[4]s/transfer -H 'Content-Type: application/json' \
    -d '{"to":"ADDRESS","currency":"USDT","amount":"25"}'

  # 3. watch the deposit go pending → confirmed → completed
  curl -s '%[2]s/api/v1/deposits?depositReference=user_alice' -H 'X-API-Key: %[8]s'
  curl -s '%[2]s/api/v1/balances?depositReference=user_alice' -H 'X-API-Key: %[8]s'
`, o.DataDir, s.APIURL, s.Devnet.URL(), c, o.BlockTime, s.IndexerOpsURL, s.LedgerURL, s.DevAPIKey, s.AdminKey, s.APIOpsURL, bitcoinLine, s.ConsoleURL)
	if s.Bitcoin != nil {
		b := devbtc.ChainID
		final := o.BitcoinBlockTime * 7
		fmt.Fprintf(w, `
The same in BTC on bitcoin-regtest (completed 7 blocks deep, about %[4]s):

  # 1. bind a BTC reference: you get a regtest address (bcrt1…, m…, 2…)
  curl -s -X POST %[1]s/api/v1/deposits/references -H 'X-API-Key: %[2]s' \
    -H 'Content-Type: application/json' \
    -d '{"depositReference":"user_bob","currency":"BTC","chainId":"%[3]s"}'

  # 2. send 0.5 BTC to it (put the address in "to")
  curl -s -X POST %[1]s/devnet/%[3]s/transfer -H 'Content-Type: application/json' \
    -d '{"to":"ADDRESS","currency":"BTC","amount":"0.5"}'

  # 3. watch it confirm and complete
  curl -s '%[1]s/api/v1/deposits?depositReference=user_bob' -H 'X-API-Key: %[2]s'
  curl -s '%[1]s/api/v1/balances?depositReference=user_bob' -H 'X-API-Key: %[2]s'
`, s.APIURL, s.DevAPIKey, b, final)
	}
	if s.Tron != nil {
		fmt.Fprintf(w, `
And USDT (TRC20) on tron-devnet (completed once solidified, 19 blocks deep):

  # 1. bind a USDT reference on tron-devnet: you get a T-address
  curl -s -X POST %[1]s/api/v1/deposits/references -H 'X-API-Key: %[2]s' \
    -H 'Content-Type: application/json' \
    -d '{"depositReference":"user_carol","currency":"USDT","chainId":"%[3]s"}'

  # 2. send 10 USDT to it (put the address in "to"; TRX works too)
  curl -s -X POST %[1]s/devnet/%[3]s/transfer -H 'Content-Type: application/json' \
    -d '{"to":"ADDRESS","currency":"USDT","amount":"10"}'

  # 3. watch it confirm and complete
  curl -s '%[1]s/api/v1/deposits?depositReference=user_carol' -H 'X-API-Key: %[2]s'
  curl -s '%[1]s/api/v1/balances?depositReference=user_carol' -H 'X-API-Key: %[2]s'
`, s.APIURL, s.DevAPIKey, devtron.ChainID)
	}
	if s.Solana != nil {
		fmt.Fprintf(w, `
And USDT (SPL) on solana-localnet (completed at finalized, 32 slots deep, about 15s):

  # 1. bind a USDT reference on solana-localnet: you get an owner address
  curl -s -X POST %[1]s/api/v1/deposits/references -H 'X-API-Key: %[2]s' \
    -H 'Content-Type: application/json' \
    -d '{"depositReference":"user_dave","currency":"USDT","chainId":"%[3]s"}'

  # 2. send 20 USDT to it (put the address in "to"; it lands in the owner's
  #    associated token account; SOL works too)
  curl -s -X POST %[1]s/devnet/%[3]s/transfer -H 'Content-Type: application/json' \
    -d '{"to":"ADDRESS","currency":"USDT","amount":"20"}'

  # 3. watch it confirm and complete
  curl -s '%[1]s/api/v1/deposits?depositReference=user_dave' -H 'X-API-Key: %[2]s'
  curl -s '%[1]s/api/v1/balances?depositReference=user_dave' -H 'X-API-Key: %[2]s'
`, s.APIURL, s.DevAPIKey, devsol.ChainID)
	}
	fmt.Fprint(w, "\nCtrl-C stops; the next start continues with the same data.\n")
}
