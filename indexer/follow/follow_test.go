package follow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/events"
	"github.com/inflowhq/inflow/pkg/kv"
)

// fakeChain is an in-memory chain that can fork, skip numbers and carry
// transfers. Block hashes are derived from parent, number and a fork counter.
type fakeChain struct {
	mu        sync.Mutex
	canon     map[uint64]*chain.Block // number → canonical block
	head      uint64
	forks     int
	finalized uint64
	failFetch map[uint64]int // number → failures left
	// skipFetch: numbers a fetch answers ErrSkipped for though they
	// hold a block (a node whose view of the slot is older than the
	// block, or a cached skip list): answers left.
	skipFetch map[uint64]int
}

func newFakeChain() *fakeChain {
	c := &fakeChain{canon: map[uint64]*chain.Block{}, failFetch: map[uint64]int{}, skipFetch: map[uint64]int{}}
	c.canon[0] = &chain.Block{Ref: chain.BlockRef{Number: 0, Hash: chain.Hash{0xee}}}
	return c
}

func (c *fakeChain) tip() *chain.Block {
	for n := c.head; ; n-- {
		if b, ok := c.canon[n]; ok {
			return b
		}
	}
}

// mine appends count blocks; skip leaves numbers empty (like Solana slots).
func (c *fakeChain) mine(count int, skip int, transfers []chain.Transfer) {
	for i := 0; i < count; i++ {
		parent := c.tip().Ref
		n := c.head + 1 + uint64(skip)
		skip = 0
		var h chain.Hash
		sum := sha256.Sum256(binary.BigEndian.AppendUint64(append(parent.Hash[:], byte(c.forks)), n))
		copy(h[:], sum[:])
		b := &chain.Block{Ref: chain.BlockRef{Number: n, Hash: h, Parent: parent.Hash, Time: int64(n)}}
		if i == 0 {
			b.Transfers = append([]chain.Transfer(nil), transfers...)
		}
		c.canon[n] = b
		c.head = n
	}
}

// reorg drops the newest depth numbers; the next mine builds the new branch.
func (c *fakeChain) reorg(depth int) {
	for i := 0; i < depth; i++ {
		delete(c.canon, c.head)
		c.head--
	}
	for c.head > 0 {
		if _, ok := c.canon[c.head]; ok {
			break
		}
		c.head--
	}
	c.forks++
}

func (c *fakeChain) Head(ctx context.Context) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.head, nil
}

func (c *fakeChain) FetchBlock(ctx context.Context, n uint64) (*chain.Block, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failFetch[n] > 0 {
		c.failFetch[n]--
		return nil, errors.New("node hiccup")
	}
	if n > c.head {
		return nil, ErrNotFound
	}
	if c.skipFetch[n] > 0 {
		c.skipFetch[n]--
		return nil, ErrSkipped
	}
	b, ok := c.canon[n]
	if !ok {
		return nil, ErrSkipped
	}
	cp := *b
	cp.Transfers = append([]chain.Transfer(nil), b.Transfers...)
	return &cp, nil
}

type finalChain struct{ *fakeChain }

func (c finalChain) Finalized(ctx context.Context) (chain.BlockRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.finalized
	for ; n > 0; n-- {
		if b, ok := c.canon[n]; ok {
			return b.Ref, nil
		}
	}
	return c.canon[0].Ref, nil
}

type watchSet map[chain.Address]uint64

func (w watchSet) MatchBatch(fam chain.Family, addrs [][]byte, ids []uint64) int {
	n := 0
	for i, a := range addrs {
		ids[i] = w[chain.MustAddress(fam, a)]
		if ids[i] != 0 {
			n++
		}
	}
	return n
}

type memPublisher struct {
	recs []*events.Record
	fail int
	// lost: records were dropped from the log behind the publisher's back;
	// Publish says so until LastBlock reads the log back, as
	// KafkaPublisher does.
	lost bool
}

func (p *memPublisher) Publish(ctx context.Context, recs []*events.Record) error {
	if p.fail > 0 {
		p.fail--
		return errors.New("broker unavailable")
	}
	if p.lost {
		return fmt.Errorf("%w: the log ends at %d", ErrRecordsLost, len(p.recs))
	}
	for _, r := range recs {
		b, err := r.Marshal()
		if err != nil {
			return err
		}
		back, err := events.Unmarshal(b)
		if err != nil {
			return err
		}
		p.recs = append(p.recs, back)
	}
	return nil
}

func (p *memPublisher) LastBlock(ctx context.Context, id chain.ID) (*events.Record, error) {
	p.lost = false
	for i := len(p.recs) - 1; i >= 0; i-- {
		if t := p.recs[i].Type; t == events.TypeBlockConnected || t == events.TypeBlockDisconnected {
			return p.recs[i], nil
		}
	}
	return nil, nil
}

