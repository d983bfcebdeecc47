package pgjournal

import (
	"context"
	"time"

	"github.com/tallyledger/tally/ledger"
)

// PendingDepositRefunds returns up to limit deposit refunds still pending
// that were requested before before, oldest first: the refunds whose
// outcome the reconciler asks the gateways about.
func (s *Store) PendingDepositRefunds(ctx context.Context, before time.Time, limit int) ([]ledger.Refund, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+refundColumns+` FROM refunds r
		WHERE r.status = 'pending' AND r.deposit_id IS NOT NULL AND r.created_at < $1
		ORDER BY r.created_at, r.id LIMIT $2`, before, limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []ledger.Refund
	for rows.Next() {
		r, err := scanRefund(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, classify(rows.Err())
}

// PendingWithdrawals returns up to limit withdrawals still pending that
// were requested before before, oldest first: the payouts whose outcome the
// reconciler asks the gateways about.
func (s *Store) PendingWithdrawals(ctx context.Context, before time.Time, limit int) ([]ledger.Withdrawal, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+WithdrawalColumns+` FROM withdrawals w
		WHERE w.status = 'pending' AND w.created_at < $1
		ORDER BY w.created_at, w.id LIMIT $2`, before, limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []ledger.Withdrawal
	for rows.Next() {
		w, err := scanWithdrawal(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, classify(rows.Err())
}
