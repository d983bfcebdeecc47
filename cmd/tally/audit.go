package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/schema"
)

// Exit codes of the operations commands.
const (
	exitOK     = 0 // every check passed
	exitFailed = 1 // a check failed: the journal or a projection is not what it should be
	exitError  = 2 // a usage error, or the command could not run
)

const auditUsage = `
Audit and replay (human output by default, --json for machines; exit 0 when
every check passes, 1 when one fails, 2 when the command cannot run):
  tally verify  [--book NAME] [--journal-only] [--json]
                re-check chain, positions, zero-sum postings, running
                balances and every projection; every book unless --book
  tally rebuild [--json] [PROJECTION ...]
                replay the journal into fresh tables and swap them in
                (all projections unless named: ` + "%s" + `)
  tally replay  [--book NAME] [--at TIME | --position N] [--account ID] [--json]
                the trial balance (or one account's balance) as of then
  tally export  --format jsonl|csv [--book NAME] [--from X] [--to Y] [--out FILE]
                the journal; X and Y are positions or RFC 3339 times (inclusive)
`

// runAudit runs one of verify, rebuild, replay and export, and returns the
// process's exit code.
func runAudit(ctx context.Context, command string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tally "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	book := fs.String("book", "", "book (default: every book for verify, main otherwise)")
	var run func(*ops) (bool, error)
	var positional []string
	switch command {
	case "verify":
		journalOnly := fs.Bool("journal-only", false, "check the journal only, not the projections")
		run = func(o *ops) (bool, error) { return o.verify(*book, *journalOnly) }
	case "rebuild":
		run = func(o *ops) (bool, error) { return o.rebuild(positional) }
	case "replay":
		at := fs.String("at", "", "an RFC 3339 time: the last position recorded at or before it")
		position := fs.Int64("position", 0, "a journal position")
		account := fs.String("account", "", "show only this account's balance")
		run = func(o *ops) (bool, error) { return o.replay(*book, *at, *position, *account) }
	case "export":
		format := fs.String("format", "", "jsonl or csv")
		from := fs.String("from", "", "first position, or the first time (RFC 3339)")
		to := fs.String("to", "", "last position, or the last time (RFC 3339)")
		out := fs.String("out", "", "write to this file instead of standard output")
		run = func(o *ops) (bool, error) { return o.export(bookOr(*book), *format, *from, *to, *out) }
	default:
		fmt.Fprintf(stderr, "tally: unknown command %q\n", command)
		return exitError
	}
	// Flags may follow arguments too: tally rebuild balances --json.
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return exitError
		}
		if fs.NArg() == 0 {
			break
		}
		positional, rest = append(positional, fs.Arg(0)), fs.Args()[1:]
	}
	if command != "rebuild" && len(positional) > 0 {
		fmt.Fprintf(stderr, "tally %s: unexpected arguments %v\n", command, positional)
		return exitError
	}

	cfg, err := configFromEnv()
	if err != nil {
		fmt.Fprintln(stderr, "tally:", err)
		return exitError
	}
	if os.Getenv("TALLY_LOG_LEVEL") == "" {
		cfg.LogLevel = slog.LevelWarn // the report is the output; logs only for trouble
	}
	cfg.existingOnly = true
	m := NewMain(cfg)
	m.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	defer m.Close()
	pool, err := m.connect(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "tally:", err)
		return exitError
	}
	o := &ops{ctx: ctx, stdout: stdout, stderr: stderr, json: *asJSON, pool: pool,
		store: pgjournal.NewStore(pool), set: projections.Default(pool)}
	failed, err := run(o)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "tally %s: %v\n", command, err)
		return exitError
	case failed:
		return exitFailed
	}
	return exitOK
}

func bookOr(book string) string {
	if book == "" {
		return ledger.DefaultBook
	}
	return book
}

// connect opens the database for an operations command: TALLY_DATABASE_URL,
// or in local mode the PostgreSQL a running `tally serve` started in
// TALLY_DATA_DIR, or else one started on the cluster there as serve starts it
// (with pending migrations applied, as serve would), never a new cluster. A database named by
// URL is never migrated from here: its schema must be current already.
func (m *Main) connect(ctx context.Context) (*pgxpool.Pool, error) {
	url, err := m.localServerOrOpen(ctx)
	if err != nil {
		return nil, err
	}
	if m.cfg.LocalMode() {
		if err := schema.Migrate(url); err != nil {
			return nil, err
		}
	}
	if m.pool, err = pgxpool.New(ctx, url); err != nil {
		return nil, err
	}
	latest, err := schema.Latest()
	if err != nil {
		return nil, err
	}
	var version int64
	var dirty bool
	if err := m.pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty); err != nil {
		return nil, fmt.Errorf("reading the schema version: %w", err)
	}
	if dirty || uint(version) != latest {
		return nil, fmt.Errorf("the schema is at version %d (dirty=%v), this tally needs %d: run tally migrate", version, dirty, latest)
	}
	return m.pool, nil
}

