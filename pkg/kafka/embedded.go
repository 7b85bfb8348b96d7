package kafka

import (
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is an in-process Kafka broker (franz-go's kfake) speaking the real
// Kafka wire protocol on loopback. With a data directory it keeps topics,
// records, producer ids and transactions across restarts.
type Embedded struct {
	c *kfake.Cluster
}

// EmbeddedOptions configures the embedded broker.
type EmbeddedOptions struct {
	// DataDir keeps the broker's state; empty means memory only.
	DataDir string
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// SyncWrites fsyncs every produced batch (slower, survives power loss).
	SyncWrites bool
}

// StartEmbedded starts a single-node broker on 127.0.0.1.
func StartEmbedded(o EmbeddedOptions) (*Embedded, error) {
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
	return &Embedded{c: c}, nil
}

// Addrs returns the broker's host:port.
func (e *Embedded) Addrs() []string { return e.c.ListenAddrs() }

// Port returns the broker's port.
func (e *Embedded) Port() int {
	_, p, _ := net.SplitHostPort(e.c.ListenAddrs()[0])
	n, _ := strconv.Atoi(p)
	return n
}

// Close stops the broker, flushing its data directory.
func (e *Embedded) Close() { e.c.Close() }
