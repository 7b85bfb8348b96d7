package analytics

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"

	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// CSVHeader is the export's CSV header row.
var CSVHeader = []string{"depositId", "depositReference", "amount", "currency", "chainId", "address", "txHash",
	"blockNumber", "status", "detectedAt", "confirmedAt", "completedAt", "orphanedAt", "replaces"}

// Writer writes exported records in one format. Call Flush at the end.
type Writer struct {
	format string
	bw     *bufio.Writer
	cw     *csv.Writer
	enc    *json.Encoder
	rows   int
}

// NewWriter returns a writer of format (csv or ndjson) to w; csv starts with
// its header.
func NewWriter(w io.Writer, format string) (*Writer, error) {
	x := &Writer{format: format, bw: bufio.NewWriterSize(w, 64<<10)}
	if format == merchantapi.FormatNDJSON {
		x.enc = json.NewEncoder(x.bw)
		return x, nil
	}
	x.cw = csv.NewWriter(x.bw)
	return x, x.cw.Write(CSVHeader)
}

// ContentType is the export's media type.
func ContentType(format string) string {
	if format == merchantapi.FormatNDJSON {
		return "application/x-ndjson"
	}
	return "text/csv; charset=utf-8"
}

// Write writes one record.
func (x *Writer) Write(r *Record) error {
	x.rows++
	if x.enc != nil {
		return x.enc.Encode(r)
	}
	ref := ""
	if r.DepositReference != nil {
		ref = *r.DepositReference
	}
	return x.cw.Write([]string{r.DepositID, ref, r.Amount, r.Currency, r.ChainID, r.Address, r.TxHash,
		strconv.FormatUint(r.BlockNumber, 10), r.Status, apiText(&r.DetectedAt),
		optTime(r.ConfirmedAt), optTime(r.CompletedAt), optTime(r.OrphanedAt), r.Replaces})
}

// Rows is the number of records written.
func (x *Writer) Rows() int { return x.rows }

// Flush writes out what is buffered.
func (x *Writer) Flush() error {
	if x.cw != nil {
		x.cw.Flush()
		if err := x.cw.Error(); err != nil {
			return err
		}
	}
	return x.bw.Flush()
}

func apiText(t *events.APITime) string {
	b, _ := t.MarshalText()
	return string(b)
}

func optTime(t *events.APITime) string {
	if t == nil {
		return ""
	}
	return apiText(t)
}
