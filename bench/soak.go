package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/inflowhq/inflow/ledgerd/store"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/chstore"
	"github.com/inflowhq/inflow/pkg/kafka/broker"
)

func init() {
	register(suite{name: "soak", about: "chaos soak: indexer, ledgerd, two apid and the broker as separate processes, faults at random, every invariant checked against the chain at the end", run: runSoak})
}

// soakBrokerEnv makes the bench binary a broker process (soak's child).
const soakBrokerEnv = "INFLOW_SOAK_BROKER"

// soakBroker runs the embedded Kafka broker as its own process until it
// is killed: INFLOW_SOAK_BROKER=port,dir.
func soakBroker(spec string) int {
	port, dir, _ := strings.Cut(spec, ",")
	p, _ := strconv.Atoi(port)
	b, err := broker.Start(broker.Options{Port: p, DataDir: dir, SyncWrites: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak broker:", err)
		return 1
	}
	if r := b.Recovered(); r.Mended() {
		fmt.Fprintf(os.Stderr, "soak broker: after a crash, %d segment indexes rewritten, transactions left open aborted: %v\n", r.IndexesRepaired, r.Aborted)
	}
	// A restart is a clean one (SIGTERM: the broker flushes its state),
	// or with --broker-kill9 a SIGKILL: then broker.Start mends what the
	// crash left (recover.go) and says so on stderr, the broker's log.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	b.Close()
	return 0
}

// proc is one daemon process of the soak.
type proc struct {
	name string
	bin  string
	args []string
	env  []string
	log  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	rss  []rssSample
}

type rssSample struct {
	at time.Duration
	kb int64
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", p.name, err)
	}
	go func() { cmd.Wait(); f.Close() }()
	p.cmd = cmd
	return nil
}

// kill9 kills the process with SIGKILL and waits for it to go.
func (p *proc) kill9() { p.signal(syscall.SIGKILL) }

// signal sends sig and waits up to 10 s for the process to go.
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(sig)
	for i := 0; i < 1000; i++ {
		if err := cmd.Process.Signal(syscallZero); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sampleRSS records the process's resident memory.
func (p *proc) sampleRSS(at time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				p.rss = append(p.rss, rssSample{at, kb})
			}
		}
	}
}

// faultyRPC is a node's JSON-RPC behind a proxy that can stall, fail or
// serve a stale head.
type faultyRPC struct {
	proxy *httputil.ReverseProxy
	url   string
	mode  atomic.Value // "", "stall", "error", "stale"
	stale atomic.Uint64
	head  func() uint64
	// headMethod is the call whose answer a stale node freezes
	// (eth_blockNumber, Solana's getSlot).
	headMethod string
	srv        *http.Server
}

func newFaultyRPC(target string, head func() uint64, headMethod string) (*faultyRPC, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	f := &faultyRPC{proxy: httputil.NewSingleHostReverseProxy(u), head: head, headMethod: headMethod}
	f.mode.Store("")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.url = "http://" + ln.Addr().String()
	f.srv = &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second}
	go f.srv.Serve(ln)
	return f, nil
}

func (f *faultyRPC) set(mode string) {
	if mode == "stale" {
		f.stale.Store(f.head())
	}
	f.mode.Store(mode)
}

