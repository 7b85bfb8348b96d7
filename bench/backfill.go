package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/inflowhq/inflow/indexer/evm"
	"github.com/inflowhq/inflow/indexer/evm/evmbench"
	"github.com/inflowhq/inflow/indexer/follow"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/kafka"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
	"github.com/inflowhq/inflow/pkg/kv"
)

func init() {
	register(suite{name: "backfill", about: "an operator's rescan (follow.Rescan → Kafka) against a replay node of mainnet blocks, vs the node's own serving rate and a go-ethereum ethclient loop", run: runBackfill})
}

// replayNode serves a contiguous chain of EVM blocks as fast as it can:
// block n is the recorded mainnet block n mod k with its number, hash and
// parent hash rewritten (hash(n) is a hash of n, its parent hash(n-1)),
// in the block, its transactions, its receipts and their logs, so that a
// follower sees one consistent chain. Blocks are pre-rendered templates:
// serving is a copy. It answers eth_getBlockByNumber (full transactions,
// or not), eth_getBlockReceipts, eth_blockNumber and eth_chainId, single or
// batched; latest, safe and finalized are the head.
type replayNode struct {
	blocks   []template
	receipts []template
	uncles   []bool // the block has uncles (ethclient asks for them; the node has none to give)
	tips     []int  // transfers the extractor finds in each recorded block
	head     atomic.Uint64
	srv      *http.Server
	url      string
}

// template is rendered JSON: literal parts and the placeholders between
// them (number, hash, parent).
type template struct {
	parts [][]byte
	holes []byte // 'N', 'H' or 'P' after parts[i]
}

func makeTemplate(b []byte, subs map[string]byte) template {
	var t template
	for len(b) > 0 {
		at, which, key := -1, byte(0), ""
		for k, v := range subs {
			if i := bytes.Index(b, []byte(k)); i >= 0 && (at < 0 || i < at) {
				at, which, key = i, v, k
			}
		}
		if at < 0 {
			t.parts = append(t.parts, b)
			break
		}
		t.parts = append(t.parts, b[:at])
		t.holes = append(t.holes, which)
		b = b[at+len(key):]
	}
	return t
}

func replayHash(n uint64) string {
	h := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("replay"), n))
	return "0x" + hex.EncodeToString(h[:])
}

func (t template) render(out *bytes.Buffer, n uint64) {
	num, hash, parent := fmt.Sprintf("0x%x", n), replayHash(n), "0x"+strings.Repeat("0", 64)
	if n > 0 {
		parent = replayHash(n - 1)
	}
	for i, p := range t.parts {
		out.Write(p)
		if i < len(t.holes) {
			switch t.holes[i] {
			case 'N':
				out.WriteString(num)
			case 'H':
				out.WriteString(hash)
			case 'P':
				out.WriteString(parent)
			}
		}
	}
}

func startReplayNode(c *evmbench.Corpus, head uint64) (*replayNode, error) {
	r, err := newReplayNode(c, head)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	r.url = "http://" + ln.Addr().String()
	go r.srv.Serve(ln)
	return r, nil
}

// newReplayNode renders c's blocks as the node's templates, serving nothing yet.
func newReplayNode(c *evmbench.Corpus, head uint64) (*replayNode, error) {
	r := &replayNode{}
	r.head.Store(head)
	for _, b := range c.Blocks {
		var buf bytes.Buffer
		if err := json.Compact(&buf, b.Block); err != nil {
			return nil, err
		}
		var hdr struct {
			Number, Hash, ParentHash string
			Uncles                   []string
		}
		if err := json.Unmarshal(buf.Bytes(), &hdr); err != nil {
			return nil, err
		}
		subs := map[string]byte{`"number":"` + hdr.Number + `"`: 'n', `"` + hdr.Hash + `"`: 'h', `"parentHash":"` + hdr.ParentHash + `"`: 'p'}
		tb := makeTemplate(buf.Bytes(), subs)
		// The keys carried their JSON around the value: put it back.
		tb = fixKeys(tb)
		if !slices.Contains(tb.holes, 'N') || !slices.Contains(tb.holes, 'H') {
			return nil, fmt.Errorf("replay: block %d has no number or hash to rewrite", b.Number)
		}
		var rb bytes.Buffer
		if err := json.Compact(&rb, b.Receipts); err != nil {
			return nil, err
		}
		tr := fixKeys(makeTemplate(rb.Bytes(), map[string]byte{`"` + hdr.Hash + `"`: 'h'}))
		var x evm.Extractor
		got, err := x.Extract(b.Block, b.Receipts)
		if err != nil {
			return nil, err
		}
		r.blocks, r.receipts, r.uncles = append(r.blocks, tb), append(r.receipts, tr), append(r.uncles, len(hdr.Uncles) > 0)
		r.tips = append(r.tips, len(got.Transfers))
	}
	return r, nil
}

