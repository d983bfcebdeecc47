package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
)

// DailySummaries keeps account_daily: for each account and UTC day (of the
// journal's recorded_at) with postings, the opening and closing balances and
// the day's credits and debits. It runs async, so statements may trail the
// journal by a moment; they say which position they reach.
type DailySummaries struct{}

// Name implements Projection.
func (DailySummaries) Name() string { return "daily_summaries" }

// Tables implements Projection.
func (DailySummaries) Tables() []Table { return []Table{{Name: "account_daily", Book: "book = $1"}} }

// dailyRow is one account-day of a batch, before it is merged into the table.
type dailyRow struct {
	account, book   string
	day             time.Time
	opening         ledger.Money
	credits, debits ledger.Money
	closing         ledger.Money
	entries         int32
	first, last     int64
}

// Apply implements Projection. A day's opening is taken from its first
// posting (balance_after − amount), so the result does not depend on where
// the journal is cut into batches: a later batch only adds to the sums and
// moves the closing balance.
func (DailySummaries) Apply(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	type key struct {
		account string
		day     time.Time
	}
	index := map[key]int{}
	var rows []dailyRow
	for _, e := range events {
		day := utcDay(e.RecordedAt)
		for _, p := range e.Postings {
			k := key{p.Account, day}
			i, ok := index[k]
			cur := p.Amount.Currency()
			if !ok {
				i = len(rows)
				index[k] = i
				rows = append(rows, dailyRow{
					account: p.Account, book: e.Book, day: day, opening: p.BalanceAfter.Sub(p.Amount),
					credits: ledger.Zero(cur), debits: ledger.Zero(cur), first: e.Position,
				})
			}
			r := &rows[i]
			if r.opening.Currency() != cur {
				return fmt.Errorf("daily_summaries: position %d: account %s has postings in %s and %s", e.Position, p.Account, r.opening.Currency(), cur)
			}
			if p.Amount.Sign() > 0 {
				r.credits = r.credits.Add(p.Amount)
			} else {
				r.debits = r.debits.Sub(p.Amount)
			}
			r.closing, r.last = p.BalanceAfter, e.Position
			r.entries++
		}
	}
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	accounts, books, currencies := make([]string, n), make([]string, n), make([]string, n)
	openings, credits, debits, closings := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	days := make([]time.Time, n)
	entries := make([]int32, n)
	firsts, lasts := make([]int64, n), make([]int64, n)
	for i, r := range rows {
		accounts[i], books[i], currencies[i], days[i] = r.account, r.book, string(r.opening.Currency()), r.day
		openings[i], credits[i], debits[i], closings[i] = r.opening.String(), r.credits.String(), r.debits.String(), r.closing.String()
		entries[i], firsts[i], lasts[i] = r.entries, r.first, r.last
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO account_daily AS d (account_id, day, book, currency, opening, credits, debits, closing, entries, first_position, last_position)
		SELECT acc, day, book, cur, opening::numeric, credits::numeric, debits::numeric, closing::numeric, n, firstp, lastp
		FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[], $10::bigint[], $11::bigint[])
		     AS t(acc, day, book, cur, opening, credits, debits, closing, n, firstp, lastp)
		ON CONFLICT (book, account_id, day) DO UPDATE SET
			credits = d.credits + EXCLUDED.credits,
			debits = d.debits + EXCLUDED.debits,
			closing = EXCLUDED.closing,
			entries = d.entries + EXCLUDED.entries,
			last_position = EXCLUDED.last_position`,
		accounts, days, books, currencies, openings, credits, debits, closings, entries, firsts, lasts)
	if err != nil {
		return fmt.Errorf("daily_summaries: %w", err)
	}
	return nil
}

func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Day is one account-day of a statement.
type Day struct {
	Date                              time.Time // midnight UTC
	Opening, Credits, Debits, Closing ledger.Money
	Entries                           int
	FirstPosition, LastPosition       int64
}

// Statement is an account's activity over a range of UTC days.
type Statement struct {
	AccountID string
	Book      string
	Currency  ledger.Currency
	From, To  time.Time // the first and last day, inclusive
	// Opening is the balance before From, Closing the balance at the end of
	// To; Credits and Debits are the range's incoming and outgoing sums.
	Opening, Credits, Debits, Closing ledger.Money
	Days                              []Day // days with postings only, in order
	// Position is how far the summaries reach: every event of the book up
	// to it is included, none after it.
	Position int64
}

// Statement reads an account's statement for the UTC days from..to
// (inclusive) from the daily summaries, in one snapshot so that the rows and
// the position they reach agree. ref is an account id or wallet number.
// Returns ENotFound for an unknown account.
func (s *Set) Statement(ctx context.Context, ref string, from, to time.Time) (Statement, error) {
	from, to = utcDay(from), utcDay(to)
	st := Statement{From: from, To: to}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return st, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read-only

	var cur string
	err = tx.QueryRow(ctx, `SELECT id, book, currency FROM accounts WHERE id = $1 OR wallet_number = $1`, ref).Scan(&st.AccountID, &st.Book, &cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, ledger.Errorf(ledger.ENotFound, "account %s not found", ref)
	}
	if err != nil {
		return st, err
	}
	st.Currency = ledger.Currency(cur)
	if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT position FROM projection_checkpoints WHERE projection = $1 AND book = $2), 0)`,
		DailySummaries{}.Name(), st.Book).Scan(&st.Position); err != nil {
		return st, err
	}
	var opening *string
	err = tx.QueryRow(ctx, `SELECT closing::text FROM account_daily WHERE book = $3 AND account_id = $1 AND day < $2 ORDER BY day DESC LIMIT 1`, st.AccountID, from, st.Book).Scan(&opening)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return st, err
	}
	st.Opening = ledger.Zero(st.Currency)
	if opening != nil {
		if st.Opening, err = money(*opening, st.Currency); err != nil {
			return st, err
		}
	}
	st.Credits, st.Debits, st.Closing = ledger.Zero(st.Currency), ledger.Zero(st.Currency), st.Opening
	rows, err := tx.Query(ctx, `
		SELECT day, opening::text, credits::text, debits::text, closing::text, entries, first_position, last_position
		FROM account_daily WHERE book = $4 AND account_id = $1 AND day >= $2 AND day <= $3 ORDER BY day`, st.AccountID, from, to, st.Book)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	for rows.Next() {
		var d Day
		var opening, credits, debits, closing string
		if err := rows.Scan(&d.Date, &opening, &credits, &debits, &closing, &d.Entries, &d.FirstPosition, &d.LastPosition); err != nil {
			return st, err
		}
		for _, f := range []struct {
			dst  *ledger.Money
			text string
		}{{&d.Opening, opening}, {&d.Credits, credits}, {&d.Debits, debits}, {&d.Closing, closing}} {
			if *f.dst, err = money(f.text, st.Currency); err != nil {
				return st, err
			}
		}
		st.Credits, st.Debits, st.Closing = st.Credits.Add(d.Credits), st.Debits.Add(d.Debits), d.Closing
		st.Days = append(st.Days, d)
	}
	return st, rows.Err()
}

// money reads a NUMERIC rendered as text as money of the currency.
func money(text string, cur ledger.Currency) (ledger.Money, error) {
	d, _, err := apd.NewFromString(text)
	if err != nil {
		return ledger.Money{}, err
	}
	return ledger.MoneyFromDecimal(d, cur)
}
