package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// replayPage is how many events a replay reads and applies at a time.
const replayPage = 2000

// session is a dedicated connection holding fresh copies of projection
// tables as temporary tables with the live tables' names. The session's
// search path puts pg_temp first, so a projection's Apply writes to the
// copies; everything else (events, postings, books) resolves to the live
// schema. Temporary tables live only as long as the connection, so a crash
// leaves nothing behind, and they are not WAL-logged, which makes replay
// cheaper. A role that may only read the live tables can still verify.
type session struct {
	conn    *pgx.Conn
	pool    *pgxpool.Pool // reads the journal ahead of the replay
	live    string        // quoted name of the live tables' schema
	members []member
	tables  []*tableInfo // every member's tables, in member order
	// tolerant sessions (verify) record a projection whose Apply fails in
	// failed and carry on without it; others (rebuild) stop.
	tolerant bool
	failed   map[string]string
	// citus: the live tables are distributed (or reference) tables, which
	// Citus does not join reliably with a session's temporary tables, so
	// compare (and rebuild's swap, see copyLive) copies the live rows into
	// one first.
	citus bool
}

// tableInfo is what rebuild and compare need to know of one table.
type tableInfo struct {
	name   string
	owner  string   // projection name
	book   string   // the Table.Book condition
	live   string   // schema-qualified, quoted
	shadow string   // pg_temp-qualified, quoted
	cols   []string // quoted, in table order, generated columns left out
	key    []string // quoted primary-key columns
	keyRaw []string // the same, unquoted (for reading JSON rows)
}

func (s *Set) openSession(ctx context.Context, members []member, tolerant bool) (*session, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	ss := &session{conn: conn, pool: s.pool, members: members, tolerant: tolerant, failed: map[string]string{}}
	if err := ss.init(ctx); err != nil {
		ss.close()
		return nil, err
	}
	return ss, nil
}

func (ss *session) init(ctx context.Context) error {
	var schema string
	if err := ss.conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return err
	}
	ss.live = pgx.Identifier{schema}.Sanitize()
	if err := ss.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&ss.citus); err != nil {
		return err
	}
	// temp_buffers only takes effect before the session's first use of a
	// temporary table; the default (8MB) makes large replays spill early.
	for _, stmt := range []string{
		`SET temp_buffers = '256MB'`,
		`SET search_path TO pg_temp, ` + ss.live,
	} {
		if _, err := ss.conn.Exec(ctx, stmt); err != nil {
			return err
		}
	}
	for _, m := range ss.members {
		for _, t := range m.proj.Tables() {
			info, err := ss.describe(ctx, m.proj.Name(), t)
			if err != nil {
				return err
			}
			if _, err := ss.conn.Exec(ctx, `CREATE TEMP TABLE `+pgx.Identifier{t.Name}.Sanitize()+` (LIKE `+info.live+` INCLUDING ALL)`); err != nil {
				return fmt.Errorf("projections: fresh copy of %s: %w", t.Name, err)
			}
			if err := ss.dropReadIndexes(ctx, info); err != nil {
				return err
			}
			if ss.citus {
				// Where compare and copyLive copy the live rows; made
				// here, as verify compares in a read-only transaction.
				if _, err := ss.conn.Exec(ctx, `CREATE TEMP TABLE `+info.liveCopy()+` AS SELECT `+strings.Join(info.cols, ", ")+` FROM `+info.shadow+` WITH NO DATA`); err != nil {
					return fmt.Errorf("projections: copy of live %s: %w", t.Name, err)
				}
			}
			ss.tables = append(ss.tables, info)
		}
	}
	return nil
}

// dropReadIndexes drops the copy's non-unique indexes. They serve the API's
// reads of the live table; Apply and the comparison need only the primary
// key and unique indexes (whose constraints a projection may rely on), and
// keeping the rest would make a replay several times slower.
func (ss *session) dropReadIndexes(ctx context.Context, t *tableInfo) error {
	rows, err := ss.conn.Query(ctx, `SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass AND NOT i.indisunique`, t.shadow)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := ss.conn.Exec(ctx, `DROP INDEX pg_temp.`+pgx.Identifier{n}.Sanitize()); err != nil {
			return err
		}
	}
	return nil
}

