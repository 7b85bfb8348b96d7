package ledger

import (
	"encoding/binary"

	"github.com/prometheus/client_golang/prometheus"
)

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

type metrics struct {
	applySeconds                                          prometheus.Observer
	records, deposits, orphaned, disconnects, unsupported prometheus.Counter
	halted                                                *prometheus.GaugeVec
	rescanned                                             *prometheus.CounterVec
	openInMemory                                          *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "inflow_ledgerd_ledger_apply_seconds",
		Help: "Time to prepare one consumed batch and hand it to Pebble, including the wait for the batch before it to be durable (its own commit overlaps the next batch).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "inflow_ledgerd_ledger_" + name, Help: help})
	}
	m := &metrics{
		applySeconds: h,
		records:      c("records_total", "Chain records applied or held."),
		deposits:     c("deposits_total", "Deposits recorded."),
		orphaned:     c("orphaned_total", "Deposits orphaned by reorgs."),
		disconnects:  c("disconnects_total", "Blocks disconnected."),
		unsupported:  c("unsupported_transfers_total", "Matched transfers of assets Inflow does not credit."),
		halted: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "inflow_ledgerd_ledger_chain_halted",
			Help: "1 when a chain is halted (reorg too deep or inconsistent stream)."}, []string{"chain"}),
		openInMemory: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "inflow_ledgerd_ledger_open_deposits_in_memory",
			Help: "Open (pending or confirmed) deposits the ledger keeps in memory per chain; past the bound (max_open_deposits) the oldest confirmed blocks stay in Pebble alone."}, []string{"chain"}),
		rescanned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inflow_ledgerd_ledger_rescanned_transfers_total",
			Help: "Transfers of BlockRescanned records (an operator's rescan): credited (new deposits), duplicate (credited before) or dropped (the block is not the ledger's canonical one)."}, []string{"chain", "result"}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{h, m.records, m.deposits, m.orphaned, m.disconnects, m.unsupported, m.halted, m.rescanned, m.openInMemory} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
