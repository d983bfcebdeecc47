package sinks

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/schema/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// journalFixture is a fresh database with the standard projections and a
// journal to append to.
type journalFixture struct {
	t       testing.TB
	pool    *pgxpool.Pool
	journal *pgjournal.Journal
	set     *projections.Set
}

func newJournalFixture(t testing.TB) *journalFixture {
	t.Helper()
	return newJournalFixtureAt(t, testdb.New(t), false)
}

// newJournalFixtureAt is newJournalFixture on the database at url (a Citus
// coordinator's when citus).
func newJournalFixtureAt(t testing.TB, url string, citus bool) *journalFixture {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	set := projections.Default(pool)
	var inline []pgjournal.Projection
	for _, p := range set.Inline() {
		inline = append(inline, p)
	}
	j := pgjournal.New(pool, pgjournal.Options{Inline: inline, MaxBatch: 256, Citus: citus})
	t.Cleanup(func() { j.Close(); pool.Close() })
	return &journalFixture{t: t, pool: pool, journal: j, set: set}
}

// fill appends about n events to book (two wallets, then adjustments
// between them) from 16 clients at once, and returns nothing: the test
// reads the journal back for what it needs.
func (f *journalFixture) fill(book string, n int) {
	f.t.Helper()
	ctx := context.Background()
	render := func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return pgjournal.Response{Body: []byte(o.Err.Code)}
		}
		return pgjournal.Response{Body: []byte("ok")}
	}
	submit := func(cmd ledger.Command) {
		r, err := f.journal.Submit(ctx, pgjournal.Request{Book: book, Command: cmd, Render: render})
		if err != nil || string(r.Body) != "ok" {
			f.t.Errorf("append to %s: %v %s", book, err, r.Body)
		}
	}
	account := ledger.NewID(ledger.PrefixAccount)
	submit(ledger.OpenAccount{AccountID: account, Book: book, Owner: "owner-" + book, Currency: "NGN", Kind: ledger.KindWallet, WalletNumber: ledger.NewWalletNumber()})
	var wg sync.WaitGroup
	const clients = 16
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < n-1; i += clients {
				submit(ledger.Adjust{AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: account, Direction: ledger.Credit,
					Amount: ledger.MustMoney(fmt.Sprintf("%d.00", 1+i%100), "NGN"), Reason: "fill"})
			}
		}()
	}
	wg.Wait()
}

