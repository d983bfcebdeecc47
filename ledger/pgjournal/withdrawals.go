package pgjournal

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
)

// WithdrawalColumns are the columns scanWithdrawal reads, from withdrawals aliased w.
const WithdrawalColumns = `w.id, w.book, w.account_id, w.currency, w.amount::text, w.gateway, w.destination_id,
	w.bank_code, w.masked_number, w.reason, w.status, coalesce(w.gateway_reference, ''), w.failure_reason, w.position, w.created_at`

func scanWithdrawal(row pgx.Row) (ledger.Withdrawal, error) {
	var w ledger.Withdrawal
	var cur, amount string
	if err := row.Scan(&w.ID, &w.Book, &w.Account, &cur, &amount, &w.Gateway, &w.DestinationID, &w.BankCode,
		&w.MaskedNumber, &w.Reason, &w.Status, &w.GatewayReference, &w.FailureReason, &w.Position, &w.CreatedAt); err != nil {
		return w, err
	}
	var err error
	w.Amount, err = parseMoney(amount, ledger.Currency(cur))
	return w, err
}

// queueWithdrawals reads the withdrawals the batch names and the pending
// withdrawals of the accounts it closes, in id order, in the book it appends to.
func (l *loader) queueWithdrawals(p *pipeline) {
	var ids, pendingOf []string
	for _, k := range l.withdrawalKeys {
		if k.ID != "" {
			ids = append(ids, k.ID)
		}
		if k.PendingOfRef != "" {
			pendingOf = append(pendingOf, k.PendingOfRef)
		}
	}
	p.query("read withdrawals", `SELECT `+WithdrawalColumns+` FROM withdrawals w
		WHERE w.book = $1 AND w.id IN (
			SELECT id FROM withdrawals WHERE book = $1 AND id = ANY($2)
			UNION SELECT id FROM withdrawals WHERE book = $1 AND status = 'pending' AND account_id IN (
				SELECT id FROM accounts WHERE book = $1 AND (id = ANY($3) OR wallet_number = ANY($3))))
		ORDER BY w.id`, []any{l.book, ids, pendingOf},
		func(rows pgx.Rows) error {
			w, err := scanWithdrawal(rows)
			if err != nil {
				return err
			}
			l.withdrawals = append(l.withdrawals, w)
			return nil
		})
}

