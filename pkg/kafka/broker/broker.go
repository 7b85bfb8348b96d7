// Package broker is Inflow's embedded Kafka broker: franz-go's kfake in
// process, speaking the real Kafka wire protocol on loopback. It lives
// apart from pkg/kafka's clients so that what only talks to Kafka (apid
// through the history store, the daemons in distributed mode) does not link
// a broker.
package broker

import (
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is an in-process Kafka broker (franz-go's kfake) speaking the real
// Kafka wire protocol on loopback. With a data directory it keeps topics,
// records, producer ids and transactions across restarts.
type Broker struct {
	c *kfake.Cluster
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

// Start starts a single-node broker on 127.0.0.1.
func Start(o Options) (*Broker, error) {
	port := o.Port
	if port == 0 {
		// kfake needs a concrete port to advertise; pick a free one.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("embedded kafka: %w", err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ClusterID("inflow-embedded"),
		kfake.DefaultNumPartitions(1),
	}
	if o.DataDir != "" {
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	if o.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka on port %d: %w", port, err)
	}
	return &Broker{c: c}, nil
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
