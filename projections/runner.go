package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// RunnerOptions tune a Runner. Zero values take the defaults.
type RunnerOptions struct {
	// PageSize caps the events applied in one transaction (default 1000).
	PageSize int
	// Poll is how often the runner looks at every book for events nobody
	// told it about (default 30s): appends wake it (Notify, and
	// pgjournal.AppendChannel for other processes), so the poll only
	// catches announcements lost to a crash or a dropped connection.
	Poll time.Duration
	// MaxBackoff caps the wait after a failure (default 30s).
	MaxBackoff time.Duration
	// Spacing is the least time between the starts of two passes (default
	// 100ms): under load each pass then takes what a tenth of a second
	// appended, so its fixed costs (checkpoint reads, a transaction per
	// projection and book, a statement per table) are paid once for many
	// events, and a summary row written once for all of them. An idle
	// runner's first pass starts at once. Negative: no spacing.
	Spacing time.Duration
	Logger  *slog.Logger
	// Lag, if set, is told after each pass how many events each async
	// projection was behind the journal (all books together) when the pass
	// began; the server exports it as tally_projection_lag_events.
	Lag func(projection string, events int64)
	// NoListen keeps the runner off pgjournal.AppendChannel: only Notify
	// and the poll wake it.
	NoListen bool
	// Sinks are tailed like the async projections, after them (see Sink).
	Sinks []Sink
	// SinksOnly leaves the set's async projections to another runner: this
	// one tails Sinks only (a broker sink gets a runner of its own, so that
	// its outage, whose sends wait for acknowledgements that never come,
	// does not slow the rest).
	SinksOnly bool
}

// Runner keeps the async projections of a Set up to date. For each
// projection and book it applies the events after the projection's
// checkpoint, a page at a time; each page and the checkpoint's move commit
// in one transaction, and the checkpoint row stays locked while the page is
// applied, so runners in several processes never apply an event twice.
//
// An idle book costs nothing: the runner works on a book when told that it
// was appended to — by Notify (the journal of this process calls it, see
// pgjournal.Options.Appended) or by a notification on
// pgjournal.AppendChannel (journals of other processes) — and otherwise
// looks at every book only every Poll.
type Runner struct {
	pool        *pgxpool.Pool
	projections []Projection
	opt         RunnerOptions

	mu    sync.Mutex
	dirty map[string]bool // books appended to since the runner last looked
	all   bool            // look at every book on the next pass
	wake  chan struct{}
	lag   map[string]map[string]int64 // projection → book → events behind
	// failing holds the projections (and sinks) whose last page of a book
	// failed: each waits out its own backoff there while the others go on.
	failing map[target]*retry
	// recent holds each book's latest events committed by this process's
	// journal (Committed), consecutive positions, so that the async
	// projections take them from memory instead of reading them back.
	recent map[string][]ledger.Event

	cancel context.CancelFunc
	done   chan struct{}
}

