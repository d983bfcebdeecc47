package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/projections/sinks"
)

// outbox is what sends the journal out: the sinks the projection runner
// tails (the webhook fan-out), the broker sinks (NATS and Kafka when
// configured) each tailed by a runner of its own, and the dispatcher that
// sends the queued webhook deliveries.
type outbox struct {
	sinks         []projections.Sink
	brokers       []projections.Sink
	runners       []*projections.Runner // one per broker
	subscriptions *sinks.Subscriptions
	dispatcher    *sinks.Dispatcher
	nats          *sinks.NATS
	kafka         *sinks.Kafka
}

func openOutbox(cfg Config, pool *pgxpool.Pool, reg prometheus.Registerer, log *slog.Logger) (*outbox, error) {
	rules := sinks.URLRules{AllowHTTP: cfg.LocalMode(), AllowPrivate: cfg.WebhookAllowPrivate}
	names := []string{sinks.WebhookSinkName}
	if cfg.NATSURL != "" {
		names = append(names, "nats")
	}
	if cfg.KafkaBrokers != "" {
		names = append(names, "kafka")
	}
	metrics := sinks.NewMetrics(reg, pool, names)
	dispatch := sinks.DispatcherOptions{Rules: rules, Metrics: metrics, Logger: log,
		Retention: cfg.WebhookRetention, FailedRetention: cfg.WebhookFailedRetention}
	o := &outbox{
		sinks:         []projections.Sink{sinks.WebhookSink{}},
		subscriptions: sinks.NewSubscriptions(pool, rules),
		dispatcher:    sinks.NewDispatcher(pool, dispatch),
	}
	var err error
	if cfg.NATSURL != "" {
		if o.nats, err = sinks.OpenNATS(cfg.NATSURL, metrics); err != nil {
			return nil, err
		}
		o.brokers = append(o.brokers, o.nats)
		log.Info("publishing the journal to NATS JetStream", "stream", sinks.NATSStream)
	}
	if cfg.KafkaBrokers != "" {
		if o.kafka, err = sinks.OpenKafka(cfg.KafkaBrokers, metrics); err != nil {
			o.close()
			return nil, err
		}
		o.brokers = append(o.brokers, o.kafka)
		log.Info("publishing the journal to Kafka", "topic", sinks.KafkaTopic)
	}
	if cfg.WebhookAllowPrivate && !cfg.LocalMode() {
		log.Warn("TALLY_WEBHOOK_ALLOW_PRIVATE=true: webhook subscriptions may reach private and loopback addresses")
	}
	return o, nil
}

// start starts a runner for each broker sink, and the dispatcher. A broker
// has a runner of its own so that its outage (each attempt waits up to 30 s
// for acknowledgements) holds back neither the other sinks nor the async
// projections.
func (o *outbox) start(set *projections.Set, opt projections.RunnerOptions) {
	for _, b := range o.brokers {
		opt.Sinks, opt.SinksOnly = []projections.Sink{b}, true
		r := set.Runner(opt)
		r.Start(context.Background())
		o.runners = append(o.runners, r)
	}
	o.dispatcher.Start(context.Background())
}

// notify tells the broker runners that book was appended to.
func (o *outbox) notify(book string) {
	for _, r := range o.runners {
		r.Notify(book)
	}
}

// close stops the broker runners and the dispatcher and closes the broker
// clients; the main runner, which calls the webhook sink, must be stopped
// first.
func (o *outbox) close() {
	for _, r := range o.runners {
		r.Stop()
	}
	o.dispatcher.Stop()
	if o.nats != nil {
		o.nats.Close()
	}
	if o.kafka != nil {
		o.kafka.Close()
	}
}