// Withdrawal finds a withdrawal by id. Returns ENotFound if there is none.
func (s *Store) Withdrawal(ctx context.Context, id string) (ledger.Withdrawal, error) {
	w, err := scanWithdrawal(s.reader(ctx).QueryRow(ctx, `SELECT `+WithdrawalColumns+` FROM withdrawals w WHERE w.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return w, ledger.Errorf(ledger.ENotFound, "withdrawal %s not found", id)
	}
	return w, classify(err)
}

// WithdrawalFilter selects withdrawals for a list. Empty fields do not filter.
type WithdrawalFilter struct {
	Account string // withdrawals out of this account (id)
	Owner   string // withdrawals out of any account of this owner
	Status  string
	Period
	After Cursor
	Limit int
}

// Withdrawals lists withdrawals in journal order.
func (s *Store) Withdrawals(ctx context.Context, f WithdrawalFilter) ([]Listed[ledger.Withdrawal], error) {
	return list(ctx, s, scanWithdrawal, `SELECT `+WithdrawalColumns+`, w.book, w.created_position FROM withdrawals w
		WHERE ($1 = '' OR w.account_id = $1) AND ($2 = '' OR w.status = $2)
		  AND ($3 = '' OR EXISTS (SELECT 1 FROM accounts a WHERE a.book = w.book AND a.id = w.account_id AND a.owner = $3))
		  AND (w.book, w.created_position) > ($4, $5)
		  AND ($7::timestamptz IS NULL OR w.created_at >= $7) AND ($8::timestamptz IS NULL OR w.created_at < $8)
		ORDER BY w.book, w.created_position LIMIT $6`, f.Account, f.Status, f.Owner, f.After.Book, f.After.Position, f.Limit, f.From, f.To)
}

// BookOfWithdrawal returns the book of a withdrawal, or "" if there is none.
func (s *Store) BookOfWithdrawal(ctx context.Context, id string) (string, error) {
	var book string
	err := s.pool.QueryRow(ctx, `SELECT book FROM withdrawals WHERE id = $1`, id).Scan(&book)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return book, classify(err)
}

// Destination is a bank account a withdrawal pays out to. Its number and
// name are personal data: they are empty once an operator erased them.
type Destination struct {
	Book          string
	ID            string
	Gateway       string
	BankCode      string
	AccountNumber string
	AccountName   string
	MaskedNumber  string
	RecipientCode string // the gateway's id for it, once created
	CreatedAt     time.Time
	ErasedAt      *time.Time
}

const destinationColumns = `book, id, gateway, bank_code, coalesce(account_number, ''), coalesce(account_name, ''),
	masked_number, coalesce(recipient_code, ''), created_at, erased_at`

func scanDestination(row pgx.Row) (Destination, error) {
	var d Destination
	err := row.Scan(&d.Book, &d.ID, &d.Gateway, &d.BankCode, &d.AccountNumber, &d.AccountName, &d.MaskedNumber,
		&d.RecipientCode, &d.CreatedAt, &d.ErasedAt)
	return d, err
}

// SaveDestination stores a withdrawal's bank account once: a retry of the
// same withdrawal finds the row there and leaves it (erased or not). It
// reuses the gateway's recipient for the same bank account, if an earlier
// payout through that gateway created one.
func (s *Store) SaveDestination(ctx context.Context, d Destination) error {
	// Two statements: Citus takes no subquery in an INSERT. Two payouts to
	// one bank account at once may each find no recipient and create one at
	// the gateway, as they could before.
	var recipient *string
	err := s.pool.QueryRow(ctx, `
		SELECT recipient_code FROM withdrawal_destinations
		WHERE book = $1 AND gateway = $2 AND bank_code = $3 AND account_number = $4 AND recipient_code IS NOT NULL
		ORDER BY created_at DESC LIMIT 1`, d.Book, d.Gateway, d.BankCode, d.AccountNumber).Scan(&recipient)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return classify(err)
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO withdrawal_destinations (book, id, gateway, bank_code, account_number, account_name, masked_number, recipient_code)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (book, id) DO NOTHING`,
		d.Book, d.ID, d.Gateway, d.BankCode, d.AccountNumber, d.AccountName, d.MaskedNumber, recipient)
	return classify(err)
}

// Destination reads a destination of a book. Returns ENotFound if there is none.
func (s *Store) Destination(ctx context.Context, book, id string) (Destination, error) {
	d, err := scanDestination(s.pool.QueryRow(ctx, `SELECT `+destinationColumns+`
		FROM withdrawal_destinations WHERE book = $1 AND id = $2`, book, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ledger.Errorf(ledger.ENotFound, "destination %s not found", id)
	}
	return d, classify(err)
}

// BookOfDestination returns the book of a destination. Returns ENotFound if there is none.
func (s *Store) BookOfDestination(ctx context.Context, id string) (string, error) {
	var book string
	err := s.pool.QueryRow(ctx, `SELECT book FROM withdrawal_destinations WHERE id = $1`, id).Scan(&book)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ledger.Errorf(ledger.ENotFound, "destination %s not found", id)
	}
	return book, classify(err)
}

// SetRecipientCode remembers the gateway's id for a destination, so later
// payouts to it reuse it.
func (s *Store) SetRecipientCode(ctx context.Context, book, id, code string) error {
	_, err := s.pool.Exec(ctx, `UPDATE withdrawal_destinations SET recipient_code = $3
		WHERE book = $1 AND id = $2 AND recipient_code IS DISTINCT FROM $3`, book, id, code)
	return classify(err)
}

// EraseDestination removes a destination's account number and name (the
// masked number stays), and the holder's name from the stored answers of
// the withdrawals that paid out to it, in one transaction. It reports
// whether anything was left to erase.
func (s *Store) EraseDestination(ctx context.Context, book, id string) (bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, classify(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	tag, err := tx.Exec(ctx, `UPDATE withdrawal_destinations
		SET account_number = NULL, account_name = NULL, recipient_code = NULL, erased_at = now()
		WHERE book = $1 AND id = $2 AND erased_at IS NULL`, book, id)
	if err != nil {
		return false, classify(err)
	}
	// A retry of a withdrawal is answered from its Idempotency-Key record,
	// which holds the answer as first sent: the holder's name goes from it too.
	if _, err := tx.Exec(ctx, `UPDATE idempotency_keys
		SET body = convert_to(jsonb_set(convert_from(body, 'UTF8')::jsonb, '{destination,account_name}', '""')::text, 'UTF8')
		WHERE book = $2 AND content_type = 'application/json' AND position(convert_to($1, 'UTF8') in body) > 0
		  AND convert_from(body, 'UTF8')::jsonb #>> '{destination,id}' = $1`, id, book); err != nil {
		return false, classify(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, classify(err)
	}
	return tag.RowsAffected() == 1, nil
}
