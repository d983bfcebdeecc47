package sinks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// DispatcherOptions tune a Dispatcher. Zero values take the defaults, which
// are api.md's: 10 s per attempt, about 10 s doubling to 1 h between
// attempts, for 3 days.
type DispatcherOptions struct {
	Rules URLRules
	// Client sends the deliveries (default: Rules.Client(Timeout)).
	Client  *http.Client
	Timeout time.Duration
	// Now is the clock the retry schedule runs on (default time.Now); tests
	// move it forward instead of waiting.
	Now func() time.Time
	// Backoff is the wait after the nth failed attempt (default DefaultBackoff).
	Backoff func(attempt int) time.Duration
	// GiveUpAfter is how long after its first attempt a delivery is
	// retried before it is marked failed and the subscription moves on.
	GiveUpAfter time.Duration
	// Poll is how long an idle subscription waits before looking for new
	// deliveries (default 100 ms); Rescan how often the dispatcher looks
	// for subscriptions to take over (default 1 s).
	Poll, Rescan time.Duration
	// Retention is how long a succeeded delivery is kept after it was
	// queued and delivered (default 30 days), FailedRetention a failed one
	// after it was queued (default 90 days); pending ones are never
	// deleted. Every PruneEvery (default 10 min) the dispatcher deletes
	// what is older, PruneBatch rows (default 500) per statement.
	Retention, FailedRetention time.Duration
	PruneEvery                 time.Duration
	PruneBatch                 int
	Metrics                    *Metrics
	Logger                     *slog.Logger
}

