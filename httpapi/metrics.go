package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// Metrics are Tally's Prometheus metrics, served at /metrics. Each Metrics
// has its own registry, so several servers (tests) can live in one process.
// Other parts of Tally report through its methods: the journal through
// BatchCommitted (it is a pgjournal.Observer), webhooks through WebhookEvent,
// async projections through SetProjectionLag.
type Metrics struct {
	registry   *prometheus.Registry
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	batchSize  *prometheus.HistogramVec
	commitTime *prometheus.HistogramVec
	webhooks   *prometheus.CounterVec
	lag        *prometheus.GaugeVec
}

// NewMetrics registers Tally's metrics, the Go runtime's and the process's,
// and, when pool is not nil, the connection pool's (read at each scrape).
func NewMetrics(pool func() pgjournal.PoolStats) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tally_sequencer_batch_size",
			Help:    "Commands answered by one append transaction (group commit), by book.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 … 512
		}, []string{"book"}),
		commitTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tally_sequencer_commit_seconds",
			Help:    "Duration of one append transaction, from BEGIN to the acknowledged COMMIT, by book.",
			Buckets: prometheus.ExponentialBuckets(.0005, 2, 14), // 0.5 ms … 4 s
		}, []string{"book"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tally_webhook_events_total",
			Help: "Gateway webhooks received, by gateway and outcome.",
		}, []string{"gateway", "outcome"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tally_projection_lag_events",
			Help: "Journal events an async projection has not applied yet, by projection.",
		}, []string{"projection"}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.batchSize, m.commitTime, m.webhooks, m.lag,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if pool != nil {
		m.registry.MustRegister(poolCollector(pool))
	}
	return m
}

// Registerer lets other packages add their own metrics to /metrics.
func (m *Metrics) Registerer() prometheus.Registerer { return m.registry }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// BatchCommitted implements pgjournal.Observer.
func (m *Metrics) BatchCommitted(book string, commands int, elapsed time.Duration) {
	m.batchSize.WithLabelValues(book).Observe(float64(commands))
	m.commitTime.WithLabelValues(book).Observe(elapsed.Seconds())
}

// Webhook outcomes, the values of tally_webhook_events_total's outcome label.
const (
	WebhookCredited         = "credited"          // a deposit was credited
	WebhookDuplicate        = "duplicate"         // already applied; answered 200, nothing appended
	WebhookFailed           = "failed"            // a failure or expiry event was recorded
	WebhookFlagged          = "flagged"           // amount or currency did not match: deposit flagged
	WebhookUnmatched        = "unmatched"         // recorded as gateway.unmatched
	WebhookInvalidSignature = "invalid_signature" // refused with 401, nothing appended
	WebhookError            = "error"             // could not be processed (5xx); the gateway retries
	WebhookIgnored          = "ignored"           // verified, but of an event type Tally does not consume
	WebhookRefund           = "refund"            // a refund was settled, failed or recorded
)

// WebhookEvent counts one webhook from gateway with its outcome (one of the
// Webhook… constants).
func (m *Metrics) WebhookEvent(gateway, outcome string) {
	m.webhooks.WithLabelValues(gateway, outcome).Inc()
}

// SetProjectionLag records how many journal events the async projection is
// behind the head of the journal.
func (m *Metrics) SetProjectionLag(projection string, events int64) {
	m.lag.WithLabelValues(projection).Set(float64(events))
}

func (m *Metrics) observeHTTP(route, method string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
}

// poolStatsCollector reports pgxpool statistics, read when Prometheus scrapes.
type poolStatsCollector struct {
	stats func() pgjournal.PoolStats
	descs []*prometheus.Desc
}

var poolMetrics = []struct {
	name, help string
	counter    bool
	value      func(pgjournal.PoolStats) float64
}{
	{"tally_db_pool_max_conns", "Most connections the pool may open.", false, func(s pgjournal.PoolStats) float64 { return float64(s.MaxConns) }},
	{"tally_db_pool_total_conns", "Connections open now.", false, func(s pgjournal.PoolStats) float64 { return float64(s.TotalConns) }},
	{"tally_db_pool_acquired_conns", "Connections in use now.", false, func(s pgjournal.PoolStats) float64 { return float64(s.AcquiredConns) }},
	{"tally_db_pool_idle_conns", "Idle connections now.", false, func(s pgjournal.PoolStats) float64 { return float64(s.IdleConns) }},
	{"tally_db_pool_constructing_conns", "Connections being opened now.", false, func(s pgjournal.PoolStats) float64 { return float64(s.ConstructingConns) }},
	{"tally_db_pool_acquires_total", "Connections acquired from the pool.", true, func(s pgjournal.PoolStats) float64 { return float64(s.AcquireCount) }},
	{"tally_db_pool_empty_acquires_total", "Acquisitions that had to wait because no connection was idle.", true, func(s pgjournal.PoolStats) float64 { return float64(s.EmptyAcquireCount) }},
	{"tally_db_pool_canceled_acquires_total", "Acquisitions abandoned because their context ended.", true, func(s pgjournal.PoolStats) float64 { return float64(s.CanceledAcquireCount) }},
	{"tally_db_pool_new_conns_total", "Connections opened.", true, func(s pgjournal.PoolStats) float64 { return float64(s.NewConnsCount) }},
	{"tally_db_pool_acquire_seconds_total", "Time spent acquiring connections.", true, func(s pgjournal.PoolStats) float64 { return s.AcquireDuration.Seconds() }},
}

func poolCollector(stats func() pgjournal.PoolStats) prometheus.Collector {
	c := &poolStatsCollector{stats: stats}
	for _, pm := range poolMetrics {
		c.descs = append(c.descs, prometheus.NewDesc(pm.name, pm.help, nil, nil))
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *poolStatsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *poolStatsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for i, pm := range poolMetrics {
		kind := prometheus.GaugeValue
		if pm.counter {
			kind = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(c.descs[i], kind, pm.value(s))
	}
}
