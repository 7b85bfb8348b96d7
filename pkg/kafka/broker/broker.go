// Package broker is Inflow's embedded Kafka broker: franz-go's kfake in
// process, speaking the real Kafka wire protocol on loopback. It lives
// apart from pkg/kafka's clients so that what only talks to Kafka (apid
// through the history store, the daemons in distributed mode) does not link
// a broker.
package broker

import (
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is an in-process Kafka broker (franz-go's kfake) speaking the real
// Kafka wire protocol on loopback. With a data directory it keeps topics,
// records, producer ids and transactions across restarts.
type Broker struct {
	c   *kfake.Cluster
	rec Recovery
}

// Options configures the broker.
type Options struct {
	// DataDir keeps the broker's state; empty means memory only.
	DataDir string
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// SyncWrites fsyncs every produced batch (slower, survives power loss).
	SyncWrites bool
}

// Start starts a single-node broker on 127.0.0.1. With a data directory a
// crash left behind, it first mends what kfake's own recovery gets wrong
// (recover.go): a partition index out of step with its batches, and
// transactions the crash left open, which are aborted for good.
func Start(o Options) (*Broker, error) {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("inflow-embedded"),
		kfake.DefaultNumPartitions(1),
	}
	if o.DataDir != "" {
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	if o.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	// Each start below appends its own port: no append may write into
	// another's array.
	opts = slices.Clip(opts)
	var rec Recovery
	if o.DataDir != "" {
		open, repaired, err := recoverDir(o.DataDir)
		if err != nil {
			return nil, fmt.Errorf("embedded kafka: recovering %s: %w", o.DataDir, err)
		}
		rec.IndexesRepaired = repaired
		if len(open) > 0 {
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			if err := abortOpen(append(opts, kfake.Ports(port)), open); err != nil {
				return nil, fmt.Errorf("embedded kafka: aborting the transactions a crash left open: %w", err)
			}
			for _, t := range open {
				rec.Aborted = append(rec.Aborted, t.String())
			}
		}
	}
	port := o.Port
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	c, err := kfake.NewCluster(append(opts, kfake.Ports(port))...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka on port %d: %w", port, err)
	}
	return &Broker{c: c, rec: rec}, nil
}

// Recovery is what Start mended in a data directory a crash left behind.
type Recovery struct {
	// IndexesRepaired counts segment indexes rewritten from their batches.
	IndexesRepaired int
	// Aborted names the transactions (topic/partition producer id) the
	// crash left open, now ended by an ABORT marker.
	Aborted []string
}

// Mended reports whether Start mended anything.
func (r Recovery) Mended() bool { return r.IndexesRepaired > 0 || len(r.Aborted) > 0 }

// Recovered reports what Start mended; the zero Recovery after a clean stop.
func (e *Broker) Recovered() Recovery { return e.rec }

// freePort picks a free loopback port: kfake needs a concrete one to
// advertise.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("embedded kafka: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Addrs returns the broker's host:port.
func (e *Broker) Addrs() []string { return e.c.ListenAddrs() }

// Port returns the broker's port.
func (e *Broker) Port() int {
	_, p, _ := net.SplitHostPort(e.c.ListenAddrs()[0])
	n, _ := strconv.Atoi(p)
	return n
}

// Close stops the broker, flushing its data directory.
func (e *Broker) Close() { e.c.Close() }