// DefaultBackoff waits 10 s after the first failure, doubling up to 1 h.
func DefaultBackoff(attempt int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Dispatcher sends queued webhook deliveries: one loop per subscription,
// in the order they were queued within each book. A loop runs in the one
// process that holds the subscription's advisory lock, taken on a
// connection the dispatcher keeps for it: if the process dies, PostgreSQL
// drops the connection and its locks, and another process takes over
// within a rescan.
type Dispatcher struct {
	pool  *pgxpool.Pool
	store *pgjournal.Store
	opt   DispatcherOptions

	lease   *pgx.Conn
	workers map[string]*worker

	cancel context.CancelFunc
	done   chan struct{}
}

type worker struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// NewDispatcher returns a dispatcher; Start it.
func NewDispatcher(pool *pgxpool.Pool, opt DispatcherOptions) *Dispatcher {
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Client == nil {
		opt.Client = opt.Rules.Client(opt.Timeout)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Backoff == nil {
		opt.Backoff = DefaultBackoff
	}
	if opt.GiveUpAfter <= 0 {
		opt.GiveUpAfter = 72 * time.Hour
	}
	if opt.Poll <= 0 {
		opt.Poll = 100 * time.Millisecond
	}
	if opt.Rescan <= 0 {
		opt.Rescan = time.Second
	}
	if opt.Retention <= 0 {
		opt.Retention = 30 * 24 * time.Hour
	}
	if opt.FailedRetention <= 0 {
		opt.FailedRetention = 90 * 24 * time.Hour
	}
	if opt.PruneEvery <= 0 {
		opt.PruneEvery = 10 * time.Minute
	}
	if opt.PruneBatch <= 0 {
		opt.PruneBatch = 500
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Dispatcher{pool: pool, store: pgjournal.NewStore(pool), opt: opt, workers: map[string]*worker{}}
}

// Start runs the dispatcher in the background until Stop (or ctx ends).
func (d *Dispatcher) Start(ctx context.Context) {
	ctx, d.cancel = context.WithCancel(ctx)
	d.done = make(chan struct{})
	go func() {
		defer close(d.done)
		d.run(ctx)
	}()
}

// Stop ends every delivery loop (a delivery in flight finishes or times
// out; its result may be lost, and it is then sent again) and waits.
func (d *Dispatcher) Stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	<-d.done
}

func (d *Dispatcher) run(ctx context.Context) {
	defer d.releaseAll()
	var pruned time.Time // the last prune that finished its work
	for {
		if err := d.rescan(ctx); err != nil && ctx.Err() == nil {
			d.opt.Logger.Error("webhook dispatcher: rescan failed; retrying", "err", err)
			d.releaseAll()
		}
		if time.Since(pruned) >= d.opt.PruneEvery {
			done, err := d.prune(ctx, pruneRounds)
			switch {
			case err != nil && ctx.Err() == nil:
				d.opt.Logger.Error("webhook dispatcher: deleting old deliveries failed; retrying later", "err", err)
				pruned = time.Now()
			case done:
				pruned = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.opt.Rescan):
		}
	}
}

// rescan starts a loop for each subscription this process can lock, and
// stops the loops of deleted subscriptions.
func (d *Dispatcher) rescan(ctx context.Context) error {
	if d.lease == nil {
		c, err := d.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		d.lease = c.Hijack() // kept out of the pool: it holds session locks
	}
	if _, err := d.lease.Exec(ctx, `SELECT 1`); err != nil {
		return fmt.Errorf("lease connection: %w", err)
	}
	subs, err := active(ctx, d.pool)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, s := range subs {
		live[s.ID] = true
		if _, ok := d.workers[s.ID]; ok {
			continue
		}
		var got bool
		if err := d.lease.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, leaseClass, s.ID).Scan(&got); err != nil {
			return err
		}
		if got {
			d.startWorker(ctx, s.ID)
		}
	}
	for id, w := range d.workers {
		if !live[id] {
			w.cancel()
			<-w.done
			delete(d.workers, id)
			if _, err := d.lease.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext($2))`, leaseClass, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// leaseClass is the first key of the delivery loops' advisory locks; the
// two-key form keeps them apart from the sequencer's one-key book locks.
const leaseClass = 0x7461_6c79 // "taly"

func (d *Dispatcher) startWorker(ctx context.Context, id string) {
	ctx, cancel := context.WithCancel(ctx)
	w := &worker{cancel: cancel, done: make(chan struct{})}
	d.workers[id] = w
	go func() {
		defer close(w.done)
		d.loop(ctx, id)
	}()
}

// releaseAll stops every loop and closes the lease connection, which
// releases the locks (used on shutdown and when the connection broke).
func (d *Dispatcher) releaseAll() {
	for id, w := range d.workers {
		w.cancel()
		<-w.done
		delete(d.workers, id)
	}
	if d.lease != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = d.lease.Close(ctx)
		cancel()
		d.lease = nil
	}
}

// loop sends one subscription's deliveries until ctx ends or it is deleted.
func (d *Dispatcher) loop(ctx context.Context, id string) {
	backoff := d.opt.Poll
	for {
		wait := d.opt.Poll
		sent, due, err := d.drain(ctx, id)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errDeleted):
			return
		case err != nil:
			d.opt.Logger.Error("webhook delivery loop failed; retrying", "subscription", id, "err", err)
			backoff = min(2*backoff, 30*time.Second)
			wait = backoff
		case sent:
			backoff = d.opt.Poll
			continue
		default:
			backoff = d.opt.Poll
			if !due.IsZero() {
				wait = min(wait, max(due.Sub(d.opt.Now()), time.Millisecond))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

var errDeleted = errors.New("subscription deleted")

// queued is a pending delivery row.
type queued struct {
	book           string
	seq, position  int64
	id, eventID    string
	attempts       int
	firstAttemptAt *time.Time
	nextAttemptAt  time.Time
}

// pageSize bounds the deliveries read in one query, and so the run of
// successful sends recorded in one statement: a crash between a send and
// its record sends at most this many events again (at least once). At 100
// the page reads and records between sends kept delivery from keeping up
// with appends on a busy server (docs/benchmarks.md); at 500 it does.
const pageSize = 500

// recordEvery bounds the time between the records of a run of successful
// sends, so that a slow receiver does not widen what a crash sends again.
const recordEvery = time.Second

// drain sends what is due of each book's queue, in order: it stops a book
// at the first delivery that fails (to retry it later) or is not due yet.
// It visits the books with pending deliveries one after the other, reading
// at most a page of each from the pending index (a loose index scan, so a
// long backlog costs no more per page than a short one). sent reports
// whether anything was attempted; due is the earliest retry time it saw.
func (d *Dispatcher) drain(ctx context.Context, id string) (sent bool, due time.Time, err error) {
	sub, err := scanSubscription(d.pool.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM webhook_subscriptions WHERE id = $1 AND deleted_at IS NULL`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return false, due, errDeleted
	}
	if err != nil {
		return false, due, err
	}
	for after := ""; ; {
		pending, err := d.page(ctx, id, after)
		if err != nil || len(pending) == 0 {
			return sent, due, err
		}
		// The page is the first book after after (and maybe the start of
		// the next one, left for the next query).
		book := pending[0].book
		end := 0
		for end < len(pending) && pending[end].book == book {
			end++
		}
		s, next, err := d.sendBook(ctx, sub, pending[:end])
		sent = sent || s
		if err != nil {
			return sent, due, err
		}
		if !next.IsZero() && (due.IsZero() || next.Before(due)) {
			due = next
		}
		after = book
	}
}

// page reads up to pageSize pending deliveries of the subscription, of the
// books after after (by name), in (book, seq) order.
func (d *Dispatcher) page(ctx context.Context, id, after string) ([]queued, error) {
	rows, err := d.pool.Query(ctx, `
		SELECT book, seq, position, id, event_id, attempts, first_attempt_at, next_attempt_at
		FROM webhook_deliveries
		WHERE subscription_id = $1 AND status = 'pending' AND book > $2
		ORDER BY book, seq LIMIT $3`, id, after, pageSize)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (queued, error) {
		var q queued
		err := r.Scan(&q.book, &q.seq, &q.position, &q.id, &q.eventID, &q.attempts, &q.firstAttemptAt, &q.nextAttemptAt)
		return q, err
	})
}

