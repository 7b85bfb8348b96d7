// Package daemon runs the indexer: one follower per configured chain, the
// matcher fed by inflow.addresses, the Kafka producers, and the operator
// endpoints. It owns the indexer's typed Config.
//
// Start-up order matters: the matcher must have applied every address record
// that existed when the indexer started before any follower publishes, or a
// deposit to an address added earlier could be missed. Followers therefore
// wait for the matcher to catch up.
package daemon

import (
	"errors"
	"fmt"
	"strings"

	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/config"
	"github.com/inflowhq/inflow/pkg/httpserver"
)

// Duration is a time.Duration written as "1.5s" in configuration files.
type Duration = config.Duration

// ChainConfig is one followed chain.
type ChainConfig struct {
	ID chain.ID `json:"id"`
	// RPC is the node's JSON-RPC endpoint: http(s):// (polling) or ws(s)://
	// (head subscription, polling as the fallback). A Bitcoin node's is
	// http(s)://user:pass@host:port, or without user:pass with RPCCookie.
	RPC string `json:"rpc"`
	// RPCs are several nodes of the chain, instead of RPC: the chain is
	// followed where a quorum of them agrees (follow.Pool), a node that
	// errs, lags MaxNodeLag blocks or forks is set aside and reported, and
	// the stall watchdog switches nodes.
	RPCs []string `json:"rpcs,omitempty"`
	// Quorum is how many of RPCs must agree on a head (default: a
	// majority).
	Quorum int `json:"quorum,omitempty"`
	// MaxNodeLag is how far behind the quorum's head a node may be before
	// it is set aside (default 8 blocks).
	MaxNodeLag uint64 `json:"max_node_lag,omitempty"`
	// RPCCookie is bitcoind's .cookie file, read on every request (Bitcoin
	// chains only).
	RPCCookie string `json:"rpc_cookie,omitempty"`
	// SolidityRPC is a Tron solidity node's gRPC endpoint, where the
	// provider splits it from the full node (default: RPC).
	SolidityRPC string `json:"solidity_rpc,omitempty"`
	// APIKey is sent as TRON-PRO-API-KEY (TronGrid); $INFLOW_TRON_API_KEY
	// also sets it.
	APIKey string `json:"api_key,omitempty"`
	// MaxTxVersion is a Solana chain's maxSupportedTransactionVersion: "0"
	// (the default) or "legacy". A block holding a newer version halts the
	// chain, with the error saying so.
	MaxTxVersion string `json:"max_tx_version,omitempty"`
	// Encoding is a Solana chain's getBlock transaction encoding: base64
	// (the default, measured fastest: see bench/RESULTS.md) or json.
	Encoding string `json:"encoding,omitempty"`
	// From is the first block when the indexer has no checkpoint for the
	// chain; absent, it starts at the node's head.
	From *uint64 `json:"from,omitempty"`
	// Fetchers is the parallel block fetches during backfill (default 8).
	Fetchers int `json:"fetchers,omitempty"`
	// PollInterval is the head polling interval (default 1s).
	PollInterval Duration `json:"poll_interval,omitempty"`
	// WindowSize is the recent headers kept for reorg detection (default:
	// 2 × the chain's max reorg depth, at least 64).
	WindowSize int `json:"window_size,omitempty"`
}

// Config is the indexer daemon's configuration.
type Config struct {
	// DataDir holds the indexer's Pebble database (window, matcher set).
	DataDir string `json:"data_dir"`
	// KafkaBrokers are the seed brokers.
	KafkaBrokers []string `json:"kafka_brokers"`
	// HTTP is the operator endpoint address (/healthz, /readyz, /metrics).
	HTTP string `json:"http"`
	// HTTPLimits are the operator listener's timeouts and caps
	// (pkg/httpserver's defaults when zero).
	HTTPLimits httpserver.Options `json:"-"`
	// AssetsFile optionally extends the built-in chains and assets.
	AssetsFile string `json:"assets_file,omitempty"`
	// Table, when set, is the asset table itself, instead of AssetsFile.
	Table *assets.Config `json:"-"`
	// FilterBitsPerAddress sizes the matcher's filter (default 16).
	FilterBitsPerAddress float64       `json:"filter_bits_per_address,omitempty"`
	Chains               []ChainConfig `json:"chains"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"log_level,omitempty"`
	// AdminKey guards the admin routes of the operator listener
	// (/admin/v1/...: rescans, resuming a halted chain); empty turns them
	// off. --admin-key-file and $INFLOW_ADMIN_KEY also set it.
	AdminKey string `json:"admin_key,omitempty"`
}

// DefaultConfig returns the defaults every field falls back to.
func DefaultConfig() Config {
	return Config{DataDir: "./data/indexer", KafkaBrokers: []string{"127.0.0.1:9092"}, HTTP: "127.0.0.1:9101", LogLevel: "info"}
}

// LoadConfig reads a JSON configuration file over the defaults.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	return cfg, config.Load(path, &cfg)
}

