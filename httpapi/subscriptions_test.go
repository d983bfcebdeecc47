package httpapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/projections/sinks"
	"github.com/tallyledger/tally/schema/testdb"
)

// The events-out tests run the real chain: API appends → the projection
// runner's webhook sink queues deliveries in PostgreSQL → a dispatcher
// POSTs them to a receiver (httptest) with a clock the test moves.

// fakeClock is the dispatcher's clock; Advance jumps it forward.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// receiver is a client app's webhook endpoint. answer decides each
// response's status from the delivery (default 200).
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	got    []hookCall
	answer func(r hookCall, attempt int) int
	tries  map[string]int // attempts per event id
}

type hookCall struct {
	body   []byte
	header http.Header
	status int
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{t: t, tries: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		rec := hookCall{body: body, header: req.Header.Clone(), status: 200}
		r.mu.Lock()
		id := req.Header.Get(sinks.HeaderEventID)
		r.tries[id]++
		if r.answer != nil {
			rec.status = r.answer(rec, r.tries[id])
		}
		r.got = append(r.got, rec)
		r.mu.Unlock()
		w.WriteHeader(rec.status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setAnswer(f func(hookCall, int) int) { r.mu.Lock(); r.answer = f; r.mu.Unlock() }

// delivered returns the event ids answered 2xx, in the order they came.
func (r *receiver) delivered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, g := range r.got {
		if g.status/100 == 2 {
			ids = append(ids, g.header.Get(sinks.HeaderEventID))
		}
	}
	return ids
}

func (r *receiver) all() []hookCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitDelivered waits until the receiver has acknowledged n deliveries.
func (r *receiver) waitDelivered(n int) []string {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ids := r.delivered()
		if len(ids) >= n {
			return ids
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the receiver got %d deliveries, want %d", len(ids), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventsHarness is a harness with subscriptions, a running webhook sink and
// a dispatcher on a fake clock; private addresses are allowed (the
// receiver is on 127.0.0.1).
type eventsHarness struct {
	*harness
	clock *fakeClock
}

func newEventsHarness(t *testing.T) *eventsHarness {
	t.Helper()
	rules := sinks.URLRules{AllowHTTP: true, AllowPrivate: true}
	h := newHarness(t)
	clock := &fakeClock{now: time.Now()}
	startOutbox(t, h, rules, clock)
	return &eventsHarness{harness: h, clock: clock}
}

// startOutbox runs a projection runner with the webhook sink and a
// dispatcher, as one Tally process does.
// withSubscriptions gives a harness on the database at url the subscription routes.
func withSubscriptions(t testing.TB, url string, rules sinks.URLRules) func(*Config) {
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return func(c *Config) { c.Subscriptions = sinks.NewSubscriptions(pool, rules) }
}

func startOutbox(t *testing.T, h *harness, rules sinks.URLRules, clock *fakeClock) *sinks.Dispatcher {
	runner := h.set.Runner(projections.RunnerOptions{Poll: 10 * time.Millisecond, Sinks: []projections.Sink{sinks.WebhookSink{}}, Logger: testLogger(t)})
	runner.Start(context.Background())
	d := sinks.NewDispatcher(h.pool, sinks.DispatcherOptions{
		Rules: rules, Now: clock.Now, Poll: 10 * time.Millisecond, Rescan: 30 * time.Millisecond, Logger: testLogger(t),
	})
	d.Start(context.Background())
	t.Cleanup(func() { d.Stop(); runner.Stop() })
	return d
}

func (h *eventsHarness) subscribe(body map[string]any) (id, secret string) {
	h.t.Helper()
	r := h.must(h.do("POST", "/v1/subscriptions", body), 201)
	return r.str(h.t, "id"), r.str(h.t, "secret")
}

func (h *eventsHarness) transfer(from, to, amount string) {
	h.t.Helper()
	h.must(h.do("POST", "/v1/transfers", map[string]any{"from": from, "to": to, "amount": amount, "currency": "NGN"},
		"Idempotency-Key", ledger.NewID("t")), 201)
}

// journal returns GET /v1/events of a book as raw JSON objects, by event id.
func (h *eventsHarness) journal(book string) (ids []string, raw map[string]json.RawMessage, types map[string]string) {
	h.t.Helper()
	raw, types = map[string]json.RawMessage{}, map[string]string{}
	var page struct{ Data []json.RawMessage }
	if err := json.Unmarshal(h.must(h.do("GET", "/v1/events?limit=500&book="+book, nil), 200).body, &page); err != nil {
		h.t.Fatal(err)
	}
	for _, e := range page.Data {
		var head struct{ ID, Type string }
		_ = json.Unmarshal(e, &head)
		ids = append(ids, head.ID)
		raw[head.ID], types[head.ID] = e, head.Type
	}
	return ids, raw, types
}

func TestWebhookDeliversSignedEventsExactlyAsTheJournalRendersThem(t *testing.T) {
	h := newEventsHarness(t)
	rcv := newReceiver(t)
	id, secret := h.subscribe(map[string]any{"url": rcv.srv.URL + "/hooks", "events": []string{"*"}, "description": "all"})
	if !strings.HasPrefix(secret, "whsec_") || !strings.HasPrefix(id, "sub_") {
		t.Fatalf("id %q, secret %q", id, secret)
	}
	got := h.must(h.do("GET", "/v1/subscriptions/"+id, nil), 200)
	if bytes.Contains(got.body, []byte(secret)) || got.json(t)["secret"] != nil {
		t.Fatalf("GET shows the secret again: %s", got.body)
	}
	a, b := h.open("alice", "NGN"), h.open("bob", "NGN")
	h.fund(a, "100.00", "NGN")
	h.transfer(a, b, "12.50")
	want, raw, _ := h.journal("main")
	got2 := rcv.waitDelivered(len(want))
	if !slices.Equal(got2, want) {
		t.Fatalf("delivered %v, want the journal's order %v", got2, want)
	}
	// The dispatcher records successes just after the receiver answers them.
	deliveries := map[string]bool{}
	for deadline := time.Now().Add(10 * time.Second); len(deliveries) < len(want) && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var page struct {
			Data []struct{ ID, EventID, Status string } `json:"data"`
		}
		_ = json.Unmarshal(h.must(h.do("GET", "/v1/subscriptions/"+id+"/deliveries?status=succeeded", nil), 200).body, &page)
		clear(deliveries)
		for _, d := range page.Data {
			deliveries[d.ID] = true
		}
	}
	for _, r := range rcv.all() {
		eventID := r.header.Get(sinks.HeaderEventID)
		t.Run("body is the event as GET /v1/events renders it: "+eventID, func(t *testing.T) {
			if !bytes.Equal(r.body, raw[eventID]) {
				t.Fatalf("body\n%s\nwant\n%s", r.body, raw[eventID])
			}
		})
		t.Run("signature verifies with the secret alone: "+eventID, func(t *testing.T) {
			// What a client app does, with nothing but the secret and crypto/hmac.
			var ts, v1 string
			for _, part := range strings.Split(r.header.Get(sinks.HeaderSignature), ",") {
				k, v, _ := strings.Cut(part, "=")
				if k == "t" {
					ts = v
				} else if k == "v1" {
					v1 = v
				}
			}
			m := hmac.New(sha256.New, []byte(secret))
			m.Write([]byte(ts + "." + string(r.body)))
			if hex.EncodeToString(m.Sum(nil)) != v1 || ts == "" {
				t.Fatalf("Tally-Signature %q does not verify", r.header.Get(sinks.HeaderSignature))
			}
			if err := sinks.Verify(secret, r.header.Get(sinks.HeaderSignature), r.body, h.clock.Now(), 5*time.Minute); err != nil {
				t.Fatal(err)
			}
			if sinks.Verify("whsec_other", r.header.Get(sinks.HeaderSignature), r.body, h.clock.Now(), 5*time.Minute) == nil {
				t.Fatal("another secret verifies the signature")
			}
			if sinks.Verify(secret, r.header.Get(sinks.HeaderSignature), append(slices.Clone(r.body), ' '), h.clock.Now(), 5*time.Minute) == nil {
				t.Fatal("a changed body verifies")
			}
		})
		t.Run("Tally-Delivery-Id names the delivery the API lists: "+eventID, func(t *testing.T) {
			if !deliveries[r.header.Get(sinks.HeaderDeliveryID)] {
				t.Fatalf("Tally-Delivery-Id %q is not among the subscription's succeeded deliveries", r.header.Get(sinks.HeaderDeliveryID))
			}
		})
	}
}

func TestWebhookFiltersByTypeBookAndOwner(t *testing.T) {
	h := newEventsHarness(t)
	// Activity before the subscriptions: not sent (they receive what is recorded after them).
	early := h.open("alice", "NGN")
	type sub struct {
		name string
		body map[string]any
		// wants decides from an event of GET /v1/events whether the subscription receives it.
		wants func(book, typ string, accounts []string) bool
	}
	var alice, bob string
	other := h.must(h.do("POST", "/v1/accounts", map[string]any{"owner": "carol", "currency": "NGN", "book": "other"}), 201).str(t, "id")
	subs := []sub{
		{"an exact type receives only that type", map[string]any{"events": []string{"transfer.completed"}},
			func(_, typ string, _ []string) bool { return typ == "transfer.completed" }},
		{"prefix.* receives the types under the prefix", map[string]any{"events": []string{"account.*"}},
			func(_, typ string, _ []string) bool { return strings.HasPrefix(typ, "account.") }},
		{"* receives every event of every book", map[string]any{"events": []string{"*"}},
			func(string, string, []string) bool { return true }},
		{"a book receives only that book", map[string]any{"events": []string{"*"}, "book": "other"},
			func(book, _ string, _ []string) bool { return book == "other" }},
		{"an owner receives only events that concern the owner's accounts", map[string]any{"events": []string{"*"}, "owner": "alice"},
			func(_, _ string, accounts []string) bool {
				return slices.Contains(accounts, alice) || slices.Contains(accounts, early)
			}},
	}
	receivers := make([]*receiver, len(subs))
	for i, s := range subs {
		receivers[i] = newReceiver(t)
		s.body["url"] = receivers[i].srv.URL
		h.subscribe(s.body)
	}
	alice, bob = h.open("alice", "NGN"), h.open("bob", "NGN")
	h.fund(alice, "50.00", "NGN")
	h.fund(bob, "50.00", "NGN")
	h.fund(other, "5.00", "NGN")
	h.transfer(alice, bob, "1.00")
	h.transfer(bob, early, "2.00")
	h.must(h.do("POST", "/v1/accounts/"+bob+"/freeze", map[string]any{"reason": "test"}), 200)

	// The expected ids, from the journal as GET /v1/events shows it.
	type ev struct {
		id, book, typ string
		accounts      []string
	}
	var all []ev
	for _, book := range []string{"main", "other"} {
		var page struct {
			Data []struct {
				ID, Type   string
				RecordedAt time.Time `json:"recorded_at"`
				Data       json.RawMessage
				Postings   []struct{ Account string }
			}
		}
		_ = json.Unmarshal(h.must(h.do("GET", "/v1/events?limit=500&book="+book, nil), 200).body, &page)
		for _, e := range page.Data[1:] { // each book's first event predates the subscriptions
			x := ev{id: e.ID, book: book, typ: e.Type}
			for _, p := range e.Postings {
				x.accounts = append(x.accounts, p.Account)
			}
			for _, acc := range []string{alice, bob, early, other} {
				if bytes.Contains(e.Data, []byte(`"`+acc+`"`)) {
					x.accounts = append(x.accounts, acc)
				}
			}
			all = append(all, x)
		}
	}
	for i, s := range subs {
		var want []string
		for _, e := range all {
			if s.wants(e.book, e.typ, e.accounts) {
				want = append(want, e.id)
			}
		}
		t.Run(s.name, func(t *testing.T) {
			receivers[i].waitDelivered(len(want))
			time.Sleep(100 * time.Millisecond) // nothing more may come
			got := receivers[i].delivered()
			slices.Sort(got)
			slices.Sort(want)
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Fatalf("received %v, want %v", got, want)
			}
		})
	}
}

func TestWebhookRetriesWithBackoffInOrderThenSucceeds(t *testing.T) {
	h := newEventsHarness(t)
	rcv := newReceiver(t)
	calls := 0
	rcv.setAnswer(func(hookCall, int) int {
		if calls++; calls <= 3 { // the first event fails three times
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	id, _ := h.subscribe(map[string]any{"url": rcv.srv.URL, "events": []string{"account.opened"}})
	first, second := h.open("alice", "NGN"), h.open("bob", "NGN")
	_ = first
	_ = second
	waitAttempts := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(rcv.all()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d attempts, want %d", len(rcv.all()), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// 10 s, 20 s, 40 s: each retry comes only once its wait has passed.
	for i, wait := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second} {
		waitAttempts(i + 1)
		var page struct {
			Data []struct {
				Attempts       int     `json:"attempts"`
				Status         string  `json:"status"`
				LastStatusCode int     `json:"last_status_code"`
				NextAttemptAt  *string `json:"next_attempt_at"`
			} `json:"data"`
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			_ = json.Unmarshal(h.must(h.do("GET", "/v1/subscriptions/"+id+"/deliveries?status=pending", nil), 200).body, &page)
			if len(page.Data) == 2 && page.Data[0].Attempts == i+1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if len(page.Data) != 2 || page.Data[0].Attempts != i+1 || page.Data[0].LastStatusCode != 500 || page.Data[1].Attempts != 0 || page.Data[0].NextAttemptAt == nil {
			t.Fatalf("after %d failures: deliveries %+v", i+1, page.Data)
		}
		next, _ := time.Parse(time.RFC3339, *page.Data[0].NextAttemptAt)
		if d := next.Sub(h.clock.Now()); d < wait-time.Second || d > wait+time.Second {
			t.Fatalf("retry %d is due in %v, want %v", i+1, d, wait)
		}
		h.clock.Advance(wait - time.Second)
		time.Sleep(60 * time.Millisecond)
		if n := len(rcv.all()); n != i+1 {
			t.Fatalf("retried before its time: %d attempts", n)
		}
		h.clock.Advance(time.Second)
	}
	ids := rcv.waitDelivered(2)
	all := rcv.all()
	if len(all) != 5 || all[3].status != 200 || all[3].header.Get(sinks.HeaderEventID) != ids[0] ||
		all[4].header.Get(sinks.HeaderEventID) == ids[0] {
		t.Fatalf("want 3 failures, then the first event, then the second (order kept): %d attempts", len(all))
	}
	var done struct {
		Data []struct {
			Attempts       int `json:"attempts"`
			LastStatusCode int `json:"last_status_code"`
		} `json:"data"`
	}
	for deadline := time.Now().Add(10 * time.Second); len(done.Data) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		_ = json.Unmarshal(h.must(h.do("GET", "/v1/subscriptions/"+id+"/deliveries?status=succeeded", nil), 200).body, &done)
	}
	if len(done.Data) != 2 || done.Data[0].Attempts != 4 || done.Data[0].LastStatusCode != 200 || done.Data[1].Attempts != 1 {
		t.Fatalf("succeeded deliveries %+v", done.Data)
	}
}

func TestWebhookGivesUpAfterThreeDaysAndMovesOn(t *testing.T) {
	h := newEventsHarness(t)
	rcv := newReceiver(t)
	// The first event delivered fails for good (the receiver decides under
	// its lock, so no delivery can come before doomed is known).
	var doomed string
	rcv.setAnswer(func(r hookCall, _ int) int {
		if doomed == "" {
			doomed = r.header.Get(sinks.HeaderEventID)
		}
		if r.header.Get(sinks.HeaderEventID) == doomed {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	id, _ := h.subscribe(map[string]any{"url": rcv.srv.URL, "events": []string{"account.opened"}})
	h.open("alice", "NGN")
	h.open("bob", "NGN")
	// Retries every hour at most: step the clock an hour at a time, past 3 days.
	for step := 0; len(rcv.delivered()) == 0; step++ {
		if step > 400 {
			t.Fatal("the subscription never moved past the failing delivery")
		}
		time.Sleep(15 * time.Millisecond)
		h.clock.Advance(time.Hour)
	}
	got := rcv.waitDelivered(1)
	ids, _, _ := h.journal("main")
	rcv.mu.Lock()
	if doomed != ids[0] {
		t.Errorf("the first delivery was of %s, not of the first event %s", doomed, ids[0])
	}
	rcv.mu.Unlock()
	if got[0] == doomed {
		t.Fatalf("the failing event was delivered")
	}
	var page struct {
		Data []struct {
			EventID  string `json:"event_id"`
			Attempts int    `json:"attempts"`
		} `json:"data"`
	}
	_ = json.Unmarshal(h.must(h.do("GET", "/v1/subscriptions/"+id+"/deliveries?status=failed", nil), 200).body, &page)
	if len(page.Data) != 1 || page.Data[0].EventID != doomed || page.Data[0].Attempts < 10 {
		t.Fatalf("failed deliveries %+v, want the first event's, after many attempts", page.Data)
	}
}

func TestWebhookReplayResendsFromAPositionInOrder(t *testing.T) {
	h := newEventsHarness(t)
	rcv := newReceiver(t)
	id, _ := h.subscribe(map[string]any{"url": rcv.srv.URL, "events": []string{"*"}})
	a, b := h.open("alice", "NGN"), h.open("bob", "NGN")
	h.fund(a, "10.00", "NGN")
	h.transfer(a, b, "1.00")
	ids, _, _ := h.journal("main")
	rcv.waitDelivered(len(ids))
	r := h.must(h.do("POST", "/v1/subscriptions/"+id+"/replay", map[string]any{"from_position": 2}), 202)
	if q, _ := r.json(t)["queued"].(float64); int(q) != len(ids)-1 {
		t.Fatalf("replay queued %v, want %d: %s", q, len(ids)-1, r.body)
	}
	got := rcv.waitDelivered(2*len(ids) - 1)
	if want := append(slices.Clone(ids), ids[1:]...); !slices.Equal(got, want) {
		t.Fatalf("after replay from 2: %v, want %v", got, want)
	}
	for _, bad := range []map[string]any{{"from_position": 0}, {"from_position": 1, "book": "nope"}} {
		if r := h.do("POST", "/v1/subscriptions/"+id+"/replay", bad); r.status/100 != 4 {
			t.Fatalf("replay %v: %d %s", bad, r.status, r.body)
		}
	}
	h.must(h.do("POST", "/v1/subscriptions/sub_nope/replay", map[string]any{"from_position": 1}), 404)
}

func TestWebhookDeleteStopsDelivery(t *testing.T) {
	h := newEventsHarness(t)
	rcv := newReceiver(t)
	id, _ := h.subscribe(map[string]any{"url": rcv.srv.URL, "events": []string{"*"}})
	h.open("alice", "NGN")
	rcv.waitDelivered(1)
	h.must(h.do("DELETE", "/v1/subscriptions/"+id, nil), 204)
	h.must(h.do("GET", "/v1/subscriptions/"+id, nil), 404)
	h.must(h.do("DELETE", "/v1/subscriptions/"+id, nil), 404)
	var list struct{ Data []any }
	_ = json.Unmarshal(h.must(h.do("GET", "/v1/subscriptions", nil), 200).body, &list)
	if len(list.Data) != 0 {
		t.Fatalf("a deleted subscription is listed: %v", list.Data)
	}
	// A live subscription shows when the pipeline has passed the new events.
	probe := newReceiver(t)
	h.subscribe(map[string]any{"url": probe.srv.URL, "events": []string{"*"}})
	h.open("bob", "NGN")
	h.open("carol", "NGN")
	probe.waitDelivered(2)
	time.Sleep(100 * time.Millisecond)
	if got := rcv.delivered(); len(got) != 1 {
		t.Fatalf("a deleted subscription received %d more events", len(got)-1)
	}
}

func TestSubscriptionURLRules(t *testing.T) {
	url := testdb.New(t)
	strict := newHarnessAt(t, url, withSubscriptions(t, url, sinks.URLRules{}))
	local := newHarnessAt(t, url, withSubscriptions(t, url, sinks.URLRules{AllowHTTP: true, AllowPrivate: true}))
	for _, tc := range []struct {
		name   string
		h      *harness
		url    string
		status int
	}{
		{"https to a public host is accepted", strict, "https://hooks.example.com/tally", 201},
		{"http is refused outside local mode", strict, "http://hooks.example.com/tally", 400},
		{"loopback is refused", strict, "https://127.0.0.1/hook", 400},
		{"IPv6 loopback is refused", strict, "https://[::1]/hook", 400},
		{"localhost is refused", strict, "https://localhost:8443/hook", 400},
		{"a private address is refused", strict, "https://10.1.2.3/hook", 400},
		{"another private range is refused", strict, "https://192.168.1.10/hook", 400},
		{"link-local (cloud metadata) is refused", strict, "https://169.254.169.254/latest", 400},
		{"IPv4-mapped loopback is refused", strict, "https://[::ffff:127.0.0.1]/hook", 400},
		{"credentials in the URL are refused", strict, "https://user:pw@hooks.example.com/", 400},
		{"a relative URL is refused", strict, "/hooks", 400},
		{"local mode allows http to loopback", local, "http://127.0.0.1:9/hook", 201},
		{"local mode allows private addresses", local, "http://10.0.0.5/hook", 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.h.do("POST", "/v1/subscriptions", map[string]any{"url": tc.url, "events": []string{"*"}})
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 400 && !strings.Contains(string(r.body), `"field":"url"`) {
				t.Fatalf("the error does not name the url field: %s", r.body)
			}
		})
	}
	for _, tc := range []struct {
		name string
		body string
	}{
		{"no event filter", `{"url":"https://hooks.example.com","events":[]}`},
		{"a malformed filter", `{"url":"https://hooks.example.com","events":["Transfer Completed"]}`},
		{"an unknown book", `{"url":"https://hooks.example.com","events":["*"],"book":"nope"}`},
		{"an unknown field", `{"url":"https://hooks.example.com","events":["*"],"secret":"mine"}`},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			before := strict.eventCount()
			strict.must(strict.do("POST", "/v1/subscriptions", tc.body), 400)
			if strict.eventCount() != before {
				t.Fatal("the journal changed")
			}
		})
	}
	t.Run("needs the admin scope", func(t *testing.T) {
		key := strict.must(strict.do("POST", "/v1/keys", map[string]any{"name": "reader", "scopes": []string{"events:read"}}), 201).str(t, "key")
		strict.must(strict.do("GET", "/v1/subscriptions", nil, "Authorization", "Bearer "+key), 403)
	})
}

func TestTwoDispatchersDoNotBothDeliver(t *testing.T) {
	h := newEventsHarness(t)
	// A second process's outbox: its own pool (sessions), runner and dispatcher.
	other := newHarnessAt(t, h.pool.Config().ConnString())
	startOutbox(t, other, sinks.URLRules{AllowHTTP: true, AllowPrivate: true}, h.clock)
	rcvs := make([]*receiver, 3)
	for i := range rcvs {
		rcvs[i] = newReceiver(t)
		h.subscribe(map[string]any{"url": rcvs[i].srv.URL, "events": []string{"*"}})
	}
	a := h.open("alice", "NGN")
	h.fund(a, "100.00", "NGN")
	for i := range 20 {
		target := h.harness
		if i%2 == 1 {
			target = other
		}
		target.must(target.do("POST", "/v1/accounts", map[string]any{"owner": fmt.Sprint("u", i), "currency": "NGN"}), 201)
	}
	ids, _, _ := h.journal("main")
	for i, r := range rcvs {
		r.waitDelivered(len(ids))
		time.Sleep(50 * time.Millisecond)
		if got := r.delivered(); !slices.Equal(got, ids) {
			t.Fatalf("subscription %d: %d deliveries for %d events (duplicates or gaps): %v", i, len(got), len(ids), got)
		}
	}
}
