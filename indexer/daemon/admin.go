package daemon

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/inflowhq/inflow/indexer/follow"
	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/kafka"
)

// HeaderAdminKey carries the admin key on the indexer's admin routes, as
// on ledgerd's.
const HeaderAdminKey = "X-Inflow-Admin-Key"

// Rescan states.
const (
	RescanRunning  = "running"
	RescanDone     = "done"
	RescanFailed   = "failed"
	RescanCanceled = "canceled"
)

// Rescan is an operator's rescan of a block range, as the admin routes
// show it.
type Rescan struct {
	ID    string   `json:"id"`
	Chain chain.ID `json:"chainId"`
	From  uint64   `json:"from"`
	To    uint64   `json:"to"`
	// RequestedTo is the asked end when it lay above the follower's
	// checkpoint: the blocks after To are the follower's.
	RequestedTo uint64 `json:"requestedTo,omitempty"`
	// Addresses is how many addresses the rescan keeps; 0 with All.
	Addresses int    `json:"addresses"`
	All       bool   `json:"all"`
	State     string `json:"state"`
	Next      uint64 `json:"next"`
	// BlocksScanned counts toward BlocksTotal; Records are the
	// BlockRescanned records published, Transfers the transfers in them
	// (the ledger credits those it has not), Superseded the blocks a reorg
	// was replacing (the follower publishes their new version).
	BlocksScanned   uint64    `json:"blocksScanned"`
	BlocksTotal     uint64    `json:"blocksTotal"`
	Percent         float64   `json:"percent"`
	Records         uint64    `json:"records"`
	Transfers       uint64    `json:"transfers"`
	Superseded      uint64    `json:"superseded"`
	BlocksPerSecond float64   `json:"blocksPerSecond"`
	ETASeconds      float64   `json:"etaSeconds,omitempty"`
	Error           string    `json:"error,omitempty"`
	Reason          string    `json:"reason,omitempty"`
	CreatedAt       time.Time `json:"createdAt"`
	UpdatedAt       time.Time `json:"updatedAt"`
	// Runs counts the starts: more than one after an indexer restart,
	// which resumes a running rescan from Next.
	Runs int `json:"runs"`
}

// RescanRequest is POST /admin/v1/chains/{chainId}/rescans.
type RescanRequest struct {
	From uint64  `json:"from"`
	To   *uint64 `json:"to,omitempty"`
	// Addresses are the addresses to rescan for, in the chain's form; each
	// must be watched already (imported into the pool). All instead
	// rescans for every watched address.
	Addresses []string `json:"addresses,omitempty"`
	All       bool     `json:"all,omitempty"`
	Reason    string   `json:"reason,omitempty"`
}

// ResumeRequest is POST /admin/v1/chains/{chainId}/resume.
type ResumeRequest struct {
	Reason string `json:"reason"`
}

// maxRescanBody bounds a rescan request: about a million addresses.
const maxRescanBody = 96 << 20

// Pebble layout of rescans, beside the followers' and the matcher's:
//
//	"rJ" id → Rescan (JSON)
//	"rA" id → the address ids it keeps (8 bytes each, big-endian)
func rescanKey(id string) []byte      { return append([]byte("rJ"), id...) }
func rescanAddrsKey(id string) []byte { return append([]byte("rA"), id...) }

// chainRun is a followed chain's state the admin routes act on.
type chainRun struct {
	id      chain.ID
	family  chain.Family
	src     follow.Source
	fetch   int
	halted  string              // why its follower halted, or ""
	resume  chan resumeDecision // a halted follower waits on it
	rescans map[string]context.CancelFunc
}

type resumeDecision struct {
	reason, by string
	done       chan error
}

type admin struct {
	d      *Daemon
	mu     sync.Mutex
	chains map[chain.ID]*chainRun
	jobs   sync.WaitGroup
	m      struct {
		blocks, records, transfers *prometheus.CounterVec
		running                    *prometheus.GaugeVec
	}
}

