package analytics

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

// HTTP serves the three endpoints from a Store, for a merchant the caller
// has already authenticated: ledgerd's internal API over the embedded store,
// and apid over ClickHouse.
type HTTP struct {
	Store  Store
	Assets *assets.Config
	Log    *slog.Logger
}

func (h HTTP) fail(w http.ResponseWriter, r *http.Request, err error) {
	if e := apierr.From(err); e.Code == apierr.Internal && h.Log != nil {
		h.Log.Error("analytics", "path", r.URL.Path, "err", err)
	}
	apierr.Write(w, err)
}

func writeData(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"data": v})
}

// Deposits serves GET analytics/deposits.
func (h HTTP) Deposits(w http.ResponseWriter, r *http.Request, merchant string) {
	q, err := merchantapi.ParseAnalyticsQuery(r.URL.Query(), h.Assets)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rows, err := h.Store.DepositStats(r.Context(), merchant, q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, rows)
}

// Latency serves GET analytics/latency.
func (h HTTP) Latency(w http.ResponseWriter, r *http.Request, merchant string) {
	id, err := merchantapi.ParseChainFilter(r.URL.Query(), h.Assets)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.Store.Latency(r.Context(), merchant, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if out == nil {
		out = []ChainLatency{}
	}
	writeData(w, out)
}

// ExportTimeout is how long an export may stream: the listener's write
// timeout is for answers, not for a merchant's whole history.
const ExportTimeout = time.Hour

// Export serves GET deposits/export as a stream: rows go out as the store
// yields them, flushed every few thousand. An error after the first row can
// only cut the stream short; it is logged.
func (h HTTP) Export(w http.ResponseWriter, r *http.Request, merchant string) {
	q, err := merchantapi.ParseExportQuery(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(ExportTimeout)); err != nil && h.Log != nil {
		h.Log.Debug("export write deadline", "err", err)
	}
	w.Header().Set("Content-Type", ContentType(q.Format))
	w.Header().Set("Content-Disposition", `attachment; filename="deposits.`+q.Format+`"`)
	out, err := NewWriter(w, q.Format)
	if err != nil {
		return
	}
	flusher, _ := w.(http.Flusher)
	err = h.Store.Export(r.Context(), merchant, q, func(rec *Record) error {
		if err := out.Write(rec); err != nil {
			return err
		}
		if out.Rows()%4096 == 0 && flusher != nil {
			if err := out.Flush(); err != nil {
				return err
			}
			flusher.Flush()
		}
		return nil
	})
	if err != nil && h.Log != nil {
		h.Log.Warn("deposit export cut short", "merchant", merchant, "rows", out.Rows(), "err", err)
	}
	out.Flush()
}
