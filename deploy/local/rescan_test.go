package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	indexer "github.com/inflowhq/inflow/indexer/daemon"
)

// TestRescan is an exchange moving existing addresses onto Inflow: payments
// land in an address nothing watches; the merchant imports it afterwards,
// and the operator's rescan (`indexer rescan`) backfills the range through
// the ledger: the missed deposits appear, at the status their depth gives
// them, with their webhooks, and a second rescan over everything (already
// credited deposits included) credits nothing twice.
func TestRescan(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	s, c := startStack(t)
	rc := newReceiver(t)
	var ep struct{ ID, Secret string }
	if st := c.do("POST", "/api/v1/webhooks/endpoints", map[string]any{"url": rc.srv.URL + "/hooks"}, &ep); st != 201 {
		t.Fatalf("create endpoint: %d", st)
	}
	rc.secret, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(ep.Secret, "whsec_"))
	devnet := &client{t: t, base: s.APIURL}

	// A bound address's deposit, credited as it lands.
	var bind struct{ Address string }
	if st := c.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": "user_bob", "currency": "USDT", "chainId": "evm-devnet"}, &bind); st != 201 {
		t.Fatalf("bind: %d", st)
	}
	devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": bind.Address, "currency": "USDT", "amount": "4"}, nil)

	// Payments to an address Inflow does not know yet.
	var raw [20]byte
	rand.Read(raw[:])
	old := common.Address(raw).Hex()
	var tx1, tx2 struct{ TxHash string }
	devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": old, "currency": "USDT", "amount": "12"}, &tx1)
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 1}, nil)
	devnet.do("POST", "/devnet/evm-devnet/transfer", map[string]any{"to": old, "currency": "ETH", "amount": "0.5"}, &tx2)
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 4}, nil)

	list := func(q string) depositList {
		var l depositList
		c.do("GET", "/api/v1/deposits?limit=100&"+q, nil, &l)
		return l
	}
	eventually(t, "bob's deposit confirmed", func() bool {
		l := list("depositReference=user_bob")
		return len(l.Data) == 1 && l.Data[0].Status == "confirmed"
	})
	if n := len(list("").Data); n != 1 {
		t.Fatalf("%d deposits before the import, want bob's alone", n)
	}

	// The merchant imports the old address; the operator rescans for it.
	if st := c.do("POST", "/api/v1/addresses/import", map[string]any{"protocol": "evm", "addresses": []string{old}}, nil); st/100 != 2 {
		t.Fatalf("import: %d", st)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "admin.key")
	os.WriteFile(keyFile, []byte(s.AdminKey+"\n"), 0o600)
	addrFile := filepath.Join(dir, "addresses.txt")
	os.WriteFile(addrFile, []byte("# moved from the old system\n"+old+"\n"), 0o600)
	rescan := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		flags := []string{"--indexer", s.IndexerOpsURL, "--admin-key-file", keyFile}
		if len(args) > 0 && (args[0] == "status" || args[0] == "cancel") {
			flags = append([]string{args[0]}, flags...)
			args = args[1:]
		}
		code := indexer.RescanCommand(context.Background(), append(flags, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	// The matcher learns the address from inflow.addresses: until then the
	// rescan is refused, saying why.
	var out string
	eventually(t, "the rescan to start", func() bool {
		var code int
		code, out = rescan("--chain", "evm-devnet", "--from", "0", "--addresses", addrFile, "--reason", "migration OPS-7")
		if code != 0 && !strings.Contains(out, "not watched") {
			t.Fatalf("rescan: %d %s", code, out)
		}
		return code == 0
	})
	t.Logf("indexer rescan:\n%s", out)
	if !strings.Contains(out, "done, ") || !strings.Contains(out, "for 1 addresses") || !strings.Contains(out, "2 transfers") {
		t.Errorf("rescan output:\n%s", out)
	}
	eventually(t, "the rescanned deposits", func() bool {
		got := map[string]string{}
		for _, d := range list("").Data {
			if strings.EqualFold(d.Address, old) {
				got[d.TxHash] = d.Amount + " " + d.Currency + " " + d.Status
			}
		}
		// Block depths: the USDT payment is 5 deep, the ETH one 4 (credit
		// depth 3, finality 6 behind the tip).
		return got[tx1.TxHash] == "12 USDT confirmed" && got[tx2.TxHash] == "0.5 ETH confirmed" && len(got) == 2
	})
	for _, d := range list("").Data {
		if strings.EqualFold(d.Address, old) {
			if d.DepositReference != nil {
				t.Errorf("rescanned deposit %s attributed to %s: the address was bound to no one", d.DepositID, *d.DepositReference)
			}
			id := d.DepositID
			eventually(t, "webhooks of "+id, func() bool { s := rc.seen(id); return s["deposit.pending"] && s["deposit.confirmed"] })
		}
	}

	// Everything again, for every watched address: nothing is credited twice.
	code, out := rescan("--chain", "evm-devnet", "--from", "0", "--to", "1000000", "--all")
	if code != 0 || !strings.Contains(out, "the newest published block") {
		t.Fatalf("rescan --all: %d\n%s", code, out)
	}
	devnet.do("POST", "/devnet/evm-devnet/mine", map[string]any{"blocks": 6}, nil)
	eventually(t, "completed", func() bool {
		l := list("")
		for _, d := range l.Data {
			if d.Status != "completed" {
				return false
			}
		}
		return len(l.Data) == 3
	})
	if n := len(list("").Data); n != 3 {
		t.Errorf("%d deposits after the second rescan, want 3", n)
	}
	metrics := httpBody(t, s.LedgerURL+"/metrics")
	if !strings.Contains(metrics, `inflow_ledgerd_ledger_rescanned_transfers_total{chain="evm-devnet",result="duplicate"} 3`) {
		t.Errorf("the second rescan's 3 transfers are not counted as duplicates:\n%s", grepLines(metrics, "rescanned"))
	}

	// Status, bad input, and the admin key.
	if code, out := rescan("status"); code != 0 || strings.Count(out, "done") != 2 {
		t.Errorf("rescan status: %d\n%s", code, out)
	}
	if code, out := rescan("--chain", "evm-devnet", "--from", "0", "--addresses", keyFile); code != 1 || !strings.Contains(out, "INVALID_ADDRESS") {
		t.Errorf("a file of non-addresses: %d %s", code, out)
	}
	if code, out := rescan("--chain", "tron-nile", "--from", "0", "--all"); code != 1 || !strings.Contains(out, "CHAIN_NOT_ENABLED") {
		t.Errorf("a chain not followed: %d %s", code, out)
	}
	os.WriteFile(keyFile, []byte("adm_wrong_key_0123456789"), 0o600)
	if code, out := rescan("status"); code != 1 || !strings.Contains(out, "401 UNAUTHORIZED") {
		t.Errorf("a wrong admin key: %d %s", code, out)
	}
	if code, out := rescan("--chain", "evm-devnet"); code != 2 || !strings.Contains(out, "usage") {
		t.Errorf("no addresses: %d %s", code, out)
	}
}

func httpBody(t *testing.T, url string) string {
	t.Helper()
	_, _, body := httpGet(t, url)
	return string(body)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return fmt.Sprint(strings.Join(out, "\n"))
}