// Runner returns a runner for the set's async projections; Start it.
func (s *Set) Runner(opt RunnerOptions) *Runner {
	if opt.PageSize <= 0 {
		opt.PageSize = 1000
	}
	if opt.Poll <= 0 {
		opt.Poll = 30 * time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 30 * time.Second
	}
	if opt.Spacing == 0 {
		opt.Spacing = 100 * time.Millisecond
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	async := s.async
	if opt.SinksOnly {
		async = nil
	}
	return &Runner{pool: s.pool, projections: append(append([]Projection{}, async...), asProjections(opt.Sinks)...), opt: opt,
		dirty: map[string]bool{}, wake: make(chan struct{}, 1), lag: map[string]map[string]int64{}, failing: map[target]*retry{},
		recent: map[string][]ledger.Event{}}
}

// target is a projection in a book.
type target struct{ projection, book string }

// retry is a failing projection's backoff in a book: it is not tried
// there before at.
type retry struct {
	at      time.Time
	backoff time.Duration
}

// Notify tells the runner that book was appended to. It never blocks and
// may be called from any goroutine, as often as appends happen: the runner
// takes every book notified since its last pass in its next one.
func (r *Runner) Notify(book string) {
	r.mu.Lock()
	r.dirty[book] = true
	r.mu.Unlock()
	r.signal()
}

// Committed tells the runner that book was appended to, as Notify does,
// and hands it the events just committed (pgjournal.Options.Appended), so
// that the async projections need not read them back from the journal:
// that read was ≈ 4% of the CPU a transfer costs. Sinks read the journal
// unless they take committed events (TakesCommitted): a broker is sent
// PostgreSQL's text of each event's data, which Go's encoding does not
// always equal. Events another process appended in between leave a gap:
// the runner then reads the journal until the events it holds follow on.
// The events must not be modified.
func (r *Runner) Committed(book string, events []ledger.Event) {
	r.mu.Lock()
	if len(events) > 0 {
		kept := r.recent[book]
		if n := len(kept); n > 0 && (kept[n-1].Position+1 != events[0].Position || n+len(events) > recentCap(r.opt.PageSize)) {
			// A gap, or projections so far behind that they read the
			// journal anyway: start again from these events. (append then
			// copies them: the sequencer's array is never written to.)
			kept = nil
		}
		r.recent[book] = append(kept, events...)
	}
	r.dirty[book] = true
	r.mu.Unlock()
	r.signal()
}

// recentCap bounds the events held per book: the projections take up to a
// page at a time, and a pass starts every Spacing, so two pages cover a
// runner that keeps up.
func recentCap(pageSize int) int { return 2 * pageSize }

// fromMemory returns up to a page of book's events after position at, if
// the events Committed handed over hold the next one.
func (r *Runner) fromMemory(book string, at int64) ([]ledger.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.recent[book]
	if len(kept) == 0 {
		return nil, false
	}
	first, last := kept[0].Position, kept[len(kept)-1].Position
	if at < first-1 || at >= last {
		return nil, false
	}
	events := kept[at-first+1:]
	n := min(len(events), r.opt.PageSize)
	return events[:n:n], true // capped: an append by the caller cannot reach what is held
}

// forget drops the events held for book up to position upto, which every
// async projection has applied.
func (r *Runner) forget(book string, upto int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.recent[book]
	i, _ := slices.BinarySearchFunc(kept, upto+1, func(e ledger.Event, p int64) int { return cmp.Compare(e.Position, p) })
	if i == len(kept) {
		delete(r.recent, book)
		return
	}
	r.recent[book] = kept[i:]
}

// notifyAll makes the next pass look at every book.
func (r *Runner) notifyAll() {
	r.mu.Lock()
	r.all = true
	r.mu.Unlock()
	r.signal()
}

func (r *Runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Start runs the runner in the background until Stop (or ctx ends).
func (r *Runner) Start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	r.notifyAll() // catch up with what was appended while no runner ran
	var listening sync.WaitGroup
	if !r.opt.NoListen {
		listening.Add(1)
		go func() {
			defer listening.Done()
			r.listen(ctx)
		}()
	}
	go func() {
		defer close(r.done)
		r.run(ctx)
		listening.Wait()
	}()
}

// Stop ends the runner and waits for its page in flight, which either
// commits with its checkpoint or rolls back.
func (r *Runner) Stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
}

func (r *Runner) run(ctx context.Context) {
	backoff := min(r.opt.Poll, time.Second)
	poll := time.NewTimer(r.opt.Poll)
	defer poll.Stop()
	later := time.NewTimer(time.Hour) // a failing projection's retry
	later.Stop()
	defer later.Stop()
	var last time.Time // when the last pass started
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-later.C:
		case <-poll.C:
			r.mu.Lock()
			r.all = true
			r.mu.Unlock()
		}
		if wait := r.opt.Spacing - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		r.mu.Lock()
		all, dirty := r.all, r.dirty
		r.all, r.dirty = false, map[string]bool{}
		r.mu.Unlock()
		if !all && len(dirty) == 0 {
			continue // a wake-up whose books an earlier pass took
		}
		var books []string // nil: every book
		if !all {
			books = slices.Sorted(maps.Keys(dirty))
		}
		if all {
			poll.Reset(r.opt.Poll)
		}
		busy, deferred, retryAt, err := r.pass(ctx, books)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// The runner could not even see where the projections stand (the
			// database is down): look at these books again after the backoff.
			r.opt.Logger.Error("async projections failed; retrying", "err", err, "retry_in", backoff.String())
			r.mu.Lock()
			r.all = r.all || all
			for _, b := range books {
				r.dirty[b] = true
			}
			r.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, r.opt.MaxBackoff)
			r.signal()
			continue
		}
		backoff = min(r.opt.Poll, time.Second)
		r.mu.Lock()
		for _, b := range busy { // a full page: more is waiting
			r.dirty[b] = true
		}
		for _, b := range deferred { // a failing projection is behind there
			r.dirty[b] = true
		}
		r.mu.Unlock()
		if len(busy) > 0 {
			r.signal()
		}
		if !retryAt.IsZero() {
			later.Reset(max(time.Until(retryAt), time.Millisecond))
		}
	}
}

// listen wakes the runner for every book that a journal in any process
// announces on pgjournal.AppendChannel. It keeps a connection of its own
// (outside the pool, which it would otherwise hold forever), and after
// losing it looks at every book, since announcements may have been missed.
func (r *Runner) listen(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		err := r.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		r.opt.Logger.Warn("listening for appends failed; polling every book until it is back", "err", err, "retry_in", backoff.String())
		r.notifyAll()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, r.opt.MaxBackoff)
	}
}

