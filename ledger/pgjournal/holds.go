package pgjournal

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
)

// holdLockColumns are what the sequencer reads of a hold it decides on.
const holdLockColumns = `book, id, from_account, to_account, currency, amount::text, captured_amount::text,
	refunded_amount::text, status, expires_at`

func scanHoldLock(row pgx.Row) (ledger.Hold, error) {
	var h ledger.Hold
	var cur, amount, captured, refunded string
	if err := row.Scan(&h.Book, &h.ID, &h.From, &h.To, &cur, &amount, &captured, &refunded, &h.Status, &h.ExpiresAt); err != nil {
		return h, err
	}
	c := ledger.Currency(cur)
	var err error
	if h.Amount, err = parseMoney(amount, c); err != nil {
		return h, err
	}
	if h.CapturedAmount, err = parseMoney(captured, c); err != nil {
		return h, err
	}
	h.RefundedAmount, err = parseMoney(refunded, c)
	return h, err
}

// Hold is a hold as the holds projection keeps it.
type Hold struct {
	ledger.Hold
	Description string
	Metadata    map[string]string
	Position    int64 // the event that created it
	CreatedAt   time.Time
}

const holdColumns = holdLockColumns + `, description, metadata, created_position, created_at`

func scanHold(row pgx.Row) (Hold, error) {
	var h Hold
	var meta []byte
	lock := holdRow{row: row, extra: []any{&h.Description, &meta, &h.Position, &h.CreatedAt}}
	var err error
	if h.Hold, err = scanHoldLock(lock); err != nil {
		return h, err
	}
	return h, json.Unmarshal(meta, &h.Metadata)
}

// holdRow scans a hold's lock columns, then the view's extra ones.
type holdRow struct {
	row   pgx.Row
	extra []any
}

func (r holdRow) Scan(dest ...any) error { return r.row.Scan(append(dest, r.extra...)...) }

