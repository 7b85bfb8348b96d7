package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
	"github.com/inflowhq/inflow/pkg/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
)

func mustAddr(t *testing.T, fam chain.Family, s string) chain.Address {
	t.Helper()
	a, err := chain.ParseAddress(fam, s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func amount(t *testing.T, s string) chain.Amount {
	t.Helper()
	a, err := chain.ParseAmount(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// sampleRecords is one record of each kind and family, with the JSON
// fields each must decode to.
func sampleRecords(t *testing.T) ([]*events.Record, []map[string]any) {
	usdt := mustAddr(t, chain.FamilyEVM, "0xdAC17F958D2ee523a2206206994597C13D831ec7")
	to := mustAddr(t, chain.FamilyEVM, "0x1111111111111111111111111111111111111111")
	btc, _, err := chain.ParseBitcoinAddress("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080")
	if err != nil {
		t.Fatal(err)
	}
	tronTo := mustAddr(t, chain.FamilyTron, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
	var h1, h2 chain.Hash
	h1[0], h2[0] = 0xab, 0xcd
	tx := bytes.Repeat([]byte{0x42}, 32)
	recs := []*events.Record{
		{Type: events.TypeBlockConnected, Chain: "ethereum", Family: chain.FamilyEVM, Number: 19_000_000, Hash: h1, Parent: h2, Time: 1700000000,
			Transfers: []chain.Transfer{{TxHash: tx, Index: 7, Kind: chain.KindERC20, Token: usdt, To: to, From: to, Value: amount(t, "4500000"), AddressID: 9}}},
		{Type: events.TypeBlockConnected, Chain: "bitcoin-regtest", Family: chain.FamilyBitcoin, Number: 101, Hash: h1, Parent: h2, Time: 1700000001,
			Transfers: []chain.Transfer{{TxHash: tx, Index: 0, Kind: chain.KindNative, To: btc, Value: amount(t, "5000000000"), Maturity: 100, AddressID: 3}}},
		{Type: events.TypeBlockConnected, Chain: "tron", Family: chain.FamilyTron, Number: 5, Hash: h1, Parent: h2, Time: 1700000002,
			Transfers: []chain.Transfer{{TxHash: tx, Index: chain.IndexNative, Kind: chain.KindTRC10, Asset: "1002000", To: tronTo, Value: amount(t, "12")}}},
		{Type: events.TypeBlockDisconnected, Chain: "ethereum", Family: chain.FamilyEVM, Number: 19_000_000, Hash: h1},
		{Type: events.TypeFinalized, Chain: "ethereum", Family: chain.FamilyEVM, Number: 18_999_990, Hash: h2},
	}
	want := []map[string]any{
		{"type": "BlockConnected", "version": 1.0, "chain": "ethereum", "family": "evm", "number": 19e6, "time": 1700000000.0,
			"hash": "0xab" + strings.Repeat("00", 31), "parent": "0xcd" + strings.Repeat("00", 31), "id": recs[0].ID().String(),
			"transfers.0.txHash": "0x" + strings.Repeat("42", 32), "transfers.0.kind": "erc20", "transfers.0.index": 7.0,
			"transfers.0.token": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "transfers.0.value": "4500000",
			"transfers.0.currency": "USDT", "transfers.0.amount": "4.5", "transfers.0.addressId": 9.0},
		{"type": "BlockConnected", "version": 2.0, "family": "bitcoin", "transfers.0.to": "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
			"transfers.0.maturity": 100.0, "transfers.0.currency": "BTC", "transfers.0.amount": "50",
			"transfers.0.txHash": strings.Repeat("42", 32)},
		{"type": "BlockConnected", "version": 2.0, "family": "tron", "transfers.0.kind": "trc10", "transfers.0.asset": "1002000",
			"transfers.0.to": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "transfers.0.index": 4294967295.0},
		{"type": "BlockDisconnected", "number": 19e6, "hash": "0xab" + strings.Repeat("00", 31), "transfers": nil, "time": nil},
		{"type": "Finalized", "number": 18999990.0, "id": recs[4].ID().String()},
	}
	return recs, want
}

// field reads a dotted path ("transfers.0.to") out of decoded JSON; nil
// when it is absent.
func field(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			fmt.Sscan(p, &i)
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func checkDecoded(t *testing.T, out string, want []map[string]any) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines of NDJSON, want %d:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		var got any
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, line)
		}
		for path, w := range want[i] {
			if g := field(got, path); fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("line %d: %s = %v, want %v\n%s", i+1, path, g, w, line)
			}
		}
	}
}

func TestEventsDecode(t *testing.T) {
	recs, want := sampleRecords(t)
	var sized, hexed bytes.Buffer
	for _, r := range recs {
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sized, "%d\n%s\n", len(b), b)
		fmt.Fprintf(&hexed, "%s\n", hex.EncodeToString(b))
	}
	for _, c := range []struct {
		input string
		in    []byte
	}{{"sized", sized.Bytes()}, {"hex", hexed.Bytes()}} {
		var out, errOut bytes.Buffer
		if rc := runEvents([]string{"decode", "--input", c.input}, bytes.NewReader(c.in), &out, &errOut); rc != 0 {
			t.Fatalf("--input %s: rc %d: %s", c.input, rc, errOut.String())
		}
		checkDecoded(t, out.String(), want)
	}

	// A corrupt record is reported, the rest still decode, and the exit
	// status says one failed.
	good, _ := recs[4].Marshal()
	in := fmt.Sprintf("3\nxyz\n%d\n%s\n", len(good), good)
	var out, errOut bytes.Buffer
	if rc := runEvents([]string{"decode"}, strings.NewReader(in), &out, &errOut); rc != 1 {
		t.Fatalf("rc %d with a corrupt record, want 1", rc)
	}
	if !strings.Contains(errOut.String(), "record 1 (3 bytes)") || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("corrupt record: stderr %q, stdout %q", errOut.String(), out.String())
	}
	// Input that is not framed at all stops with a message that says what is expected.
	errOut.Reset()
	if rc := runEvents([]string{"decode"}, strings.NewReader("hello\n"), &out, &errOut); rc != 1 || !strings.Contains(errOut.String(), "-f '%S\\n%s\\n'") {
		t.Fatalf("unframed input: rc %d, %q", rc, errOut.String())
	}
	if rc := runEvents([]string{"decode", "--input", "xml"}, strings.NewReader(""), &out, &errOut); rc != 2 {
		t.Fatalf("--input xml: rc %d", rc)
	}
}

// TestEventsDecodeKcat reads a chain topic with the real kcat, as an
// operator would, and decodes what it prints.
func TestEventsDecodeKcat(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and kcat")
	}
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		testenv.Missing(t, "kcat", "apt-get install kcat")
	}
	b, err := broker.Start(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	recs, want := sampleRecords(t)
	cfg := kafka.Config{Brokers: b.Addrs()}
	cl, err := kafka.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := kafka.ChainTopic("ethereum")
	if err := kafka.EnsureTopics(ctx, cl, topic); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		v, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		id := r.ID()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic.Name, Key: id[:], Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(ctx, kcat, "-C", "-b", b.Addrs()[0], "-t", topic.Name, "-o", "beginning", "-e", "-q", "-f", `%S\n%s\n`)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v: %s", err, stderr.String())
	}
	var out, errOut bytes.Buffer
	if rc := runEvents([]string{"decode"}, bytes.NewReader(raw), &out, &errOut); rc != 0 {
		t.Fatalf("decode of kcat's output: rc %d: %s", rc, errOut.String())
	}
	checkDecoded(t, out.String(), want)
}
