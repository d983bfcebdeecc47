package pgjournal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/apd/v3"
	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
)

// Querier is what the journal reads run on: a pool, a connection or a
// transaction (whose snapshot the reads then share).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ReadEvents reads up to limit events of book with positions after after
// (and at most upto, when upto > 0), in position order, with their postings
// including balance_after. Replay, verify, export and async projections
// stream the journal through it page by page, so memory stays constant.
func ReadEvents(ctx context.Context, q Querier, book string, after, upto int64, limit int) ([]ledger.Event, error) {
	rows, err := q.Query(ctx, `
		SELECT position, id, type, occurred_at, recorded_at, data::text, prev_hash, hash
		FROM events
		WHERE book = $1 AND position > $2 AND ($3::bigint = 0 OR position <= $3)
		ORDER BY position LIMIT $4`, book, after, upto, limit)
	if err != nil {
		return nil, classify(err)
	}
	var events []ledger.Event
	for rows.Next() {
		e := ledger.Event{Book: book}
		var data string
		if err := rows.Scan(&e.Position, &e.ID, &e.Type, &e.OccurredAt, &e.RecordedAt, &data, &e.PrevHash, &e.Hash); err != nil {
			rows.Close()
			return nil, err
		}
		e.Data = json.RawMessage(data)
		events = append(events, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	if len(events) == 0 {
		return nil, nil
	}
	// One range scan of the postings primary key covers the whole page.
	rows, err = q.Query(ctx, `
		SELECT position, account_id, currency, amount::text, balance_after::text
		FROM postings
		WHERE book = $1 AND position > $2 AND position <= $3
		ORDER BY position, seq`, book, after, events[len(events)-1].Position)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	i := 0
	var pos int64
	var acc, cur, amount, balance []byte
	for rows.Next() {
		if err := rows.Scan(&pos, &acc, &cur, &amount, &balance); err != nil {
			return nil, err
		}
		for i < len(events) && events[i].Position < pos {
			i++
		}
		if i == len(events) || events[i].Position != pos {
			return nil, &CorruptError{Book: book, Position: pos, Err: errors.New("a posting has no event")}
		}
		c := ledger.Currency(cur)
		p := ledger.Posting{Account: string(acc)}
		if p.Amount, err = parseMoneyBytes(amount, c); err != nil {
			return nil, &CorruptError{Book: book, Position: pos, Err: fmt.Errorf("amount: %w", err)}
		}
		if p.BalanceAfter, err = parseMoneyBytes(balance, c); err != nil {
			return nil, &CorruptError{Book: book, Position: pos, Err: fmt.Errorf("balance_after: %w", err)}
		}
		events[i].Postings = append(events[i].Postings, p)
	}
	return events, classify(rows.Err())
}

// CorruptError reports journal rows that cannot be read as an event: a
// posting without its event, or an amount that is not money of its
// currency. Only a change made around the append-only triggers causes it.
type CorruptError struct {
	Book     string
	Position int64
	Err      error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("book %s position %d is unreadable: %v", e.Book, e.Position, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

func parseMoneyBytes(b []byte, cur ledger.Currency) (ledger.Money, error) {
	var d apd.Decimal
	if _, _, err := d.SetString(string(b)); err != nil {
		return ledger.Money{}, err
	}
	return ledger.MoneyFromDecimal(&d, cur)
}

// Head is the end of one book's journal.
type Head struct {
	Book     string
	Position int64  // the last position; 0 for a book without events
	Hash     string // the last event's hash; GenesisHash for a book without events
}

// Heads returns the head of every book, in book name order, from the
// books' head rows (book_heads; see the sequencer), which move with every
// append. (Two plain reads rather than a join: on Citus, books is a
// reference table and book_heads is distributed by book.)
func Heads(ctx context.Context, q Querier) ([]Head, error) {
	rows, err := q.Query(ctx, `SELECT name FROM books ORDER BY name`)
	if err != nil {
		return nil, classify(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, classify(err)
	}
	rows, err = q.Query(ctx, `SELECT book, position, hash FROM book_heads`)
	if err != nil {
		return nil, classify(err)
	}
	heads := map[string]Head{}
	for rows.Next() {
		var h Head
		if err := rows.Scan(&h.Book, &h.Position, &h.Hash); err != nil {
			rows.Close()
			return nil, err
		}
		heads[h.Book] = h
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	out := make([]Head, 0, len(names))
	for _, name := range names {
		h, ok := heads[name]
		if !ok {
			h = Head{Book: name, Hash: ledger.GenesisHash}
		}
		out = append(out, h)
	}
	return out, nil
}

// BookHead returns the head of one book. Returns ENotFound for a book that
// does not exist.
func BookHead(ctx context.Context, q Querier, book string) (Head, error) {
	h := Head{Book: book, Hash: ledger.GenesisHash}
	var exists bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM books WHERE name = $1)`, book).Scan(&exists); err != nil {
		return h, classify(err)
	}
	if !exists {
		return h, ledger.Errorf(ledger.ENotFound, "book %s not found", book)
	}
	err := q.QueryRow(ctx, `SELECT position, hash FROM book_heads WHERE book = $1`, book).Scan(&h.Position, &h.Hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, nil
	}
	return h, classify(err)
}

// BalanceMismatch is a posting whose stored balance_after is not its
// account's previous balance_after plus its amount (0 plus its amount for
// the account's first posting), or whose currency differs from the
// account's previous posting's.
type BalanceMismatch struct {
	Position int64
	Seq      int
	Account  string
	Stored   string // balance_after as stored
	Expected string // the previous balance_after plus the amount
}

// CheckRunningBalances re-derives the balance_after of every posting of book
// at positions after..upto (after excluded) and calls bad for each that is
// wrong. Each must equal the account's previous balance_after plus its
// amount, the first 0 plus its amount: by induction that is the running sum
// of the account's amounts, and a bad row is named once instead of with
// every later row of its account. PostgreSQL does the exact NUMERIC
// arithmetic in one window over the postings in account order, so only the
// bad rows reach Go and memory stays constant.
func CheckRunningBalances(ctx context.Context, q Querier, book string, after, upto int64, bad func(BalanceMismatch) error) error {
	rows, err := q.Query(ctx, `
		SELECT account_id, position, seq, balance_after::text, expected::text
		FROM (
			SELECT account_id, position, seq, currency, balance_after,
			       coalesce(lag(balance_after) OVER w,
			                (SELECT q.balance_after FROM postings q
			                 WHERE q.book = $1 AND q.account_id = p.account_id AND q.position <= $2
			                 ORDER BY q.position DESC, q.seq DESC LIMIT 1),
			                0) + amount AS expected,
			       coalesce(lag(currency) OVER w, currency) AS previous_currency
			FROM postings p
			WHERE book = $1 AND position > $2 AND position <= $3
			WINDOW w AS (PARTITION BY account_id ORDER BY position, seq)
		) x
		WHERE expected <> balance_after OR previous_currency <> currency`, book, after, upto)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var m BalanceMismatch
		if err := rows.Scan(&m.Account, &m.Position, &m.Seq, &m.Stored, &m.Expected); err != nil {
			return err
		}
		if err := bad(m); err != nil {
			return err
		}
	}
	return classify(rows.Err())
}

// NegativeWallet is a wallet whose balance is below zero.
type NegativeWallet struct {
	Account, Owner string
	Balance        ledger.Money
}

// NegativeWallets calls fn for each wallet of book whose balance as of
// position upto (the balance_after of its last posting at or before it) is
// below zero, in id order.
func NegativeWallets(ctx context.Context, q Querier, book string, upto int64, fn func(NegativeWallet) error) error {
	rows, err := q.Query(ctx, `
		SELECT a.id, coalesce(a.owner, ''), a.currency, p.balance_after::text
		FROM accounts a
		JOIN LATERAL (
			SELECT balance_after FROM postings
			WHERE book = a.book AND account_id = a.id AND position <= $2
			ORDER BY position DESC, seq DESC LIMIT 1) p ON true
		WHERE a.book = $1 AND a.kind = 'wallet' AND p.balance_after < 0
		ORDER BY a.id`, book, upto)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var w NegativeWallet
		var cur, balance string
		if err := rows.Scan(&w.Account, &w.Owner, &cur, &balance); err != nil {
			return err
		}
		if w.Balance, err = parseMoney(balance, ledger.Currency(cur)); err != nil {
			return err
		}
		if err := fn(w); err != nil {
			return err
		}
	}
	return classify(rows.Err())
}
