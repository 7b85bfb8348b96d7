package follow

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/inflowhq/inflow/pkg/chain"
)

type metrics struct {
	head, checkpoint, lag, finalized, halted, subscribed prometheus.Gauge
	blocks, matched, checked, reorgs, errors, stalls     prometheus.Counter
	recordsLost                                          prometheus.Counter
	reorgDepth, fetchSeconds                             prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, id chain.ID) (*metrics, error) {
	l := prometheus.Labels{"chain": string(id)}
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "inflow_indexer_follow_" + name, Help: help, ConstLabels: l})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "inflow_indexer_follow_" + name, Help: help, ConstLabels: l})
	}
	m := &metrics{
		head:        g("head_block", "Newest block number the node reports."),
		checkpoint:  g("checkpoint_block", "Newest block published and acknowledged."),
		lag:         g("head_lag_blocks", "Blocks between the node's head and the checkpoint."),
		finalized:   g("finalized_block", "Newest block published as Finalized."),
		halted:      g("halted", "1 when the chain halted: a reorg deeper than allowed, or a source that cannot go on (a Solana node refusing a block for its transaction version)."),
		subscribed:  g("head_subscribed", "1 while a head subscription is live."),
		blocks:      c("blocks_total", "Blocks published as BlockConnected."),
		matched:     c("matched_transfers_total", "Matched transfers published."),
		checked:     c("checked_transfers_total", "Transfers whose recipient was looked up in the matcher."),
		reorgs:      c("reorgs_total", "Reorganisations handled."),
		errors:      c("errors_total", "Failed follow steps (retried)."),
		stalls:      c("stalls_total", "Times the head did not move within the stall timeout."),
		recordsLost: c("records_lost_total", "Times the chain topic was found to end below the checkpoint (records the brokers had acknowledged were lost) and the blocks after its end were published again."),
	}
	rd := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "inflow_indexer_follow_reorg_depth_blocks", Help: "Depth of handled reorgs.",
		ConstLabels: l, Buckets: []float64{1, 2, 3, 5, 10, 20, 50, 100}})
	fs := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "inflow_indexer_follow_fetch_seconds", Help: "Time to fetch one block with its receipts.",
		ConstLabels: l, Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	m.reorgDepth, m.fetchSeconds = rd, fs
	if reg != nil {
		for _, col := range []prometheus.Collector{m.head, m.checkpoint, m.lag, m.finalized, m.halted, m.subscribed,
			m.blocks, m.matched, m.checked, m.reorgs, m.errors, m.stalls, m.recordsLost, rd, fs} {
			if err := reg.Register(col); err != nil {
				return nil, fmt.Errorf("follow %s: register metrics: %w", id, err)
			}
		}
	}
	return m, nil
}
