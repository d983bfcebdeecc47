package httpapi

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// WatchReplica exports the read replica's state, measured at each scrape:
// tally_replica_up, tally_replica_lag_bytes and tally_replica_lag_seconds,
// and the reads it and the primary answered.
func (m *Metrics) WatchReplica(store *pgjournal.Store) {
	m.registry.MustRegister(&replicaCollector{store: store,
		up:      prometheus.NewDesc("tally_replica_up", "Whether the read replica answered the last scrape (1) or not (0).", nil, nil),
		bytes:   prometheus.NewDesc("tally_replica_lag_bytes", "WAL the primary has written and the read replica has not replayed yet.", nil, nil),
		seconds: prometheus.NewDesc("tally_replica_lag_seconds", "Age of the read replica's last replayed transaction while it has WAL left to replay (0 when caught up).", nil, nil),
		reads:   prometheus.NewDesc("tally_replica_reads_total", "Reads that could go to the replica, by where they went (replica, or primary: position not replayed in time, or replica down).", []string{"served_by"}, nil),
	})
}

type replicaCollector struct {
	store                     *pgjournal.Store
	up, bytes, seconds, reads *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.bytes
	ch <- c.seconds
	ch <- c.reads
}

// Collect implements prometheus.Collector.
func (c *replicaCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.store.ReplicaStatus(ctx)
	up := 0.0
	if err == nil && st.Up {
		up = 1
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(st.LagBytes))
		ch <- prometheus.MustNewConstMetric(c.seconds, prometheus.GaugeValue, st.LagSeconds)
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
	replica, primary := c.store.ReplicaReads()
	ch <- prometheus.MustNewConstMetric(c.reads, prometheus.CounterValue, float64(replica), "replica")
	ch <- prometheus.MustNewConstMetric(c.reads, prometheus.CounterValue, float64(primary), "primary")
}
