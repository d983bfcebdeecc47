package projections

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
)

// Holds keeps the holds table: hold.* events, and the refunded amount of
// captured holds. (Each sender's held amount is the balances projection's.)
type Holds struct{}

// Name implements Projection.
func (Holds) Name() string { return "holds" }

// Tables implements Projection.
func (Holds) Tables() []Table { return []Table{{Name: "holds", Book: "book = $1"}} }

// Apply implements Projection. Hold events are few per hold, so they are
// applied one by one, in order.
func (Holds) Apply(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	for _, e := range events {
		var err error
		switch e.Type {
		case ledger.HoldCreated:
			var d ledger.HoldData
			if err = ledger.DecodeData(&e, &d); err == nil {
				meta := []byte("{}")
				if d.Metadata != nil {
					meta, _ = json.Marshal(d.Metadata)
				}
				_, err = tx.Exec(ctx, `
					INSERT INTO holds (book, id, from_account, to_account, amount, currency, status, expires_at, description, metadata,
					                   created_position, position, created_at, updated_at)
					VALUES ($1, $2, $3, $4, $5::numeric, $6, 'pending', $7, $8, $9::jsonb, $10, $10, $11, $11)`,
					e.Book, d.HoldID, d.From, d.To, d.Amount, string(d.Currency), d.ExpiresAt, d.Description, string(meta), e.Position, e.RecordedAt)
			}
		case ledger.HoldCaptured, ledger.HoldVoided, ledger.HoldExpired:
			var d ledger.HoldData
			if err = ledger.DecodeData(&e, &d); err == nil {
				captured := d.CapturedAmount
				if captured == "" {
					captured = "0"
				}
				_, err = tx.Exec(ctx, `
					UPDATE holds SET status = $3, captured_amount = $4::numeric, position = $5, updated_at = $6
					WHERE book = $1 AND id = $2`, e.Book, d.HoldID, holdStatusAfter[e.Type], captured, e.Position, e.RecordedAt)
			}
		case ledger.HoldRefunded:
			var d ledger.HoldRefundedData
			if err = ledger.DecodeData(&e, &d); err == nil {
				_, err = tx.Exec(ctx, `
					UPDATE holds SET refunded_amount = refunded_amount + $3::numeric, position = $4, updated_at = $5
					WHERE book = $1 AND id = $2`, e.Book, d.HoldID, d.Amount, e.Position, e.RecordedAt)
			}
		}
		if err != nil {
			return fmt.Errorf("holds: event %d: %w", e.Position, err)
		}
	}
	return nil
}

var holdStatusAfter = map[ledger.EventType]string{
	ledger.HoldCaptured: string(ledger.HoldStatusCaptured),
	ledger.HoldVoided:   string(ledger.HoldStatusVoided),
	ledger.HoldExpired:  string(ledger.HoldStatusExpired),
}

// heldMove is how a hold event moves its sender's held amount
// (balances.held): up by the amount when the hold is created, down when it
// ends. from is empty for other events.
func heldMove(e ledger.Event) (from string, delta ledger.Money, err error) {
	switch e.Type {
	case ledger.HoldCreated, ledger.HoldCaptured, ledger.HoldVoided, ledger.HoldExpired:
	default:
		return "", ledger.Money{}, nil
	}
	var d ledger.HoldData
	if err := ledger.DecodeData(&e, &d); err != nil {
		return "", ledger.Money{}, fmt.Errorf("balances: event %d: %w", e.Position, err)
	}
	amount, err := ledger.ParseMoney(d.Amount, string(d.Currency))
	if err != nil {
		return "", ledger.Money{}, fmt.Errorf("balances: event %d: %w", e.Position, err)
	}
	if e.Type != ledger.HoldCreated {
		amount = amount.Neg()
	}
	return d.From, amount, nil
}