// ops is one operations command's connection to the ledger and its output.
type ops struct {
	ctx            context.Context
	stdout, stderr io.Writer
	json           bool
	pool           *pgxpool.Pool
	store          *pgjournal.Store
	set            *projections.Set
}

func (o *ops) printJSON(v any) error {
	enc := json.NewEncoder(o.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// verify checks one book, or every book, and reports whether any failed.
func (o *ops) verify(book string, journalOnly bool) (bool, error) {
	books := []string{book}
	if book == "" {
		heads, err := pgjournal.Heads(o.ctx, o.pool)
		if err != nil {
			return false, err
		}
		books = books[:0]
		for _, h := range heads {
			books = append(books, h.Book)
		}
	}
	var reports []*projections.Report
	ok := true
	start := time.Now()
	for _, b := range books {
		bar := newProgress(o.stderr, "verify "+b, !o.json)
		rep, err := o.set.Verify(o.ctx, b, projections.VerifyOptions{Progress: bar.update, JournalOnly: journalOnly})
		bar.finish()
		if err != nil {
			return false, err
		}
		ok = ok && rep.OK
		reports = append(reports, rep)
		if !o.json {
			printReport(o.stdout, rep)
		}
	}
	if o.json {
		return !ok, o.printJSON(map[string]any{"ok": ok, "books": reports})
	}
	verdict := "OK: every check passed"
	if !ok {
		verdict = "FAILED: see the problems above"
	}
	fmt.Fprintf(o.stdout, "%s (%d book(s) in %s)\n", verdict, len(reports), time.Since(start).Round(time.Millisecond))
	return !ok, nil
}

func printReport(w io.Writer, rep *projections.Report) {
	okText := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "FAILED"
	}
	secs := float64(rep.DurationMS) / 1000
	rate := ""
	if secs > 0 {
		rate = fmt.Sprintf(", %s events/s", group(int64(float64(rep.Events)/secs)))
	}
	fmt.Fprintf(w, "book %s: %s events, last position %s, last hash %s (%.1fs%s)\n",
		rep.Book, group(rep.Events), group(rep.LastPosition), rep.LastHash, secs, rate)
	fmt.Fprintf(w, "  %-34s %s\n", "hash chain", okText(rep.ChainOK))
	fmt.Fprintf(w, "  %-34s %s\n", "positions without gaps", okText(rep.Contiguous))
	fmt.Fprintf(w, "  %-34s %s\n", "postings sum to zero", okText(rep.Balanced))
	fmt.Fprintf(w, "  %-34s %s\n", "running balances", okText(rep.RunningBalancesOK))
	for _, p := range rep.Projections {
		state := okText(p.OK)
		if p.Error != "" {
			state = "FAILED: " + p.Error
		}
		at := fmt.Sprintf("%s, at %s", p.Mode, group(p.Position))
		if p.Lag > 0 {
			at += fmt.Sprintf(", %s behind", group(p.Lag))
		}
		fmt.Fprintf(w, "  %-34s %s (%s)\n", "projection "+p.Name, state, at)
		for _, m := range p.Mismatches {
			key, _ := json.Marshal(m.Key)
			fmt.Fprintf(w, "      %s %s\n        live:    %s\n        rebuilt: %s\n", m.Table, key, orNone(m.Live), orNone(m.Rebuilt))
		}
		if p.More {
			fmt.Fprintln(w, "      … and more rows")
		}
	}
	if len(rep.NegativeWallets) == 0 {
		fmt.Fprintf(w, "  %-34s %s\n", "negative wallets", "none")
	} else {
		fmt.Fprintf(w, "  %-34s %d\n", "negative wallets", len(rep.NegativeWallets))
		for _, nw := range rep.NegativeWallets {
			fmt.Fprintf(w, "      %s %s %s (owner %s)\n", nw.Account, nw.Balance, nw.Currency, nw.Owner)
		}
	}
	if rep.FirstBadPosition != nil {
		fmt.Fprintf(w, "  first bad position: %d\n", *rep.FirstBadPosition)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "    position %d [%s] %s\n", p.Position, p.Check, p.Detail)
	}
	if rep.ProblemCount > len(rep.Problems) {
		fmt.Fprintf(w, "    … %d problems in all\n", rep.ProblemCount)
	}
}

func orNone(raw json.RawMessage) string {
	if raw == nil {
		return "(none)"
	}
	return string(raw)
}