// describe reads a live table's columns and primary key from the catalog.
func (ss *session) describe(ctx context.Context, owner string, t Table) (*tableInfo, error) {
	info := &tableInfo{
		name: t.Name, owner: owner, book: t.Book,
		live:   ss.live + "." + pgx.Identifier{t.Name}.Sanitize(),
		shadow: "pg_temp." + pgx.Identifier{t.Name}.Sanitize(),
	}
	rows, err := ss.conn.Query(ctx, `
		SELECT a.attname, coalesce((SELECT k.n FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) WHERE k.attnum = a.attnum), 0)
		FROM pg_attribute a
		LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
		ORDER BY a.attnum`, info.live)
	if err != nil {
		return nil, fmt.Errorf("projections: table %s: %w", t.Name, err)
	}
	defer rows.Close()
	keyAt := map[int]string{}
	for rows.Next() {
		var col string
		var pk int
		if err := rows.Scan(&col, &pk); err != nil {
			return nil, err
		}
		info.cols = append(info.cols, pgx.Identifier{col}.Sanitize())
		if pk > 0 {
			keyAt[pk] = col
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := 1; i <= len(keyAt); i++ {
		info.keyRaw = append(info.keyRaw, keyAt[i])
		info.key = append(info.key, pgx.Identifier{keyAt[i]}.Sanitize())
	}
	if len(info.key) == 0 {
		return nil, fmt.Errorf("projections: table %s of %s has no primary key; rebuild matches rows by it", t.Name, owner)
	}
	return info, nil
}

// modeOf says how a member of the session runs.
func (ss *session) modeOf(p Projection) Mode {
	for _, m := range ss.members {
		if m.proj.Name() == p.Name() {
			return m.mode
		}
	}
	return ""
}

func (ss *session) close() {
	// Closing the connection drops its temporary tables.
	_ = ss.conn.Close(context.Background())
}

// span is the part of a book's journal one projection still has to
// replay: the positions after after, up to and including upto.
type span struct{ after, upto int64 }

// apply applies a page of events to every member still replaying, each only
// within its span. In a tolerant session (verify) each Apply runs under a
// savepoint: a projection that fails is recorded in ss.failed and left out
// from then on, so one broken projection does not hide the others. Otherwise
// (rebuild) the first failure is returned.
func (ss *session) apply(ctx context.Context, tx pgx.Tx, spans map[string]span, events []ledger.Event) error {
	for _, m := range ss.members {
		name := m.proj.Name()
		if _, failed := ss.failed[name]; failed {
			continue
		}
		sp, ok := spans[name]
		if !ok {
			continue
		}
		lo := sort.Search(len(events), func(i int) bool { return events[i].Position > sp.after })
		hi := sort.Search(len(events), func(i int) bool { return events[i].Position > sp.upto })
		if lo >= hi {
			continue
		}
		page := events[lo:hi]
		if !ss.tolerant {
			if err := m.proj.Apply(ctx, tx, page); err != nil {
				return fmt.Errorf("projection %s failed on positions %d–%d: %w", name, page[0].Position, page[len(page)-1].Position, err)
			}
			continue
		}
		save, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		if err := m.proj.Apply(ctx, save, page); err != nil {
			if rerr := save.Rollback(ctx); rerr != nil {
				return rerr
			}
			ss.failed[name] = fmt.Sprintf("the replay failed on positions %d–%d: %v", page[0].Position, page[len(page)-1].Position, err)
			continue
		}
		if err := save.Commit(ctx); err != nil {
			return err
		}
	}
	return nil
}

// replay reads book's events in the union of the spans, a page at a time,
// shows each page to visit (if set) and applies it. It returns the number of
// events read.
//
// With tx nil (the bulk of a verify or rebuild) a reader goroutine fetches,
// parses and visits the next page from the pool while this one is applied,
// and every page commits in a transaction of its own, so that the copies'
// dead row versions can be pruned as the replay goes. Reading outside any
// snapshot is sound there: journal rows up to the head never change. With a
// tx everything happens in it, one page after the other.
func (ss *session) replay(ctx context.Context, tx pgx.Tx, book string, spans map[string]span, visit func([]ledger.Event) error) (int64, error) {
	after, upto := int64(-1), int64(0)
	for _, sp := range spans {
		if after < 0 || sp.after < after {
			after = sp.after
		}
		upto = max(upto, sp.upto)
	}
	if after < 0 || after >= upto {
		return 0, nil
	}
	if tx != nil {
		var n int64
		for after < upto {
			events, err := pgjournal.ReadEvents(ctx, tx, book, after, upto, replayPage)
			if err == nil && visit != nil {
				err = visit(events)
			}
			if err == nil {
				err = ss.apply(ctx, tx, spans, events)
			}
			if err != nil || len(events) == 0 {
				return n, err
			}
			n += int64(len(events))
			after = events[len(events)-1].Position
		}
		return n, nil
	}

	ctx, cancel := context.WithCancel(ctx)
	type page struct {
		events []ledger.Event
		err    error
	}
	pages := make(chan page, 2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(pages)
		for after < upto {
			events, err := pgjournal.ReadEvents(ctx, ss.pool, book, after, upto, replayPage)
			if err == nil && visit != nil {
				err = visit(events)
			}
			select {
			case pages <- page{events, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(events) == 0 {
				return
			}
			after = events[len(events)-1].Position
		}
	}()
	// The reader must be gone before returning: visit touches the caller's state.
	defer func() { cancel(); <-done }()
	var n int64
	for p := range pages {
		if p.err != nil {
			return n, p.err
		}
		if len(p.events) == 0 {
			break
		}
		if err := ss.applyAlone(ctx, spans, p.events); err != nil {
			return n, err
		}
		n += int64(len(p.events))
	}
	return n, nil
}

// applyAlone applies a page in a transaction of its own.
func (ss *session) applyAlone(ctx context.Context, spans map[string]span, events []ledger.Event) error {
	tx, err := ss.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	if err := ss.apply(ctx, tx, spans, events); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Mismatch is a row on which a live table and its rebuilt copy disagree.
type Mismatch struct {
	Table string         `json:"table"`
	Key   map[string]any `json:"key"`
	// Live is the live row, null if the replay has a row the live table lacks.
	Live json.RawMessage `json:"live"`
	// Rebuilt is the replayed row, null if the live table has a row the
	// replay does not produce.
	Rebuilt json.RawMessage `json:"rebuilt"`
}

// compare returns up to max rows on which the live table (book's rows only)
// and its copy differ, paired by primary key, and whether there are more.
// One full join on the key finds rows only one side has and rows whose
// columns differ (NULLs compare equal, numbers and JSON by value). It must
// run in a transaction whose search path puts the live schema first, so
// that a Book condition naming other tables reads the live ones.
func (ss *session) compare(ctx context.Context, tx pgx.Tx, t *tableInfo, book string, max int) ([]Mismatch, bool, error) {
	cols := strings.Join(t.cols, ", ")
	live := `(SELECT ` + cols + ` FROM ` + t.live + ` WHERE (` + t.book + `))`
	limit, args := "$2", []any{book, max + 1}
	if ss.citus {
		// On Citus, a query that joins a distributed or reference table
		// with a session's temporary table is not reliable (with a
		// reference table, Citus's local execution read the reference
		// table for the temporary copy of the same name too). So the
		// book's live rows are copied into a temporary table of their own
		// first, by a statement Citus routes to the book's shard, and the
		// comparison then involves temporary tables only.
		if err := ss.copyLive(ctx, tx, t, book); err != nil {
			return nil, false, err
		}
		limit, args, live = "$1", []any{max + 1}, t.liveCopy()
	}
	rows, err := tx.Query(ctx, `
		SELECT CASE WHEN `+t.keyNull("l")+` THEN NULL ELSE to_jsonb(l)::text END,
		       CASE WHEN `+t.keyNull("s")+` THEN NULL ELSE to_jsonb(s)::text END
		FROM `+live+` l
		FULL JOIN (SELECT `+cols+` FROM `+t.shadow+`) s ON `+t.keyMatch("l", "s")+`
		WHERE `+t.keyNull("l")+` OR `+t.keyNull("s")+` OR `+t.row("l")+` IS DISTINCT FROM `+t.row("s")+`
		LIMIT `+limit, args...)
	if err != nil {
		return nil, false, fmt.Errorf("projections: compare %s: %w", t.name, err)
	}
	defer rows.Close()
	var out []Mismatch
	for rows.Next() {
		var live, rebuilt *string
		if err := rows.Scan(&live, &rebuilt); err != nil {
			return nil, false, err
		}
		m := Mismatch{Table: t.name}
		if live != nil {
			m.Live = json.RawMessage(*live)
			m.Key = t.keyOf(m.Live)
		}
		if rebuilt != nil {
			m.Rebuilt = json.RawMessage(*rebuilt)
			m.Key = t.keyOf(m.Rebuilt)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("projections: compare %s: %w", t.name, err)
	}
	if len(out) > max {
		return out[:max], true, nil
	}
	return out, false, nil
}

// liveCopy is the temporary table compare copies the book's live rows
// into on Citus.
func (t *tableInfo) liveCopy() string { return pgx.Identifier{"pg_temp", "live_" + t.name}.Sanitize() }

// keyMatch is the join condition of two aliases on the primary key.
func (t *tableInfo) keyMatch(a, b string) string {
	var match []string
	for _, k := range t.key {
		match = append(match, b+"."+k+" = "+a+"."+k)
	}
	return strings.Join(match, " AND ")
}

// keyNull holds when alias is the missing side of an outer join (primary
// key columns are never null otherwise).
func (t *tableInfo) keyNull(alias string) string { return alias + "." + t.key[0] + " IS NULL" }

// row is the tuple of all columns of alias.
func (t *tableInfo) row(alias string) string {
	var cols []string
	for _, c := range t.cols {
		cols = append(cols, alias+"."+c)
	}
	return "ROW(" + strings.Join(cols, ", ") + ")"
}

// keyOf extracts a row's primary key for reports.
func (t *tableInfo) keyOf(raw json.RawMessage) map[string]any {
	var row map[string]any
	_ = json.Unmarshal(raw, &row) // PostgreSQL rendered it
	key := make(map[string]any, len(t.keyRaw))
	for _, k := range t.keyRaw {
		key[k] = row[k]
	}
	return key
}

// swapCounts counts what bringing one live table to its rebuilt contents did.
type swapCounts struct {
	deleted, written, rows int64
}

// deleteStale removes live rows whose key the rebuilt copy lacks.
func (ss *session) deleteStale(ctx context.Context, tx pgx.Tx, t *tableInfo) (int64, error) {
	if ss.citus {
		n, err := ss.applyPages(ctx, tx, `SELECT `+t.keyList("l")+` FROM `+t.liveCopy()+` l WHERE NOT EXISTS (SELECT 1 FROM `+t.shadow+` s WHERE `+t.keyMatch("l", "s")+`)`,
			`DELETE FROM `+t.live+` WHERE (`+t.keyList("")+`) IN (SELECT `+t.keyList("")+` FROM jsonb_populate_recordset(NULL::`+t.live+`, $1))`)
		if err != nil {
			return 0, fmt.Errorf("projections: rebuild %s: delete: %w", t.name, err)
		}
		return n, nil
	}
	tag, err := tx.Exec(ctx, `DELETE FROM `+t.live+` l WHERE NOT EXISTS (SELECT 1 FROM `+t.shadow+` s WHERE `+t.keyMatch("l", "s")+`)`)
	if err != nil {
		return 0, fmt.Errorf("projections: rebuild %s: delete: %w", t.name, err)
	}
	return tag.RowsAffected(), nil
}

// copyLive replaces the session's copy of the live table (liveCopy) with
// the live rows of books, on Citus, where the live table cannot be joined
// with the session's tables: one statement per book, which Citus routes to
// the book's shard. compare, deleteStale and writeChanged then compare the
// copies.
func (ss *session) copyLive(ctx context.Context, tx pgx.Tx, t *tableInfo, books ...string) error {
	copied := t.liveCopy()
	if _, err := tx.Exec(ctx, `DELETE FROM `+copied); err != nil {
		return fmt.Errorf("projections: copy of live %s: %w", t.name, err)
	}
	for _, b := range books {
		if _, err := tx.Exec(ctx, `INSERT INTO `+copied+` SELECT `+strings.Join(t.cols, ", ")+` FROM `+t.live+` WHERE (`+t.book+`)`, b); err != nil {
			return fmt.Errorf("projections: copy the live rows of %s: %w", t.name, err)
		}
	}
	return nil
}

// applyPages runs apply on the rows query finds between the session's
// copies, rebuildPage rows at a time, each page handed over as a JSON
// array Citus expands on the coordinator. It returns the rows apply
// affected.
func (ss *session) applyPages(ctx context.Context, tx pgx.Tx, query, apply string) (int64, error) {
	if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS pg_temp.rebuild_diff`); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE rebuild_diff AS SELECT row_number() OVER () AS n, to_jsonb(d) AS r FROM (`+query+`) d`); err != nil {
		return 0, err
	}
	var total int64
	for from := 0; ; from += rebuildPage {
		var page *string
		if err := tx.QueryRow(ctx, `SELECT jsonb_agg(r ORDER BY n)::text FROM rebuild_diff WHERE n > $1 AND n <= $2`, from, from+rebuildPage).Scan(&page); err != nil {
			return 0, err
		}
		if page == nil {
			return total, nil
		}
		tag, err := tx.Exec(ctx, apply, *page)
		if err != nil {
			return 0, err
		}
		total += tag.RowsAffected()
	}
}

// rebuildPage is how many rows applyPages hands over at a time.
const rebuildPage = 5000

// keyList lists the primary-key columns, prefixed with alias if any.
func (t *tableInfo) keyList(alias string) string {
	var out []string
	for _, k := range t.key {
		if alias != "" {
			k = alias + "." + k
		}
		out = append(out, k)
	}
	return strings.Join(out, ", ")
}

// writeChanged inserts the copy's rows the live table lacks or holds
// differently, replacing the latter by primary key.
func (ss *session) writeChanged(ctx context.Context, tx pgx.Tx, t *tableInfo) (int64, error) {
	isKey := map[string]bool{}
	for _, k := range t.key {
		isKey[k] = true
	}
	var set, scols []string
	for _, c := range t.cols {
		scols = append(scols, "s."+c)
		if !isKey[c] {
			set = append(set, c+" = EXCLUDED."+c)
		}
	}
	conflict := `DO NOTHING`
	if len(set) > 0 {
		conflict = `DO UPDATE SET ` + strings.Join(set, ", ")
	}
	if ss.citus {
		n, err := ss.applyPages(ctx, tx, `SELECT `+strings.Join(scols, ", ")+` FROM `+t.shadow+` s LEFT JOIN `+t.liveCopy()+` l ON `+t.keyMatch("s", "l")+`
			WHERE `+t.keyNull("l")+` OR `+t.row("l")+` IS DISTINCT FROM `+t.row("s"),
			`INSERT INTO `+t.live+` (`+strings.Join(t.cols, ", ")+`)
			SELECT `+strings.Join(t.cols, ", ")+` FROM jsonb_populate_recordset(NULL::`+t.live+`, $1)
			ON CONFLICT (`+strings.Join(t.key, ", ")+`) `+conflict)
		if err != nil {
			return 0, fmt.Errorf("projections: rebuild %s: write: %w", t.name, err)
		}
		return n, nil
	}
	tag, err := tx.Exec(ctx, `INSERT INTO `+t.live+` (`+strings.Join(t.cols, ", ")+`)
		SELECT `+strings.Join(scols, ", ")+` FROM `+t.shadow+` s LEFT JOIN `+t.live+` l ON `+t.keyMatch("s", "l")+`
		WHERE `+t.keyNull("l")+` OR `+t.row("l")+` IS DISTINCT FROM `+t.row("s")+`
		ON CONFLICT (`+strings.Join(t.key, ", ")+`) `+conflict)
	if err != nil {
		return 0, fmt.Errorf("projections: rebuild %s: write: %w", t.name, err)
	}
	return tag.RowsAffected(), nil
}
