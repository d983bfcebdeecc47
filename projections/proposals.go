package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
)

// AdjustmentProposals keeps the adjustment_proposals table: four-eyes
// proposals (adjustment.proposed) and their decisions (the adjustment.posted
// an approval appends, or adjustment.rejected). Proposals are few, so
// events are applied one by one, in order; plain adjustments (posted
// without a proposal) cost nothing here.
type AdjustmentProposals struct{}

// Name implements Projection.
func (AdjustmentProposals) Name() string { return "adjustment_proposals" }

// Tables implements Projection.
func (AdjustmentProposals) Tables() []Table {
	return []Table{{Name: "adjustment_proposals", Book: "book = $1"}}
}

// Apply implements Projection.
func (AdjustmentProposals) Apply(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	for _, e := range events {
		var err error
		switch e.Type {
		case ledger.AdjustmentProposed:
			var d ledger.AdjustmentProposedData
			if err = ledger.DecodeData(&e, &d); err == nil {
				_, err = tx.Exec(ctx, `
					INSERT INTO adjustment_proposals (book, id, account_id, direction, amount, currency, reason,
					    proposed_by, proposed_position, proposed_at, status)
					VALUES ($1, $2, $3, $4, $5::numeric, $6, $7, $8, $9, $10, 'pending')`,
					e.Book, d.AdjustmentID, d.Account, string(d.Direction), d.Amount, string(d.Currency), d.Reason,
					d.ProposedBy, e.Position, e.RecordedAt)
			}
		case ledger.AdjustmentPosted:
			var d ledger.AdjustmentPostedData
			if err = ledger.DecodeData(&e, &d); err == nil && d.ApprovedBy != "" {
				err = decideProposal(ctx, tx, e, d.AdjustmentID, "posted", d.ApprovedBy, "")
			}
		case ledger.AdjustmentRejected:
			var d ledger.AdjustmentRejectedData
			if err = ledger.DecodeData(&e, &d); err == nil {
				err = decideProposal(ctx, tx, e, d.AdjustmentID, "rejected", d.RejectedBy, d.Reason)
			}
		}
		if err != nil {
			return fmt.Errorf("adjustment_proposals: event %d: %w", e.Position, err)
		}
	}
	return nil
}

func decideProposal(ctx context.Context, tx pgx.Tx, e ledger.Event, id, status, by, reason string) error {
	_, err := tx.Exec(ctx, `
		UPDATE adjustment_proposals SET status = $3, decided_by = $4, decision_reason = nullif($5, ''),
		    decided_position = $6, decided_at = $7
		WHERE book = $1 AND id = $2`, e.Book, id, status, by, reason, e.Position, e.RecordedAt)
	return err
}