// rebuild replays the named projections (all when none is named).
func (o *ops) rebuild(names []string) (bool, error) {
	bar := newProgress(o.stderr, "rebuild", !o.json)
	rep, err := o.set.Rebuild(o.ctx, names, projections.RebuildOptions{Progress: bar.update})
	bar.finish()
	if err != nil {
		return false, err
	}
	if o.json {
		return false, o.printJSON(rep)
	}
	secs := float64(rep.DurationMS) / 1000
	rate := int64(0)
	if secs > 0 {
		rate = int64(float64(rep.Events) / secs)
	}
	fmt.Fprintf(o.stdout, "replayed %s events in %.1fs (%s events/s)\n", group(rep.Events), secs, group(rate))
	for _, p := range rep.Projections {
		for _, t := range p.Tables {
			fmt.Fprintf(o.stdout, "  %-18s %-16s %12s rows  %s deleted, %s written\n", p.Name, t.Name, group(t.Rows), group(t.Deleted), group(t.Written))
		}
	}
	return false, nil
}

// asOf turns --at or --position into a position of book (0 and 0: the head).
func (o *ops) asOf(book, at string, position int64) (int64, time.Time, error) {
	head, err := o.store.Head(o.ctx, book)
	if err != nil {
		return 0, time.Time{}, err
	}
	var t time.Time
	switch {
	case at != "" && position != 0:
		return 0, t, errors.New("give --at or --position, not both")
	case at != "":
		if t, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return 0, t, fmt.Errorf("--at must be an RFC 3339 time such as 2026-01-31T23:59:59Z")
		}
		position, err = o.store.PositionAt(o.ctx, book, t)
		return position, t, err
	case position < 0 || position > head.Position:
		return 0, t, fmt.Errorf("--position %d is outside book %s (positions 1 to %d)", position, book, head.Position)
	case position == 0:
		return head.Position, t, nil
	}
	return position, t, nil
}

// replay prints the trial balance of book as of a moment (or one account's
// balance) and reports whether the totals failed to sum to zero.
func (o *ops) replay(book, at string, position int64, account string) (bool, error) {
	if account != "" {
		// Positions are per book: the account's book is the one that counts.
		a, err := o.store.Account(o.ctx, account)
		if err != nil {
			return false, err
		}
		if book != "" && book != a.Book {
			return false, fmt.Errorf("account %s is in book %s, not %s", account, a.Book, book)
		}
		book = a.Book
	}
	book = bookOr(book)
	position, t, err := o.asOf(book, at, position)
	if err != nil {
		return false, err
	}
	if account != "" {
		b, err := o.store.BalanceAt(o.ctx, account, position)
		if position == 0 && err == nil {
			b.Balance, b.Position = ledger.Zero(b.Balance.Currency()), 0 // nothing recorded yet then
		}
		if err != nil {
			return false, err
		}
		if o.json {
			return false, o.printJSON(map[string]any{"account_id": b.AccountID, "currency": b.Balance.Currency(), "balance": b.Balance.String(), "position": b.Position})
		}
		fmt.Fprintf(o.stdout, "%s %s %s at position %d\n", b.AccountID, b.Balance, b.Balance.Currency(), b.Position)
		return false, nil
	}
	w := bufio.NewWriterSize(o.stdout, 64<<10)
	defer w.Flush()
	first := true
	if o.json {
		name, _ := json.Marshal(book)
		fmt.Fprintf(w, `{"book":%s,"position":%d`, name, position)
		if !t.IsZero() {
			fmt.Fprintf(w, `,"at":%q`, t.UTC().Format(ledger.TimeFormat))
		}
		w.WriteString(`,"accounts":[`)
	} else {
		when := ""
		if !t.IsZero() {
			when = " (the last recorded at or before " + t.UTC().Format(ledger.TimeFormat) + ")"
		}
		fmt.Fprintf(w, "trial balance of book %s at position %s%s\n", book, group(position), when)
		fmt.Fprintf(w, "%-30s %-7s %-24s %-8s %24s\n", "account", "kind", "name or owner", "currency", "balance")
	}
	totals, err := o.store.TrialBalance(o.ctx, book, position, func(l pgjournal.TrialLine) error {
		if o.json {
			line, _ := json.Marshal(map[string]any{"account": l.Account, "kind": l.Kind, "name": l.Name, "owner": l.Owner, "currency": l.Balance.Currency(), "balance": l.Balance.String()})
			if !first {
				w.WriteByte(',')
			}
			first = false
			_, err := w.Write(line)
			return err
		}
		who := l.Owner
		if l.Kind == ledger.KindSystem {
			who = l.Name
		}
		_, err := fmt.Fprintf(w, "%-30s %-7s %-24s %-8s %24s\n", l.Account, l.Kind, who, l.Balance.Currency(), l.Balance)
		return err
	})
	if err != nil {
		return false, err
	}
	balanced := true
	for _, tot := range totals {
		balanced = balanced && tot.Sum.IsZero()
	}
	if o.json {
		views := make([]map[string]string, 0, len(totals))
		for _, tot := range totals {
			views = append(views, map[string]string{"currency": string(tot.Currency), "sum": tot.Sum.String()})
		}
		tail, _ := json.Marshal(views)
		fmt.Fprintf(w, `],"totals":%s,"balanced":%v}`+"\n", tail, balanced)
		return !balanced, nil
	}
	fmt.Fprintln(w, "totals per currency (each must be zero):")
	for _, tot := range totals {
		state := "ok"
		if !tot.Sum.IsZero() {
			state = "NOT ZERO"
		}
		fmt.Fprintf(w, "  %-8s %24s  %s\n", tot.Currency, tot.Sum, state)
	}
	return !balanced, nil
}