func (r *Runner) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, r.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{pgjournal.AppendChannel}.Sanitize()); err != nil {
		return err
	}
	r.notifyAll() // appends between the last look and LISTEN
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		r.Notify(n.Payload)
	}
}

// pass applies at most one page to every projection and each of books
// (nil: every book) that is behind, and reports the lag. busy lists the
// books where some page was full (more is waiting). One failing projection
// does not hold the others back: it waits out its own backoff in that book
// (doubling up to MaxBackoff), and deferred lists the books to look at
// again from retryAt on. err is only a failure to read where the
// projections stand.
func (r *Runner) pass(ctx context.Context, books []string) (busy, deferred []string, retryAt time.Time, err error) {
	names := make([]string, len(r.projections))
	for i, p := range r.projections {
		names[i] = p.Name()
	}
	behind, err := r.standing(ctx, names, books)
	if err != nil {
		return nil, nil, retryAt, err
	}
	if books == nil {
		clear(r.lag) // a full pass sees every book
	}
	full, later := map[string]bool{}, map[string]bool{}
	// reached is, per book, the least position every consumer of the
	// events held in memory has applied: those up to it are no longer
	// needed.
	reached := map[string]int64{}
	reach := func(p Projection, book string, at int64) {
		if needsJournalText(p) {
			return
		}
		if cur, ok := reached[book]; !ok || at < cur {
			reached[book] = at
		}
	}
	defer func() {
		for book, at := range reached {
			r.forget(book, at)
		}
	}()
	var shared page // behind lists each book's projections together
	for _, st := range behind {
		if r.lag[st.projection] == nil {
			r.lag[st.projection] = map[string]int64{}
		}
		r.lag[st.projection][st.book] = st.head - st.at
		key := target{st.projection, st.book}
		p := r.projection(st.projection)
		if st.at >= st.head {
			reach(p, st.book, st.at)
			delete(r.failing, key) // another process got past the failure
			continue
		}
		if f := r.failing[key]; f != nil && time.Now().Before(f.at) {
			reach(p, st.book, st.at)
			later[st.book] = true
			retryAt = earliest(retryAt, f.at)
			continue
		}
		n, at, err := r.step(ctx, p, st.book, &shared)
		if err != nil {
			reach(p, st.book, st.at)
			if ctx.Err() != nil {
				return nil, nil, retryAt, ctx.Err()
			}
			f := r.failing[key]
			if f == nil {
				f = &retry{backoff: min(r.opt.Poll, time.Second)}
				r.failing[key] = f
			} else {
				f.backoff = min(2*f.backoff, r.opt.MaxBackoff)
			}
			f.at = time.Now().Add(f.backoff)
			r.opt.Logger.Error("async projection failed; retrying it", "projection", st.projection, "book", st.book, "err", err, "retry_in", f.backoff.String())
			later[st.book] = true
			retryAt = earliest(retryAt, f.at)
			continue
		}
		reach(p, st.book, at)
		delete(r.failing, key)
		// A full page, or events from memory that end before the head
		// (another process appended after them): more is waiting.
		if n == r.opt.PageSize || at < st.head {
			full[st.book] = true
		}
	}
	if r.opt.Lag != nil {
		for _, name := range names {
			var lag int64
			for _, l := range r.lag[name] {
				lag += l
			}
			r.opt.Lag(name, lag)
		}
	}
	return slices.Sorted(maps.Keys(full)), slices.Sorted(maps.Keys(later)), retryAt, nil
}

