// Package scan is the operator's rescan tool: it reads a block range from a
// node and prints the transfers in it as NDJSON, in block order, with
// progress on stderr. It shares the chain clients with the indexer, so what
// it prints is what the indexer sees: on EVM one row per native transfer
// and token log; on Tron the same, with kind native, trc10 (token: the
// asset id) or trc20 (token: the base58 contract; log_index: the log's
// place in its transaction info), base58 addresses and hex hashes; on
// Bitcoin one row per output (its vout, and its address on the chain's
// network, or script:<hex> for a script with none); on Solana one row per
// System or token transfer instruction (kind native or spl; index: the
// instruction's position, "3" or "3.1" for an inner one; token: the mint;
// from and to: owners; to_token_account: the token account it landed in),
// base58 throughout. A skipped Solana slot has no row.
package scan

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/inflowhq/inflow/indexer/follow"
	"github.com/inflowhq/inflow/pkg/chain"
)

// BlockFetcher reads the block at a height with every transfer in it.
type BlockFetcher interface {
	FetchBlock(ctx context.Context, n uint64) (*chain.Block, error)
}

// Options is one scan.
type Options struct {
	Chain  chain.ID
	Family chain.Family
	// Network is the encoding Bitcoin addresses are written in.
	Network chain.Network
	// Source reads the blocks; it must allow Fetchers parallel calls.
	Source   BlockFetcher
	From, To uint64
	// Watch, if not nil, keeps only transfers to these addresses.
	Watch map[chain.Address]bool
	// Fetchers is the number of parallel block fetches (default 8).
	Fetchers int
	// Progress is how often progress is written to stderr (default 1s).
	Progress time.Duration
}

// Row is one NDJSON line.
type Row struct {
	Chain       chain.ID `json:"chain"`
	BlockNumber uint64   `json:"block_number"`
	BlockHash   string   `json:"block_hash"`
	TxHash      string   `json:"tx_hash"`
	Kind        string   `json:"kind"`
	LogIndex    *uint32  `json:"log_index,omitempty"`
	Vout        *uint32  `json:"vout,omitempty"`
	Token       string   `json:"token,omitempty"`
	From        string   `json:"from,omitempty"`
	To          string   `json:"to"`
	// ToTokenAccount is the Solana token account an SPL transfer landed in
	// (To is its owner).
	ToTokenAccount string `json:"to_token_account,omitempty"`
	// Index is a Solana transfer's instruction position.
	Index string `json:"index,omitempty"`
	Value string `json:"value"`
}

// ReadWatchFile reads one address per line; blank lines and # comments are
// skipped. Every bad line is reported, with its number.
func ReadWatchFile(path string, fam chain.Family) (map[chain.Address]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[chain.Address]bool{}
	var bad []error
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		a, err := chain.ParseAddress(fam, line)
		if err != nil {
			bad = append(bad, fmt.Errorf("%s:%d: %w", path, n, err))
			continue
		}
		out[a] = true
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	return out, nil
}

// Run scans [From, To] and writes rows to out and progress to progress. It
// returns the number of rows written.
func Run(ctx context.Context, o Options, out, progress io.Writer) (int, error) {
	if o.To < o.From {
		return 0, fmt.Errorf("scan: --to %d is below --from %d", o.To, o.From)
	}
	if o.Fetchers <= 0 {
		o.Fetchers = 8
	}
	if o.Progress == 0 {
		o.Progress = time.Second
	}
	client := o.Source
	if client == nil {
		return 0, fmt.Errorf("scan: no source")
	}
	total := o.To - o.From + 1
	w := bufio.NewWriterSize(out, 1<<16)
	enc := json.NewEncoder(w)
	rows := 0
	start := time.Now()
	last := start
	var done uint64
	report := func(final bool) {
		el := time.Since(start).Seconds()
		rate := float64(done) / max(el, 1e-9)
		eta := ""
		if !final && rate > 0 {
			eta = fmt.Sprintf(", eta %s", (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second))
		}
		fmt.Fprintf(progress, "scan %s: %d/%d blocks (%.1f%%), %d transfers, %.0f blocks/s%s\n",
			o.Chain, done, total, 100*float64(done)/float64(total), rows, rate, eta)
	}
	scanErr := follow.FetchInOrder(ctx, client, o.From, o.To, o.Fetchers, nil, func(n uint64, b *chain.Block, err error) error {
		if err != nil {
			return err
		}
		if b != nil { // nil: a skipped slot, no rows
			for _, t := range b.Transfers {
				if o.Watch != nil && !o.Watch[t.To] {
					continue
				}
				if err := enc.Encode(row(o, b.Ref, t)); err != nil {
					return err
				}
				rows++
			}
		}
		done++
		if time.Since(last) >= o.Progress {
			w.Flush()
			report(false)
			last = time.Now()
		}
		return nil
	})
	if err := w.Flush(); err != nil && scanErr == nil {
		scanErr = err
	}
	report(true)
	return rows, scanErr
}

func row(o Options, ref chain.BlockRef, t chain.Transfer) Row {
	r := Row{
		Chain: o.Chain, BlockNumber: ref.Number, BlockHash: ref.Hash.Format(o.Family),
		TxHash: chain.FormatHash(o.Family, t.TxHash), Kind: t.Kind.String(),
		From: t.From.String(), To: t.To.String(), Value: t.Value.String(),
	}
	if o.Family == chain.FamilyBitcoin {
		vout := t.Index
		r.Vout = &vout
		r.To = chain.FormatBitcoin(t.To.Bytes(), o.Network)
		return r
	}
	if o.Family == chain.FamilyEVM {
		r.BlockHash = ref.Hash.Hex()
	}
	if o.Family == chain.FamilySolana {
		r.Index = chain.SolanaPosition(t.Index)
		if t.Kind == chain.KindSPL {
			r.Token, r.ToTokenAccount = t.Token.String(), t.TokenAccount.String()
		}
		return r
	}
	switch t.Kind {
	case chain.KindTRC10:
		r.Token = t.Asset
	case chain.KindERC20, chain.KindTRC20, chain.KindSPL:
		li := t.Index
		r.LogIndex = &li
		r.Token = t.Token.String()
	}
	return r
}