// sendBook sends one book's pending deliveries in order.
func (d *Dispatcher) sendBook(ctx context.Context, sub Subscription, page []queued) (sent bool, due time.Time, err error) {
	book := page[0].book
	if now := d.opt.Now(); page[0].attempts > 0 && page[0].nextAttemptAt.After(now) {
		return false, page[0].nextAttemptAt, nil
	}
	positions := make([]int64, len(page))
	for i, q := range page {
		positions[i] = q.position
	}
	events, err := d.store.EventsAt(ctx, book, positions)
	if err != nil {
		return false, due, err
	}
	byPos := make(map[int64]ledger.Event, len(events))
	for _, e := range events {
		byPos[e.Position] = e
	}
	var ok []queued // sent, not recorded yet: since is when the first was
	var codes []int
	var since time.Time
	defer func() {
		if len(ok) > 0 {
			err = errors.Join(err, d.succeeded(book, sub.ID, ok, codes))
		}
	}()
	for _, q := range page {
		if q.attempts > 0 && q.nextAttemptAt.After(d.opt.Now()) {
			return sent, q.nextAttemptAt, nil
		}
		e, found := byPos[q.position]
		if !found {
			return sent, due, fmt.Errorf("delivery %s: event %s:%d is missing from the journal", q.id, book, q.position)
		}
		sent = true
		code, sendErr := d.send(ctx, sub, q, e)
		if ctx.Err() != nil {
			return sent, due, ctx.Err()
		}
		if sendErr == nil {
			if len(ok) == 0 {
				since = time.Now()
			}
			ok, codes = append(ok, q), append(codes, code)
			d.opt.Metrics.delivered(WebhookSinkName, OutcomeSucceeded, 1)
			if time.Since(since) >= recordEvery {
				if err := d.succeeded(book, sub.ID, ok, codes); err != nil {
					return sent, due, err
				}
				ok, codes = nil, nil
			}
			continue
		}
		// Record the successes first: the failure's row comes after them.
		if len(ok) > 0 {
			if err := d.succeeded(book, sub.ID, ok, codes); err != nil {
				return sent, due, err
			}
			ok, codes = nil, nil
		}
		retryAt, err := d.failed(ctx, sub.ID, q, code, sendErr)
		if err != nil {
			return sent, due, err
		}
		if !retryAt.IsZero() {
			return sent, retryAt, nil // the book waits for this delivery
		}
		// Given up: move on to the next event.
	}
	return sent, due, nil
}