func addr(i byte) chain.Address {
	var a [20]byte
	a[19] = i
	return chain.EVMAddress(a)
}

func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		fc := newFakeChain()
		var src Source = fc
		watch := watchSet{addr(1): 101, addr(2): 102}
		pub := &memPublisher{}
		fs := vfs.NewMem()
		db, err := kv.Open("db", fs, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { db.Close() }()
		cfg := Config{Chain: "test-chain", Family: chain.FamilyEVM, WindowSize: 8, MaxReorgDepth: 5, MaxBatch: 4, Fetchers: 3}
		var f *Follower
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo,
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}))
		clock := time.Unix(1_700_000_000, 0)
		newFollower := func() {
			c := cfg
			if f, err = New(c, src, watch, pub, db, log, nil); err != nil {
				t.Fatal(err)
			}
			f.now = func() time.Time { return clock }
			if err := f.load(); err != nil {
				t.Fatal(err)
			}
		}
		seen := 0
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			intArg := func(name string, def int) int {
				for _, a := range d.CmdArgs {
					if a.Key == name {
						v, _ := strconv.Atoi(a.Vals[0])
						return v
					}
				}
				return def
			}
			switch d.Cmd {
			case "config":
				cfg.From = nil
				if d.HasArg("from") {
					v := uint64(intArg("from", 0))
					cfg.From = &v
				}
				cfg.FinalityDepth = uint64(intArg("finality-depth", 0))
				if d.HasArg("finality-tag") {
					src = finalChain{fc}
				}
				newFollower()
				return "ok"
			case "mine":
				var ts []chain.Transfer
				for _, to := range strings.Fields(d.Input) {
					i, _ := strconv.Atoi(to)
					ts = append(ts, chain.Transfer{TxHash: []byte{byte(i)}, Index: chain.IndexNative, Kind: chain.KindNative, To: addr(byte(i)), Value: chain.AmountFromUint64(uint64(i))})
				}
				fc.mine(intArg("n", 1), intArg("skip", 0), ts)
				return fmt.Sprintf("head=%d", fc.head)
			case "reorg":
				fc.reorg(intArg("depth", 1))
				return fmt.Sprintf("head=%d", fc.head)
			case "finalize":
				fc.finalized = uint64(intArg("n", 0))
				return "ok"
			case "fail-fetch":
				fc.failFetch[uint64(intArg("n", 0))] = intArg("times", 1)
				return "ok"
			case "wait":
				// The follower's clock moves on: in a round, only the
				// checkpoint watch reads it.
				if len(d.CmdArgs) != 1 {
					t.Fatalf("wait takes one duration, as in wait 61s")
				}
				dur, err := time.ParseDuration(d.CmdArgs[0].Key)
				if err != nil {
					t.Fatal(err)
				}
				clock = clock.Add(dur)
				return "ok"
			case "say-skipped":
				fc.skipFetch[uint64(intArg("n", 0))] = intArg("times", 1)
				return "ok"
			case "fail-publish":
				pub.fail = intArg("times", 1)
				return "ok"
			case "lose":
				// The brokers lose the log's last n records after
				// acknowledging them.
				n := min(intArg("n", 1), len(pub.recs))
				var out []string
				for _, r := range pub.recs[len(pub.recs)-n:] {
					out = append(out, "lost "+describe(r))
				}
				pub.recs = pub.recs[:len(pub.recs)-n]
				seen = min(seen, len(pub.recs))
				pub.lost = true
				return strings.Join(out, "\n")
			case "topic":
				// The whole log, replayed: the chain it leaves.
				var tip []string
				for _, r := range pub.recs {
					switch r.Type {
					case events.TypeBlockConnected:
						tip = append(tip, fmt.Sprintf("#%d/%x", r.Number, r.Hash[:2]))
					case events.TypeBlockDisconnected:
						tip = tip[:len(tip)-1]
					}
				}
				return strings.Join(tip, " ")
			case "logs":
				// The follower's info and warn lines since the last "logs".
				out := strings.TrimSpace(logs.String())
				logs.Reset()
				return out
			case "watch":
				// The matcher learns an address (id 100+i).
				i := intArg("addr", 0)
				watch[addr(byte(i))] = uint64(100 + i)
				return "ok"
			case "rescan":
				// An operator's rescan of [from, to], keeping the address
				// ids in keep (every watched one without it).
				rc := RescanConfig{Chain: cfg.Chain, Family: cfg.Family, From: uint64(intArg("from", 0)), To: uint64(intArg("to", 0)), Fetchers: 3, MaxBatch: 2}
				if d.HasArg("keep") {
					keep := map[uint64]bool{}
					for _, a := range d.CmdArgs {
						if a.Key == "keep" {
							for _, v := range a.Vals {
								id, _ := strconv.ParseUint(v, 10, 64)
								keep[id] = true
							}
						}
					}
					rc.Keep = func(id uint64) bool { return keep[id] }
				}
				var nexts []string
				rc.Progress = func(p RescanProgress) { nexts = append(nexts, strconv.FormatUint(p.Next, 10)) }
				p, err := Rescan(context.Background(), rc, src, watch, pub, db)
				var out []string
				for _, r := range pub.recs[seen:] {
					out = append(out, describe(r))
				}
				seen = len(pub.recs)
				if err != nil {
					out = append(out, "error: "+err.Error())
				}
				out = append(out, fmt.Sprintf("next=%d blocks=%d records=%d transfers=%d superseded=%d (progress at %s)",
					p.Next, p.Blocks, p.Records, p.Transfers, p.Superseded, strings.Join(nexts, ",")))
				return strings.Join(out, "\n")
			case "restart":
				newFollower()
				tip, _ := f.Checkpoint()
				return fmt.Sprintf("checkpoint=%d window=%d", tip.Number, len(f.window))
			case "run":
				ctx := context.Background()
				var errs []string
				steps := 0
				for i := 0; i < 50; i++ {
					steps++
					progressed, err := f.step(ctx)
					if err != nil {
						errs = append(errs, err.Error())
						if errors.Is(err, ErrReorgTooDeep) || errors.Is(err, ErrHalt) {
							break
						}
						continue
					}
					if !progressed && len(errs) == 0 {
						break
					}
					if !progressed {
						errs = append(errs, "")
						if len(errs) > 3 {
							break
						}
					}
				}
				var out []string
				for _, r := range pub.recs[seen:] {
					out = append(out, describe(r))
				}
				seen = len(pub.recs)
				for _, e := range errs {
					if e != "" {
						out = append(out, "error: "+e)
					}
				}
				tip, _ := f.Checkpoint()
				out = append(out, fmt.Sprintf("checkpoint=%d", tip.Number))
				if d.HasArg("steps") {
					// How many rounds ran before one made no progress.
					out = append(out, fmt.Sprintf("steps=%d", steps))
				}
				return strings.Join(out, "\n")
			}
			t.Fatalf("unknown command %s", d.Cmd)
			return ""
		})
	})
}