// earliest returns the earlier of a (zero: none yet) and b.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func (r *Runner) projection(name string) Projection {
	for _, p := range r.projections {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// standing is where an async projection stands in a book.
type standing struct {
	projection, book string
	head, at         int64 // the book's last position; the projection's checkpoint
}

// standing reads the head of each of books (nil: every book) and the
// checkpoint of each projection there. (Plain reads joined here rather
// than one join: on Citus, books is a reference table and the heads and
// checkpoints are distributed by book.)
func (r *Runner) standing(ctx context.Context, projections, books []string) ([]standing, error) {
	heads, err := pgjournal.Heads(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	rows, err := r.pool.Query(ctx, `SELECT projection, book, position FROM projection_checkpoints WHERE projection = ANY($1)`, projections)
	if err != nil {
		return nil, err
	}
	type at struct{ projection, book string }
	checkpoints := map[at]int64{}
	for rows.Next() {
		var k at
		var position int64
		if err := rows.Scan(&k.projection, &k.book, &position); err != nil {
			rows.Close()
			return nil, err
		}
		checkpoints[k] = position
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sorted := slices.Clone(projections)
	slices.Sort(sorted)
	var out []standing
	for _, h := range heads { // in book order
		if books != nil && !slices.Contains(books, h.Book) {
			continue
		}
		for _, p := range sorted {
			out = append(out, standing{projection: p, book: h.Book, head: h.Position, at: checkpoints[at{p, h.Book}]})
		}
	}
	return out, nil
}

// CatchUp applies every event appended before the call to every async
// projection, then returns. Tests and one-off tools use it; a server runs
// Start instead.
func (r *Runner) CatchUp(ctx context.Context) error {
	heads, err := pgjournal.Heads(ctx, r.pool)
	if err != nil {
		return err
	}
	for _, p := range r.projections {
		for _, h := range heads {
			for {
				at, err := checkpoint(ctx, r.pool, p.Name(), h.Book)
				if err != nil {
					return err
				}
				if at >= h.Position {
					break
				}
				n, _, err := r.step(ctx, p, h.Book, nil)
				if err != nil {
					return err
				}
				if n == 0 {
					return fmt.Errorf("projections: %s is at %d of book %s, whose journal ends at %d", p.Name(), at, h.Book, h.Position)
				}
			}
		}
	}
	return nil
}

// page is a run of one book's events, read once in a pass and given to
// every projection whose checkpoint falls in it: the daily summaries and
// the webhook queue usually stand at the same position, and reading the
// journal twice was a tenth of the server's work. Events never change once
// appended, so a page read by one projection's transaction is the same for
// another's. Projections must not modify the events they are given.
type page struct {
	book   string
	events []ledger.Event // consecutive positions
}

// after returns the events of the page after position at, if the page
// holds the next one.
func (pg *page) after(book string, at int64) ([]ledger.Event, bool) {
	if pg == nil || pg.book != book || len(pg.events) == 0 {
		return nil, false
	}
	first := pg.events[0].Position
	if at < first-1 || at >= pg.events[len(pg.events)-1].Position {
		return nil, false
	}
	return pg.events[at-first+1:], true
}

// step applies the next page of book's journal to p and moves p's
// checkpoint, in one transaction. It returns how many events it applied
// and the position p then stands at. An async projection, or a sink that
// takes committed events, takes them from memory when Committed handed
// them over; otherwise step takes them from shared, if not nil, the page
// last read in this pass, when it holds p's next one, and else reads them
// and leaves its page there.
func (r *Runner) step(ctx context.Context, p Projection, book string, shared *page) (int, int64, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	at, err := lockCheckpoint(ctx, tx, p.Name(), book)
	if err != nil {
		return 0, 0, err
	}
	var events []ledger.Event
	ok := false
	if !needsJournalText(p) {
		events, ok = r.fromMemory(book, at)
	}
	if !ok {
		events, ok = shared.after(book, at)
	}
	if !ok {
		if events, err = pgjournal.ReadEvents(ctx, tx, book, at, 0, r.opt.PageSize); err != nil {
			return 0, 0, err
		}
		if shared != nil {
			*shared = page{book: book, events: events}
		}
	}
	if len(events) == 0 {
		return 0, at, nil
	}
	last := events[len(events)-1].Position
	if err := p.Apply(ctx, tx, events); err != nil {
		return 0, 0, fmt.Errorf("projection %s, book %s, positions %d–%d: %w", p.Name(), book, at+1, last, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE projection_checkpoints SET position = $3, updated_at = now() WHERE projection = $1 AND book = $2`,
		p.Name(), book, last); err != nil {
		return 0, 0, err
	}
	return len(events), last, tx.Commit(ctx)
}

// needsJournalText reports whether p is a sink that must be given the
// journal's own text of each event's data (see TakesCommitted).
func needsJournalText(p Projection) bool {
	sp, ok := p.(sinkProjection)
	if !ok {
		return false
	}
	_, takes := sp.sink.(TakesCommitted)
	return !takes
}

// checkpoint reads where an async projection stands in a book (0: nowhere yet).
func checkpoint(ctx context.Context, q pgjournal.Querier, projection, book string) (int64, error) {
	var at int64
	err := q.QueryRow(ctx, `SELECT coalesce((SELECT position FROM projection_checkpoints WHERE projection = $1 AND book = $2), 0)`,
		projection, book).Scan(&at)
	return at, err
}

// lockCheckpoint reads and locks an async projection's checkpoint row in a
// book, creating it at 0 the first time.
func lockCheckpoint(ctx context.Context, tx pgx.Tx, projection, book string) (int64, error) {
	var at int64
	const lock = `SELECT position FROM projection_checkpoints WHERE projection = $1 AND book = $2 FOR UPDATE`
	err := tx.QueryRow(ctx, lock, projection, book).Scan(&at)
	if !errors.Is(err, pgx.ErrNoRows) {
		return at, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (projection, book, position) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING`,
		projection, book); err != nil {
		return 0, err
	}
	err = tx.QueryRow(ctx, lock, projection, book).Scan(&at)
	return at, err
}