// export writes book's journal as JSON Lines (each line exactly the event
// GET /v1/events returns, so its hash can be re-checked) or as CSV (one row
// per posting, for spreadsheets).
func (o *ops) export(book, format, from, to, out string) (bool, error) {
	if format != "jsonl" && format != "csv" {
		return false, errors.New("--format must be jsonl or csv")
	}
	head, err := o.store.Head(o.ctx, book)
	if err != nil {
		return false, err
	}
	after, upto := int64(0), head.Position
	if from != "" {
		if after, err = o.bound(book, from, true); err != nil {
			return false, fmt.Errorf("--from: %w", err)
		}
	}
	if to != "" {
		if upto, err = o.bound(book, to, false); err != nil {
			return false, fmt.Errorf("--to: %w", err)
		}
	}
	dst := o.stdout
	if out != "" {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return false, err
		}
		defer f.Close()
		dst = f
	}
	w := bufio.NewWriterSize(dst, 256<<10)
	var cw *csv.Writer
	if format == "csv" {
		cw = csv.NewWriter(w)
		if err := cw.Write(pgjournal.ExportCSVHeader); err != nil {
			return false, err
		}
	}
	bar := newProgress(o.stderr, "export "+book, true)
	var n int64
	first, last := int64(0), after
	lastHash := ""
	for last < upto {
		events, err := pgjournal.ReadEvents(o.ctx, o.pool, book, last, upto, 5000)
		if err != nil {
			return false, err
		}
		if len(events) == 0 {
			break
		}
		for _, e := range events {
			if first == 0 {
				first = e.Position
			}
			if cw != nil {
				err = pgjournal.WriteCSV(cw, e)
			} else {
				err = pgjournal.WriteJSONL(w, e)
			}
			if err != nil {
				return false, err
			}
		}
		n += int64(len(events))
		last, lastHash = events[len(events)-1].Position, events[len(events)-1].Hash
		bar.update(n, upto-after)
	}
	bar.finish()
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return false, err
		}
	}
	if err := w.Flush(); err != nil {
		return false, err
	}
	if n == 0 {
		fmt.Fprintf(o.stderr, "exported no events of book %s\n", book)
		return false, nil
	}
	fmt.Fprintf(o.stderr, "exported %s events of book %s, positions %d to %d; last hash %s\n", group(n), book, first, last, lastHash)
	return false, nil
}

// bound reads --from or --to: a position, or a time. A time from starts
// at the first event recorded at or after it; a time to ends at the last
// recorded at or before it. It returns the position to export after (from)
// or up to (to).
func (o *ops) bound(book, s string, from bool) (int64, error) {
	if p, err := strconv.ParseInt(s, 10, 64); err == nil {
		if p < 1 {
			return 0, errors.New("positions start at 1")
		}
		if from {
			return p - 1, nil
		}
		return p, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, errors.New("give a position or an RFC 3339 time such as 2026-01-31T23:59:59Z")
	}
	if from {
		// Recorded times have microseconds at most: this is "strictly before t".
		return o.store.PositionAt(o.ctx, book, t.Add(-time.Microsecond))
	}
	return o.store.PositionAt(o.ctx, book, t)
}

// localServerOrOpen is openDatabase for commands that may share a running
// `tally serve`'s local PostgreSQL instead of starting their own.
func (m *Main) localServerOrOpen(ctx context.Context) (string, error) {
	if m.cfg.LocalMode() {
		dir, err := filepath.Abs(m.cfg.DataDir)
		if err != nil {
			return "", err
		}
		if url := runningLocalServer(ctx, dir); url != "" {
			return url, nil
		}
	}
	return m.openDatabase(ctx)
}