// applyHoldRefund records a captured hold's refund in the refunds table.
func applyHoldRefund(ctx context.Context, tx pgx.Tx, e ledger.Event) error {
	var d ledger.HoldRefundedData
	if err := ledger.DecodeData(&e, &d); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO refunds (id, book, hold_id, account_id, amount, currency, status, reason, created_position, position, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5::numeric, $6, 'succeeded', $7, $8, $8, $9, $9)`,
		d.RefundID, e.Book, d.HoldID, d.Account, d.Amount, string(d.Currency), d.Reason, e.Position, e.RecordedAt)
	return err
}

// Transactions keeps the transactions table and their legs.
type Transactions struct{}

// Name implements Projection.
func (Transactions) Name() string { return "transactions" }

// Tables implements Projection.
func (Transactions) Tables() []Table {
	return []Table{{Name: "transactions", Book: "book = $1"}, {Name: "transaction_legs", Book: "book = $1"}}
}

// Apply implements Projection.
func (Transactions) Apply(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	var ids, books, descs, metas, reverses []string
	var positions []int64
	var created []string
	var lBooks, lIDs, lFroms, lTos, lAmounts, lCurrencies []string
	var lSeqs []int16
	var lPositions []int64
	var reversedIDs, reversedBy, reversedBooks []string
	for _, e := range events {
		if e.Type != ledger.TransactionPosted {
			continue
		}
		var d ledger.TransactionData
		if err := ledger.DecodeData(&e, &d); err != nil {
			return fmt.Errorf("transactions: event %d: %w", e.Position, err)
		}
		meta := []byte("{}")
		if d.Metadata != nil {
			meta, _ = json.Marshal(d.Metadata)
		}
		ids = append(ids, d.TransactionID)
		books = append(books, e.Book)
		descs = append(descs, d.Description)
		metas = append(metas, string(meta))
		reverses = append(reverses, d.Reverses)
		positions = append(positions, e.Position)
		created = append(created, e.RecordedAt.UTC().Format(ledger.TimeFormat))
		for i, l := range d.Legs {
			lBooks = append(lBooks, e.Book)
			lIDs = append(lIDs, d.TransactionID)
			lSeqs = append(lSeqs, int16(i))
			lFroms = append(lFroms, l.From)
			lTos = append(lTos, l.To)
			lAmounts = append(lAmounts, l.Amount)
			lCurrencies = append(lCurrencies, string(l.Currency))
			lPositions = append(lPositions, e.Position)
		}
		if d.Reverses != "" {
			reversedIDs = append(reversedIDs, d.Reverses)
			reversedBy = append(reversedBy, d.TransactionID)
			reversedBooks = append(reversedBooks, e.Book)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO transactions (book, id, description, metadata, reverses, position, created_at)
		SELECT book, id, descr, meta::jsonb, nullif(rev, ''), pos, created::timestamptz
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[])
		     AS t(book, id, descr, meta, rev, pos, created)`,
		books, ids, descs, metas, reverses, positions, created); err != nil {
		return fmt.Errorf("transactions: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO transaction_legs (book, transaction_id, seq, from_account, to_account, amount, currency, position)
		SELECT book, id, seq, f, t, amount::numeric, cur, pos
		FROM unnest($1::text[], $2::text[], $3::smallint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[])
		     AS x(book, id, seq, f, t, amount, cur, pos)`,
		lBooks, lIDs, lSeqs, lFroms, lTos, lAmounts, lCurrencies, lPositions); err != nil {
		return fmt.Errorf("transactions: legs: %w", err)
	}
	if len(reversedIDs) > 0 {
		// One by one, each naming its book (on Citus, its shard).
		for i := range reversedIDs {
			if _, err := tx.Exec(ctx, `UPDATE transactions SET reversed_by = $3 WHERE book = $1 AND id = $2`,
				reversedBooks[i], reversedIDs[i], reversedBy[i]); err != nil {
				return fmt.Errorf("transactions: reversed: %w", err)
			}
		}
	}
	return nil
}