// send POSTs one event and returns the answer's status (0 if none came) and
// an error unless it was a 2xx.
func (d *Dispatcher) send(ctx context.Context, sub Subscription, q queued, e ledger.Event) (int, error) {
	// Exactly as GET /v1/events renders it. (json.Marshal(e) gives the same
	// bytes, after checking and compacting them once more: a third of a
	// delivery's CPU.)
	body, err := e.MarshalJSON()
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Tally-Webhooks/1")
	req.Header.Set(HeaderEventID, e.ID)
	req.Header.Set(HeaderDeliveryID, q.id)
	req.Header.Set(HeaderSignature, Sign(sub.Secret, d.opt.Now(), body))
	resp, err := d.opt.Client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// succeeded records delivered rows in one statement. It runs even while
// the dispatcher stops, so what was sent is not sent again needlessly.
func (d *Dispatcher) succeeded(book, sub string, rows []queued, codes []int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	seqs := make([]int64, len(rows))
	for i, r := range rows {
		seqs[i] = r.seq
	}
	now := d.opt.Now()
	_, err := d.pool.Exec(ctx, `
		UPDATE webhook_deliveries w SET status = 'succeeded', attempts = w.attempts + 1, last_status_code = t.code,
			last_error = NULL, first_attempt_at = coalesce(w.first_attempt_at, $5), delivered_at = $5
		FROM unnest($3::bigint[], $4::int[]) AS t(seq, code)
		WHERE w.book = $1 AND w.subscription_id = $2 AND w.seq BETWEEN $6 AND $7 AND w.seq = t.seq`,
		book, sub, seqs, codes, now, slices.Min(seqs), slices.Max(seqs))
	return err
}

// failed records a failed attempt and returns when to retry, or the zero
// time once the delivery has been retried for GiveUpAfter and is marked failed.
func (d *Dispatcher) failed(ctx context.Context, sub string, q queued, code int, sendErr error) (time.Time, error) {
	now := d.opt.Now()
	first := now
	if q.firstAttemptAt != nil {
		first = *q.firstAttemptAt
	}
	attempts := q.attempts + 1
	status, next := StatusPending, now.Add(d.opt.Backoff(attempts))
	if now.Sub(first) >= d.opt.GiveUpAfter {
		status = StatusFailed
	}
	msg := sendErr.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	_, err := d.pool.Exec(ctx, `
		UPDATE webhook_deliveries SET status = $4, attempts = $5, last_status_code = nullif($6, 0), last_error = $7,
			first_attempt_at = $8, next_attempt_at = $9
		WHERE book = $1 AND subscription_id = $2 AND seq = $3`,
		q.book, sub, q.seq, status, attempts, code, msg, first, next)
	if err != nil {
		return time.Time{}, err
	}
	if status == StatusFailed {
		d.opt.Metrics.delivered(WebhookSinkName, OutcomeFailed, 1)
		d.opt.Logger.Warn("webhook delivery failed for good; moving on", "subscription", sub, "delivery", q.id, "attempts", attempts)
		return time.Time{}, nil
	}
	d.opt.Metrics.delivered(WebhookSinkName, OutcomeRetried, 1)
	return next, nil
}

// pruneRounds bounds the statements one prune runs, so that a first prune
// of a large table does not hold up the rescans: the rest waits for the
// next rescan.
const pruneRounds = 20

// prune deletes up to rounds batches of finished deliveries older than
// their retention, book by book, and reports whether it deleted all there
// was. Concurrent prunes (one per process) skip each other's rows.
func (d *Dispatcher) prune(ctx context.Context, rounds int) (done bool, err error) {
	heads, err := pgjournal.Heads(ctx, d.pool)
	if err != nil {
		return false, err
	}
	now := d.opt.Now()
	succeeded, failed := now.Add(-d.opt.Retention), now.Add(-d.opt.FailedRetention)
	deleted := 0
	defer func() {
		if deleted > 0 {
			d.opt.Logger.Info("deleted old webhook deliveries", "deleted", deleted)
		}
	}()
	for _, h := range heads {
		for {
			if rounds == 0 {
				return false, nil
			}
			rounds--
			// Each statement names its book (one shard on Citus).
			tag, err := d.pool.Exec(ctx, `
				DELETE FROM webhook_deliveries w
				WHERE w.book = $1 AND (w.subscription_id, w.seq) IN (
					SELECT subscription_id, seq FROM webhook_deliveries
					WHERE book = $1 AND status <> 'pending'
					  AND created_at < greatest($2::timestamptz, $3::timestamptz)
					  AND ((status = 'succeeded' AND created_at < $2 AND delivered_at < $2)
					    OR (status = 'failed' AND created_at < $3))
					ORDER BY created_at LIMIT $4 FOR UPDATE SKIP LOCKED)`,
				h.Book, succeeded, failed, d.opt.PruneBatch)
			if err != nil {
				return false, err
			}
			deleted += int(tag.RowsAffected())
			if tag.RowsAffected() < int64(d.opt.PruneBatch) {
				break
			}
		}
	}
	return true, nil
}