// fixKeys turns the lower-case holes makeTemplate matched with their JSON
// around them (n: "number":"…", h: "…", p: "parentHash":"…") into the
// bare value holes render fills, with the JSON kept in the parts.
func fixKeys(t template) template {
	for i, h := range t.holes {
		switch h {
		case 'n':
			t.parts[i] = append(slices.Clip(t.parts[i]), `"number":"`...)
			t.parts[i+1] = append([]byte(`"`), t.parts[i+1]...)
			t.holes[i] = 'N'
		case 'h':
			t.parts[i] = append(slices.Clip(t.parts[i]), '"')
			t.parts[i+1] = append([]byte(`"`), t.parts[i+1]...)
			t.holes[i] = 'H'
		case 'p':
			t.parts[i] = append(slices.Clip(t.parts[i]), `"parentHash":"`...)
			t.parts[i+1] = append([]byte(`"`), t.parts[i+1]...)
			t.holes[i] = 'P'
		}
	}
	return t
}

// transfersIn is how many transfers blocks [from, to] hold.
func (r *replayNode) transfersIn(from, to uint64) int { return cycleSum(r.tips, from, to) }

// cycleSum is how many transfers blocks [from, to] of a replay node hold,
// block n being recorded block n mod len(tips), which holds tips[n mod k].
func cycleSum(tips []int, from, to uint64) int {
	n := 0
	for b := from; b <= to; b++ {
		n += tips[b%uint64(len(tips))]
	}
	return n
}

func (r *replayNode) Close() {
	if r.srv != nil {
		r.srv.Close()
	}
}

type replayReq struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
}

func (r *replayNode) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var reqs []replayReq
	batch := len(body) > 0 && body[0] == '['
	if batch {
		err = json.Unmarshal(body, &reqs)
	} else {
		reqs = make([]replayReq, 1)
		err = json.Unmarshal(body, &reqs[0])
	}
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	out := nodeBuffers.Get().(*bytes.Buffer)
	defer func() { out.Reset(); nodeBuffers.Put(out) }()
	if batch {
		out.WriteByte('[')
	}
	for i, q := range reqs {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteString(`{"jsonrpc":"2.0","id":`)
		out.Write(q.ID)
		out.WriteString(`,"result":`)
		r.answer(out, q)
		out.WriteByte('}')
	}
	if batch {
		out.WriteByte(']')
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(out.Len()))
	w.Write(out.Bytes())
}