func newAdmin(d *Daemon) (*admin, error) {
	a := &admin{d: d, chains: map[chain.ID]*chainRun{}}
	a.m.blocks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inflow_indexer_rescan_blocks_total", Help: "Blocks scanned by operators' rescans."}, []string{"chain"})
	a.m.records = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inflow_indexer_rescan_records_total", Help: "BlockRescanned records published."}, []string{"chain"})
	a.m.transfers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inflow_indexer_rescan_transfers_total", Help: "Transfers found by rescans (the ledger credits those it had not)."}, []string{"chain"})
	a.m.running = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "inflow_indexer_rescans_running", Help: "Rescans running."}, []string{"chain"})
	for _, c := range []prometheus.Collector{a.m.blocks, a.m.records, a.m.transfers, a.m.running} {
		if err := d.reg.Register(c); err != nil {
			are, ok := err.(prometheus.AlreadyRegisteredError)
			if !ok {
				return nil, err
			}
			switch v := are.ExistingCollector.(type) {
			case *prometheus.CounterVec:
				switch c {
				case a.m.blocks:
					a.m.blocks = v
				case a.m.records:
					a.m.records = v
				case a.m.transfers:
					a.m.transfers = v
				}
			case *prometheus.GaugeVec:
				a.m.running = v
			}
		}
	}
	return a, nil
}

// chainReady records a chain whose follower is about to run, and resumes
// the rescans of it that were running when the indexer stopped.
func (a *admin) chainReady(ctx context.Context, cr *chainRun) {
	a.mu.Lock()
	if old := a.chains[cr.id]; old != nil {
		cr.rescans = old.rescans
	}
	if cr.rescans == nil {
		cr.rescans = map[string]context.CancelFunc{}
	}
	a.chains[cr.id] = cr
	a.mu.Unlock()
	jobs, err := a.list()
	if err != nil {
		a.d.log.Error("cannot read the rescans", "err", err)
		return
	}
	for _, j := range jobs {
		if j.Chain == cr.id && j.State == RescanRunning {
			a.mu.Lock()
			_, running := cr.rescans[j.ID]
			a.mu.Unlock()
			if !running {
				a.d.log.Info("resuming rescan", "chain", cr.id, "rescan", j.ID, "next", j.Next, "to", j.To)
				a.start(ctx, cr, j)
			}
		}
	}
}

