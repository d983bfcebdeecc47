package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
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
	live    string // quoted name of the live tables' schema
	members []member
	tables  []*tableInfo // every member's tables, in member order
	// tolerant sessions (verify) record a projection whose Apply fails in
	// failed and carry on without it; others (rebuild) stop.
	tolerant bool
	failed   map[string]string
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
	ss := &session{conn: conn, members: members, tolerant: tolerant, failed: map[string]string{}}
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
			ss.tables = append(ss.tables, info)
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

// snapshotPattern is the form of pg_export_snapshot's ids; they are spliced
// into SET TRANSACTION SNAPSHOT, which takes no parameters.
var snapshotPattern = regexp.MustCompile(`^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$`)

// beginInSnapshot starts a read-only repeatable-read transaction that sees
// exactly what the transaction that exported snapshot sees.
func beginInSnapshot(ctx context.Context, conn interface {
	BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
}, snapshot string) (pgx.Tx, error) {
	if !snapshotPattern.MatchString(snapshot) {
		return nil, fmt.Errorf("projections: unexpected snapshot id %q", snapshot)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	// The simple protocol sends the statement as is: importing a snapshot
	// must come before anything else in the transaction, even a prepare.
	if _, err := tx.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+snapshot+`'`, pgx.QueryExecModeSimpleProtocol); err != nil {
		_ = tx.Rollback(ctx)
		return nil, err
	}
	return tx, nil
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
// shows each page to visit (if set) and applies it. With tx nil every page
// commits in a transaction of its own, so that the copies' dead row
// versions can be pruned as the replay goes; otherwise everything happens
// in tx. It returns the number of events read.
func (ss *session) replay(ctx context.Context, tx pgx.Tx, book string, spans map[string]span, visit func([]ledger.Event) error) (int64, error) {
	after, upto := int64(-1), int64(0)
	for _, sp := range spans {
		if after < 0 || sp.after < after {
			after = sp.after
		}
		upto = max(upto, sp.upto)
	}
	var n int64
	for after >= 0 && after < upto {
		events, err := ss.replayPage(ctx, tx, book, after, upto, spans, visit)
		if err != nil {
			return n, err
		}
		if len(events) == 0 {
			break
		}
		n += int64(len(events))
		after = events[len(events)-1].Position
	}
	return n, nil
}

func (ss *session) replayPage(ctx context.Context, tx pgx.Tx, book string, after, upto int64, spans map[string]span, visit func([]ledger.Event) error) ([]ledger.Event, error) {
	own := tx == nil
	if own {
		var err error
		if tx, err = ss.conn.Begin(ctx); err != nil {
			return nil, err
		}
		defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	}
	events, err := pgjournal.ReadEvents(ctx, tx, book, after, upto, replayPage)
	if err != nil {
		return nil, err
	}
	if visit != nil {
		if err := visit(events); err != nil {
			return nil, err
		}
	}
	if err := ss.apply(ctx, tx, spans, events); err != nil {
		return nil, err
	}
	if own {
		return events, tx.Commit(ctx)
	}
	return events, nil
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
// It must run in a transaction whose search path puts the live schema
// first, so that a Book condition naming other tables reads the live ones.
func (ss *session) compare(ctx context.Context, tx pgx.Tx, t *tableInfo, book string, max int) ([]Mismatch, bool, error) {
	cols := strings.Join(t.cols, ", ")
	liveRows := `SELECT ` + cols + ` FROM ` + t.live + ` WHERE (` + t.book + `)`
	shadowRows := `SELECT ` + cols + ` FROM ` + t.shadow
	onlyLive, moreLive, err := jsonRows(ctx, tx, `SELECT to_jsonb(x)::text FROM (`+liveRows+` EXCEPT ALL `+shadowRows+`) x LIMIT $2`, book, max+1)
	if err != nil {
		return nil, false, fmt.Errorf("projections: compare %s: %w", t.name, err)
	}
	onlyShadow, moreShadow, err := jsonRows(ctx, tx, `SELECT to_jsonb(x)::text FROM (`+shadowRows+` EXCEPT ALL `+liveRows+`) x LIMIT $2`, book, max+1)
	if err != nil {
		return nil, false, fmt.Errorf("projections: compare %s: %w", t.name, err)
	}
	more := len(onlyLive) > max || len(onlyShadow) > max || moreLive || moreShadow
	var out []Mismatch
	paired := map[string]int{}
	for _, raw := range onlyLive {
		key, id := t.keyOf(raw)
		paired[id] = len(out)
		out = append(out, Mismatch{Table: t.name, Key: key, Live: raw})
	}
	for _, raw := range onlyShadow {
		key, id := t.keyOf(raw)
		if i, ok := paired[id]; ok {
			out[i].Rebuilt = raw
			continue
		}
		out = append(out, Mismatch{Table: t.name, Key: key, Rebuilt: raw})
	}
	if len(out) > max {
		out, more = out[:max], true
	}
	return out, more, nil
}

func jsonRows(ctx context.Context, tx pgx.Tx, sql, book string, limit int) ([]json.RawMessage, bool, error) {
	rows, err := tx.Query(ctx, sql, book, limit)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []json.RawMessage
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, false, err
		}
		out = append(out, json.RawMessage(s))
	}
	more := len(out) == limit
	return out, more, rows.Err()
}

