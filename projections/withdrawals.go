package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
)

// Withdrawals keeps the withdrawals table from withdrawal.* events. Like
// the events, it holds the masked account number only.
type Withdrawals struct{}

// Name implements Projection.
func (Withdrawals) Name() string { return "withdrawals" }

// Tables implements Projection.
func (Withdrawals) Tables() []Table { return []Table{{Name: "withdrawals", Book: "book = $1"}} }

// Apply implements Projection.
func (Withdrawals) Apply(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	for _, e := range events {
		status, ok := ledger.WithdrawalStatusAfter(e.Type)
		if !ok {
			continue
		}
		var d ledger.WithdrawalData
		if err := ledger.DecodeData(&e, &d); err != nil {
			return fmt.Errorf("withdrawals: event %d: %w", e.Position, err)
		}
		var err error
		switch e.Type {
		case ledger.WithdrawalRequested:
			_, err = tx.Exec(ctx, `
				INSERT INTO withdrawals (book, id, account_id, amount, currency, gateway, destination_id, bank_code,
				                         masked_number, reason, status, created_position, position, created_at, updated_at)
				VALUES ($1, $2, $3, $4::numeric, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $13)`,
				e.Book, d.WithdrawalID, d.Account, d.Amount, d.Currency, d.Gateway, d.DestinationID, d.BankCode,
				d.AccountNumber, d.Reason, string(status), e.Position, e.RecordedAt)
		default:
			failure := ""
			if e.Type == ledger.WithdrawalFailedEvent || e.Type == ledger.WithdrawalReversedEvent {
				failure = d.Reason
			}
			_, err = tx.Exec(ctx, `
				UPDATE withdrawals SET status = $3, gateway_reference = coalesce(nullif($4, ''), gateway_reference),
				       failure_reason = CASE WHEN $5 = '' THEN failure_reason ELSE $5 END, position = $6, updated_at = $7
				WHERE book = $1 AND id = $2`,
				e.Book, d.WithdrawalID, string(status), d.GatewayReference, failure, e.Position, e.RecordedAt)
		}
		if err != nil {
			return fmt.Errorf("withdrawals: event %d: %w", e.Position, err)
		}
	}
	return nil
}
