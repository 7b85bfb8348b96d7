package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/inflowhq/inflow/pkg/config"
)

// RescanUsage is the usage of `indexer rescan` and `indexer resume`.
const RescanUsage = `usage:
  indexer rescan --chain ID --from N [--to M] (--addresses FILE | --all) [--reason TEXT] [--detach]
  indexer rescan status [ID]
  indexer rescan cancel ID
  indexer resume --chain ID --reason TEXT
      [--indexer URL] [--admin-key-file F]   (every form; the key also comes from $INFLOW_ADMIN_KEY)

  rescan backfills a block range for addresses the indexer watches (import
  them into the pool first: POST /api/v1/addresses/import): it publishes a
  BlockRescanned record for each block with a transfer to one of them, and
  ledgerd credits the transfers it has not credited, attributed by binding
  history. --addresses names a file of one address per line (# comments);
  --all rescans for every watched address. --to defaults to, and is capped
  at, the newest block the indexer published. It prints progress until the
  rescan ends (--detach returns at once); a rescan survives an indexer
  restart, resuming where it was.

  resume restarts a chain whose follower halted (a reorg deeper than the
  chain's maximum, or a node that cannot go on): after a deep reorg, that
  reorg is applied once. Resume ledgerd too (ledgerd resume). The reason
  goes in the audit line.
`

type adminClient struct {
	base, key string
	http      *http.Client
}