// eventIDs returns book's event ids in position order.
func (f *journalFixture) eventIDs(book string) []string {
	f.t.Helper()
	rows, err := f.pool.Query(context.Background(), `SELECT id FROM events WHERE book = $1 ORDER BY position`, book)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			f.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// fanOut queues the deliveries of everything appended so far.
func (f *journalFixture) fanOut() {
	f.t.Helper()
	r := f.set.Runner(projections.RunnerOptions{Sinks: []projections.Sink{WebhookSink{}}, NoListen: true})
	if err := r.CatchUp(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// hookLog is a webhook endpoint that records the event ids it answered 2xx,
// by book, in arrival order.
type hookLog struct {
	srv    *httptest.Server
	mu     sync.Mutex
	byBook map[string][]string
	total  int
	conns  map[string]bool // remote addresses seen: one per connection
	fail   func(eventID string) bool
	delay  time.Duration // before each answer
}

func newHookLog(t testing.TB, books func(eventID string) string) *hookLog {
	h := &hookLog{byBook: map[string][]string{}, conns: map[string]bool{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		id := r.Header.Get(HeaderEventID)
		time.Sleep(h.delay)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.conns[r.RemoteAddr] = true
		if h.fail != nil && h.fail(id) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		b := books(id)
		h.byBook[b] = append(h.byBook[b], id)
		h.total++
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookLog) count() int { h.mu.Lock(); defer h.mu.Unlock(); return h.total }

func (h *hookLog) waitFor(t testing.TB, n int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for h.count() < n {
		if time.Since(start) > within {
			t.Fatalf("the receiver got %d deliveries in %s, want %d", h.count(), within, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

func subscribeAll(t testing.TB, pool *pgxpool.Pool, url string) Subscription {
	t.Helper()
	s := NewSubscriptions(pool, URLRules{AllowHTTP: true, AllowPrivate: true})
	s.now = func() time.Time { return time.Now().Add(-time.Hour) } // receives what the test appends
	sub, err := s.Create(context.Background(), NewSubscription{URL: url, Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// TestDispatcherDrainsABacklogInJournalOrderWithoutGaps queues a backlog in
// two books and checks that every event arrives once, in position order per
// book, over a few reused connections; it logs the drain rate
// (TALLY_DRAIN_EVENTS sets the backlog, for profiling).
func TestDispatcherDrainsABacklogInJournalOrderWithoutGaps(t *testing.T) {
	n := 1500
	if v, _ := strconv.Atoi(os.Getenv("TALLY_DRAIN_EVENTS")); v > 0 {
		n = v
	}
	drainInOrder(t, newJournalFixture(t), []string{"main", "eu"}, n)
}

// TestDeliveryAndRetentionOnCitus runs the delivery loop's and the
// prune's statements on a Citus cluster (three books, spread over its two
// workers by hash): every event arrives in order, and old deliveries are
// deleted.
func TestDeliveryAndRetentionOnCitus(t *testing.T) {
	db := testdb.NewCitus(t)
	f := newJournalFixtureAt(t, db.URL, true)
	drainInOrder(t, f, []string{"main", "eu", "asia"}, 120)
	ctx := context.Background()
	if _, err := f.pool.Exec(ctx, `UPDATE webhook_deliveries SET created_at = $1, delivered_at = $1 WHERE position % 2 = 0`,
		time.Now().Add(-40*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var old, all int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE position % 2 = 0), count(*) FROM webhook_deliveries`).Scan(&old, &all); err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(f.pool, DispatcherOptions{PruneBatch: 10})
	if done, err := d.prune(ctx, 1000); err != nil || !done {
		t.Fatalf("prune: done %v, %v", done, err)
	}
	var left int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if old == 0 || left != all-old {
		t.Fatalf("%d deliveries left of %d, want the %d younger than 30 days", left, all, all-old)
	}
}

// drainInOrder appends about n events to the first book and n/5 to the
// others, queues their deliveries to one subscription, runs a dispatcher,
// and checks that each book's events arrive once each, in position order,
// over one or two connections.
func drainInOrder(t *testing.T, f *journalFixture, books []string, n int) {
	t.Helper()
	want := map[string][]string{}
	bookOf := map[string]string{}
	for i, b := range books {
		if i == 0 {
			f.fill(b, n)
		} else {
			f.fill(b, n/5)
		}
		want[b] = f.eventIDs(b)
		for _, id := range want[b] {
			bookOf[id] = b
		}
	}
	recv := newHookLog(t, func(id string) string { return bookOf[id] })
	subscribeAll(t, f.pool, recv.srv.URL+"/hook")
	start := time.Now()
	f.fanOut()
	queued := time.Since(start)

	d := NewDispatcher(f.pool, DispatcherOptions{Rules: URLRules{AllowHTTP: true, AllowPrivate: true}, Rescan: 20 * time.Millisecond})
	d.Start(context.Background())
	defer d.Stop()
	total := len(bookOf)
	took := recv.waitFor(t, total, 2*time.Minute)
	t.Logf("queued %d deliveries in %s (%.0f/s); sent them in %s (%.0f/s) over %d connection(s)", total, queued.Round(time.Millisecond),
		float64(total)/queued.Seconds(), took.Round(time.Millisecond), float64(total)/took.Seconds(), len(recv.conns))

	waitPending(t, f.pool, 0)
	recv.mu.Lock()
	defer recv.mu.Unlock()
	for b, ids := range want {
		got := recv.byBook[b]
		if len(got) != len(ids) {
			t.Fatalf("book %s: %d deliveries, want %d", b, len(got), len(ids))
		}
		for i := range ids {
			if got[i] != ids[i] {
				t.Fatalf("book %s: delivery %d is %s, want %s (journal order)", b, i, got[i], ids[i])
			}
		}
	}
	if len(recv.conns) > 2 {
		t.Errorf("%d connections for one subscription sending one at a time, want the first reused", len(recv.conns))
	}
}

// waitPending waits until exactly n deliveries are pending.
func waitPending(t testing.TB, pool *pgxpool.Pool, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries pending, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRetentionDeletesOnlyFinishedDeliveriesPastTheirPeriod ages queued
// deliveries to every status and age, and checks that a prune deletes
// succeeded ones past Retention and failed ones past FailedRetention,
// batch by batch, and keeps everything else (pending ones whatever their age).
func TestRetentionDeletesOnlyFinishedDeliveriesPastTheirPeriod(t *testing.T) {
	f := newJournalFixture(t)
	f.fill("main", 90)
	f.fill("eu", 30)
	recv := newHookLog(t, func(string) string { return "" })
	subscribeAll(t, f.pool, recv.srv.URL+"/hook")
	f.fanOut()
	ctx := context.Background()
	now := time.Now()
	day := 24 * time.Hour
	// Each row gets a status and an age by its position (mod 6); the
	// deliveries of both books get every kind.
	kinds := []struct {
		name        string
		status      string
		age         time.Duration // since it was queued
		deliveredAt time.Duration // since it was delivered (succeeded only)
		deleted     bool
	}{
		{"succeeded 31 days ago: deleted", StatusSucceeded, 31 * day, 31 * day, true},
		{"succeeded 29 days ago: kept", StatusSucceeded, 29 * day, 29 * day, false},
		{"queued 40 days ago, delivered 10 days ago: kept", StatusSucceeded, 40 * day, 10 * day, false},
		{"failed, queued 60 days ago: kept", StatusFailed, 60 * day, 0, false},
		{"failed, queued 91 days ago: deleted", StatusFailed, 91 * day, 0, true},
		{"pending, queued 200 days ago: kept", StatusPending, 200 * day, 0, false},
	}
	for i, k := range kinds {
		var delivered *time.Time
		if k.status == StatusSucceeded {
			at := now.Add(-k.deliveredAt)
			delivered = &at
		}
		if _, err := f.pool.Exec(ctx, `UPDATE webhook_deliveries SET status = $2, created_at = $3, delivered_at = $4 WHERE position % 6 = $1`,
			i, k.status, now.Add(-k.age), delivered); err != nil {
			t.Fatal(err)
		}
	}
	count := func() map[int]int {
		rows, err := f.pool.Query(ctx, `SELECT (position % 6)::int, count(*)::int FROM webhook_deliveries GROUP BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[int]int{}
		for rows.Next() {
			var k, n int
			if err := rows.Scan(&k, &n); err != nil {
				t.Fatal(err)
			}
			out[k] = n
		}
		return out
	}
	before := count()

	d := NewDispatcher(f.pool, DispatcherOptions{Now: func() time.Time { return now }, PruneBatch: 4})
	done, err := d.prune(ctx, 3)
	if err != nil || done {
		t.Fatalf("a prune of 3 batches of 4 with %d rows to delete: done %v, %v; want not done", before[0]+before[4], done, err)
	}
	if got := before[0] + before[4] - count()[0] - count()[4]; got < 1 || got > 12 {
		t.Errorf("3 batches of 4 deleted %d rows, want 1 to 12", got)
	}
	for !done {
		if done, err = d.prune(ctx, 3); err != nil {
			t.Fatal(err)
		}
	}
	after := count()
	for i, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			if before[i] == 0 {
				t.Fatal("no rows of this kind to test with")
			}
			want := before[i]
			if k.deleted {
				want = 0
			}
			if after[i] != want {
				t.Errorf("%d rows left of %d, want %d", after[i], before[i], want)
			}
		})
	}
}

// TestSlowSendsAreRecordedAtLeastEverySecond: a page of sends to a slow
// receiver (40 ms each, 2.4 s for the page) is recorded as it goes, at
// least every second, so a crash would send at most about a second of
// deliveries again, not the whole page.
func TestSlowSendsAreRecordedAtLeastEverySecond(t *testing.T) {
	f := newJournalFixture(t)
	f.fill("main", 60)
	recv := newHookLog(t, func(string) string { return "main" })
	recv.delay = 40 * time.Millisecond
	sub := subscribeAll(t, f.pool, recv.srv.URL+"/hook")
	f.fanOut()
	total := len(f.eventIDs("main"))
	d := NewDispatcher(f.pool, DispatcherOptions{Rules: URLRules{AllowHTTP: true, AllowPrivate: true}, Rescan: 20 * time.Millisecond})
	d.Start(context.Background())
	defer d.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var recorded int
		if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries WHERE subscription_id = $1 AND status = 'succeeded'`,
			sub.ID).Scan(&recorded); err != nil {
			t.Fatal(err)
		}
		received := recv.count() // read after: the page was still being sent when recorded was
		if recorded > 0 {
			if received >= total {
				t.Fatalf("nothing was recorded before the whole page of %d was sent", total)
			}
			if recorded > received {
				t.Fatalf("%d recorded, %d received", recorded, received)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing recorded; %d received", received)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
