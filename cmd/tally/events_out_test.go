package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tallyledger/tally/projections/sinks"
	"github.com/tallyledger/tally/schema/pglocal"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startNATS runs a real NATS server with JetStream in this process.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// startKafka runs franz-go's in-process Kafka cluster with the topic.
func startKafka(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, sinks.KafkaTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// hookReceiver is a client app's webhook endpoint, a little slow, so that
// a kill lands while deliveries are in flight.
type hookReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	ids []string // event ids acknowledged, in arrival order
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.handle))
	t.Cleanup(r.srv.Close)
	return r
}

// newTLSHookReceiver is a hookReceiver on HTTPS, which webhooks need
// outside local mode, and the file of its certificate, for SSL_CERT_FILE.
func newTLSHookReceiver(t *testing.T) (*hookReceiver, string) {
	r := &hookReceiver{}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(r.handle))
	t.Cleanup(r.srv.Close)
	ca := filepath.Join(t.TempDir(), "receiver.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return r, ca
}

func (r *hookReceiver) handle(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	time.Sleep(3 * time.Millisecond)
	r.mu.Lock()
	r.ids = append(r.ids, req.Header.Get(sinks.HeaderEventID))
	r.mu.Unlock()
}

func (r *hookReceiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

// journalIDs returns a book's event ids in position order, from GET /v1/events.
func journalIDs(t *testing.T, client *http.Client, base, book string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for {
		r := call(client, base, "GET", "/v1/events?limit=500&book="+book+cursor, nil)
		var page struct {
			Data       []struct{ ID string }
			NextCursor *string `json:"next_cursor"`
		}
		if r.status != 200 || json.Unmarshal(r.body, &page) != nil {
			t.Fatalf("events: %d %s", r.status, r.body)
		}
		for _, e := range page.Data {
			ids = append(ids, e.ID)
		}
		if page.NextCursor == nil {
			return ids
		}
		cursor = "&cursor=" + *page.NextCursor
	}
}

// checkStream checks what a consumer saw (event ids with their book, in
// arrival order) against the journal: every event present, and the first
// arrival of each id in position order within its book. It returns how many
// arrivals were duplicates.
func checkStream(t *testing.T, name string, got [][2]string, journal map[string][]string) int {
	t.Helper()
	seen := map[string]bool{}
	firsts := map[string][]string{}
	dups := 0
	for _, g := range got {
		book, id := g[0], g[1]
		if seen[id] {
			dups++
			continue
		}
		seen[id] = true
		firsts[book] = append(firsts[book], id)
	}
	for book, ids := range journal {
		if !slices.Equal(firsts[book], ids) {
			t.Errorf("%s, book %s: got %d distinct events (first arrivals) %v,\nwant the journal's %d in position order %v", name, book, len(firsts[book]), firsts[book], len(ids), ids)
		}
	}
	return dups
}

// appendLoad opens wallets in two books, funds them and moves money: about
// 10 events per wallet pair.
func appendLoad(t *testing.T, client *http.Client, base, tag string, wallets int) {
	t.Helper()
	for _, book := range []string{"main", "other"} {
		var ids []string
		for i := range wallets {
			r := call(client, base, "POST", "/v1/accounts", []byte(fmt.Sprintf(`{"owner":"%s-%d","currency":"NGN","book":%q}`, tag, i, book)))
			var a struct{ ID string }
			if r.status != 201 || json.Unmarshal(r.body, &a) != nil {
				t.Fatalf("open: %d %s", r.status, r.body)
			}
			ids = append(ids, a.ID)
			r = call(client, base, "POST", "/v1/adjustments", []byte(fmt.Sprintf(`{"account":%q,"direction":"credit","amount":"100.00","currency":"NGN","reason":"float"}`, a.ID)),
				"Idempotency-Key", "fund-"+a.ID)
			if r.status != 201 {
				t.Fatalf("fund: %d %s", r.status, r.body)
			}
		}
		for i := range 4 * wallets {
			r := call(client, base, "POST", "/v1/transfers", []byte(fmt.Sprintf(`{"from":%q,"to":%q,"amount":"1.00","currency":"NGN"}`, ids[i%wallets], ids[(i+1)%wallets])),
				"Idempotency-Key", fmt.Sprintf("%s-%s-%d", tag, book, i))
			if r.status != 201 {
				t.Fatalf("transfer: %d %s", r.status, r.body)
			}
		}
	}
}

// waitFor polls cond until it holds, for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEventsOutSurviveKill sends the journal out three ways at once (a
// webhook subscription, NATS JetStream, Kafka) from a real `tally serve`,
// SIGKILLs it while deliveries are in flight, restarts it, appends more,
// and checks that every way out got every event, the first arrival of each
// in position order per book; NATS holds each exactly once (JetStream
// de-duplicates on Nats-Msg-Id).
func TestEventsOutSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and kills the tally binary; skipped with -short")
	}
	natsURL, brokers := startNATS(t), startKafka(t)
	rcv := newHookReceiver(t)
	p := newTallyProcess(t, "TALLY_NATS_URL="+natsURL, "TALLY_KAFKA_BROKERS="+strings.Join(brokers, ","))
	p.start()
	client := &http.Client{Timeout: 30 * time.Second}
	if r := call(client, p.base, "POST", "/v1/subscriptions", []byte(fmt.Sprintf(`{"url":%q,"events":["*"]}`, rcv.srv.URL+"/hook"))); r.status != 201 {
		t.Fatalf("subscribe: %d %s", r.status, r.body)
	}
	// 2 books × (10 opened + 10 funded + 40 transfers) = 120 events, plus the
	// book "other" being created with its first account.
	appendLoad(t, client, p.base, "a", 10)
	waitFor(t, "the first deliveries", func() bool { return len(rcv.received()) >= 40 })
	before := len(rcv.received())
	p.kill(false)
	t.Logf("killed after %d webhook deliveries", before)
	p.start()
	appendLoad(t, client, p.base, "b", 8)

	journal := map[string][]string{"main": journalIDs(t, client, p.base, "main"), "other": journalIDs(t, client, p.base, "other")}
	total := len(journal["main"]) + len(journal["other"])
	if total < 200 {
		t.Fatalf("only %d events: the load is too small to prove much", total)
	}
	bookOf := map[string]string{}
	for book, ids := range journal {
		for _, id := range ids {
			bookOf[id] = book
		}
	}
	distinct := func(ids []string) int {
		m := map[string]bool{}
		for _, id := range ids {
			m[id] = true
		}
		return len(m)
	}

	t.Run("webhooks: every event delivered, in order per book, across the kill", func(t *testing.T) {
		waitFor(t, "every webhook delivery", func() bool { return distinct(rcv.received()) >= total })
		var got [][2]string
		for _, id := range rcv.received() {
			got = append(got, [2]string{bookOf[id], id})
		}
		dups := checkStream(t, "webhooks", got, journal)
		t.Logf("webhooks: %d deliveries for %d events (%d re-sent after the kill)", len(got), total, dups)
	})

	t.Run("NATS: every event once, in order per book, across the kill", func(t *testing.T) {
		nc, err := nats.Connect(natsURL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx := context.Background()
		var stream jetstream.Stream
		waitFor(t, "every event in the TALLY stream", func() bool {
			if stream, err = js.Stream(ctx, sinks.NATSStream); err != nil {
				return false
			}
			info, err := stream.Info(ctx)
			return err == nil && info.State.Msgs >= uint64(total)
		})
		info, _ := stream.Info(ctx)
		var got [][2]string
		subject := regexp.MustCompile(`^tally\.([a-z0-9_-]+)\.[a-z_.]+$`)
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			m, err := stream.GetMsg(ctx, seq)
			if err != nil {
				t.Fatal(err)
			}
			id := m.Header.Get(jetstream.MsgIDHeader)
			sm := subject.FindStringSubmatch(m.Subject)
			var e struct{ ID, Book, Type string }
			if sm == nil || json.Unmarshal(m.Data, &e) != nil || e.ID != id || sm[1] != e.Book || m.Subject != "tally."+e.Book+"."+e.Type {
				t.Fatalf("message %d: subject %q, Nats-Msg-Id %q, body %s", seq, m.Subject, id, m.Data)
			}
			got = append(got, [2]string{e.Book, id})
		}
		if dups := checkStream(t, "NATS", got, journal); dups != 0 || len(got) != total {
			t.Fatalf("the stream holds %d messages for %d events (%d duplicates)", len(got), total, dups)
		}
	})

	t.Run("Kafka: every event, in order per book, keyed by book, across the kill", func(t *testing.T) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(sinks.KafkaTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var got [][2]string
		seen := map[string]bool{}
		deadline := time.Now().Add(60 * time.Second)
		for len(seen) < total && time.Now().Before(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			fetches := cl.PollFetches(ctx)
			cancel()
			fetches.EachRecord(func(r *kgo.Record) {
				var e struct{ ID, Book string }
				_ = json.Unmarshal(r.Value, &e)
				var header string
				for _, h := range r.Headers {
					if h.Key == sinks.HeaderEventID {
						header = string(h.Value)
					}
				}
				if string(r.Key) != e.Book || header != e.ID {
					t.Errorf("record key %q, Tally-Event-Id %q for event %s of book %s", r.Key, header, e.ID, e.Book)
				}
				got = append(got, [2]string{e.Book, e.ID})
				seen[e.ID] = true
			})
		}
		dups := checkStream(t, "Kafka", got, journal)
		t.Logf("Kafka: %d records for %d events (%d duplicates after the kill, which consumers drop by event id)", len(got), total, dups)
	})

	t.Run("metrics: every sink reports its lag, caught up", func(t *testing.T) {
		waitFor(t, "lag 0 on /metrics", func() bool {
			r := call(client, p.base, "GET", "/metrics", nil)
			body := string(r.body)
			for _, s := range []string{"webhooks", "nats", "kafka"} {
				if !strings.Contains(body, `tally_sink_lag_positions{sink="`+s+`"} 0`) {
					return false
				}
			}
			return strings.Contains(body, `tally_sink_deliveries_total{outcome="succeeded",sink="webhooks"}`) &&
				strings.Contains(body, `tally_sink_oldest_undelivered_seconds{sink="nats"} 0`)
		})
	})
}

