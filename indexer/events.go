package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
)

const eventsUsage = `usage:
  indexer events decode [--input sized|hex|base64|raw] [--assets FILE] < records > records.ndjson

  Decodes chain topic records (inflow.chain.<chain>, the pkg/events wire
  format) into one JSON object per line. The default input is what kcat
  writes with -f '%S\n%s\n': each record's size in bytes on its own line,
  then the record. With kcat:

    kcat -C -b 127.0.0.1:9092 -t inflow.chain.evm-devnet -e -f '%S\n%s\n' | indexer events decode

  --input hex and base64 read one encoded record per line; raw reads one
  record, the whole of standard input. A record that does not decode is
  reported with its position and the decoder goes on; the exit status is
  1 if any did not.
`

// maxRecord bounds one record's size: a Kafka record is at most a few MB.
const maxRecord = 64 << 20

func runEvents(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "decode" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			io.WriteString(stdout, eventsUsage)
			return 0
		}
		io.WriteString(stderr, eventsUsage)
		return 2
	}
	fs := flag.NewFlagSet("indexer events decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "sized", "framing of standard input: sized (kcat -f '%S\\n%s\\n'), hex, base64 or raw")
	assetsF := fs.String("assets", "", "asset table (JSON) for currencies and Bitcoin networks (default: the built-in one)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "indexer events decode: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	table, err := assets.LoadOrDefault(*assetsF)
	if err != nil {
		fmt.Fprintf(stderr, "indexer events decode: %v\n", err)
		return 2
	}
	var next func() ([]byte, error)
	br := bufio.NewReaderSize(stdin, 1<<20)
	switch *input {
	case "sized":
		next = func() ([]byte, error) { return readSized(br) }
	case "hex", "base64":
		dec := hex.DecodeString
		if *input == "base64" {
			dec = base64.StdEncoding.DecodeString
		}
		sc := bufio.NewScanner(br)
		sc.Buffer(make([]byte, 0, 1<<20), 2*maxRecord+1)
		next = func() ([]byte, error) {
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				if line == "" {
					continue
				}
				b, err := dec(line)
				if err != nil {
					return nil, fmt.Errorf("not %s: %w", *input, err)
				}
				return b, nil
			}
			if err := sc.Err(); err != nil {
				return nil, err
			}
			return nil, io.EOF
		}
	case "raw":
		done := false
		next = func() ([]byte, error) {
			if done {
				return nil, io.EOF
			}
			done = true
			b, err := io.ReadAll(io.LimitReader(br, maxRecord+1))
			if err == nil && len(b) > maxRecord {
				err = fmt.Errorf("more than %d bytes", maxRecord)
			}
			return b, err
		}
	default:
		fmt.Fprintf(stderr, "indexer events decode: --input %q: want sized, hex, base64 or raw\n", *input)
		return 2
	}
	d := describer{table}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	bad := 0
	for n := 1; ; n++ {
		b, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The framing is lost: nothing after this point can be read.
			out.Flush()
			fmt.Fprintf(stderr, "indexer events decode: record %d: %v\n", n, err)
			return 1
		}
		r, err := events.Unmarshal(b)
		if err != nil {
			out.Flush()
			fmt.Fprintf(stderr, "indexer events decode: record %d (%d bytes): %v\n", n, len(b), err)
			bad++
			continue
		}
		if err := enc.Encode(r.JSON(d)); err != nil {
			fmt.Fprintf(stderr, "indexer events decode: %v\n", err)
			return 1
		}
	}
	if bad > 0 {
		return 1
	}
	return 0
}

// readSized reads one "<size>\n<bytes>\n" frame; the newline after the
// bytes is optional, so kcat's -f '%S\n%s' works too.
func readSized(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		l, err := br.ReadSlice('\n')
		if len(bytes.TrimSpace(l)) > 0 {
			line = l
			break
		}
		if err != nil { // io.EOF after blank lines is the end
			return nil, err
		}
	}
	size, err := strconv.Atoi(string(bytes.TrimSpace(line)))
	if err != nil || size < 0 {
		return nil, fmt.Errorf("want a record size on its own line, got %q (is this kcat -f '%%S\\n%%s\\n' output?)", truncate(line))
	}
	if size > maxRecord {
		return nil, fmt.Errorf("record size %d is over %d", size, maxRecord)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, fmt.Errorf("record of %d bytes cut short: %w", size, err)
	}
	if c, err := br.ReadByte(); err == nil && c != '\n' {
		br.UnreadByte()
	}
	return b, nil
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

type describer struct{ t *assets.Config }

func (d describer) AddressNet(id chain.ID) chain.Network {
	if c, err := d.t.Chain(id); err == nil {
		return c.AddressNet()
	}
	return chain.NetworkMainnet
}

func (d describer) Currency(id chain.ID, t *chain.Transfer) (string, uint8, bool) {
	a, ok := d.t.ForTransfer(id, t)
	if !ok {
		return "", 0, false
	}
	return a.Currency, a.Decimals, true
}
