package projections_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/schema/testdb"
)

// queryCounter counts the statements run on a pool, and those of them
// that read the journal's events.
type queryCounter struct{ n, journalReads atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	if strings.Contains(data.SQL, "FROM events") {
		c.journalReads.Add(1)
	}
	return ctx
}
func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// wakeSetup is a database with a writer (a fixture whose journal runs on
// its own pool, as another process would) and a runner on a second pool
// whose statements are counted, not yet started.
type wakeSetup struct {
	writer  *fixture
	runner  *projections.Runner
	queries *queryCounter
}

func newWakeSetup(t *testing.T, opt projections.RunnerOptions, appended func(r *projections.Runner) func(string, []ledger.Event)) *wakeSetup {
	t.Helper()
	ctx := context.Background()
	url := testdb.New(t)
	counter := &queryCounter{}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = counter
	runnerPool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := projections.Default(runnerPool).Runner(opt)

	writePool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	set := projections.Default(writePool)
	var inline []pgjournal.Projection
	for _, p := range set.Inline() {
		inline = append(inline, p)
	}
	jopt := pgjournal.Options{Inline: inline}
	if appended != nil {
		jopt.Appended = appended(r)
	}
	j := pgjournal.New(writePool, jopt)
	t.Cleanup(func() { r.Stop(); j.Close(); writePool.Close(); runnerPool.Close() })
	w := &wakeSetup{writer: &fixture{t: t, pool: writePool, journal: j, store: pgjournal.NewStore(writePool), set: set}, runner: r, queries: counter}
	return w
}

// start starts the runner.
func (w *wakeSetup) start() *wakeSetup {
	w.runner.Start(context.Background())
	return w
}

