package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/inflowhq/inflow/ledgerd/history"
	"github.com/inflowhq/inflow/ledgerd/ledger"
	"github.com/inflowhq/inflow/ledgerd/registry"
	"github.com/inflowhq/inflow/ledgerd/rpc"
	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/ledgerd/webhook"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/merchantapi"
)

func init() {
	register(suite{name: "api", about: "deposit and reference listings of a merchant with 10M deposits through ledgerd's internal API vs the full read they replaced", run: runAPI})
}

const apiToken = "bench-api-internal-token"

// apiWorld is a merchant's history built through the real registry,
// ledger and listing indexer.
type apiWorld struct {
	db       *store.DB
	merchant string
	refs     int
	deposits int
	close    func()
}

// buildAPIWorld makes a merchant with refs references and about deposits
// deposits on two chains in three currencies, blocks of perBlock deposits
// applied ten to a batch, finality 64 blocks behind, and a two-block reorg
// every 500 blocks.
func buildAPIWorld(dir string, deposits, refs, perBlock int, progress io.Writer) (*apiWorld, error) {
	pdb, err := store.OpenPebble(dir, nil, nil)
	if err != nil {
		return nil, err
	}
	db := store.Wrap(pdb)
	w := &apiWorld{db: db, refs: refs, close: func() { db.Close() }}
	table := assets.Default()
	clock := time.Unix(1_800_000_000, 0)
	reg, err := registry.New(db, table, registry.Options{Now: func() time.Time { return clock }})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	pool := make([]chain.Address, refs+refs/20) // a twentieth unbound: unattributed deposits
	for i := range pool {
		h := sha256.Sum256([]byte("bench-api-" + strconv.Itoa(i)))
		pool[i] = chain.EVMAddress([20]byte(h[:20]))
	}
	err = reg.Write(func(b *store.Batch) (err error) {
		m, _, err := reg.CreateMerchant(b, "exchange", true, "")
		if m != nil {
			w.merchant = m.ID
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(pool); i += 10_000 {
		chunk := pool[i:min(i+10_000, len(pool))]
		if err := reg.Write(func(b *store.Batch) error {
			_, err := reg.Import(b, w.merchant, merchantapi.Import{Family: chain.FamilyEVM, Addresses: chunk})
			return err
		}); err != nil {
			return nil, err
		}
	}
	for i := 0; i < refs; i += 1000 {
		err := reg.Write(func(b *store.Batch) error {
			for j := i; j < min(i+1000, refs); j++ {
				req := merchantapi.BindRequest{DepositReference: fmt.Sprintf("user_%07d", j), Currency: "USDT", ChainID: "evm-devnet"}
				if _, err := reg.Bind(b, w.merchant, req); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if i%100_000 == 0 {
			fmt.Fprintf(progress, "  %d references bound (%s)\n", i, time.Since(start).Round(time.Second))
		}
	}
	fmt.Fprintf(progress, "api: %d references bound in %s\n", refs, time.Since(start).Round(time.Second))
	clock = clock.Add(time.Hour)
	led, err := ledger.New(db, table, ledger.Options{Now: func() time.Time { clock = clock.Add(100 * time.Millisecond); return clock }})
	if err != nil {
		return nil, err
	}
	idx, err := history.NewIndexer(db, nil, nil)
	if err != nil {
		return nil, err
	}
	parse := func(s string) chain.Address { a, _ := chain.ParseAddress(chain.FamilyEVM, s); return a }
	type chainGen struct {
		id     chain.ID
		tokens []chain.Address // zero: the native coin
		blocks []chain.BlockRef
		fork   int
	}
	chains := []*chainGen{
		{id: "evm-devnet", tokens: []chain.Address{parse("0x00000000000000000000000000000000000a5d70"), parse("0x00000000000000000000000000000000000a5d70"),
			parse("0x00000000000000000000000000000000000a5d70"), parse("0x00000000000000000000000000000000000da100"), {}}},
		{id: "ethereum", tokens: []chain.Address{parse("0xdAC17F958D2ee523a2206206994597C13D831ec7"), {}}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var in []ledger.Input
	var offset int64
	push := func(r *events.Record) error {
		offset++
		in = append(in, ledger.Input{Record: r, Topic: r.Chain.Topic(), Offset: offset})
		if len(in) < 10 {
			return nil
		}
		err := led.Submit(in)
		in = nil
		return err
	}
	tx := 0
	start = time.Now()
	for made, blocks := 0, 0; made < deposits; blocks++ {
		c := chains[0]
		if rng.IntN(4) == 0 {
			c = chains[1]
		}
		if blocks%500 == 499 && len(c.blocks) > 70 {
			c.fork++
			for d := 0; d < 2; d++ {
				b := c.blocks[len(c.blocks)-1]
				if err := push(&events.Record{Type: events.TypeBlockDisconnected, Chain: c.id, Family: chain.FamilyEVM, Number: b.Number, Hash: b.Hash}); err != nil {
					return nil, err
				}
				c.blocks = c.blocks[:len(c.blocks)-1]
			}
		}
		n := uint64(len(c.blocks) + 1)
		var parent chain.Hash
		if len(c.blocks) > 0 {
			parent = c.blocks[len(c.blocks)-1].Hash
		}
		ref := chain.BlockRef{Number: n, Parent: parent, Time: clock.Unix(), Hash: chain.Hash(sha256.Sum256(fmt.Appendf(nil, "%s/%d/%x/%d", c.id, n, parent, c.fork)))}
		r := &events.Record{Type: events.TypeBlockConnected, Chain: c.id, Family: chain.FamilyEVM, Number: n, Hash: ref.Hash, Parent: parent, Time: ref.Time}
		for i := 0; i < perBlock; i++ {
			tx++
			id := rng.IntN(len(pool))
			tr := chain.Transfer{TxHash: fmt.Appendf(nil, "tx-%d", tx), To: pool[id], AddressID: uint64(id + 1),
				Value: chain.AmountFromUint64(uint64(1 + rng.IntN(10_000_000))), Kind: chain.KindNative, Index: chain.IndexNative}
			if tok := c.tokens[rng.IntN(len(c.tokens))]; !tok.IsZero() {
				tr.Kind, tr.Index, tr.Token = chain.KindERC20, uint32(i), tok
			}
			r.Transfers = append(r.Transfers, tr)
		}
		made += perBlock
		c.blocks = append(c.blocks, ref)
		if err := push(r); err != nil {
			return nil, err
		}
		if len(c.blocks) > 64 && blocks%10 == 0 {
			f := c.blocks[len(c.blocks)-64]
			if err := push(&events.Record{Type: events.TypeFinalized, Chain: c.id, Family: chain.FamilyEVM, Number: f.Number, Hash: f.Hash}); err != nil {
				return nil, err
			}
		}
		if blocks%200 == 0 {
			if _, err := idx.Step(context.Background(), 1000); err != nil {
				return nil, err
			}
		}
		if blocks%5000 == 0 && blocks > 0 {
			fmt.Fprintf(progress, "  %d deposits applied (%s)\n", made, time.Since(start).Round(time.Second))
		}
	}
	if len(in) > 0 {
		if err := led.Submit(in); err != nil {
			return nil, err
		}
	}
	if err := db.WaitDurable(); err != nil {
		return nil, err
	}
	if _, err := idx.CatchUp(context.Background()); err != nil {
		return nil, err
	}
	t, err := store.GetTotals(db, w.merchant)
	if err != nil {
		return nil, err
	}
	w.deposits = int(t.CountOf("", "", ""))
	fmt.Fprintf(progress, "api: %d deposits (%d pending, %d confirmed, %d completed, %d orphaned) in %s\n", w.deposits,
		t.CountOf("", "", "pending"), t.CountOf("", "", "confirmed"), t.CountOf("", "", "completed"), t.CountOf("", "", "orphaned"),
		time.Since(start).Round(time.Second))
	return w, nil
}

// apiQuery is one listing query of the bench.
type apiQuery struct {
	name  string
	path  string
	query func(rng *rand.Rand, refs int) url.Values
	refs  bool // a reference listing
}

func apiQueries() []apiQuery {
	var qs []apiQuery
	ref := func(rng *rand.Rand, refs int) string { return fmt.Sprintf("user_%07d", rng.IntN(refs)) }
	filters := []struct {
		name string
		set  func(v url.Values, rng *rand.Rand, refs int)
	}{
		{"all", func(url.Values, *rand.Rand, int) {}},
		{"reference", func(v url.Values, rng *rand.Rand, refs int) { v.Set("depositReference", ref(rng, refs)) }},
		{"status_pending", func(v url.Values, _ *rand.Rand, _ int) { v.Set("status", "pending") }},
		{"status_confirmed", func(v url.Values, _ *rand.Rand, _ int) { v.Set("status", "confirmed") }},
		{"status_completed", func(v url.Values, _ *rand.Rand, _ int) { v.Set("status", "completed") }},
		{"status_orphaned", func(v url.Values, _ *rand.Rand, _ int) { v.Set("status", "orphaned") }},
		{"currency_usdt", func(v url.Values, _ *rand.Rand, _ int) { v.Set("currency", "USDT") }},
		{"currency_dai", func(v url.Values, _ *rand.Rand, _ int) { v.Set("currency", "DAI") }},
		{"chain_ethereum", func(v url.Values, _ *rand.Rand, _ int) { v.Set("chainId", "ethereum") }},
		{"reference_completed", func(v url.Values, rng *rand.Rand, refs int) {
			v.Set("depositReference", ref(rng, refs))
			v.Set("status", "completed")
		}},
		{"reference_pending", func(v url.Values, rng *rand.Rand, refs int) {
			v.Set("depositReference", ref(rng, refs))
			v.Set("status", "pending")
		}},
		{"currency_usdt_chain_ethereum_completed", func(v url.Values, _ *rand.Rand, _ int) {
			v.Set("currency", "USDT")
			v.Set("chainId", "ethereum")
			v.Set("status", "completed")
		}},
	}
	for _, f := range filters {
		for _, order := range []string{"desc", "asc"} {
			for _, page := range []string{"1", "1000"} {
				qs = append(qs, apiQuery{name: fmt.Sprintf("%s_%s_page%s", f.name, order, page), path: "/internal/v1/deposits",
					query: func(rng *rand.Rand, refs int) url.Values {
						v := url.Values{"limit": {"100"}, "page": {page}, "sortOrder": {order}}
						f.set(v, rng, refs)
						return v
					}})
			}
		}
	}
	qs = append(qs,
		apiQuery{name: "references_page1", path: "/internal/v1/deposits/references", refs: true,
			query: func(*rand.Rand, int) url.Values { return url.Values{"limit": {"100"}} }},
		apiQuery{name: "references_page1000", path: "/internal/v1/deposits/references", refs: true,
			query: func(*rand.Rand, int) url.Values { return url.Values{"limit": {"100"}, "page": {"1000"}} }},
		apiQuery{name: "references_search", path: "/internal/v1/deposits/references", refs: true,
			query: func(rng *rand.Rand, refs int) url.Values {
				// Five digits of a user id: a few hundred matches.
				return url.Values{"limit": {"100"}, "search": {fmt.Sprintf("%05d", rng.IntN(min(refs, 100_000)))}}
			}},
		apiQuery{name: "references_search_user", path: "/internal/v1/deposits/references", refs: true,
			query: func(rng *rand.Rand, refs int) url.Values {
				return url.Values{"limit": {"100"}, "search": {fmt.Sprintf("user_%07d", rng.IntN(refs))}}
			}},
	)
	return qs
}

// legacyHandler answers the listings the way they were answered before
// the listing indexes (history.ListSorted, and a scan of every reference):
// the baseline.
func legacyHandler(db *store.DB, table *assets.Config, merchant string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p, _ := merchantapi.ParsePage(q)
		var body any
		switch r.URL.Path {
		case "/internal/v1/deposits":
			dq, _ := merchantapi.ParseDepositQuery(q, table)
			data, pg, err := history.ListSorted(db, merchant, history.Filter{Reference: dq.Reference, Status: dq.Status, Currency: dq.Currency,
				ChainID: dq.ChainID, SortBy: dq.SortBy, Desc: dq.Desc}, p)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			body = map[string]any{"data": data, "pagination": pg}
		default:
			search := strings.ToLower(q.Get("search"))
			var names []string
			registry.ScanReferences(db, merchant, func(ref *store.Reference) (bool, error) {
				if search == "" || strings.Contains(strings.ToLower(ref.Reference), search) {
					names = append(names, ref.Reference)
				}
				return true, nil
			})
			lo, hi, pg := merchantapi.Paginate(p, len(names))
			var data []history.ReferenceSummary
			for _, n := range names[lo:hi] {
				v, err := history.GetReference(db, table, merchant, n, "")
				if err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				data = append(data, history.ReferenceSummary{DepositReference: v.DepositReference, TotalDeposits: v.TotalDeposits, TotalAmount: v.TotalAmount})
			}
			body = map[string]any{"data": data, "pagination": pg}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(body)
	})
}

// timeQueries runs each query reps times against the API at base and
// returns each one's p99 in milliseconds.
func timeQueries(base, merchant string, refs, reps int, progress io.Writer) (map[string]float64, error) {
	out := map[string]float64{}
	rng := rand.New(rand.NewPCG(5, 6))
	client := &http.Client{Timeout: 10 * time.Minute}
	for _, q := range apiQueries() {
		var ms []float64
		for i := 0; i < reps; i++ {
			req, _ := http.NewRequest("GET", base+q.path+"?"+q.query(rng, refs).Encode(), nil)
			req.Header.Set(rpc.HeaderToken, apiToken)
			req.Header.Set(rpc.HeaderMerchant, merchant)
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			var v struct {
				Data       []json.RawMessage
				Pagination merchantapi.Pagination
			}
			err = json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			ms = append(ms, float64(time.Since(start).Microseconds())/1000)
			if err != nil || resp.StatusCode != 200 {
				return nil, fmt.Errorf("%s: %d %v", q.name, resp.StatusCode, err)
			}
		}
		slices.Sort(ms)
		out[q.name] = ms[min(len(ms)-1, int(float64(len(ms))*0.99))]
		fmt.Fprintf(progress, "  %-48s p99 %8.2f ms\n", q.name, out[q.name])
	}
	return out, nil
}

func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func runAPI(args []string, progress io.Writer) ([]Result, error) {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	deposits := fs.Int("deposits", 10_000_000, "deposits of the merchant")
	refs := fs.Int("references", 1_000_000, "references of the merchant")
	baseDeposits := fs.Int("baseline-deposits", 200_000, "deposits of the baseline's merchant (the full read takes about a second per 200k deposits a query)")
	perBlock := fs.Int("per-block", 200, "deposits per block")
	reps := fs.Int("reps", 30, "runs of each query")
	baseReps := fs.Int("baseline-reps", 3, "runs of each query of the baseline")
	dir := fs.String("dir", "", "where to build (default: a temporary folder, removed afterwards)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	root := *dir
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "inflow-bench-api-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(root)
	}
	table := assets.Default()

	// The baseline first, on a merchant of its own size.
	fmt.Fprintf(progress, "api: the baseline's merchant, %d deposits and %d references…\n", *baseDeposits, max(*baseDeposits/10, 1000))
	bw, err := buildAPIWorld(root+"/baseline", *baseDeposits, max(*baseDeposits/10, 1000), *perBlock, progress)
	if err != nil {
		return nil, err
	}
	bsrv := httptest.NewServer(legacyHandler(bw.db, table, bw.merchant))
	fmt.Fprintln(progress, "api: the baseline (the full read of every deposit, as history.List was):")
	baseP99, err := timeQueries(bsrv.URL, bw.merchant, bw.refs, *baseReps, progress)
	bsrv.Close()
	bw.close()
	if err != nil {
		return nil, err
	}

	fmt.Fprintf(progress, "api: the merchant, %d deposits and %d references…\n", *deposits, *refs)
	w, err := buildAPIWorld(root+"/exchange", *deposits, *refs, *perBlock, progress)
	if err != nil {
		return nil, err
	}
	defer w.close()
	reg, err := registry.New(w.db, table, registry.Options{})
	if err != nil {
		return nil, err
	}
	hooks, err := webhook.New(w.db, webhook.Options{})
	if err != nil {
		return nil, err
	}
	api, err := rpc.New(w.db, reg, hooks, table, rpc.Options{Token: apiToken})
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	runtime.GC()
	debug.FreeOSMemory()
	rss0 := rssMB()
	fmt.Fprintln(progress, "api: through ledgerd's internal API:")
	p99, err := timeQueries(srv.URL, w.merchant, w.refs, *reps, progress)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	growth := rssMB() - rss0

	worst := func(m map[string]float64, refs bool) (float64, string) {
		var v float64
		var name string
		for _, q := range apiQueries() {
			if q.refs == refs && m[q.name] >= v {
				v, name = m[q.name], q.name
			}
		}
		return v, name
	}
	dep, depName := worst(p99, false)
	bdep, _ := worst(baseP99, false)
	ref, refName := worst(p99, true)
	bref, _ := worst(baseP99, true)
	depMet, refMet, rssMet := dep <= 50, ref <= 50, growth <= 64
	baseline := fmt.Sprintf("the full read (history.List before) at %d deposits", bw.deposits)
	res := []Result{
		{Name: "deposits", Value: float64(w.deposits), Unit: "deposits"},
		{Name: "references", Value: float64(w.refs), Unit: "references"},
		{Name: "deposits_page_p99_ms", Value: dep, Unit: "ms", Baseline: baseline, BaselineValue: bdep, Ratio: dep / bdep, Target: "<= 50 ms (worst: " + depName + ")", Met: &depMet},
		{Name: "references_page_p99_ms", Value: ref, Unit: "ms", Baseline: fmt.Sprintf("a scan of every reference at %d references", bw.refs), BaselineValue: bref,
			Ratio: ref / bref, Target: "<= 50 ms (worst: " + refName + ")", Met: &refMet},
		{Name: "list_rss_growth_mb", Value: growth, Unit: "MB", Target: "<= 64 MB", Met: &rssMet},
	}
	for _, q := range apiQueries() {
		res = append(res, Result{Name: "p99_ms_" + q.name, Value: p99[q.name], Unit: "ms", Baseline: "full read at " + strconv.Itoa(bw.deposits),
			BaselineValue: baseP99[q.name], Ratio: p99[q.name] / baseP99[q.name]})
	}
	return res, nil
}
