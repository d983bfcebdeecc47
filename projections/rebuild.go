package projections

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// RebuildOptions tune Rebuild.
type RebuildOptions struct {
	// Progress, if set, is called as events are replayed.
	Progress func(done, total int64)
}

// RebuildReport says what a rebuild replayed and changed.
type RebuildReport struct {
	Projections []RebuiltProjection `json:"projections"`
	// Events is the number of events replayed, Positions each book's last
	// position included.
	Events     int64            `json:"events"`
	Positions  map[string]int64 `json:"positions"`
	DurationMS int64            `json:"duration_ms"`
}

// RebuiltProjection is one rebuilt projection.
type RebuiltProjection struct {
	Name   string         `json:"name"`
	Mode   Mode           `json:"mode"`
	Tables []RebuiltTable `json:"tables"`
}

// RebuiltTable counts what a rebuild did to one live table: Rows is its
// size afterwards, Deleted and Written the rows it removed and wrote
// (0 and 0 when the live table already was what the journal says).
type RebuiltTable struct {
	Name    string `json:"name"`
	Rows    int64  `json:"rows"`
	Deleted int64  `json:"deleted"`
	Written int64  `json:"written"`
}

// Rebuild replays every book's journal into fresh copies of the named
// projections' tables (all projections when names is empty) and then, in
// one transaction, makes the live tables equal to the copies: rows the
// replay does not produce are deleted, rows it produces differently are
// replaced, missing rows are inserted. Constraints, indexes and grants of
// the live tables stay as they are, and readers see the old contents until
// the commit and the new ones after it.
//
// The replay runs while appends go on. The final transaction takes every
// book's append lock and blocks inserts into the journal, replays what was
// appended meanwhile, swaps, moves the async projections' checkpoints to
// the heads, and commits; appends wait for it, for about as long as
// comparing the tables takes. Returns ENotFound for an unknown name.
func (s *Set) Rebuild(ctx context.Context, names []string, opt RebuildOptions) (*RebuildReport, error) {
	start := time.Now()
	members, err := s.pick(names)
	if err != nil {
		return nil, err
	}
	ss, err := s.openSession(ctx, members, false)
	if err != nil {
		return nil, err
	}
	defer ss.close()

	heads, err := pgjournal.Heads(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, h := range heads {
		total += h.Position
	}
	rep := &RebuildReport{Positions: map[string]int64{}}
	replayed := map[string]int64{}
	for _, h := range heads {
		if _, err := ss.replay(ctx, nil, h.Book, spansOf(members, 0, h.Position), func(events []ledger.Event) error {
			rep.Events += int64(len(events))
			if opt.Progress != nil {
				opt.Progress(rep.Events, total)
			}
			return nil
		}); err != nil {
			return nil, err
		}
		replayed[h.Book] = h.Position
	}

	tx, err := ss.conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	if err := s.swap(ctx, ss, tx, heads, replayed, rep); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	rep.DurationMS = time.Since(start).Milliseconds()
	return rep, nil
}

// swap runs in Rebuild's final transaction.
func (s *Set) swap(ctx context.Context, ss *session, tx pgx.Tx, heads []pgjournal.Head, replayed map[string]int64, rep *RebuildReport) error {
	// Appends lock their book's head row first, before any other row, so
	// locking every book's (in name order) cannot deadlock with them; the
	// table lock then holds off a book created meanwhile, which has no head
	// row to lock yet.
	if err := lockHeads(ctx, tx, heads, ss.citus); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE events IN SHARE MODE`); err != nil {
		return err
	}
	now, err := pgjournal.Heads(ctx, tx)
	if err != nil {
		return err
	}
	for _, h := range now {
		n, err := ss.replay(ctx, tx, h.Book, spansOf(ss.members, replayed[h.Book], h.Position), nil)
		if err != nil {
			return err
		}
		rep.Events += n
		rep.Positions[h.Book] = h.Position
	}
	var async []string
	for _, m := range ss.members {
		if m.mode == ModeAsync {
			async = append(async, m.proj.Name())
		}
	}
	if len(async) > 0 {
		// A runner holds its checkpoint row while it applies a page: wait
		// for it, and keep it off these tables until the commit.
		if err := lockCheckpoints(ctx, tx, async, now, ss.citus); err != nil {
			return err
		}
	}
	books := make([]string, len(now))
	for i, h := range now {
		books[i] = h.Book
	}
	counts := make([]swapCounts, len(ss.tables))
	// Children before parents for deletes, parents before children for writes.
	for i := len(ss.tables) - 1; i >= 0; i-- {
		if ss.citus {
			if err := ss.copyLive(ctx, tx, ss.tables[i], books...); err != nil {
				return err
			}
		}
		if counts[i].deleted, err = ss.deleteStale(ctx, tx, ss.tables[i]); err != nil {
			return err
		}
	}
	for i, t := range ss.tables {
		if counts[i].written, err = ss.writeChanged(ctx, tx, t); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+t.live).Scan(&counts[i].rows); err != nil {
			return err
		}
	}
	for _, name := range async {
		for _, h := range now {
			// The time as a parameter: Citus takes no now() in DO UPDATE SET.
			if _, err := tx.Exec(ctx, `
				INSERT INTO projection_checkpoints (projection, book, position, updated_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (projection, book) DO UPDATE SET position = EXCLUDED.position, updated_at = EXCLUDED.updated_at`,
				name, h.Book, h.Position, time.Now()); err != nil {
				return err
			}
		}
	}
	for _, m := range ss.members {
		rp := RebuiltProjection{Name: m.proj.Name(), Mode: m.mode}
		for i, t := range ss.tables {
			if t.owner == m.proj.Name() {
				rp.Tables = append(rp.Tables, RebuiltTable{Name: t.name, Rows: counts[i].rows, Deleted: counts[i].deleted, Written: counts[i].written})
			}
		}
		rep.Projections = append(rep.Projections, rp)
	}
	return nil
}

// spansOf gives every member the same span of the journal.
func spansOf(members []member, after, upto int64) map[string]span {
	spans := make(map[string]span, len(members))
	for _, m := range members {
		spans[m.proj.Name()] = span{after, upto}
	}
	return spans
}

// lockHeads locks every book's head row, in name order (the order Heads
// lists them in). On Citus, where the rows live on the books' shards, one
// statement per book (Citus locks rows of one shard at a time).
func lockHeads(ctx context.Context, tx pgx.Tx, heads []pgjournal.Head, citus bool) error {
	if !citus {
		_, err := tx.Exec(ctx, `SELECT book FROM book_heads ORDER BY book FOR UPDATE`)
		return err
	}
	for _, h := range heads {
		if _, err := tx.Exec(ctx, `SELECT book FROM book_heads WHERE book = $1 FOR UPDATE`, h.Book); err != nil {
			return err
		}
	}
	return nil
}

// lockCheckpoints locks the async projections' checkpoint rows (one
// statement per book on Citus, as lockHeads).
func lockCheckpoints(ctx context.Context, tx pgx.Tx, async []string, heads []pgjournal.Head, citus bool) error {
	if !citus {
		_, err := tx.Exec(ctx, `SELECT 1 FROM projection_checkpoints WHERE projection = ANY($1) FOR UPDATE`, async)
		return err
	}
	for _, h := range heads {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM projection_checkpoints WHERE projection = ANY($1) AND book = $2 FOR UPDATE`, async, h.Book); err != nil {
			return err
		}
	}
	return nil
}