// keyOf extracts a row's primary key, as a map for reports and as a string
// for pairing.
func (t *tableInfo) keyOf(raw json.RawMessage) (map[string]any, string) {
	var row map[string]any
	_ = json.Unmarshal(raw, &row) // PostgreSQL rendered it
	key := make(map[string]any, len(t.keyRaw))
	for _, k := range t.keyRaw {
		key[k] = row[k]
	}
	id, _ := json.Marshal(key) // map keys marshal sorted
	return key, string(id)
}

// Rows counts of one table brought to its rebuilt contents.
type swapCounts struct {
	deleted, written, rows int64
}

// deleteStale removes live rows whose key the rebuilt copy lacks.
func (ss *session) deleteStale(ctx context.Context, tx pgx.Tx, t *tableInfo) (int64, error) {
	var match []string
	for _, k := range t.key {
		match = append(match, "s."+k+" = l."+k)
	}
	tag, err := tx.Exec(ctx, `DELETE FROM `+t.live+` l WHERE NOT EXISTS (SELECT 1 FROM `+t.shadow+` s WHERE `+strings.Join(match, " AND ")+`)`)
	if err != nil {
		return 0, fmt.Errorf("projections: rebuild %s: delete: %w", t.name, err)
	}
	return tag.RowsAffected(), nil
}

// writeChanged inserts the copy's rows the live table lacks or holds
// differently, replacing the latter by primary key.
func (ss *session) writeChanged(ctx context.Context, tx pgx.Tx, t *tableInfo) (int64, error) {
	cols := strings.Join(t.cols, ", ")
	isKey := map[string]bool{}
	for _, k := range t.key {
		isKey[k] = true
	}
	var set []string
	for _, c := range t.cols {
		if !isKey[c] {
			set = append(set, c+" = EXCLUDED."+c)
		}
	}
	conflict := `DO NOTHING`
	if len(set) > 0 {
		conflict = `DO UPDATE SET ` + strings.Join(set, ", ")
	}
	tag, err := tx.Exec(ctx, `INSERT INTO `+t.live+` (`+cols+`)
		SELECT `+cols+` FROM (SELECT `+cols+` FROM `+t.shadow+` EXCEPT SELECT `+cols+` FROM `+t.live+`) d
		ON CONFLICT (`+strings.Join(t.key, ", ")+`) `+conflict)
	if err != nil {
		return 0, fmt.Errorf("projections: rebuild %s: write: %w", t.name, err)
	}
	return tag.RowsAffected(), nil
}