func newAdminClient(fs *flag.FlagSet, args []string, stderr io.Writer) (*adminClient, *flag.FlagSet, error) {
	base := fs.String("indexer", "http://127.0.0.1:9101", "the indexer's operator listener")
	keyFile := fs.String("admin-key-file", "", "file holding the admin key")
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}
	key, err := config.Secret("", *keyFile, "INFLOW_ADMIN_KEY")
	if err == nil && key == "" {
		err = errors.New("no admin key (--admin-key-file or $INFLOW_ADMIN_KEY)")
	}
	if err != nil {
		return nil, fs, err
	}
	return &adminClient{base: strings.TrimSuffix(*base, "/"), key: key,
		http: &http.Client{Timeout: 90 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, fs, nil
}

func (c *adminClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(HeaderAdminKey, c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 {
		var e struct{ Code, Message string }
		if json.Unmarshal(b, &e) == nil && e.Code != "" {
			return fmt.Errorf("%d %s: %s", resp.StatusCode, e.Code, e.Message)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return json.Unmarshal(b, out)
}

// RescanCommand is `indexer rescan`: it drives a running indexer's rescan
// routes and prints progress.
func RescanCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(stderr, "indexer rescan:", err)
		return 1
	}
	if len(args) > 0 && (args[0] == "status" || args[0] == "cancel") {
		fs := flag.NewFlagSet("indexer rescan "+args[0], flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() { io.WriteString(stderr, RescanUsage) }
		c, fs, err := newAdminClient(fs, args[1:], stderr)
		if err != nil {
			if !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(stderr, "indexer rescan:", err)
			}
			return 2
		}
		if args[0] == "cancel" {
			if fs.NArg() != 1 {
				io.WriteString(stderr, RescanUsage)
				return 2
			}
			var j Rescan
			if err := c.do(ctx, http.MethodDelete, "/admin/v1/rescans/"+url.PathEscape(fs.Arg(0)), nil, &j); err != nil {
				return fail(err)
			}
			printRescan(stdout, &j)
			return 0
		}
		if fs.NArg() == 1 {
			var j Rescan
			if err := c.do(ctx, http.MethodGet, "/admin/v1/rescans/"+url.PathEscape(fs.Arg(0)), nil, &j); err != nil {
				return fail(err)
			}
			printRescan(stdout, &j)
			return 0
		}
		var all struct{ Rescans []Rescan }
		if err := c.do(ctx, http.MethodGet, "/admin/v1/rescans", nil, &all); err != nil {
			return fail(err)
		}
		if len(all.Rescans) == 0 {
			fmt.Fprintln(stdout, "no rescans")
		}
		for i := range all.Rescans {
			printRescan(stdout, &all.Rescans[i])
		}
		return 0
	}
	fs := flag.NewFlagSet("indexer rescan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { io.WriteString(stderr, RescanUsage) }
	var (
		chainID = fs.String("chain", "", "the chain")
		from    = fs.Uint64("from", 0, "first block")
		to      = fs.String("to", "", "last block (default: the newest published)")
		file    = fs.String("addresses", "", "file of addresses, one per line")
		all     = fs.Bool("all", false, "every watched address")
		reason  = fs.String("reason", "", "why (in the audit line)")
		detach  = fs.Bool("detach", false, "return once the rescan started")
	)
	c, fs, err := newAdminClient(fs, args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "indexer rescan:", err)
		}
		return 2
	}
	if *chainID == "" || fs.NArg() > 0 || (*file == "") == !*all {
		io.WriteString(stderr, RescanUsage)
		return 2
	}
	req := RescanRequest{From: *from, All: *all, Reason: *reason}
	if *to != "" {
		var n uint64
		if _, err := fmt.Sscan(*to, &n); err != nil {
			fmt.Fprintf(stderr, "indexer rescan: --to %q is not a block number\n", *to)
			return 2
		}
		req.To = &n
	}
	if *file != "" {
		if req.Addresses, err = readLines(*file); err != nil {
			fmt.Fprintln(stderr, "indexer rescan:", err)
			return 2
		}
		if len(req.Addresses) == 0 {
			fmt.Fprintf(stderr, "indexer rescan: %s holds no address\n", *file)
			return 2
		}
	}
	var j Rescan
	if err := c.do(ctx, http.MethodPost, "/admin/v1/chains/"+url.PathEscape(*chainID)+"/rescans", req, &j); err != nil {
		return fail(err)
	}
	if j.RequestedTo != 0 {
		fmt.Fprintf(stdout, "rescan %s: to %d, the newest published block (asked %d: the follower scans the blocks after it for these addresses)\n", j.ID, j.To, j.RequestedTo)
	}
	printRescan(stdout, &j)
	if *detach {
		return 0
	}
	for j.State == RescanRunning {
		select {
		case <-ctx.Done():
			fmt.Fprintf(stdout, "stopped watching; the rescan goes on (indexer rescan status %s, or cancel %s)\n", j.ID, j.ID)
			return 0
		case <-time.After(time.Second):
		}
		if err := c.do(ctx, http.MethodGet, "/admin/v1/rescans/"+url.PathEscape(j.ID), nil, &j); err != nil {
			if ctx.Err() != nil {
				continue
			}
			return fail(err)
		}
		printRescan(stdout, &j)
	}
	if j.State != RescanDone {
		return 1
	}
	return 0
}

func printRescan(w io.Writer, j *Rescan) {
	who := fmt.Sprintf("%d addresses", j.Addresses)
	if j.All {
		who = "every watched address"
	}
	line := fmt.Sprintf("rescan %s %s [%d..%d] for %s: %s, %d/%d blocks (%.1f%%), %d records, %d transfers",
		j.ID, j.Chain, j.From, j.To, who, j.State, j.BlocksScanned, j.BlocksTotal, j.Percent, j.Records, j.Transfers)
	if j.State == RescanRunning && j.BlocksPerSecond > 0 {
		line += fmt.Sprintf(", %.0f blocks/s, eta %s", j.BlocksPerSecond, (time.Duration(j.ETASeconds) * time.Second).Round(time.Second))
	}
	if j.Superseded > 0 {
		line += fmt.Sprintf(", %d blocks left to the follower (a reorg)", j.Superseded)
	}
	if j.Error != "" {
		line += ": " + j.Error
	}
	fmt.Fprintln(w, line)
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

// ResumeCommand is `indexer resume`.
func ResumeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("indexer resume", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { io.WriteString(stderr, RescanUsage) }
	chainID := fs.String("chain", "", "the halted chain")
	reason := fs.String("reason", "", "why (in the audit line)")
	c, fs, err := newAdminClient(fs, args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "indexer resume:", err)
		}
		return 2
	}
	if *chainID == "" || strings.TrimSpace(*reason) == "" || fs.NArg() > 0 {
		io.WriteString(stderr, RescanUsage)
		return 2
	}
	var out struct{ Resumed bool }
	if err := c.do(ctx, http.MethodPost, "/admin/v1/chains/"+url.PathEscape(*chainID)+"/resume", ResumeRequest{Reason: *reason}, &out); err != nil {
		fmt.Fprintln(stderr, "indexer resume:", err)
		return 1
	}
	fmt.Fprintf(stdout, "resumed %s: its follower runs again (after a deep reorg, that reorg is applied once); resume ledgerd too: ledgerd resume --chain %s --reason ...\n", *chainID, *chainID)
	return 0
}
