package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tallyledger/tally/ledger"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Where the broker sinks publish.
const (
	NATSStream = "TALLY"
	KafkaTopic = "tally.events"
)

// NATSSubject is the subject an event is published on: tally.<book>.<type>.
func NATSSubject(e ledger.Event) string { return "tally." + e.Book + "." + string(e.Type) }

// NATS publishes every journal event to JetStream, stream TALLY (created
// if missing), with Nats-Msg-Id = the event id, so that JetStream's
// de-duplication window drops what a crash makes Tally send twice.
type NATS struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	ready   bool // the stream is known to exist
	metrics *Metrics
}

// OpenNATS connects to the NATS server at url. It does not wait for the
// server: until it is reachable, Send fails and the runner retries.
func OpenNATS(url string, metrics *Metrics) (*NATS, error) {
	nc, err := nats.Connect(url, nats.Name("tally"), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("TALLY_NATS_URL: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &NATS{nc: nc, js: js, metrics: metrics}, nil
}

// Name implements projections.Sink.
func (*NATS) Name() string { return "nats" }

// Close drains the connection.
func (n *NATS) Close() { n.nc.Close() }

// Send implements projections.Sink: it publishes the page in order and
// returns once JetStream has acknowledged every message.
func (n *NATS) Send(ctx context.Context, _ pgx.Tx, events []ledger.Event) error {
	if !n.ready {
		if err := n.ensureStream(ctx); err != nil {
			return err
		}
	}
	futures := make([]jetstream.PubAckFuture, 0, len(events))
	for _, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		msg := nats.NewMsg(NATSSubject(e))
		msg.Data = data
		msg.Header.Set(jetstream.MsgIDHeader, e.ID)
		f, err := n.js.PublishMsgAsync(msg)
		if err != nil {
			n.metrics.delivered("nats", OutcomeRetried, len(events))
			return fmt.Errorf("nats: publish %s: %w", e.ID, err)
		}
		futures = append(futures, f)
	}
	timeout := time.After(30 * time.Second)
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			n.metrics.delivered("nats", OutcomeRetried, len(events))
			return fmt.Errorf("nats: publish %s: %w", events[i].ID, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			n.metrics.delivered("nats", OutcomeRetried, len(events))
			return errors.New("nats: no acknowledgement within 30 s")
		}
	}
	n.metrics.delivered("nats", OutcomeSucceeded, len(events))
	return nil
}

func (n *NATS) ensureStream(ctx context.Context) error {
	_, err := n.js.Stream(ctx, NATSStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = n.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        NATSStream,
			Description: "Tally's journal: every event, subject tally.<book>.<type>",
			Subjects:    []string{"tally.>"},
			Duplicates:  2 * time.Minute,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another Tally process made it first
		}
	}
	if err != nil {
		return fmt.Errorf("nats: stream %s: %w", NATSStream, err)
	}
	n.ready = true
	return nil
}

// Kafka produces every journal event to topic tally.events, keyed by book
// (so each book stays in one partition, in order), with an idempotent
// producer; the event id travels in the Tally-Event-Id header for
// consumers to de-duplicate what a crash makes Tally send twice.
type Kafka struct {
	client  *kgo.Client
	metrics *Metrics
}

// OpenKafka makes a producer for the comma-separated seed brokers. Like
// OpenNATS, it does not wait for the cluster.
func OpenKafka(brokers string, metrics *Metrics) (*Kafka, error) {
	var seeds []string
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			seeds = append(seeds, b)
		}
	}
	if len(seeds) == 0 {
		return nil, errors.New("TALLY_KAFKA_BROKERS lists no broker")
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.DefaultProduceTopic(KafkaTopic),
		kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.AllISRAcks()), // what the idempotent producer needs
		kgo.ProducerLinger(0),
	)
	if err != nil {
		return nil, fmt.Errorf("TALLY_KAFKA_BROKERS: %w", err)
	}
	return &Kafka{client: cl, metrics: metrics}, nil
}

// Name implements projections.Sink.
func (*Kafka) Name() string { return "kafka" }

// Close flushes nothing (Send waits for every record) and closes the client.
func (k *Kafka) Close() { k.client.Close() }

// Send implements projections.Sink: it produces the page and returns once
// every record is acknowledged.
func (k *Kafka) Send(ctx context.Context, _ pgx.Tx, events []ledger.Event) error {
	records := make([]*kgo.Record, len(events))
	for i, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		records[i] = &kgo.Record{Key: []byte(e.Book), Value: data, Headers: []kgo.RecordHeader{
			{Key: HeaderEventID, Value: []byte(e.ID)},
			{Key: "Tally-Event-Type", Value: []byte(e.Type)},
		}}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := k.client.ProduceSync(ctx, records...).FirstErr(); err != nil {
		k.metrics.delivered("kafka", OutcomeRetried, len(events))
		return fmt.Errorf("kafka: %w", err)
	}
	k.metrics.delivered("kafka", OutcomeSucceeded, len(events))
	return nil
}