// nodeBuffers are the replay node's answer buffers, reused so that serving
// is a copy of the templates and nothing else (a fresh buffer grown to half
// a megabyte per answer was most of the node's CPU).
var nodeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (r *replayNode) answer(out *bytes.Buffer, q replayReq) {
	head := r.head.Load()
	num := func() (uint64, bool) {
		if len(q.Params) == 0 {
			return 0, false
		}
		var s string
		if json.Unmarshal(q.Params[0], &s) != nil {
			var o struct{ BlockNumber string }
			if json.Unmarshal(q.Params[0], &o) != nil {
				return 0, false
			}
			s = o.BlockNumber
		}
		if s == "latest" || s == "finalized" || s == "safe" {
			return head, true
		}
		n, err := strconv.ParseUint(s, 0, 64)
		return n, err == nil && n <= head
	}
	switch q.Method {
	case "eth_chainId":
		out.WriteString(`"0x1"`)
	case "eth_blockNumber":
		fmt.Fprintf(out, `"0x%x"`, head)
	case "eth_getBlockByNumber":
		n, ok := num()
		if !ok {
			out.WriteString("null")
			return
		}
		if len(q.Params) > 1 && string(q.Params[1]) == "false" {
			// A header: the number, hash, parent and time are enough.
			fmt.Fprintf(out, `{"number":"0x%x","hash":"%s","parentHash":"`, n, replayHash(n))
			if n == 0 {
				out.WriteString("0x" + strings.Repeat("0", 64))
			} else {
				out.WriteString(replayHash(n - 1))
			}
			fmt.Fprintf(out, `","timestamp":"0x%x","transactions":[]}`, 1_700_000_000+n)
			return
		}
		r.blocks[n%uint64(len(r.blocks))].render(out, n)
	case "eth_getBlockReceipts":
		n, ok := num()
		if !ok {
			out.WriteString("null")
			return
		}
		r.receipts[n%uint64(len(r.receipts))].render(out, n)
	default:
		out.WriteString("null")
	}
}

// serveRate fetches [from, to] with workers raw HTTP clients that send the
// indexer's batch (block + receipts) and read the answer to the end,
// decoding nothing: the node's own serving rate, the ceiling a backfill can
// reach.
func serveRate(url string, from, to uint64, workers int) (float64, int64) {
	var next atomic.Uint64
	next.Store(from)
	var bytesRead atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1) - 1
				if n > to {
					return
				}
				body := fmt.Sprintf(`[{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x%x",true]},{"jsonrpc":"2.0","id":2,"method":"eth_getBlockReceipts","params":["0x%x"]}]`, n, n)
				resp, err := client.Post(url, "application/json", bytes.NewBufferString(body))
				if err != nil {
					continue
				}
				k, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				bytesRead.Add(k)
			}
		}()
	}
	wg.Wait()
	return float64(to-from+1) / time.Since(start).Seconds(), bytesRead.Load()
}

// everyone is a matcher that watches every recipient (id 1): the rescan
// then publishes every transfer, its heaviest case.
type everyone struct{}

func (everyone) MatchBatch(fam chain.Family, addrs [][]byte, ids []uint64) int {
	for i := range ids {
		ids[i] = 1
	}
	return len(ids)
}

// nobody keeps no transfer: the rescan of a million new addresses finds a
// few per block; its cost is the scan.
type nobody struct{}

func (nobody) MatchBatch(fam chain.Family, addrs [][]byte, ids []uint64) int {
	clear(ids)
	return 0
}