// TestTwoTallyProcessesDoNotBothDeliver runs two `tally serve` on one
// database, both appending; each subscription's deliveries come from one of
// them only, so no event arrives twice (nothing is killed here, so at least
// once is exactly once).
func TestTwoTallyProcessesDoNotBothDeliver(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the tally binary twice; skipped with -short")
	}
	a := newTallyProcess(t)
	a.start()
	b := newTallyProcess(t, "TALLY_DATABASE_URL="+a.databaseURL(), "TALLY_WEBHOOK_ALLOW_PRIVATE=true", "TALLY_SANDBOX=false")
	b.start()
	client := &http.Client{Timeout: 30 * time.Second}
	receivers := []*hookReceiver{newHookReceiver(t), newHookReceiver(t), newHookReceiver(t)}
	for i, r := range receivers {
		// http is refused outside local mode: subscribe through a, which runs it.
		if r := call(client, a.base, "POST", "/v1/subscriptions", []byte(fmt.Sprintf(`{"url":%q,"events":["*"],"description":"%d"}`, r.srv.URL, i))); r.status != 201 {
			t.Fatalf("subscribe: %d %s", r.status, r.body)
		}
	}
	appendLoad(t, client, a.base, "a", 4)
	appendLoad(t, client, b.base, "b", 4)
	journal := map[string][]string{"main": journalIDs(t, client, a.base, "main"), "other": journalIDs(t, client, a.base, "other")}
	total := len(journal["main"]) + len(journal["other"])
	for i, r := range receivers {
		waitFor(t, "every delivery", func() bool { return len(r.received()) >= total })
		time.Sleep(300 * time.Millisecond) // a second sender would show now
		if got := r.received(); len(got) != total {
			t.Fatalf("subscription %d: %d deliveries for %d events: both processes delivered", i, len(got), total)
		}
	}
}

// databaseURL is the running local cluster's URL, for a second process.
func (p *tallyProcess) databaseURL() string {
	p.t.Helper()
	port := p.postmasterLine(4)
	if port == "" {
		p.t.Fatal("no postmaster.pid: PostgreSQL is not running")
	}
	return fmt.Sprintf("postgres://%s@127.0.0.1:%s/%s?sslmode=disable", pglocal.Superuser, port, pglocal.Database)
}