// caughtUp reports whether daily_summaries has applied every event of book.
func (w *wakeSetup) caughtUp(t *testing.T, book string) bool {
	t.Helper()
	ctx := context.Background()
	head, err := w.writer.store.Head(ctx, book)
	if err != nil {
		t.Fatal(err)
	}
	var at int64
	if err := w.writer.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM projection_checkpoints
		WHERE projection = 'daily_summaries' AND book = $1`, book).Scan(&at); err != nil {
		t.Fatal(err)
	}
	return at == head.Position
}

// waitCaughtUp waits up to within for the runner to apply book's journal.
func (w *wakeSetup) waitCaughtUp(t *testing.T, book string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !w.caughtUp(t, book) {
		if time.Since(start) > within {
			t.Fatalf("the runner did not apply book %s's appends within %s", book, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// appendSome opens an account in book and credits it.
func (w *wakeSetup) appendSome(book string) {
	a := w.writer.open(book, "u", "USD")
	w.writer.adjust(book, a, ledger.Credit, "10", "USD")
}

// Idle books cost nothing: once caught up, a runner whose journal tells it
// of appends runs no statement at all while nothing is appended (its slow
// fallback poll is a minute away).
func TestIdleBooksCostNoQueries(t *testing.T) {
	w := newWakeSetup(t, projections.RunnerOptions{Poll: time.Minute},
		func(r *projections.Runner) func(string, []ledger.Event) { return r.Committed }).start()
	for _, book := range []string{"main", "idle-1", "idle-2"} {
		w.appendSome(book)
	}
	for _, book := range []string{"main", "idle-1", "idle-2"} {
		w.waitCaughtUp(t, book, 10*time.Second)
	}
	time.Sleep(200 * time.Millisecond) // the pass that saw the last append ends
	before := w.queries.n.Load()
	time.Sleep(2 * time.Second)
	if n := w.queries.n.Load() - before; n != 0 {
		t.Fatalf("the runner ran %d statements in 2 s with nothing appended", n)
	}
	t.Run("an append wakes it at once", func(t *testing.T) {
		w.appendSome("idle-1")
		if took := w.waitCaughtUp(t, "idle-1", 5*time.Second); took > 2*time.Second {
			t.Fatalf("took %s", took)
		}
	})
}

// Appends by another process (a journal on another pool, which does not
// know the runner) reach it through PostgreSQL's LISTEN/NOTIFY, promptly,
// although its fallback poll is a minute away.
func TestRunnerHearsAppendsOfOtherProcesses(t *testing.T) {
	w := newWakeSetup(t, projections.RunnerOptions{Poll: time.Minute}, nil).start()
	time.Sleep(500 * time.Millisecond) // the runner's first passes and its LISTEN
	w.appendSome("other")
	if took := w.waitCaughtUp(t, "other", 5*time.Second); took > 2*time.Second {
		t.Fatalf("took %s", took)
	}
	w.appendSome("other")
	w.waitCaughtUp(t, "other", 2*time.Second)
}

// Notify is the in-process wake-up: without it (and without LISTEN) the
// runner does not see an append until its poll; with it, at once.
func TestNotifyWakesTheRunner(t *testing.T) {
	w := newWakeSetup(t, projections.RunnerOptions{Poll: time.Minute, NoListen: true}, nil).start()
	time.Sleep(300 * time.Millisecond) // the runner's first pass
	w.appendSome("quiet")
	time.Sleep(time.Second)
	if w.caughtUp(t, "quiet") {
		t.Fatal("the runner applied an append nobody told it about: it is polling")
	}
	w.runner.Notify("quiet")
	w.waitCaughtUp(t, "quiet", 2*time.Second)
}

// textSink records the data of every event it is sent.
type textSink struct {
	mu   sync.Mutex
	data map[string]string // event id → data
}

func (*textSink) Name() string { return "text" }
func (s *textSink) Send(_ context.Context, _ pgx.Tx, events []ledger.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		s.data[e.ID] = string(e.Data)
	}
	return nil
}

// takerSink takes committed events and checks that they come in order.
type takerSink struct {
	mu   sync.Mutex
	last map[string]int64
	err  error
}

func (*takerSink) Name() string    { return "taker" }
func (*takerSink) TakesCommitted() {}
func (s *takerSink) Send(_ context.Context, _ pgx.Tx, events []ledger.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[string]int64{}
	}
	for _, e := range events {
		if e.Position != s.last[e.Book]+1 && s.err == nil {
			s.err = fmt.Errorf("book %s: position %d after %d", e.Book, e.Position, s.last[e.Book])
		}
		s.last[e.Book] = e.Position
	}
	return nil
}

// at is where the sink stands in book, and the first gap it was sent.
func (s *takerSink) at(book string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[book], s.err
}

// The events this process's journal commits reach the async projections
// from memory (Runner.Committed), not read back from the journal; the
// projections come out as a rebuild makes them, and a sink still gets
// PostgreSQL's text of each event. Once another process has appended in
// between, the runner reads the journal again.
func TestRunnerTakesCommittedEventsFromMemory(t *testing.T) {
	sink := &textSink{data: map[string]string{}}
	w := newWakeSetup(t, projections.RunnerOptions{Poll: time.Minute, NoListen: true, Sinks: []projections.Sink{sink}},
		func(r *projections.Runner) func(string, []ledger.Event) { return r.Committed }).start()
	f := w.writer
	f.workload(7, 150) // two books, every kind of event
	for _, book := range []string{"main", "eu"} {
		w.waitCaughtUp(t, book, 10*time.Second)
	}
	sinkCaughtUp := func() {
		t.Helper()
		ctx := context.Background()
		for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
			var behind bool
			if err := f.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM book_heads h WHERE h.position >
				coalesce((SELECT position FROM projection_checkpoints c WHERE c.projection = 'text' AND c.book = h.book), 0))`).Scan(&behind); err != nil {
				t.Fatal(err)
			}
			if !behind {
				return
			}
			if time.Since(start) > 10*time.Second {
				t.Fatal("the sink did not catch up")
			}
		}
	}
	sinkCaughtUp()
	for _, book := range []string{"main", "eu"} {
		if rep := f.verify(book); !rep.OK {
			t.Fatalf("book %s after projecting from memory: %+v", book, rep)
		}
	}
	rows, err := f.pool.Query(context.Background(), `SELECT id, data::text FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([2]string, error) {
		var r [2]string
		return r, row.Scan(&r[0], &r[1])
	})
	if err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	for _, r := range want {
		if got := sink.data[r[0]]; got != r[1] {
			t.Errorf("the sink got event %s's data as %s, want the journal's %s", r[0], got, r[1])
		}
	}
	sink.mu.Unlock()

	// A sink that takes committed events gets them from memory too: then
	// nothing reads the journal. The runner starts once the appends are
	// done, so that no pass can fall between a commit and its hand-over
	// (it would read the journal, rightly).
	taking := func(t *testing.T) (*wakeSetup, *takerSink) {
		taker := &takerSink{}
		return newWakeSetup(t, projections.RunnerOptions{Poll: time.Minute, NoListen: true, Sinks: []projections.Sink{taker}},
			func(r *projections.Runner) func(string, []ledger.Event) { return r.Committed }), taker
	}
	// caughtUp waits for the projections and the sink to apply book.
	caughtUp := func(t *testing.T, w *wakeSetup, taker *takerSink, book string) {
		t.Helper()
		w.waitCaughtUp(t, book, 10*time.Second)
		head, err := w.writer.store.Head(context.Background(), book)
		if err != nil {
			t.Fatal(err)
		}
		for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
			at, err := taker.at(book)
			if err != nil {
				t.Fatal(err)
			}
			if at == head.Position {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("the sink is at %d of %d", at, head.Position)
			}
		}
		if rep := w.writer.verify(book); !rep.OK {
			t.Fatalf("book %s: %+v", book, rep)
		}
	}
	t.Run("no journal reads", func(t *testing.T) {
		w, taker := taking(t)
		w.writer.workload(8, 150)
		w.start()
		for _, book := range []string{"main", "eu"} {
			caughtUp(t, w, taker, book)
		}
		if n := w.queries.journalReads.Load(); n != 0 {
			t.Fatalf("the runner read the journal %d times; the events were in memory", n)
		}
	})
	// otherAppends credits a new wallet of book through a journal of its
	// own, which does not tell the runner: another process.
	otherAppends := func(t *testing.T, w *wakeSetup, book string) {
		t.Helper()
		var inline []pgjournal.Projection
		for _, p := range w.writer.set.Inline() {
			inline = append(inline, p)
		}
		other := pgjournal.New(w.writer.pool, pgjournal.Options{Inline: inline})
		defer other.Close()
		a := w.writer.open(book, "other", "NGN")
		if _, err := other.Submit(context.Background(), pgjournal.Request{Book: book, Render: outcome, Command: ledger.Adjust{
			AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: a, Direction: ledger.Credit, Amount: ledger.MustMoney("5", "NGN"), Reason: "other"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Another process appends in between: the events held no longer follow
	// on, and the runner reads the journal until they do.
	t.Run("a gap", func(t *testing.T) {
		w, taker := taking(t)
		w.writer.workload(9, 60)
		otherAppends(t, w, "main")
		w.appendSome("main")
		w.start()
		for _, book := range []string{"main", "eu"} {
			caughtUp(t, w, taker, book)
		}
		if w.queries.journalReads.Load() == 0 {
			t.Fatal("the runner applied events another process appended without reading the journal")
		}
	})
	// Another process appends last: the events held end before the head,
	// and the runner goes on reading the journal at once, not at its poll
	// (a minute away).
	t.Run("the last append another process's", func(t *testing.T) {
		w, taker := taking(t)
		w.writer.workload(10, 60)
		otherAppends(t, w, "eu")
		w.start()
		for _, book := range []string{"main", "eu"} {
			caughtUp(t, w, taker, book)
		}
	})
}