// describe prints a record with a short name for its block: number and the
// first two bytes of the hash.
func describe(r *events.Record) string {
	name := func(n uint64, h chain.Hash) string { return fmt.Sprintf("#%d/%x", n, h[:2]) }
	switch r.Type {
	case events.TypeBlockConnected, events.TypeBlockRescanned:
		var ts []string
		for _, t := range r.Transfers {
			ts = append(ts, fmt.Sprintf("%s=%d", strings.TrimLeft(t.To.String()[2:], "0"), t.AddressID))
		}
		s := fmt.Sprintf("connected %s parent=%x", name(r.Number, r.Hash), r.Parent[:2])
		if r.Type == events.TypeBlockRescanned {
			s = fmt.Sprintf("rescanned %s parent=%x", name(r.Number, r.Hash), r.Parent[:2])
		}
		if len(ts) > 0 {
			s += " matched[" + strings.Join(ts, " ") + "]"
		}
		return s
	case events.TypeBlockDisconnected:
		return "disconnected " + name(r.Number, r.Hash)
	default:
		return "finalized " + name(r.Number, r.Hash)
	}
}

// TestRunStops: Run returns when its context ends, and halts on a deep reorg.
func TestRunHaltsOnDeepReorg(t *testing.T) {
	fc := newFakeChain()
	fc.mine(10, 0, nil)
	db, _ := kv.Open("db", vfs.NewMem(), nil)
	defer db.Close()
	from := uint64(1)
	pub := &memPublisher{}
	f, err := New(Config{Chain: "c", Family: chain.FamilyEVM, From: &from, WindowSize: 16, MaxReorgDepth: 3, PollInterval: 5 * time.Millisecond}, fc, watchSet{}, pub, db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	for {
		if tip, ok := f.Checkpoint(); ok && tip.Number == 10 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	fc.mu.Lock()
	fc.reorg(5)
	fc.mine(6, 0, nil)
	fc.mu.Unlock()
	err = <-done
	if !errors.Is(err, ErrReorgTooDeep) {
		t.Fatalf("Run = %v, want ErrReorgTooDeep", err)
	}
	for _, r := range pub.recs {
		if r.Type == events.TypeBlockDisconnected {
			t.Fatalf("a disconnection was published for a reorg beyond the limit: %s", r)
		}
	}
}
