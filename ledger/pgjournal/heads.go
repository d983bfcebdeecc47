package pgjournal

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// headBehind reports whether err is an append that found its position
// taken: the book's head row (book_heads) is behind its events. Only
// another writer that does not move the head can cause it: an older Tally
// (before book_heads) during a rolling upgrade, or a hand-made insert.
func headBehind(err error) bool { return uniqueViolation(err, "events_pkey") }

// keyTaken reports whether err is an optimistic batch's insert of an
// idempotency record whose key was already recorded, and not in this
// sequencer's cache: a retry of a request another process appended (or one
// older than the cache). Retries come in bursts (a client's, a gateway's
// redeliveries), so the batches that follow read their keys first.
func keyTaken(err error) bool { return uniqueViolation(err, "idempotency_keys_pkey") }

// uniqueViolation reports whether err is a unique violation of constraint.
// On Citus the constraint is named after the shard (events_pkey_102008).
func uniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && strings.HasPrefix(pe.ConstraintName, constraint)
}

// repairHead sets the book's head row to its last event, under the row's
// lock (taken first, so the head is read in a later snapshot).
func (s *sequencer) repairHead() error {
	t, err := s.begin()
	if err != nil {
		return err
	}
	defer t.end()
	var p pipeline
	p.begin(false)
	p.exec("lock book head", lockHeadSQL, s.book)
	p.exec("repair book head", `
		INSERT INTO book_heads AS h (book, position, hash, recorded_at)
		SELECT book, position, hash, recorded_at FROM events WHERE book = $1 ORDER BY position DESC LIMIT 1
		ON CONFLICT (book) DO UPDATE SET position = excluded.position, hash = excluded.hash, recorded_at = excluded.recorded_at`, s.book)
	p.commit(&t.committed)
	return p.send(t.ctx, t.conn)
}
