package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// RunnerOptions tune a Runner. Zero values take the defaults.
type RunnerOptions struct {
	// PageSize caps the events applied in one transaction (default 1000).
	PageSize int
	// Poll is how long an idle runner waits before looking for new events
	// again (default 200ms).
	Poll time.Duration
	// MaxBackoff caps the wait after a failure (default 30s).
	MaxBackoff time.Duration
	Logger     *slog.Logger
	// Lag, if set, is told after each pass how many events each async
	// projection was behind the journal (all books together) when the pass
	// began; the server exports it as tally_projection_lag_events.
	Lag func(projection string, events int64)
	// Sinks are tailed like the async projections, after them (see Sink).
	Sinks []Sink
}

// Runner keeps the async projections of a Set up to date. For each
// projection and book it applies the events after the projection's
// checkpoint, a page at a time; each page and the checkpoint's move commit
// in one transaction, and the checkpoint row stays locked while the page is
// applied, so runners in several processes never apply an event twice.
type Runner struct {
	pool        *pgxpool.Pool
	projections []Projection
	opt         RunnerOptions

	cancel context.CancelFunc
	done   chan struct{}
}

// Runner returns a runner for the set's async projections; Start it.
func (s *Set) Runner(opt RunnerOptions) *Runner {
	if opt.PageSize <= 0 {
		opt.PageSize = 1000
	}
	if opt.Poll <= 0 {
		opt.Poll = 200 * time.Millisecond
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Runner{pool: s.pool, projections: append(append([]Projection{}, s.async...), asProjections(opt.Sinks)...), opt: opt}
}

// Start runs the runner in the background until Stop (or ctx ends).
func (r *Runner) Start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		r.run(ctx)
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
	backoff := r.opt.Poll
	for {
		busy, err := r.pass(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := r.opt.Poll
		switch {
		case err != nil:
			r.opt.Logger.Error("async projection failed; retrying", "err", err, "retry_in", backoff.String())
			wait = backoff
			backoff = min(2*backoff, r.opt.MaxBackoff)
		case busy:
			backoff = r.opt.Poll
			continue
		default:
			backoff = r.opt.Poll
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// pass applies at most one page to every projection and book that is
// behind. busy reports whether some page was full (more is waiting). One
// failing projection does not hold the others back.
func (r *Runner) pass(ctx context.Context) (busy bool, err error) {
	heads, err := pgjournal.Heads(ctx, r.pool)
	if err != nil {
		return false, err
	}
	var errs []error
	for _, p := range r.projections {
		var lag int64
		for _, h := range heads {
			at, err := checkpoint(ctx, r.pool, p.Name(), h.Book)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if at >= h.Position {
				continue
			}
			lag += h.Position - at
			n, err := r.step(ctx, p, h.Book)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			busy = busy || n == r.opt.PageSize
		}
		if r.opt.Lag != nil {
			r.opt.Lag(p.Name(), lag)
		}
	}
	return busy, errors.Join(errs...)
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
				n, err := r.step(ctx, p, h.Book)
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

// step applies the next page of book's journal to p and moves p's
// checkpoint, in one transaction. It returns how many events it applied.
func (r *Runner) step(ctx context.Context, p Projection, book string) (int, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	at, err := lockCheckpoint(ctx, tx, p.Name(), book)
	if err != nil {
		return 0, err
	}
	events, err := pgjournal.ReadEvents(ctx, tx, book, at, 0, r.opt.PageSize)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	last := events[len(events)-1].Position
	if err := p.Apply(ctx, tx, events); err != nil {
		return 0, fmt.Errorf("projection %s, book %s, positions %d–%d: %w", p.Name(), book, at+1, last, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE projection_checkpoints SET position = $3, updated_at = now() WHERE projection = $1 AND book = $2`,
		p.Name(), book, last); err != nil {
		return 0, err
	}
	return len(events), tx.Commit(ctx)
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
