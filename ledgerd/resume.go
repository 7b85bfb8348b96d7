package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/inflowhq/inflow/pkg/config"
)

const resumeUsage = `usage:
  ledgerd resume --chain ID --reason TEXT [--ledger URL] [--internal-token-file F] [--admin-key-file F]

  Resumes a chain the ledger halted, on the operator's decision: its held
  records are applied again, and after a reorg deeper than the chain's
  maximum that reorg is applied. The reason is kept in the chain's audit
  record (GET /internal/v1/chain-states shows them). The internal token and
  the admin key also come from $INFLOW_INTERNAL_TOKEN and $INFLOW_ADMIN_KEY.
  It is POST /admin/v1/chains/{chainId}/resume of the merchant API's
  operator routes, sent to ledgerd directly.
`

func runResume(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ledgerd resume", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { io.WriteString(stderr, resumeUsage) }
	var (
		ledger    = fs.String("ledger", "http://127.0.0.1:9201", "ledgerd's internal API")
		chainID   = fs.String("chain", "", "the halted chain")
		reason    = fs.String("reason", "", "why (kept in the audit record)")
		tokenFile = fs.String("internal-token-file", "", "file holding the internal token")
		adminFile = fs.String("admin-key-file", "", "file holding the admin key")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *chainID == "" || strings.TrimSpace(*reason) == "" || fs.NArg() > 0 {
		io.WriteString(stderr, resumeUsage)
		return 2
	}
	token, err := config.Secret("", *tokenFile, "INFLOW_INTERNAL_TOKEN")
	if err == nil && token == "" {
		err = fmt.Errorf("no internal token (--internal-token-file or $INFLOW_INTERNAL_TOKEN)")
	}
	admin, aerr := config.Secret("", *adminFile, "INFLOW_ADMIN_KEY")
	if aerr == nil && admin == "" {
		aerr = fmt.Errorf("no admin key (--admin-key-file or $INFLOW_ADMIN_KEY)")
	}
	if err != nil || aerr != nil {
		fmt.Fprintln(stderr, "ledgerd resume:", errors.Join(err, aerr))
		return 2
	}
	body, _ := json.Marshal(map[string]string{"reason": *reason})
	u := strings.TrimSuffix(*ledger, "/") + "/internal/v1/admin/chains/" + url.PathEscape(*chainID) + "/resume"
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(string(body)))
	if err != nil {
		fmt.Fprintln(stderr, "ledgerd resume:", err)
		return 2
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Inflow-Internal-Token", token)
	req.Header.Set("X-Inflow-Admin-Key", admin)
	fmt.Fprintf(stdout, "resuming %s on %s…\n", *chainID, *ledger)
	client := &http.Client{Timeout: 90 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "ledgerd resume:", err)
		return 1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		json.Unmarshal(b, &e)
		fmt.Fprintf(stderr, "ledgerd resume: %d %s: %s\n", resp.StatusCode, e.Code, e.Message)
		return 1
	}
	var r struct {
		AcceptReorg    bool
		HaltReason     string
		Tip, Finalized uint64
	}
	json.Unmarshal(b, &r)
	fmt.Fprintf(stdout, "resumed %s (it had halted: %s)\n", *chainID, r.HaltReason)
	if r.AcceptReorg {
		fmt.Fprintln(stdout, "the held reorg is applied: watch deposit.orphaned events and the chain's tip")
	}
	fmt.Fprintf(stdout, "tip %d, finalized %d at the resumption\n", r.Tip, r.Finalized)
	return 0
}