func (f *faultyRPC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch f.mode.Load().(string) {
	case "stall":
		// Hold the request until the fault ends or the client gives up.
		for f.mode.Load().(string) == "stall" {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	case "error":
		http.Error(w, "injected fault", http.StatusBadGateway)
		return
	case "stale":
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if bytes.Contains(body, []byte(`"`+f.headMethod+`"`)) && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
			var q struct{ ID json.RawMessage }
			json.Unmarshal(body, &q)
			w.Header().Set("Content-Type", "application/json")
			if f.headMethod == "eth_blockNumber" {
				fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":"0x%x"}`, q.ID, f.stale.Load())
			} else {
				fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%d}`, q.ID, f.stale.Load())
			}
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	f.proxy.ServeHTTP(w, r)
}

// soakReceiver is the merchant's webhook endpoint: it verifies each
// delivery's signature and records the events; it can time out or fail.
type soakReceiver struct {
	mu     sync.Mutex
	secret []byte
	seen   map[string]bool // event id
	bad    int
	mode   atomic.Value // "", "timeout", "fail"
	srv    *http.Server
	url    string
}

func (rc *soakReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	switch rc.mode.Load().(string) {
	case "timeout":
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
		return
	case "fail":
		http.Error(w, "injected failure", 500)
		return
	}
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, rc.secret)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ok := false
	for _, sig := range strings.Fields(r.Header.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			ok = true
		}
	}
	if !ok {
		rc.bad++
		http.Error(w, "bad signature", 400)
		return
	}
	rc.seen[id] = true
	w.WriteHeader(200)
}

type soakClient struct {
	base, key, admin string
	http             *http.Client
}

func (c *soakClient) do(method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("X-API-Key", c.key)
	}
	if c.admin != "" {
		req.Header.Set("X-Admin-Key", c.admin)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w: %s", method, path, err, b)
		}
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type sentTransfer struct {
	chain    *soakChain
	tx       string
	to       string
	currency string
	amount   string
	ref      string
	failing  bool // sent to fail in its block: never a deposit
}

type soakDeposit struct {
	DepositID        string  `json:"depositId"`
	DepositReference *string `json:"depositReference"`
	Amount           string  `json:"amount"`
	Currency         string  `json:"currency"`
	Status           string  `json:"status"`
	Address          string  `json:"address"`
	TxHash           string  `json:"txHash"`
	Replaces         string  `json:"replaces"`
	ChainID          string  `json:"chainId"`
}

func runSoak(args []string, progress io.Writer) ([]Result, error) {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	duration := fs.Duration("duration", 10*time.Minute, "how long faults are injected")
	every := fs.Duration("fault-every", 300*time.Millisecond, "mean pause between faults (each also lasts 0.3 to 1.5 s)")
	refs := fs.Int("references", 16, "deposit references (each bound to a pooled address)")
	keep := fs.String("dir", "", "keep the processes' data and logs here (default: a temporary folder, removed)")
	noCH := fs.Bool("no-clickhouse", false, "leave ClickHouse out (it needs Debian's clickhouse-server)")
	noBitcoin := fs.Bool("no-bitcoin", false, "leave bitcoin-regtest out (it needs bin/btcd: make build)")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed")
	noFinality := fs.Bool("no-finality", false, "every chain's finality \"none\": no Finalized record is published, deposits end confirmed, and ledgerd keeps at most --max-open-deposits of each chain's open deposits in memory")
	maxOpen := fs.Int("max-open-deposits", 200, "ledgerd's max_open_deposits with --no-finality")
	brokerKill := fs.Bool("broker-kill9", false, "restart the broker with SIGKILL instead of SIGTERM: it comes back from what its disk holds (transactions left open aborted), and the producers from the epochs its recovery bumped")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	rng := mrand.New(mrand.NewPCG(*seed, 1))
	dir := *keep
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "inflow-soak-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	fmt.Fprintf(progress, "soak: %s of faults, seed %d, in %s\n", *duration, *seed, dir)

	// The real daemons, built from this tree.
	binDir := filepath.Join(dir, "bin")
	fmt.Fprintln(progress, "soak: building indexer, ledgerd and apid…")
	build := exec.Command("go", "build", "-o", binDir+"/", "./indexer", "./ledgerd", "./apid")
	build.Stdout, build.Stderr = progress, progress
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build the daemons: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}

	// The chains, in this process: the EVM devnet behind three faulty
	// proxies (the indexer's node pool, quorum 2), solana-localnet behind
	// one, tron-devnet (gRPC) and bitcoin-regtest (a real btcd) direct.
	chains, nodes, closeChains, err := startSoakChains(*refs, *noBitcoin, progress)
	if err != nil {
		return nil, err
	}
	defer closeChains()

	// ClickHouse, for ledgerd's history sink: killed mid-insert at random.
	var ch *chstore.LocalServer
	if !*noCH {
		if _, _, ok := chstore.ServerBinary(); !ok {
			return nil, fmt.Errorf("the soak kills ClickHouse too: install clickhouse-server, or pass --no-clickhouse")
		}
		if ch, err = chstore.StartLocalServer(filepath.Join(dir, "clickhouse")); err != nil {
			return nil, err
		}
		defer ch.Stop()
	}

	// Processes.
	kport := strings.Split(freeAddr(), ":")[1]
	kafkaAddr := "127.0.0.1:" + kport
	token, admin := "it_"+randHex(16), "adm_"+randHex(16)
	ledgerHTTP, idxOps := freeAddr(), freeAddr()
	mkLog := func(n string) string { return filepath.Join(dir, n+".log") }
	write := func(name string, v any) string {
		p := filepath.Join(dir, name)
		b, _ := json.MarshalIndent(v, "", "  ")
		os.WriteFile(p, b, 0o600)
		return p
	}
	ledgerCfgV := map[string]any{"data_dir": filepath.Join(dir, "ledgerd"), "kafka_brokers": []string{kafkaAddr}, "http": ledgerHTTP,
		"chains": chainIDs(chains), "internal_token": token, "admin_key": admin, "allow_loopback_webhooks": true,
		"webhook_retry_base": "200ms", "log_level": "warn", "clickhouse_dsn": chDSN(ch)}
	// Without finality deposits end confirmed, and the open set is bounded.
	table, final := assets.Default(), "completed"
	var assetsFile string
	if *noFinality {
		var over struct {
			Chains []map[string]any `json:"chains"`
		}
		for _, id := range chainIDs(chains) {
			over.Chains = append(over.Chains, map[string]any{"id": id, "policy": map[string]any{"finality": "none"}})
		}
		assetsFile = write("assets.json", over)
		if table, err = assets.Load(assetsFile); err != nil {
			return nil, err
		}
		ledgerCfgV["assets_file"], ledgerCfgV["max_open_deposits"] = assetsFile, *maxOpen
		final = "confirmed"
		fmt.Fprintf(progress, "soak: no finality on any chain; ledgerd keeps at most %d open deposits per chain in memory\n", *maxOpen)
	}
	ledgerCfg := write("ledgerd.json", ledgerCfgV)
	var followed []map[string]any
	for _, c := range chains {
		cc := map[string]any{"id": string(c.id), "from": 1, "poll_interval": "100ms"}
		if len(c.rpc) > 1 {
			cc["rpcs"], cc["quorum"] = c.rpc, 2
		} else {
			cc["rpc"] = c.rpc[0]
		}
		followed = append(followed, cc)
	}
	idxCfgV := map[string]any{"data_dir": filepath.Join(dir, "indexer"), "kafka_brokers": []string{kafkaAddr}, "http": idxOps,
		"log_level": "warn", "chains": followed}
	if assetsFile != "" {
		idxCfgV["assets_file"] = assetsFile
	}
	idxCfg := write("indexer.json", idxCfgV)
	brk := &proc{name: "broker", bin: self, env: []string{soakBrokerEnv + "=" + kport + "," + filepath.Join(dir, "kafka")}, log: mkLog("broker")}
	ledgerd := &proc{name: "ledgerd", bin: filepath.Join(binDir, "ledgerd"), args: []string{"--config", ledgerCfg}, log: mkLog("ledgerd")}
	indexer := &proc{name: "indexer", bin: filepath.Join(binDir, "indexer"), args: []string{"run", "--config", idxCfg}, log: mkLog("indexer")}
	var apids []*proc
	var apiURLs []string
	for i := 0; i < 2; i++ {
		a, o := freeAddr(), freeAddr()
		apids = append(apids, &proc{name: fmt.Sprintf("apid-%d", i+1), bin: filepath.Join(binDir, "apid"), log: mkLog(fmt.Sprintf("apid-%d", i+1)),
			args: []string{"--http", a, "--ops", o, "--ledger", "http://" + ledgerHTTP, "--allow-loopback-webhooks", "--log-level", "warn",
				"--rate-limit", "10000", "--burst", "10000", "--ip-rate-limit", "100000"},
			env: []string{"INFLOW_INTERNAL_TOKEN=" + token, "INFLOW_ADMIN_KEY=" + admin}})
		apiURLs = append(apiURLs, "http://"+a)
	}
	daemons := append([]*proc{ledgerd, indexer}, apids...)
	all := append([]*proc{brk}, daemons...)
	for _, p := range all {
		if err := p.start(); err != nil {
			return nil, err
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer func() {
		for _, p := range all {
			p.kill9()
		}
	}()
	hc := &http.Client{Timeout: 10 * time.Second}
	api := func() *soakClient { return &soakClient{base: apiURLs[rng.IntN(2)], http: hc} }
	waitUp := func(what string, fn func() error) error {
		deadline := time.Now().Add(90 * time.Second)
		for {
			err := fn()
			if err == nil {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: %w (logs in %s)", what, err, dir)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// retry runs an API call until it succeeds: apid or ledgerd may be down.
	retry := func(fn func(c *soakClient) error) error {
		return waitUp("api call", func() error { return fn(api()) })
	}

	// The merchant, its pool, its references and its webhook endpoint.
	var merchant struct {
		MerchantID string `json:"merchantId"`
		APIKey     string `json:"apiKey"`
	}
	if err := retry(func(c *soakClient) error {
		c.admin = admin
		_, err := c.do("POST", "/admin/v1/merchants", map[string]any{"name": "soak", "live": false}, &merchant)
		return err
	}); err != nil {
		return nil, err
	}
	key := merchant.APIKey
	mapi := func() *soakClient { c := api(); c.key = key; return c }
	mretry := func(fn func(c *soakClient) error) error {
		return waitUp("api call", func() error { c := mapi(); return fn(c) })
	}
	for _, c := range chains {
		if err := mretry(func(cl *soakClient) error {
			_, err := cl.do("POST", "/api/v1/addresses/import", map[string]any{"protocol": c.protocol, "addresses": c.pool}, nil)
			return err
		}); err != nil {
			return nil, err
		}
		c.refOf = map[string]string{}
		for i := 0; i < *refs; i++ {
			ref := fmt.Sprintf("soak_%s_%02d", c.protocol, i)
			var b struct{ Address string }
			if err := mretry(func(cl *soakClient) error {
				_, err := cl.do("POST", "/api/v1/deposits/references", map[string]any{"depositReference": ref, "currency": c.refCur, "chainId": string(c.id)}, &b)
				if err != nil && strings.Contains(err.Error(), "DUPLICATE_DEPOSIT_REFERENCE") {
					// A retried bind whose first answer was lost: the
					// reference is bound already.
					var r struct{ Addresses []struct{ Address string } }
					if _, err = cl.do("GET", "/api/v1/deposits/references/"+ref, nil, &r); err == nil && len(r.Addresses) > 0 {
						b.Address = r.Addresses[0].Address
					}
				}
				return err
			}); err != nil {
				return nil, err
			}
			c.refOf[c.norm(b.Address)] = ref
			c.bound = append(c.bound, b.Address)
		}
	}
	rc := &soakReceiver{seen: map[string]bool{}}
	rc.mode.Store("")
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rc.url = "http://" + rln.Addr().String() + "/hooks"
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go rc.srv.Serve(rln)
	defer rc.srv.Close()
	var ep struct{ ID, Secret string }
	if err := mretry(func(c *soakClient) error {
		_, err := c.do("POST", "/api/v1/webhooks/endpoints", map[string]any{"url": rc.url}, &ep)
		return err
	}); err != nil {
		return nil, err
	}
	rc.secret, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(ep.Secret, "whsec_"))
	fmt.Fprintf(progress, "soak: merchant %s, %d references bound on each of %s, endpoint %s; faults start\n", merchant.MerchantID, *refs, strings.Join(chainIDs(chains), ", "), ep.ID)

	// Traffic: a transfer and a block every 250 ms, a reorg now and then.
	var sentMu sync.Mutex
	var sent []sentTransfer
	ctx, stopTraffic := context.WithCancel(context.Background())
	defer stopTraffic()
	var trafficErr error
	var trafficWG sync.WaitGroup
	reorgs := 0
	trafficWG.Add(1)
	go func() {
		defer trafficWG.Done()
		for i := 0; ctx.Err() == nil; i++ {
			c := chains[i%len(chains)]
			to := c.bound[rng.IntN(len(c.bound))]
			if rng.IntN(10) == 0 {
				to = c.pool[*refs+rng.IntN(4)] // an address bound to no one
			}
			cur, amt := c.amount(rng)
			var h string
			var err error
			failing := c.failing != nil && rng.IntN(12) == 0
			if failing {
				// Now and then one that fails in its block (a token
				// transfer the sender cannot cover, out of energy on
				// Tron): its fee is paid, and it must credit nothing.
				h, err = c.failing(rng, to)
				cur, amt = c.refCur, "(sent to fail)"
			} else {
				h, err = c.dn.Transfer(to, cur, amt)
			}
			if err != nil {
				trafficErr = fmt.Errorf("%s: %w", c.id, err)
				return
			}
			sentMu.Lock()
			sent = append(sent, sentTransfer{chain: c, tx: c.normTx(h), to: to, currency: cur, amount: amt, ref: c.refOf[c.norm(to)], failing: failing})
			sentMu.Unlock()
			if _, err := c.dn.Mine(1); err != nil {
				trafficErr = fmt.Errorf("%s: %w", c.id, err)
				return
			}
			if rng.IntN(40) == 0 && c.dn.Head() > 10 {
				// Sometimes the orphaned transactions are dropped for good.
				if _, err := c.dn.Reorg(1+rng.IntN(3), rng.IntN(3) == 0); err == nil {
					reorgs++
				}
			}
			time.Sleep(time.Duration(250/len(chains)) * time.Millisecond)
		}
	}()

	// Faults.
	kinds := []string{"kill9", "broker_restart", "rpc_stall", "rpc_error", "rpc_stale", "webhook_timeout", "webhook_fail"}
	if ch != nil {
		kinds = append(kinds, "clickhouse_kill")
	}
	faults := map[string]int{}
	killed := map[string]int{}
	var round []string
	start := time.Now()
	lastSample := time.Time{}
	openPeak := 0 // ledgerd's open deposits in memory on one chain, at most
	deadline := start.Add(*duration)
	for time.Now().Before(deadline) {
		if time.Since(lastSample) >= 2*time.Second {
			for _, p := range daemons {
				p.sampleRSS(time.Since(start))
			}
			if n, ok := openInMemory("http://" + ledgerHTTP); ok {
				openPeak = max(openPeak, n)
			}
			lastSample = time.Now()
		}
		// Every kind once per round, in a random order: each gets its
		// share however long the run.
		if len(round) == 0 {
			round = append(round, kinds...)
			rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		}
		kind := round[0]
		round = round[1:]
		hold := time.Duration(300+rng.IntN(1200)) * time.Millisecond
		switch kind {
		case "kill9":
			p := daemons[rng.IntN(len(daemons))]
			p.kill9()
			killed[p.name]++
			time.Sleep(hold)
			if err := p.start(); err != nil {
				return nil, err
			}
		case "broker_restart":
			sig := syscall.SIGTERM
			if *brokerKill {
				sig = syscall.SIGKILL
			}
			brk.signal(sig)
			time.Sleep(hold)
			if err := brk.start(); err != nil {
				return nil, err
			}
		case "rpc_stall", "rpc_error", "rpc_stale":
			n := nodes[rng.IntN(len(nodes))]
			n.set(strings.TrimPrefix(kind, "rpc_"))
			time.Sleep(hold)
			n.set("")
		case "clickhouse_kill":
			ch.Kill()
			time.Sleep(hold)
			if err := ch.Restart(); err != nil {
				return nil, err
			}
		case "webhook_timeout", "webhook_fail":
			rc.mode.Store(strings.TrimPrefix(kind, "webhook_"))
			time.Sleep(hold)
			rc.mode.Store("")
		}
		faults[kind]++
		if el := time.Since(start); int(el/time.Minute) != int((el-hold)/time.Minute) || faults[kind] == 1 && kind == kinds[0] {
			fmt.Fprintf(progress, "soak: %s in, faults %v, kills %v, %d transfers, %d reorgs\n", el.Round(time.Second), faults, killed, len(sent), reorgs)
		}
		gap := time.Duration(float64(*every) * (0.5 + rng.Float64()))
		time.Sleep(gap)
	}
	stopTraffic()
	trafficWG.Wait()
	if trafficErr != nil {
		return nil, fmt.Errorf("traffic: %w", trafficErr)
	}
	faultsDone := time.Since(start)
	fmt.Fprintf(progress, "soak: faults over after %s: %v; kills %v; %d transfers, %d reorgs. Healing and checking…\n", faultsDone.Round(time.Second), faults, killed, len(sent), reorgs)

	// Heal: every process up, the chain final past every transfer.
	for _, p := range all {
		p.mu.Lock()
		alive := p.cmd != nil && p.cmd.ProcessState == nil && p.cmd.Process.Signal(syscallZero) == nil
		p.mu.Unlock()
		if !alive {
			p.start()
		}
	}
	mineAll := func(n int) {
		for _, c := range chains {
			c.dn.Mine(n)
		}
	}
	mineAll(4)

	// The model, from the chains alone: the transfers whose transaction is
	// in the canonical chain and did not fail there. (Asked again once
	// everything settled: the healing blocks could not reorganise, but the
	// check is cheap.)
	model := func() map[string]sentTransfer {
		out := map[string]sentTransfer{}
		for _, s := range sent {
			if s.chain.included(s.tx) {
				out[s.chain.key(s.tx)] = s
			}
		}
		return out
	}
	canonical := model()
	// Ledgerd's deposits, once everything is settled.
	var deps []soakDeposit
	listAll := func() ([]soakDeposit, error) {
		var out []soakDeposit
		cursor := ""
		for {
			var page struct {
				Data       []soakDeposit `json:"data"`
				Pagination struct {
					NextCursor string `json:"nextCursor"`
				} `json:"pagination"`
			}
			q := "/api/v1/deposits?limit=100"
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			if _, err := mapi().do("GET", q, nil, &page); err != nil {
				return nil, err
			}
			out = append(out, page.Data...)
			if page.Pagination.NextCursor == "" || len(page.Data) == 0 {
				return out, nil
			}
			cursor = page.Pagination.NextCursor
		}
	}
	settle := time.Now()
	for {
		deps, err = listAll()
		done := err == nil
		if done {
			live := 0
			for _, d := range deps {
				if d.Status != final && d.Status != "orphaned" {
					done = false
				}
				if d.Status != "orphaned" {
					live++
				}
			}
			done = done && live == len(canonical)
		}
		if done || time.Since(settle) > 3*time.Minute {
			break
		}
		mineAll(3)
		time.Sleep(time.Second)
	}
	settled := time.Since(settle)
	canonical = model()

	// Invariants.
	var violations []string
	violate := func(format string, a ...any) {
		if len(violations) < 50 {
			violations = append(violations, fmt.Sprintf(format, a...))
		}
	}
	byID := map[chain.ID]*soakChain{}
	for _, c := range chains {
		byID[c.id] = c
	}
	live := map[string][]soakDeposit{}
	for _, d := range deps {
		c := byID[chain.ID(d.ChainID)]
		if c == nil {
			violate("deposit %s on a chain the soak does not drive: %s", d.DepositID, d.ChainID)
			continue
		}
		if d.Status != "orphaned" {
			k := c.key(c.normTx(d.TxHash))
			live[k] = append(live[k], d)
		}
	}
	// The transfers sent to fail: the chain must hold them as failed (or
	// not at all, reorganised away with drop), never as paid.
	failedOnChain := 0
	for _, s := range sent {
		if !s.failing {
			continue
		}
		switch mined, failed := s.chain.status(s.tx); {
		case mined && failed:
			failedOnChain++
		case mined:
			violate("transfer %s was sent to fail and the chain holds it as paid: the soak's traffic is wrong", s.chain.key(s.tx))
		}
	}
	missing, twice, extra, notDone := 0, 0, 0, 0
	for tx, s := range canonical {
		ds := live[tx]
		switch {
		case len(ds) == 0:
			missing++
			violate("transfer %s (%s %s to %s) is on the chain and has no deposit", tx, s.amount, s.currency, s.to)
		case len(ds) > 1:
			twice++
			violate("transfer %s credited %d times", tx, len(ds))
		default:
			d := ds[0]
			ref := ""
			if d.DepositReference != nil {
				ref = *d.DepositReference
			}
			if d.Amount != trimAmount(s.amount) || d.Currency != s.currency || s.chain.norm(d.Address) != s.chain.norm(s.to) || ref != s.ref {
				violate("transfer %s: deposit %s says %s %s to %s ref %q, the chain %s %s to %s ref %q", tx, d.DepositID, d.Amount, d.Currency, d.Address, ref, s.amount, s.currency, s.to, s.ref)
			}
			if d.Status != final {
				notDone++
				violate("deposit %s is %s after the chain passed its block's %s", d.DepositID, d.Status, map[string]string{"completed": "finality", "confirmed": "credit depth"}[final])
			}
		}
	}
	for tx, ds := range live {
		if _, ok := canonical[tx]; !ok {
			extra += len(ds)
			violate("deposit %s (tx %s) is %s, but its transaction is not on the chain", ds[0].DepositID, tx, ds[0].Status)
		}
	}
	// Balances equal their deposits.
	want := map[string]*big.Rat{}
	for _, ds := range live {
		for _, d := range ds {
			if d.DepositReference == nil {
				continue
			}
			k := *d.DepositReference + " " + d.Currency
			if want[k] == nil {
				want[k] = new(big.Rat)
			}
			v, _ := new(big.Rat).SetString(d.Amount)
			want[k].Add(want[k], v)
		}
	}
	var bals struct {
		Data []struct{ DepositReference, Currency, Pending, Available string }
	}
	balanceErrors := 0
	if _, err := mapi().do("GET", "/api/v1/balances?limit=1000", nil, &bals); err != nil {
		violate("balances: %v", err)
		balanceErrors++
	}
	got := map[string]*big.Rat{}
	for _, b := range bals.Data {
		p, _ := new(big.Rat).SetString(b.Pending)
		a, _ := new(big.Rat).SetString(b.Available)
		if p == nil || a == nil {
			continue
		}
		got[b.DepositReference+" "+b.Currency] = new(big.Rat).Add(p, a)
	}
	for k, w := range want {
		if g := got[k]; g == nil || g.Cmp(w) != 0 {
			balanceErrors++
			violate("balance of %s is %v, its deposits add up to %s", k, g, w.FloatString(6))
		}
	}
	for k, g := range got {
		if want[k] == nil && g.Sign() != 0 {
			balanceErrors++
			violate("balance of %s is %s with no deposit", k, g.FloatString(6))
		}
	}
	// Every event delivered at least once: each deposit's pending event,
	// the confirmed and completed ones of those completed, the orphaned
	// ones of those orphaned.
	undelivered := 0
	deadlineHooks := time.Now().Add(2 * time.Minute)
	for {
		undelivered = 0
		rc.mu.Lock()
		for _, d := range deps {
			wantEv := []string{"pending"}
			switch d.Status {
			case "completed":
				wantEv = append(wantEv, "confirmed", "completed")
			case "confirmed":
				wantEv = append(wantEv, "confirmed")
			case "orphaned":
				wantEv = append(wantEv, "orphaned")
			}
			for _, st := range wantEv {
				if !rc.seen[store.EventID(d.DepositID, st)] {
					undelivered++
				}
			}
		}
		rc.mu.Unlock()
		if undelivered == 0 || time.Now().After(deadlineHooks) {
			break
		}
		time.Sleep(time.Second)
	}
	if undelivered > 0 {
		violate("%d deposit events never delivered", undelivered)
	}
	if rc.bad > 0 {
		violate("%d deliveries failed signature verification", rc.bad)
	}
	// ClickHouse equal to ledgerd: every deposit there, with its status
	// (the sink catches up within a minute).
	chMismatch := 0
	if ch != nil {
		want := map[string]string{}
		for _, d := range deps {
			want[d.DepositID] = d.Status
		}
		deadlineCH := time.Now().Add(90 * time.Second)
		for {
			got, err := chDeposits(ch)
			chMismatch = 0
			if err != nil {
				chMismatch = len(want)
			}
			for id, st := range want {
				if got[id] != st {
					chMismatch++
				}
			}
			chMismatch += max(0, len(got)-len(want))
			if chMismatch == 0 || time.Now().After(deadlineCH) {
				if chMismatch > 0 {
					violate("ClickHouse differs from ledgerd on %d deposits (it holds %d, ledgerd %d; %v)", chMismatch, len(got), len(want), err)
				}
				break
			}
			time.Sleep(time.Second)
		}
	}
	// What the daemons say of themselves, read before they stop: printed
	// with the violations, for a run whose folder is gone (CI's).
	var readiness []string
	for _, o := range []struct{ name, addr string }{{"indexer", idxOps}, {"ledgerd", ledgerHTTP}} {
		readiness = append(readiness, fmt.Sprintf("soak: %s /readyz: %s", o.name, readyz(hc, o.addr)))
	}
	// Rebuilding ledgerd from the chain topics at offset 0, over a copy of
	// its registry, gives the same state.
	indexer.signal(syscall.SIGTERM)
	ledgerd.signal(syscall.SIGTERM)
	origHash, rebuiltHash, rebuildRecords, err := rebuildHash(filepath.Join(dir, "ledgerd"), filepath.Join(dir, "rebuild"), []string{kafkaAddr},
		chainIDs(chains), merchant.MerchantID, table)
	rebuildOK := err == nil && origHash == rebuiltHash
	if err != nil {
		violate("rebuild from the topics: %v", err)
	} else if origHash != rebuiltHash {
		violate("ledgerd rebuilt from the chain topics at offset 0 (%d records) has state %s, the soak's ledgerd %s", rebuildRecords, rebuiltHash, origHash)
	}
	fmt.Fprintf(progress, "soak: ledgerd rebuilt from %d chain records at offset 0: state %s, the soak's %s\n", rebuildRecords, rebuiltHash, origHash)
	// Resident memory over the last half: the last quarter's peak against
	// the second quarter's, per daemon (restarts reset a process: a kill
	// then shows as a drop, never as growth).
	memFlat := true
	var memNotes []string
	for _, p := range daemons {
		q2, q4 := peak(p.rss, faultsDone/4, faultsDone/2), peak(p.rss, 3*faultsDone/4, faultsDone)
		memNotes = append(memNotes, fmt.Sprintf("%s %d→%d MB", p.name, q2/1024, q4/1024))
		if q2 > 0 && q4 > q2+q2/4+16*1024 {
			memFlat = false
			violate("%s resident memory grew from %d MB to %d MB over the last half", p.name, q2/1024, q4/1024)
		}
	}
	fmt.Fprintf(progress, "soak: settled in %s; resident memory (second quarter → last quarter peaks): %s\n", settled.Round(time.Second), strings.Join(memNotes, ", "))
	openBounded := !*noFinality || openPeak <= *maxOpen
	if !openBounded {
		violate("ledgerd held %d open deposits of one chain in memory, over its bound of %d", openPeak, *maxOpen)
	}
	fmt.Fprintf(progress, "soak: ledgerd's open deposits in memory, on one chain at most: %d\n", openPeak)
	for _, v := range violations {
		fmt.Fprintln(progress, "soak: VIOLATION:", v)
	}
	if len(violations) > 0 {
		// A halted chain is in /readyz, the cause in the logs' last
		// warnings.
		for _, l := range readiness {
			fmt.Fprintln(progress, l)
		}
		for _, p := range []*proc{indexer, ledgerd, brk} {
			for _, l := range lastWarnings(p.log, 25) {
				fmt.Fprintf(progress, "soak: %s log: %s\n", p.name, l)
			}
		}
	}

	zero := len(violations) == 0
	minFaults := 0
	for i, k := range kinds {
		if i == 0 || faults[k] < minFaults {
			minFaults = faults[k]
		}
	}
	orphaned := 0
	for _, d := range deps {
		if d.Status == "orphaned" {
			orphaned++
		}
	}
	res := []Result{
		{Name: "soak_invariant_violations", Value: float64(len(violations)), Unit: "violations", Target: "0", Met: &zero},
		{Name: "soak_faults_min_per_kind", Value: float64(minFaults), Unit: "faults", Target: ">= 50 per kind (10m run)", Met: ptrBool(minFaults >= 50)},
		{Name: "soak_transfers", Value: float64(len(sent)), Unit: "transfers"},
		{Name: "soak_transfers_on_chain", Value: float64(len(canonical)), Unit: "transfers"},
		{Name: "soak_transfers_failed_on_chain", Value: float64(failedOnChain), Unit: "transfers"},
		{Name: "soak_deposits_missing", Value: float64(missing), Unit: "deposits"},
		{Name: "soak_deposits_credited_twice", Value: float64(twice), Unit: "deposits"},
		{Name: "soak_deposits_without_transfer", Value: float64(extra), Unit: "deposits"},
		{Name: "soak_deposits_orphaned", Value: float64(orphaned), Unit: "deposits"},
		{Name: "soak_deposits_not_completed", Value: float64(notDone), Unit: "deposits"},
		{Name: "soak_balance_mismatches", Value: float64(balanceErrors), Unit: "balances"},
		{Name: "soak_events_undelivered", Value: float64(undelivered), Unit: "events"},
		{Name: "soak_clickhouse_mismatches", Value: float64(chMismatch), Unit: "deposits"},
		{Name: "soak_rebuild_same_state", Value: b2f(rebuildOK), Unit: "bool", Target: "1", Met: &rebuildOK},
		{Name: "soak_reorgs", Value: float64(reorgs), Unit: "reorgs"},
		{Name: "soak_memory_flat", Value: b2f(memFlat), Unit: "bool", Target: "1", Met: &memFlat},
		{Name: "soak_settle_seconds", Value: settled.Seconds(), Unit: "s"},
		{Name: "soak_open_deposits_in_memory_peak", Value: float64(openPeak), Unit: "deposits", Target: map[bool]string{true: fmt.Sprintf("<= %d (max_open_deposits)", *maxOpen)}[*noFinality], Met: map[bool]*bool{true: &openBounded}[*noFinality]},
	}
	for _, c := range chains {
		n := 0
		for _, s := range canonical {
			if s.chain == c {
				n++
			}
		}
		res = append(res, Result{Name: "soak_transfers_on_chain_" + strings.ReplaceAll(string(c.id), "-", "_"), Value: float64(n), Unit: "transfers"})
	}
	names := make([]string, 0, len(faults))
	for k := range faults {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		res = append(res, Result{Name: "soak_faults_" + k, Value: float64(faults[k]), Unit: "faults"})
	}
	for _, p := range daemons {
		res = append(res, Result{Name: "soak_kills_" + strings.ReplaceAll(p.name, "-", "_"), Value: float64(killed[p.name]), Unit: "kills"})
	}
	if !zero {
		return res, fmt.Errorf("%d invariant violations (logs in %s; pass --dir to keep them)", len(violations), dir)
	}
	return res, nil
}

func chDSN(ch *chstore.LocalServer) string {
	if ch == nil {
		return ""
	}
	return ch.DSN("inflow")
}

// chDeposits reads every deposit's status from ClickHouse's deposits table
// (FINAL: the newest row of each).
func chDeposits(ch *chstore.LocalServer) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := chstore.Open(ctx, ch.DSN("inflow"), nil)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.Conn().Query(ctx, "SELECT deposit_id, status FROM deposits FINAL")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, err
		}
		out[id] = st
	}
	return out, rows.Err()
}

// openInMemory reads ledgerd's inflow_ledgerd_ledger_open_deposits_in_memory
// gauge: the largest of its chains'.
func openInMemory(base string) (int, bool) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	n, found := 0, false
	for _, l := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(l, "inflow_ledgerd_ledger_open_deposits_in_memory") {
			continue
		}
		f := strings.Fields(l)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			n, found = max(n, int(v)), true
		}
	}
	return n, found
}

func peak(s []rssSample, from, to time.Duration) int64 {
	var m int64
	for _, x := range s {
		if x.at >= from && x.at <= to && x.kb > m {
			m = x.kb
		}
	}
	return m
}

func trimAmount(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func ptrBool(b bool) *bool { return &b }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// syscallZero probes whether a process is alive.
var syscallZero = syscall.Signal(0)

// readyz is a daemon's /readyz answer on one line, or why there is none.
func readyz(hc *http.Client, addr string) string {
	resp, err := hc.Get("http://" + addr + "/readyz")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.Status + " " + strings.Join(strings.Fields(string(b)), " ")
}

// lastWarnings are the last n lines of a log that are not INFO (nor
// ledgerd's failed webhook attempts, which the soak's receiver causes),
// each cut to 400 bytes, with a count of how many times each was said in
// a row.
func lastWarnings(path string, n int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	var last string
	repeat := 0
	flush := func() {
		if last == "" {
			return
		}
		if repeat > 1 {
			last += fmt.Sprintf(" (×%d)", repeat)
		}
		out = append(out, last)
	}
	for _, l := range strings.Split(string(b), "\n") {
		// The webhook receiver's own faults make ledgerd warn on every
		// attempt they fail: those would push everything else out.
		if l == "" || strings.Contains(l, "level=INFO") || strings.Contains(l, `msg="webhook attempt failed"`) {
			continue
		}
		if len(l) > 400 {
			l = l[:400] + "…"
		}
		// The same message again, its time aside, is counted, not kept.
		key := l
		if i := strings.IndexByte(l, ' '); i > 0 && strings.HasPrefix(l, "time=") {
			key = l[i+1:]
		}
		lastKey := last
		if i := strings.IndexByte(last, ' '); i > 0 && strings.HasPrefix(last, "time=") {
			lastKey = last[i+1:]
		}
		if key == lastKey {
			repeat++
			continue
		}
		flush()
		last, repeat = l, 1
	}
	flush()
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}