// Validate checks the configuration against the asset table.
func (c Config) Validate(table *assets.Config) error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is empty"))
	}
	if len(c.KafkaBrokers) == 0 {
		errs = append(errs, errors.New("no kafka brokers"))
	}
	if len(c.Chains) == 0 {
		errs = append(errs, errors.New("no chains to follow"))
	}
	seen := map[chain.ID]bool{}
	for _, ch := range c.Chains {
		spec, err := table.Chain(ch.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ch.RPC != "" && len(ch.RPCs) > 0 {
			errs = append(errs, fmt.Errorf("chain %s: give rpc or rpcs, not both", ch.ID))
		}
		if ch.Quorum < 0 || ch.Quorum > len(ch.Endpoints()) {
			errs = append(errs, fmt.Errorf("chain %s: quorum %d of %d nodes", ch.ID, ch.Quorum, len(ch.Endpoints())))
		}
		if len(ch.RPCs) > 1 && ch.SolidityRPC != "" {
			errs = append(errs, fmt.Errorf("chain %s: solidity_rpc is for a single rpc", ch.ID))
		}
		for _, rpc := range ch.Endpoints() {
			ch := ch
			ch.RPC = rpc
			errs = append(errs, checkEndpoint(ch, spec.Family)...)
		}
		if spec.Family != chain.FamilySolana && (ch.MaxTxVersion != "" || ch.Encoding != "") {
			errs = append(errs, fmt.Errorf("chain %s: max_tx_version and encoding are for Solana chains", ch.ID))
		}
		if seen[ch.ID] {
			errs = append(errs, fmt.Errorf("chain %s listed twice", ch.ID))
		}
		seen[ch.ID] = true
		if ch.Fetchers < 0 || ch.Fetchers > 256 {
			errs = append(errs, fmt.Errorf("chain %s: fetchers %d outside 0..256", ch.ID, ch.Fetchers))
		}
	}
	if c.AdminKey != "" && len(c.AdminKey) < config.MinSecretLen {
		errs = append(errs, fmt.Errorf("admin_key is shorter than %d characters", config.MinSecretLen))
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q (want debug, info, warn or error)", c.LogLevel))
	}
	return errors.Join(errs...)
}

// checkEndpoint checks one node URL of a chain, and the settings its
// family takes.
func checkEndpoint(ch ChainConfig, fam chain.Family) []error {
	var errs []error
	{
		switch fam {
		case chain.FamilyEVM:
			if ch.RPCCookie != "" {
				errs = append(errs, fmt.Errorf("chain %s: rpc_cookie is for Bitcoin nodes", ch.ID))
			}
		case chain.FamilyBitcoin:
			if !strings.HasPrefix(ch.RPC, "http://") && !strings.HasPrefix(ch.RPC, "https://") {
				errs = append(errs, fmt.Errorf("chain %s: a Bitcoin node's rpc must be http(s)://[user:pass@]host:port", ch.ID))
			}
		case chain.FamilyTron:
			for _, u := range []string{ch.RPC, ch.SolidityRPC} {
				if u != "" && !strings.HasPrefix(u, "grpc://") && !strings.HasPrefix(u, "grpcs://") {
					errs = append(errs, fmt.Errorf("chain %s: a Tron node's rpc must be grpc://host:port or grpcs://host:port", ch.ID))
				}
			}
		case chain.FamilySolana:
			if !strings.HasPrefix(ch.RPC, "http://") && !strings.HasPrefix(ch.RPC, "https://") {
				errs = append(errs, fmt.Errorf("chain %s: a Solana node's rpc must be http(s)://host:port", ch.ID))
			}
			if _, err := ch.SolanaMaxTxVersion(); err != nil {
				errs = append(errs, fmt.Errorf("chain %s: %w", ch.ID, err))
			}
			switch ch.Encoding {
			case "", "base64", "json":
			default:
				errs = append(errs, fmt.Errorf("chain %s: encoding %q (want base64 or json)", ch.ID, ch.Encoding))
			}
		default:
			errs = append(errs, fmt.Errorf("chain %s: the %s family has no indexer in this build", ch.ID, fam))
		}
		if fam != chain.FamilyTron && !strings.HasPrefix(ch.RPC, "http://") && !strings.HasPrefix(ch.RPC, "https://") &&
			!strings.HasPrefix(ch.RPC, "ws://") && !strings.HasPrefix(ch.RPC, "wss://") {
			errs = append(errs, fmt.Errorf("chain %s: rpc %q must be an http(s):// or ws(s):// URL", ch.ID, ch.RPC))
		}
	}
	return errs
}

// Endpoints are the chain's node URLs: RPCs, or RPC alone.
func (c ChainConfig) Endpoints() []string {
	if len(c.RPCs) > 0 {
		return c.RPCs
	}
	return []string{c.RPC}
}

// SolanaMaxTxVersion reads MaxTxVersion: 0 by default, -1 for legacy.
func (c ChainConfig) SolanaMaxTxVersion() (int, error) {
	switch c.MaxTxVersion {
	case "", "0":
		return 0, nil
	case "legacy":
		return -1, nil
	}
	return 0, fmt.Errorf("max_tx_version %q (want 0 or legacy)", c.MaxTxVersion)
}
