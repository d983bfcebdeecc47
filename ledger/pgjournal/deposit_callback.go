package pgjournal

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
)

// DepositCallbackURL returns the callback_url a deposit was requested with,
// or "" if it had none (or was recorded from an unsolicited payment). It is
// read from the deposit's deposit.initiated event, the first event of the
// deposit (at its book and created_position), rather than kept in the
// deposits projection: it never changes, and only the sandbox's result page
// needs it. id is the deposit's id or reference; ENotFound if none has it.
func (s *Store) DepositCallbackURL(ctx context.Context, book, id string) (string, error) {
	var url string
	err := s.pool.QueryRow(ctx, `
		SELECT coalesce(e.data->>'callback_url', '')
		FROM deposits d
		LEFT JOIN events e ON e.book = d.book AND e.position = d.created_position AND e.type = 'deposit.initiated'
		WHERE d.book = $1 AND d.id = coalesce((SELECT deposit_id FROM deposit_references WHERE reference = $2 AND book = $1), $2)`, book, id).Scan(&url)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ledger.Errorf(ledger.ENotFound, "deposit %s not found", id)
	}
	return url, classify(err)
}