// Hold finds a hold by id. Returns ENotFound if there is none.
func (s *Store) Hold(ctx context.Context, id string) (Hold, error) {
	h, err := scanHold(s.reader(ctx).QueryRow(ctx, `SELECT `+holdColumns+` FROM holds WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return h, ledger.Errorf(ledger.ENotFound, "hold %s not found", id)
	}
	return h, classify(err)
}

// HoldFilter selects holds for a list. Empty fields do not filter.
type HoldFilter struct {
	Account string // holds from or to this account
	Owner   string // holds from or to any account of this owner
	Status  string
	Period  // created_at
	After   Cursor
	Limit   int
}

// Holds lists holds in journal order.
func (s *Store) Holds(ctx context.Context, f HoldFilter) ([]Listed[Hold], error) {
	return list(ctx, s, scanHold, `SELECT `+holdColumns+`, book, created_position FROM holds h
		WHERE ($1 = '' OR from_account = $1 OR to_account = $1)
		  AND ($2 = '' OR EXISTS (SELECT 1 FROM accounts a WHERE a.book = h.book AND a.owner = $2 AND a.id IN (h.from_account, h.to_account)))
		  AND ($3 = '' OR status = $3)
		  AND (book, created_position) > ($4, $5)
		  AND ($7::timestamptz IS NULL OR created_at >= $7) AND ($8::timestamptz IS NULL OR created_at < $8)
		ORDER BY book, created_position LIMIT $6`, f.Account, f.Owner, f.Status, f.After.Book, f.After.Position, f.Limit, f.From, f.To)
}

// DueHold names a pending hold whose time has passed.
type DueHold struct {
	Book, ID  string
	ExpiresAt time.Time
}

// DueHolds lists up to limit pending holds that expired by now and come
// after after, in (expires_at, book, id) order: a cursor, so that a pass
// moves on past holds that stay pending (the zero DueHold starts at the first).
func (s *Store) DueHolds(ctx context.Context, now time.Time, after DueHold, limit int) ([]DueHold, error) {
	rows, err := s.pool.Query(ctx, `SELECT book, id, expires_at FROM holds
		WHERE status = 'pending' AND expires_at <= $1 AND (expires_at, book, id) > ($2, $3, $4)
		ORDER BY expires_at, book, id LIMIT $5`, now, after.ExpiresAt, after.Book, after.ID, limit)
	if err != nil {
		return nil, classify(err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DueHold, error) {
		var d DueHold
		return d, r.Scan(&d.Book, &d.ID, &d.ExpiresAt)
	})
}

// Transaction is a posted transaction as the transactions projection keeps it.
type Transaction struct {
	ID          string
	Book        string
	Legs        []ledger.Leg
	Description string
	Metadata    map[string]string
	Reverses    string
	ReversedBy  string
	Position    int64
	CreatedAt   time.Time
}

const transactionColumns = `t.id, t.book, t.description, t.metadata, coalesce(t.reverses, ''), coalesce(t.reversed_by, ''),
	t.position, t.created_at,
	(SELECT array_agg(g.from_account ORDER BY g.seq) FROM transaction_legs g WHERE g.book = t.book AND g.transaction_id = t.id),
	(SELECT array_agg(g.to_account ORDER BY g.seq) FROM transaction_legs g WHERE g.book = t.book AND g.transaction_id = t.id),
	(SELECT array_agg(g.amount::text ORDER BY g.seq) FROM transaction_legs g WHERE g.book = t.book AND g.transaction_id = t.id),
	(SELECT array_agg(g.currency ORDER BY g.seq) FROM transaction_legs g WHERE g.book = t.book AND g.transaction_id = t.id)`

func scanTransaction(row pgx.Row) (Transaction, error) {
	var t Transaction
	var meta []byte
	var froms, tos, amounts, currencies []string
	if err := row.Scan(&t.ID, &t.Book, &t.Description, &meta, &t.Reverses, &t.ReversedBy, &t.Position, &t.CreatedAt,
		&froms, &tos, &amounts, &currencies); err != nil {
		return t, err
	}
	for i := range froms {
		amount, err := parseMoney(amounts[i], ledger.Currency(currencies[i]))
		if err != nil {
			return t, err
		}
		t.Legs = append(t.Legs, ledger.Leg{From: froms[i], To: tos[i], Amount: amount})
	}
	return t, json.Unmarshal(meta, &t.Metadata)
}

// Transaction finds a transaction by id. Returns ENotFound if there is none.
func (s *Store) Transaction(ctx context.Context, id string) (Transaction, error) {
	t, err := scanTransaction(s.reader(ctx).QueryRow(ctx, `SELECT `+transactionColumns+` FROM transactions t WHERE t.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ledger.Errorf(ledger.ENotFound, "transaction %s not found", id)
	}
	return t, classify(err)
}

// TransactionFilter selects transactions for a list. Empty fields do not filter.
type TransactionFilter struct {
	Account string // transactions with a leg from or to this account
	Owner   string // transactions with a leg from or to any account of this owner
	Period         // created_at
	After   Cursor
	Limit   int
}

// Transactions lists transactions in journal order.
func (s *Store) Transactions(ctx context.Context, f TransactionFilter) ([]Listed[Transaction], error) {
	return list(ctx, s, scanTransaction, `SELECT `+transactionColumns+`, t.book, t.position FROM transactions t
		WHERE ($1 = '' OR EXISTS (SELECT 1 FROM transaction_legs g WHERE g.book = t.book AND g.transaction_id = t.id
		                          AND $1 IN (g.from_account, g.to_account)))
		  AND ($2 = '' OR EXISTS (SELECT 1 FROM transaction_legs g JOIN accounts a ON a.book = g.book AND a.id IN (g.from_account, g.to_account)
		                          WHERE g.book = t.book AND g.transaction_id = t.id AND a.owner = $2))
		  AND (t.book, t.position) > ($3, $4)
		  AND ($6::timestamptz IS NULL OR t.created_at >= $6) AND ($7::timestamptz IS NULL OR t.created_at < $7)
		ORDER BY t.book, t.position LIMIT $5`, f.Account, f.Owner, f.After.Book, f.After.Position, f.Limit, f.From, f.To)
}
