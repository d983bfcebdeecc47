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

// Heads returns the head of every book, in book name order.
func Heads(ctx context.Context, q Querier) ([]Head, error) {
	rows, err := q.Query(ctx, `
		SELECT b.name, coalesce(e.position, 0), coalesce(e.hash, $1)
		FROM books b
		LEFT JOIN LATERAL (SELECT position, hash FROM events WHERE book = b.name ORDER BY position DESC LIMIT 1) e ON true
		ORDER BY b.name`, ledger.GenesisHash)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []Head
	for rows.Next() {
		var h Head
		if err := rows.Scan(&h.Book, &h.Position, &h.Hash); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, classify(rows.Err())
}

// BookHead returns the head of one book. Returns ENotFound for a book that
// does not exist.
func BookHead(ctx context.Context, q Querier, book string) (Head, error) {
	h := Head{Book: book}
	err := q.QueryRow(ctx, `
		SELECT coalesce(e.position, 0), coalesce(e.hash, $2)
		FROM books b
		LEFT JOIN LATERAL (SELECT position, hash FROM events WHERE book = b.name ORDER BY position DESC LIMIT 1) e ON true
		WHERE b.name = $1`, book, ledger.GenesisHash).Scan(&h.Position, &h.Hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, ledger.Errorf(ledger.ENotFound, "book %s not found", book)
	}
	return h, classify(err)
}

// BalanceMismatch is a posting whose stored balance_after is not the sum of
// its account's amounts up to and including it.
type BalanceMismatch struct {
	Position int64
	Seq      int
	Account  string
	Stored   ledger.Money
	Replayed ledger.Money
}

// RunningBalances re-derives every balance_after of book up to position
// upto by adding up each account's amounts in journal order. It calls bad for
// each posting whose stored value differs (then carries on from the stored
// value, so one bad row is reported once rather than with every later row of
// its account), and final with each account's balance after its last
// posting. It streams the postings in account order: memory stays constant
// however long the journal is.
func RunningBalances(ctx context.Context, q Querier, book string, upto int64,
	bad func(BalanceMismatch) error, final func(account string, balance ledger.Money) error) error {
	rows, err := q.Query(ctx, `
		SELECT account_id, position, seq, currency, amount::text, balance_after::text
		FROM postings
		WHERE book = $1 AND position <= $2
		ORDER BY account_id, position, seq`, book, upto)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	var account string
	var running ledger.Money
	var acc, cur, amountText, storedText []byte
	var pos int64
	var seq int16
	for rows.Next() {
		if err := rows.Scan(&acc, &pos, &seq, &cur, &amountText, &storedText); err != nil {
			return err
		}
		c := ledger.Currency(cur)
		amount, err := parseMoneyBytes(amountText, c)
		if err != nil {
			return &CorruptError{Book: book, Position: pos, Err: fmt.Errorf("amount: %w", err)}
		}
		stored, err := parseMoneyBytes(storedText, c)
		if err != nil {
			return &CorruptError{Book: book, Position: pos, Err: fmt.Errorf("balance_after: %w", err)}
		}
		if string(acc) != account {
			if account != "" {
				if err := final(account, running); err != nil {
					return err
				}
			}
			account = string(acc)
			running = ledger.Zero(c)
		}
		if running.Currency() != c {
			if err := bad(BalanceMismatch{Position: pos, Seq: int(seq), Account: account, Stored: stored, Replayed: running}); err != nil {
				return err
			}
			running = stored
			continue
		}
		running = running.Add(amount)
		if running.Cmp(stored) != 0 {
			if err := bad(BalanceMismatch{Position: pos, Seq: int(seq), Account: account, Stored: stored, Replayed: running}); err != nil {
				return err
			}
			running = stored
		}
	}
	if err := rows.Err(); err != nil {
		return classify(err)
	}
	if account != "" {
		return final(account, running)
	}
	return nil
}