// validRescanID says whether id has the shape of the ids create makes
// (rsc_ and 16 lowercase hex digits): any other is answered not found
// without a lookup, and without being echoed.
func validRescanID(id string) bool {
	if len(id) != 20 || !strings.HasPrefix(id, "rsc_") {
		return false
	}
	for _, c := range id[4:] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (a *admin) get(id string) (*Rescan, error) {
	if !validRescanID(id) {
		return nil, apierr.New(apierr.RescanNotFound, "no such rescan: ids look like rsc_ and 16 hex digits")
	}
	v, closer, err := a.d.db.Get(rescanKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, apierr.New(apierr.RescanNotFound, "no rescan %q", id)
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	j := &Rescan{}
	return j, json.Unmarshal(v, j)
}

func (a *admin) put(j *Rescan) error {
	v, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return a.d.db.Set(rescanKey(j.ID), v, pebble.Sync)
}

func (a *admin) list() ([]*Rescan, error) {
	it, err := a.d.db.NewIter(&pebble.IterOptions{LowerBound: []byte("rJ"), UpperBound: []byte("rK")})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*Rescan
	for it.First(); it.Valid(); it.Next() {
		j := &Rescan{}
		if err := json.Unmarshal(it.Value(), j); err != nil {
			return nil, fmt.Errorf("rescan row %q: %w", it.Key(), err)
		}
		out = append(out, j)
	}
	slices.SortFunc(out, func(x, y *Rescan) int { return x.CreatedAt.Compare(y.CreatedAt) })
	return out, it.Error()
}

// create validates a request and starts its rescan.
func (a *admin) create(ctx context.Context, id chain.ID, req RescanRequest) (*Rescan, error) {
	a.mu.Lock()
	cr := a.chains[id]
	a.mu.Unlock()
	if cr == nil {
		if _, followed := a.followed(id); !followed {
			return nil, apierr.New(apierr.ChainNotEnabled, "this indexer does not follow %q", id)
		}
		return nil, apierr.New(apierr.Unavailable, "chain %s is not following yet (its node has not answered)", id)
	}
	if req.All && len(req.Addresses) > 0 {
		return nil, apierr.New(apierr.ValidationFailed, "give addresses or all: true, not both")
	}
	if !req.All && len(req.Addresses) == 0 {
		return nil, apierr.New(apierr.ValidationFailed, "give addresses, or all: true for every watched address")
	}
	tip, ok, err := follow.PublishedTip(a.d.db, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apierr.New(apierr.Unavailable, "chain %s has published no block yet: nothing to rescan", id)
	}
	to := tip.Number
	if req.To != nil {
		to = *req.To
	}
	if to < req.From {
		return nil, apierr.New(apierr.ValidationFailed, "to %d is below from %d", to, req.From)
	}
	j := &Rescan{Chain: id, From: req.From, To: to, All: req.All, State: RescanRunning, Next: req.From, Reason: strings.TrimSpace(req.Reason)}
	if len(j.Reason) > 500 {
		return nil, apierr.New(apierr.ValidationFailed, "reason is longer than 500 characters")
	}
	if to > tip.Number {
		// A block after the checkpoint is the follower's: the addresses
		// are watched by the time it reads it.
		j.RequestedTo, j.To = to, tip.Number
		if j.To < j.From {
			return nil, apierr.New(apierr.ValidationFailed, "from %d is above the newest published block %d: the follower scans those blocks, for these addresses too", req.From, tip.Number)
		}
	}
	var ids []byte
	if !req.All {
		var unknown, bad []string
		seen := map[uint64]bool{}
		for _, s := range req.Addresses {
			addr, err := chain.ParseAddress(cr.family, strings.TrimSpace(s))
			if err != nil {
				bad = append(bad, s)
				continue
			}
			aid, ok := a.d.match.MatchAddress(addr)
			if !ok {
				unknown = append(unknown, s)
				continue
			}
			if !seen[aid] {
				seen[aid] = true
				ids = binary.BigEndian.AppendUint64(ids, aid)
			}
		}
		if len(bad) > 0 {
			return nil, apierr.New(apierr.InvalidAddress, "%d addresses are not %s addresses, the first: %s", len(bad), cr.family, strings.Join(bad[:min(5, len(bad))], ", "))
		}
		if len(unknown) > 0 {
			return nil, apierr.New(apierr.ValidationFailed, "%d addresses are not watched (import them first: POST /api/v1/addresses/import), the first: %s",
				len(unknown), strings.Join(unknown[:min(5, len(unknown))], ", "))
		}
		j.Addresses = len(seen)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	now := a.d.now()
	j.ID, j.CreatedAt, j.UpdatedAt, j.BlocksTotal = "rsc_"+hex.EncodeToString(rnd[:]), now, now, j.To-j.From+1
	// One rescan per chain: the check and the claim together, so that two
	// requests at once cannot both start one.
	a.mu.Lock()
	running := len(cr.rescans) > 0
	if !running {
		cr.rescans[j.ID] = func() {}
	}
	a.mu.Unlock()
	if running {
		return nil, apierr.New(apierr.RescanRunning, "a rescan of %s is running: wait for it, or cancel it (DELETE /admin/v1/rescans/{id})", id)
	}
	unclaim := func() {
		a.mu.Lock()
		delete(cr.rescans, j.ID)
		a.mu.Unlock()
	}
	b := a.d.db.NewBatch()
	defer b.Close()
	if ids != nil {
		if err := b.Set(rescanAddrsKey(j.ID), ids, nil); err != nil {
			unclaim()
			return nil, err
		}
	}
	v, _ := json.Marshal(j)
	if err := b.Set(rescanKey(j.ID), v, nil); err != nil {
		unclaim()
		return nil, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		unclaim()
		return nil, err
	}
	a.d.log.Warn("AUDIT: rescan started by the operator", "chain", id, "rescan", j.ID, "from", j.From, "to", j.To,
		"addresses", j.Addresses, "all", j.All, "reason", j.Reason)
	a.start(ctx, cr, j)
	return j, nil
}

func (a *admin) followed(id chain.ID) (ChainConfig, bool) {
	for _, c := range a.d.cfg.Chains {
		if c.ID == id {
			return c, true
		}
	}
	return ChainConfig{}, false
}

// start runs a rescan from its Next in the background.
func (a *admin) start(ctx context.Context, cr *chainRun, j *Rescan) {
	keep, err := a.keep(j)
	if err != nil {
		a.mu.Lock()
		delete(cr.rescans, j.ID)
		a.mu.Unlock()
		a.finish(j, RescanFailed, err)
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	a.mu.Lock()
	cr.rescans[j.ID] = cancel
	a.mu.Unlock()
	a.m.running.WithLabelValues(string(cr.id)).Inc()
	j.Runs++
	started, base := time.Now(), j.BlocksScanned
	a.jobs.Add(1)
	go func() {
		defer a.jobs.Done()
		defer func() {
			cancel()
			a.mu.Lock()
			delete(cr.rescans, j.ID)
			a.mu.Unlock()
			a.m.running.WithLabelValues(string(cr.id)).Dec()
		}()
		prod, err := kafka.NewTxProducer(a.d.kcfg, "inflow-indexer-"+string(cr.id)+"-rescan")
		if err != nil {
			a.finish(j, RescanFailed, err)
			return
		}
		defer prod.Close()
		log := a.d.log.With("chain", string(cr.id), "rescan", j.ID)
		var last follow.RescanProgress
		cfg := follow.RescanConfig{Chain: cr.id, Family: cr.family, From: j.Next, To: j.To, Keep: keep, Fetchers: max(cr.fetch, 16),
			Progress: func(p follow.RescanProgress) {
				a.m.blocks.WithLabelValues(string(cr.id)).Add(float64(p.Blocks - last.Blocks))
				a.m.records.WithLabelValues(string(cr.id)).Add(float64(p.Records - last.Records))
				a.m.transfers.WithLabelValues(string(cr.id)).Add(float64(p.Transfers - last.Transfers))
				j.Next = p.Next
				j.BlocksScanned = base + p.Blocks
				j.Records += p.Records - last.Records
				j.Transfers += p.Transfers - last.Transfers
				j.Superseded += p.Superseded - last.Superseded
				last = p
				j.rate(time.Since(started), p.Blocks)
				j.UpdatedAt = a.d.now()
				if err := a.put(j); err != nil {
					log.Warn("cannot store the rescan's progress", "err", err)
				}
				log.Info("rescan progress", "next", j.Next, "to", j.To, "percent", fmt.Sprintf("%.1f", j.Percent),
					"records", j.Records, "transfers", j.Transfers, "blocks_per_second", fmt.Sprintf("%.0f", j.BlocksPerSecond))
			}}
		_, err = follow.Rescan(ctx, cfg, cr.src, a.d.match, &follow.KafkaPublisher{P: prod, Cfg: a.d.kcfg}, a.d.db)
		switch {
		case err == nil:
			a.finish(j, RescanDone, nil)
			log.Info("rescan done", "blocks", j.BlocksScanned, "records", j.Records, "transfers", j.Transfers)
		case ctx.Err() != nil:
			// Canceled by the operator (cancel set the state), or the
			// indexer stops: the rescan resumes from Next at its start.
		default:
			a.finish(j, RescanFailed, err)
			log.Error("rescan failed", "err", err, "next", j.Next)
		}
	}()
}

// rate fills the progress figures.
func (j *Rescan) rate(el time.Duration, blocks uint64) {
	if j.BlocksTotal > 0 {
		j.Percent = 100 * float64(j.BlocksScanned) / float64(j.BlocksTotal)
	}
	if s := el.Seconds(); s > 0 {
		j.BlocksPerSecond = float64(blocks) / s
	}
	j.ETASeconds = 0
	if j.BlocksPerSecond > 0 && j.BlocksScanned < j.BlocksTotal {
		j.ETASeconds = float64(j.BlocksTotal-j.BlocksScanned) / j.BlocksPerSecond
	}
}

func (a *admin) finish(j *Rescan, state string, err error) {
	j.State, j.UpdatedAt = state, a.d.now()
	if err != nil {
		j.Error = err.Error()
	}
	if state == RescanDone {
		j.Percent, j.ETASeconds = 100, 0
	}
	if perr := a.put(j); perr != nil {
		a.d.log.Error("cannot store the rescan", "rescan", j.ID, "err", perr)
	}
}

// keep reads the address ids a rescan keeps; nil keeps every watched one.
func (a *admin) keep(j *Rescan) (func(uint64) bool, error) {
	if j.All {
		return nil, nil
	}
	v, closer, err := a.d.db.Get(rescanAddrsKey(j.ID))
	if err != nil {
		return nil, fmt.Errorf("the rescan's addresses: %w", err)
	}
	defer closer.Close()
	set := make(map[uint64]struct{}, len(v)/8)
	for i := 0; i+8 <= len(v); i += 8 {
		set[binary.BigEndian.Uint64(v[i:])] = struct{}{}
	}
	return func(id uint64) bool { _, ok := set[id]; return ok }, nil
}

// cancel stops a running rescan.
func (a *admin) cancel(id string) (*Rescan, error) {
	j, err := a.get(id)
	if err != nil {
		return nil, err
	}
	if j.State != RescanRunning {
		return j, nil
	}
	a.mu.Lock()
	var stop context.CancelFunc
	if cr := a.chains[j.Chain]; cr != nil {
		stop = cr.rescans[id]
	}
	a.mu.Unlock()
	if stop != nil {
		stop()
		// The job stores its last progress as it stops; wait for it.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			a.mu.Lock()
			_, still := a.chains[j.Chain].rescans[id]
			a.mu.Unlock()
			if !still {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if j, err = a.get(id); err != nil {
			return nil, err
		}
	}
	a.finish(j, RescanCanceled, nil)
	a.d.log.Warn("AUDIT: rescan canceled by the operator", "chain", j.Chain, "rescan", id, "next", j.Next)
	return j, nil
}

// halted makes a chain's follower wait for the operator's decision; it
// returns the decision, or ctx's end.
func (a *admin) halted(ctx context.Context, id chain.ID, why error) (resumeDecision, error) {
	a.mu.Lock()
	cr := a.chains[id]
	if cr == nil {
		cr = &chainRun{id: id, rescans: map[string]context.CancelFunc{}}
		a.chains[id] = cr
	}
	cr.halted = why.Error()
	cr.resume = make(chan resumeDecision)
	ch := cr.resume
	a.mu.Unlock()
	select {
	case dec := <-ch:
		return dec, nil
	case <-ctx.Done():
		return resumeDecision{}, ctx.Err()
	}
}

// resumed clears a chain's halt once its follower runs again.
func (a *admin) resumed(id chain.ID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cr := a.chains[id]; cr != nil {
		cr.halted, cr.resume = "", nil
	}
}

// resumeChain hands the operator's decision to a halted follower.
func (a *admin) resumeChain(ctx context.Context, id chain.ID, reason, by string) error {
	a.mu.Lock()
	cr := a.chains[id]
	var ch chan resumeDecision
	if cr != nil && cr.halted != "" {
		ch = cr.resume
	}
	a.mu.Unlock()
	if ch == nil {
		if _, followed := a.followed(id); !followed {
			return apierr.New(apierr.ChainNotEnabled, "this indexer does not follow %q", id)
		}
		return apierr.New(apierr.ChainNotHalted, "the indexer's follower of %s is not halted", id)
	}
	dec := resumeDecision{reason: reason, by: by, done: make(chan error, 1)}
	select {
	case ch <- dec:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-dec.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handler serves the admin routes under /admin/v1/ on the operator
// listener. Every route needs the admin key; without one configured they
// answer 401 saying so.
func (a *admin) handler(ctx context.Context) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/v1/chains/{chainId}/rescans", func(w http.ResponseWriter, r *http.Request) {
		var req RescanRequest
		id, ok := chainAndBody(w, r, &req)
		if !ok {
			return
		}
		j, err := a.create(ctx, id, req)
		if err != nil {
			writeErr(w, a.d.log, err)
			return
		}
		writeJSON(w, http.StatusAccepted, j)
	})
	mux.HandleFunc("GET /admin/v1/rescans", func(w http.ResponseWriter, r *http.Request) {
		jobs, err := a.list()
		if err != nil {
			writeErr(w, a.d.log, err)
			return
		}
		if jobs == nil {
			jobs = []*Rescan{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"rescans": jobs})
	})
	mux.HandleFunc("GET /admin/v1/rescans/{id}", func(w http.ResponseWriter, r *http.Request) {
		j, err := a.get(r.PathValue("id"))
		if err != nil {
			writeErr(w, a.d.log, err)
			return
		}
		writeJSON(w, http.StatusOK, j)
	})
	mux.HandleFunc("DELETE /admin/v1/rescans/{id}", func(w http.ResponseWriter, r *http.Request) {
		j, err := a.cancel(r.PathValue("id"))
		if err != nil {
			writeErr(w, a.d.log, err)
			return
		}
		writeJSON(w, http.StatusOK, j)
	})
	mux.HandleFunc("POST /admin/v1/chains/{chainId}/resume", func(w http.ResponseWriter, r *http.Request) {
		var req ResumeRequest
		id, ok := chainAndBody(w, r, &req)
		if !ok {
			return
		}
		if strings.TrimSpace(req.Reason) == "" || len(req.Reason) > 500 {
			apierr.Write(w, apierr.New(apierr.ValidationFailed, "reason is required (at most 500 characters): it goes in the audit line"))
			return
		}
		rctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
		defer cancel()
		if err := a.resumeChain(rctx, id, strings.TrimSpace(req.Reason), "admin API from "+r.RemoteAddr); err != nil {
			writeErr(w, a.d.log, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"chainId": id, "resumed": true})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := a.d.cfg.AdminKey
		if key == "" {
			apierr.Write(w, apierr.New(apierr.Unauthorized, "the indexer's admin routes are off: start it with an admin key (--admin-key-file or $INFLOW_ADMIN_KEY)"))
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(HeaderAdminKey)), []byte(key)) != 1 {
			apierr.Write(w, apierr.New(apierr.Unauthorized, "missing or wrong %s", HeaderAdminKey))
			return
		}
		// Every answer is the API's JSON, an unknown route's and a wrong
		// method's too.
		if _, pattern := mux.Handler(r); pattern == "" {
			if r.Method != http.MethodGet && r.Method != http.MethodPost && r.Method != http.MethodDelete {
				apierr.Write(w, apierr.New(apierr.MethodNotAllowed, "%s is not a method of the admin routes", r.Method))
				return
			}
			path := r.URL.Path
			if len(path) > 120 {
				path = path[:120] + "…"
			}
			apierr.Write(w, apierr.New(apierr.NotFound, "no admin route %s %q", r.Method, path))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// chainAndBody reads a chain route's {chainId} and JSON body, answering
// the error itself when either is bad.
func chainAndBody(w http.ResponseWriter, r *http.Request, v any) (chain.ID, bool) {
	id, err := chain.ParseID(r.PathValue("chainId"))
	if err != nil {
		apierr.Write(w, apierr.New(apierr.UnsupportedChain, "%v", err))
		return "", false
	}
	if err := decodeBody(w, r, v); err != nil {
		apierr.Write(w, err)
		return "", false
	}
	return id, true
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return apierr.New(apierr.UnsupportedMediaType, "send application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRescanBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apierr.New(apierr.PayloadTooLarge, "the body is larger than %d bytes", maxRescanBody)
		}
		var ne net.Error
		if errors.As(err, &ne) {
			// A body that stopped arriving: the socket's error names
			// addresses, which the answer need not.
			return apierr.New(apierr.InvalidJSON, "the body did not arrive whole in time")
		}
		return apierr.New(apierr.InvalidJSON, "%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apierr.New(apierr.InvalidJSON, "one JSON object, and nothing after it")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, log *slog.Logger, err error) {
	var e *apierr.Error
	if !errors.As(err, &e) {
		log.Error("admin route failed", "err", err)
	}
	apierr.Write(w, err)
}