func runBackfill(args []string, progress io.Writer) ([]Result, error) {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	dir := fixturesFlag(fs)
	blocks := fs.Uint64("blocks", 3000, "blocks of each measured phase: the node serves them four times and the rescan reads them four times, in turns, then once publishing every transfer")
	gethBlocks := fs.Uint64("geth-blocks", 300, "blocks the ethclient loop reads")
	fetchers := fs.Int("fetchers", 16, "the rescan's parallel fetches (and the serving measurement's clients)")
	defCores := "split"
	if runtime.NumCPU() < 2 {
		defCores = "shared"
	}
	cores := fs.String("cores", defCores, "split: the replay node in its own process on the first core this process may use, the bench on the second (a node on its own machine); "+
		"shared: node and rescan on every core at once (the serving rate is then the node on all of them). split also measures shared, side by side")
	if err := parseFixtures(fs, args, dir); err != nil {
		return nil, err
	}
	if *cores != "split" && *cores != "shared" {
		return nil, fmt.Errorf("--cores is split or shared, not %q", *cores)
	}
	c, err := evmbench.Load(filepath.Join(*dir, "evm"))
	if err != nil {
		return nil, err
	}
	head := *blocks + *gethBlocks + 10
	node, err := startReplayNode(c, head)
	if err != nil {
		return nil, err
	}
	defer node.Close()
	fmt.Fprintf(progress, "backfill: replay node of %d mainnet blocks (%.1f MB), serving %d numbered blocks\n",
		len(c.Blocks), float64(c.Bytes)/1e6, head+1)

	kb, err := broker.Start(broker.Options{})
	if err != nil {
		return nil, err
	}
	defer kb.Close()
	kcfg := kafka.Config{Brokers: kb.Addrs(), ClientID: "bench-backfill"}
	id := chain.ID("ethereum")
	if err := kafka.WaitEnsureTopics(context.Background(), kcfg, nil, kafka.ChainTopic(id)); err != nil {
		return nil, err
	}
	prod, err := kafka.NewTxProducer(kcfg, "bench-backfill")
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	ctx := context.Background()
	// measure runs the serving rate and the two rescans against url.
	type rates struct {
		serve, scan, all float64
		p                follow.RescanProgress
	}
	// cpuMarks are the CPU times so far of the node (in its own process:
	// nodeCPU not nil) and of this process; spent sums them over phases.
	type cpuMarks struct{ node, user, sys time.Duration }
	mark := func(nodeCPU func() time.Duration) cpuMarks {
		var m cpuMarks
		if nodeCPU != nil {
			m.node = nodeCPU()
		}
		m.user, m.sys = selfCPU()
		return m
	}
	spent := func(sum *cpuMarks, nodeCPU func() time.Duration, since cpuMarks) {
		now := mark(nodeCPU)
		sum.node += now.node - since.node
		sum.user += now.user - since.user
		sum.sys += now.sys - since.sys
	}
	// cpu says where each block's CPU went in the phases sum covers.
	cpu := func(how string, nodeCPU func() time.Duration, sum cpuMarks, blocks uint64, what string) {
		if nodeCPU == nil {
			return
		}
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(blocks) }
		node := "not known (/proc gives no schedstat)"
		if sum.node > 0 {
			node = fmt.Sprintf("%.0f µs", per(sum.node))
		}
		fmt.Fprintf(progress, "backfill [%s]: CPU per block %s: the node %s; this process %.0f µs (%.0f user, %.0f system)\n", how, what,
			node, per(sum.user+sum.sys), per(sum.user), per(sum.sys))
	}
	measure := func(url, how string, nodeCPU func() time.Duration) (rates, error) {
		var r rates
		client, err := evm.Dial(ctx, url)
		if err != nil {
			return r, err
		}
		defer client.Close()
		rescan := func(m follow.Matcher) (float64, follow.RescanProgress, error) {
			db, err := kv.Open("db", vfs.NewMem(), nil)
			if err != nil {
				return 0, follow.RescanProgress{}, err
			}
			defer db.Close()
			start := time.Now()
			p, err := follow.Rescan(ctx, follow.RescanConfig{Chain: id, Family: chain.FamilyEVM, From: 0, To: *blocks - 1, Fetchers: *fetchers},
				client, m, &follow.KafkaPublisher{P: prod}, db)
			return float64(*blocks) / time.Since(start).Seconds(), p, err
		}
		// The node's serving rate and the rescan's are measured in turns,
		// twice serve, rescan, rescan, serve: the machine's speed drifts
		// from one second to the next, and in this order a steady drift
		// weighs on both alike (one such round gave 0.81-1.09x over 14
		// runs, two 0.92-1.06x over 6). Each figure is its four phases'
		// blocks over their time.
		const phases = 4 // of each
		var serveTime, scanTime float64
		var served int64
		var serveCPU, scanCPU cpuMarks
		for _, phase := range []string{"serve", "rescan", "rescan", "serve", "serve", "rescan", "rescan", "serve"} {
			m := mark(nodeCPU)
			if phase == "serve" {
				fmt.Fprintf(progress, "backfill [%s]: the node's own serving rate (raw HTTP clients, nothing decoded)…\n", how)
				rate, n := serveRate(url, 0, *blocks-1, *fetchers)
				spent(&serveCPU, nodeCPU, m)
				serveTime += float64(*blocks) / rate
				served += n
				fmt.Fprintf(progress, "backfill [%s]: %.0f blocks/s, %.0f MB/s\n", how, rate, float64(n)/1e6/(float64(*blocks)/rate))
				continue
			}
			fmt.Fprintf(progress, "backfill [%s]: rescan for new addresses (a few matches per block at most: the scan's cost)…\n", how)
			rate, _, err := rescan(nobody{})
			if err != nil {
				return r, err
			}
			spent(&scanCPU, nodeCPU, m)
			scanTime += float64(*blocks) / rate
			fmt.Fprintf(progress, "backfill [%s]: %.0f blocks/s\n", how, rate)
		}
		r.serve, r.scan = float64(phases**blocks)/serveTime, float64(phases**blocks)/scanTime
		cpu(how, nodeCPU, serveCPU, phases**blocks, "served to readers that decode nothing")
		cpu(how, nodeCPU, scanCPU, phases**blocks, "rescanned (the scan's cost)")
		fmt.Fprintf(progress, "backfill [%s]: the node served %.0f blocks/s (%.0f MB/s), the rescan read %.0f: %.2fx the node\n",
			how, r.serve, float64(served)/1e6/serveTime, r.scan, r.scan/r.serve)
		fmt.Fprintf(progress, "backfill [%s]: rescan publishing every transfer (the heaviest case)…\n", how)
		if r.all, r.p, err = rescan(everyone{}); err != nil {
			return r, err
		}
		fmt.Fprintf(progress, "backfill [%s]: %.0f blocks/s, %d records, %d transfers published\n", how, r.all, r.p.Records, r.p.Transfers)
		return r, nil
	}

	var primary, shared rates
	var geth float64
	ethclientLoop := func(url string) (float64, error) {
		fmt.Fprintln(progress, "backfill: a go-ethereum ethclient loop of BlockByNumber + BlockReceipts…")
		g, err := evmbench.EthclientLoop(ctx, url, int(*gethBlocks), func(n uint64) bool {
			return node.uncles[n%uint64(len(node.uncles))] // ethclient would ask for the uncles, which a replay node lacks
		})
		fmt.Fprintf(progress, "backfill: %.0f blocks/s\n", g)
		return g, err
	}
	if *cores == "split" {
		url, nodeCore, benchCore, nodeCPU, stop, err := splitNode(*dir, head)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "backfill: the node alone on core %d (its own process, %s), the bench on core %d\n", nodeCore, url, benchCore)
		primary, err = measure(url, "split", nodeCPU)
		if err == nil {
			geth, err = ethclientLoop(url)
		}
		stop()
		if err != nil {
			return nil, err
		}
		if shared, err = measure(node.url, "shared", nil); err != nil {
			return nil, err
		}
	} else {
		if primary, err = measure(node.url, "shared", nil); err != nil {
			return nil, err
		}
		shared = primary
		if geth, err = ethclientLoop(node.url); err != nil {
			return nil, err
		}
	}

	baseline := "the replay node's own serving rate (raw HTTP, nothing decoded)"
	if *cores == "split" {
		baseline = "the replay node's own serving rate, alone on its core (raw HTTP, nothing decoded)"
	}
	metNode, metGeth := primary.scan >= 0.9*primary.serve, primary.scan >= 10*geth
	res := []Result{
		{Name: "backfill_blocks_per_s", Value: primary.scan, Unit: "blocks/s", Baseline: baseline,
			BaselineValue: primary.serve, Ratio: primary.scan / primary.serve, Target: ">= 0.9x the node", Met: &metNode},
		{Name: "backfill_vs_ethclient", Value: primary.scan, Unit: "blocks/s", Baseline: "go-ethereum ethclient loop, BlockByNumber + BlockReceipts",
			BaselineValue: geth, Ratio: primary.scan / geth, Target: ">= 10x ethclient", Met: &metGeth},
		{Name: "backfill_all_matched_blocks_per_s", Value: primary.all, Unit: "blocks/s", Baseline: baseline,
			BaselineValue: primary.serve, Ratio: primary.all / primary.serve},
		{Name: "backfill_transfers_published_per_s", Value: primary.all * float64(primary.p.Transfers) / float64(*blocks), Unit: "transfers/s"},
	}
	if *cores == "split" {
		res = append(res, Result{Name: "backfill_shared_cores_blocks_per_s", Value: shared.scan, Unit: "blocks/s",
			Baseline: "the replay node on both cores with readers that decode nothing", BaselineValue: shared.serve, Ratio: shared.scan / shared.serve})
	}
	return res, nil
}
