package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
)

// Inline returns the projections the sequencer runs in every append
// transaction, in the order they must run (accounts before the balances and
// transfers that refer to them).
func Inline() []Projection {
	return []Projection{Accounts{}, Balances{}, Transfers{}, Adjustments{}, Deposits{}, Refunds{}, Holds{}, Transactions{}, Withdrawals{}, AdjustmentProposals{}}
}

// Accounts keeps the accounts table: identity and status.
type Accounts struct{}

// Name implements Projection.
func (Accounts) Name() string { return "accounts" }

// Tables implements Projection.
func (Accounts) Tables() []Table {
	return []Table{{Name: "accounts", Book: "book = $1"}, {Name: "wallet_numbers", Book: "book = $1"}}
}

// Apply implements Projection.
func (Accounts) Apply(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	var (
		ids, books, wallets, names, owners, currencies, kinds, metas, limits []string
		created                                                              []time.Time
		positions                                                            []int64
		statusIDs, statusBooks, statuses                                     []string
		limitIDs, limitBooks, newLimits                                      []string
	)
	for _, e := range events {
		switch e.Type {
		case ledger.AccountOpened:
			var d ledger.AccountOpenedData
			if err := ledger.DecodeData(&e, &d); err != nil {
				return fmt.Errorf("accounts: event %d: %w", e.Position, err)
			}
			meta, _ := json.Marshal(d.Metadata)
			if d.Metadata == nil {
				meta = []byte("{}")
			}
			ids = append(ids, d.AccountID)
			books = append(books, e.Book)
			wallets = append(wallets, d.WalletNumber)
			names = append(names, d.Name)
			owners = append(owners, d.Owner)
			currencies = append(currencies, string(d.Currency))
			kinds = append(kinds, string(d.Kind))
			metas = append(metas, string(meta))
			created = append(created, e.RecordedAt)
			positions = append(positions, e.Position)
			limit := d.OverdraftLimit
			if limit == "" {
				limit = "0"
			}
			limits = append(limits, limit)
		case ledger.AccountLimitChanged:
			var d ledger.AccountLimitData
			if err := ledger.DecodeData(&e, &d); err != nil {
				return fmt.Errorf("accounts: event %d: %w", e.Position, err)
			}
			limitIDs, limitBooks = append(limitIDs, d.AccountID), append(limitBooks, e.Book)
			newLimits = append(newLimits, d.OverdraftLimit)
		case ledger.AccountFrozen, ledger.AccountUnfrozen, ledger.AccountClosed:
			var d ledger.AccountStatusData
			if err := ledger.DecodeData(&e, &d); err != nil {
				return fmt.Errorf("accounts: event %d: %w", e.Position, err)
			}
			statusIDs = append(statusIDs, d.AccountID)
			statusBooks = append(statusBooks, e.Book)
			statuses = append(statuses, string(statusAfter[e.Type]))
		}
	}
	if len(ids) > 0 {
		if _, err := tx.Exec(ctx, `
			INSERT INTO accounts (id, book, wallet_number, name, owner, currency, kind, status, metadata, created_at, opened_position, overdraft_limit)
			SELECT id, book, NULLIF(wallet, ''), NULLIF(name, ''), NULLIF(owner, ''), currency, kind, 'active', meta::jsonb, created, pos, lim::numeric
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::bigint[], $11::text[])
			     AS t(id, book, wallet, name, owner, currency, kind, meta, created, pos, lim)`,
			ids, books, wallets, names, owners, currencies, kinds, metas, created, positions, limits); err != nil {
			return fmt.Errorf("accounts: insert: %w", err)
		}
		// Wallet numbers are unique across books: the lookup table holds
		// them, and fails the append of a number another book has.
		if _, err := tx.Exec(ctx, `
			INSERT INTO wallet_numbers (wallet_number, book, account_id)
			SELECT wallet, book, id FROM unnest($1::text[], $2::text[], $3::text[]) AS t(id, book, wallet)
			WHERE wallet <> ''`, ids, books, wallets); err != nil {
			return fmt.Errorf("accounts: wallet numbers: %w", err)
		}
	}
	// Status changes apply in order; a later change of the same account in
	// the batch must win, so they are applied one by one.
	for i := range statusIDs {
		if _, err := tx.Exec(ctx, `UPDATE accounts SET status = $2 WHERE book = $3 AND id = $1`, statusIDs[i], statuses[i], statusBooks[i]); err != nil {
			return fmt.Errorf("accounts: status: %w", err)
		}
	}
	for i := range limitIDs {
		if _, err := tx.Exec(ctx, `UPDATE accounts SET overdraft_limit = $2::numeric WHERE book = $3 AND id = $1`, limitIDs[i], newLimits[i], limitBooks[i]); err != nil {
			return fmt.Errorf("accounts: limit: %w", err)
		}
	}
	return nil
}

var statusAfter = map[ledger.EventType]ledger.AccountStatus{
	ledger.AccountFrozen:   ledger.StatusFrozen,
	ledger.AccountUnfrozen: ledger.StatusActive,
	ledger.AccountClosed:   ledger.StatusClosed,
}

// Balances keeps each account's current balance: zero when it opens, then
// the balance_after of its latest posting.
type Balances struct{}

// Name implements Projection.
func (Balances) Name() string { return "balances" }

// Tables implements Projection.
func (Balances) Tables() []Table {
	return []Table{{Name: "balances", Book: "book = $1"}}
}

// Apply implements Projection.
func (Balances) Apply(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	var openIDs, openBooks, openCurrencies []string
	var openPositions []int64
	for _, e := range events {
		if e.Type != ledger.AccountOpened {
			continue
		}
		var d ledger.AccountOpenedData
		if err := ledger.DecodeData(&e, &d); err != nil {
			return fmt.Errorf("balances: event %d: %w", e.Position, err)
		}
		openIDs = append(openIDs, d.AccountID)
		openBooks = append(openBooks, e.Book)
		openCurrencies = append(openCurrencies, string(d.Currency))
		openPositions = append(openPositions, e.Position)
	}
	if len(openIDs) > 0 {
		if _, err := tx.Exec(ctx, `
			INSERT INTO balances (book, account_id, currency, balance, position)
			SELECT book, id, currency, 0, pos FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS t(book, id, currency, pos)`,
			openBooks, openIDs, openCurrencies, openPositions); err != nil {
			return fmt.Errorf("balances: open: %w", err)
		}
	}
	// One update per account, however many of the batch's events moved it:
	// its last balance, and the sum of its held amount's moves (a hold's
	// sender may have no posting in the event that ends it, so its balance
	// is then left as it is).
	latest := map[string]int{} // account → index into the slices below
	var ids []string
	var balances []*string
	var positions []*int64
	var held []ledger.Money // the zero Money: no move
	row := func(account string) int {
		i, ok := latest[account]
		if !ok {
			i = len(ids)
			latest[account] = i
			ids = append(ids, account)
			balances, positions, held = append(balances, nil), append(positions, nil), append(held, ledger.Money{})
		}
		return i
	}
	for _, e := range events {
		for _, p := range e.Postings {
			i := row(p.Account)
			balance, position := p.BalanceAfter.String(), e.Position
			balances[i], positions[i] = &balance, &position
		}
		from, delta, err := heldMove(e)
		if err != nil {
			return err
		}
		if from != "" {
			i := row(from)
			if held[i].Currency() == "" {
				held[i] = delta
			} else {
				held[i] = held[i].Add(delta)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	heldText := make([]string, len(held))
	for i, m := range held {
		heldText[i] = "0"
		if m.Currency() != "" {
			heldText[i] = m.String()
		}
	}
	// The events of one Apply are of one book.
	_, err := tx.Exec(ctx, `
		UPDATE balances b SET balance = coalesce(t.balance::numeric, b.balance), position = coalesce(t.pos, b.position),
		                      held = b.held + t.held::numeric
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS t(id, balance, pos, held)
		WHERE b.book = $5 AND b.account_id = t.id`, ids, balances, positions, heldText, events[0].Book)
	if err != nil {
		return fmt.Errorf("balances: %w", err)
	}
	return nil
}

// Transfers keeps the transfers table, refunded amounts included.
type Transfers struct{}

// Name implements Projection.
func (Transfers) Name() string { return "transfers" }

// Tables implements Projection.
func (Transfers) Tables() []Table { return []Table{{Name: "transfers", Book: "book = $1"}} }

// Apply implements Projection.
func (Transfers) Apply(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	var ids, books, froms, tos, amounts, currencies, descs, metas []string
	var positions []int64
	var created []time.Time
	for _, e := range events {
		if e.Type != ledger.TransferCompleted {
			continue
		}
		var d ledger.TransferCompletedData
		if err := ledger.DecodeData(&e, &d); err != nil {
			return fmt.Errorf("transfers: event %d: %w", e.Position, err)
		}
		meta := []byte("{}")
		if d.Metadata != nil {
			meta, _ = json.Marshal(d.Metadata)
		}
		ids = append(ids, d.TransferID)
		books = append(books, e.Book)
		froms = append(froms, d.From)
		tos = append(tos, d.To)
		amounts = append(amounts, d.Amount)
		currencies = append(currencies, string(d.Currency))
		descs = append(descs, d.Description)
		metas = append(metas, string(meta))
		positions = append(positions, e.Position)
		created = append(created, e.RecordedAt)
	}
	if len(ids) == 0 {
		return applyTransferRefunds(ctx, tx, events)
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO transfers (id, book, from_account, to_account, amount, currency, description, metadata, status, position, created_at)
		SELECT id, book, f, t, amount::numeric, currency, descr, meta::jsonb, 'completed', pos, created
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::timestamptz[])
		     AS x(id, book, f, t, amount, currency, descr, meta, pos, created)`,
		ids, books, froms, tos, amounts, currencies, descs, metas, positions, created)
	if err != nil {
		return fmt.Errorf("transfers: %w", err)
	}
	return applyTransferRefunds(ctx, tx, events)
}

// applyTransferRefunds adds each transfer.refunded to its transfer's
// refunded_amount, after the batch's transfers are inserted (a transfer can
// be refunded in the batch that made it).
func applyTransferRefunds(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	for _, e := range events {
		if e.Type != ledger.TransferRefunded {
			continue
		}
		var d ledger.RefundData
		if err := ledger.DecodeData(&e, &d); err != nil {
			return fmt.Errorf("transfers: event %d: %w", e.Position, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE transfers SET refunded_amount = refunded_amount + $2::numeric WHERE book = $3 AND id = $1`, d.TransferID, d.Amount, e.Book); err != nil {
			return fmt.Errorf("transfers: event %d: %w", e.Position, err)
		}
	}
	return nil
}

// Adjustments keeps the adjustments table.
type Adjustments struct{}

// Name implements Projection.
func (Adjustments) Name() string { return "adjustments" }

// Tables implements Projection.
func (Adjustments) Tables() []Table { return []Table{{Name: "adjustments", Book: "book = $1"}} }

// Apply implements Projection.
func (Adjustments) Apply(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	var ids, books, accounts, directions, amounts, currencies, reasons []string
	var positions []int64
	var created []time.Time
	for _, e := range events {
		if e.Type != ledger.AdjustmentPosted {
			continue
		}
		var d ledger.AdjustmentPostedData
		if err := ledger.DecodeData(&e, &d); err != nil {
			return fmt.Errorf("adjustments: event %d: %w", e.Position, err)
		}
		ids = append(ids, d.AdjustmentID)
		books = append(books, e.Book)
		accounts = append(accounts, d.Account)
		directions = append(directions, string(d.Direction))
		amounts = append(amounts, d.Amount)
		currencies = append(currencies, string(d.Currency))
		reasons = append(reasons, d.Reason)
		positions = append(positions, e.Position)
		created = append(created, e.RecordedAt)
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO adjustments (id, book, account_id, direction, amount, currency, reason, position, created_at)
		SELECT id, book, acc, dir, amount::numeric, currency, reason, pos, created
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::timestamptz[])
		     AS x(id, book, acc, dir, amount, currency, reason, pos, created)`,
		ids, books, accounts, directions, amounts, currencies, reasons, positions, created)
	if err != nil {
		return fmt.Errorf("adjustments: %w", err)
	}
	return nil
}

// Deposits keeps the deposits table: deposit.* events, and the refunded
// amount from refund events. The refunded amount counts pending refunds too,
// so that the sum of refunds can never pass the deposit; a failed refund
// gives its amount back, and a reinstated one takes it again. Deposit events
// are few per deposit, so they are applied one by one, in order, except the
// new deposits (a deposit initiated, or a payment no deposit knew): they
// are inserted together, before the first change that may concern them.
type Deposits struct{}

// Name implements Projection.
func (Deposits) Name() string { return "deposits" }

// Tables implements Projection.
func (Deposits) Tables() []Table {
	return []Table{{Name: "deposits", Book: "book = $1"}, {Name: "deposit_references", Book: "book = $1"}}
}

// Apply implements Projection.
func (Deposits) Apply(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	var fresh newDeposits
	for _, e := range events {
		// change is a statement about a deposit that may be new in this
		// batch: the new ones are inserted first.
		change := func(sql string, args ...any) error {
			if err := fresh.insert(ctx, tx); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, sql, args...)
			return err
		}
		var err error
		switch e.Type {
		case ledger.DepositInitiated:
			var d ledger.DepositInitiatedData
			if err = ledger.DecodeData(&e, &d); err == nil {
				fresh.add(e, newDeposit{id: d.DepositID, account: d.Account, reference: d.Reference, gateway: d.Gateway,
					amount: d.Amount, currency: string(d.Currency), status: string(ledger.DepositPending)})
			}
		case ledger.DepositCheckoutOpened:
			var d ledger.DepositCheckoutData
			if err = ledger.DecodeData(&e, &d); err == nil {
				err = change(`
					UPDATE deposits SET checkout_url = $2, gateway_reference = coalesce(nullif($3, ''), gateway_reference), position = $4, updated_at = $5
					WHERE book = $6 AND id = $1`, d.DepositID, d.CheckoutURL, d.GatewayReference, e.Position, e.RecordedAt, e.Book)
			}
		case ledger.DepositSucceededEvent, ledger.DepositFailedEvent, ledger.DepositExpiredEvent, ledger.DepositFlaggedEvent:
			var d ledger.DepositOutcomeData
			if err = ledger.DecodeData(&e, &d); err != nil {
				break
			}
			if d.Unsolicited {
				fresh.add(e, newDeposit{id: d.DepositID, account: d.Account, reference: d.Reference, gateway: d.Gateway,
					amount: d.Amount, currency: string(d.Currency), status: string(ledger.DepositSucceeded),
					gatewayReference: d.GatewayReference, unsolicited: true})
				break
			}
			err = change(`
				UPDATE deposits SET status = $2, gateway_reference = coalesce(nullif($3, ''), gateway_reference),
				       received_amount = nullif($4, ''), received_currency = nullif($5, ''), reason = nullif($6, ''),
				       position = $7, updated_at = $8
				WHERE book = $9 AND id = $1`, d.DepositID, string(depositStatusAfter[e.Type]), d.GatewayReference,
				d.ReceivedAmount, d.ReceivedCurrency, d.Reason, e.Position, e.RecordedAt, e.Book)
		case ledger.DepositCaptureAnsweredEvent:
			// The capture id replaces the order id: refunds name the capture.
			var d ledger.DepositCaptureData
			if err = ledger.DecodeData(&e, &d); err == nil {
				err = change(`
					UPDATE deposits SET gateway_reference = coalesce(nullif($3, ''), gateway_reference), position = $4, updated_at = $5
					WHERE book = $1 AND id = $2`, e.Book, d.DepositID, d.GatewayReference, e.Position, e.RecordedAt)
			}
		case ledger.RefundRequested, ledger.RefundSucceededEvent, ledger.RefundFailedEvent:
			if err = fresh.insert(ctx, tx); err == nil {
				err = applyDepositRefund(ctx, tx, e)
			}
		}
		if err != nil {
			return fmt.Errorf("deposits: event %d: %w", e.Position, err)
		}
	}
	if err := fresh.insert(ctx, tx); err != nil {
		return fmt.Errorf("deposits: %w", err)
	}
	return nil
}

// newDeposit is a deposits row to insert.
type newDeposit struct {
	id, account, reference, gateway, amount, currency, status, gatewayReference string
	unsolicited                                                                 bool
}

// newDeposits gathers new deposits, as columns, to insert in one statement
// (and their references in another).
type newDeposits struct {
	ids, books, accounts, references, gateways, amounts, currencies, statuses, gatewayRefs []string
	unsolicited                                                                            []bool
	positions                                                                              []int64
	times                                                                                  []time.Time
}

func (n *newDeposits) add(e ledger.Event, d newDeposit) {
	n.ids, n.books, n.accounts = append(n.ids, d.id), append(n.books, e.Book), append(n.accounts, d.account)
	n.references, n.gateways = append(n.references, d.reference), append(n.gateways, d.gateway)
	n.amounts, n.currencies = append(n.amounts, d.amount), append(n.currencies, d.currency)
	n.statuses, n.gatewayRefs = append(n.statuses, d.status), append(n.gatewayRefs, d.gatewayReference)
	n.unsolicited, n.positions, n.times = append(n.unsolicited, d.unsolicited), append(n.positions, e.Position), append(n.times, e.RecordedAt)
}

// insert writes what was gathered, if anything, and starts afresh.
func (n *newDeposits) insert(ctx context.Context, tx pgx.Tx) error {
	if len(n.ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO deposits (id, book, account_id, reference, gateway, amount, currency, status, gateway_reference, unsolicited,
		                      created_position, position, created_at, updated_at)
		SELECT id, book, acc, nullif(ref, ''), gw, amount::numeric, cur, status, nullif(gwref, ''), unsolicited, pos, pos, at, at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
		            $10::bool[], $11::bigint[], $12::timestamptz[])
		     AS t(id, book, acc, ref, gw, amount, cur, status, gwref, unsolicited, pos, at)`,
		n.ids, n.books, n.accounts, n.references, n.gateways, n.amounts, n.currencies, n.statuses, n.gatewayRefs,
		n.unsolicited, n.positions, n.times)
	if err == nil {
		// The lookup table that keeps references unique across books.
		_, err = tx.Exec(ctx, `
			INSERT INTO deposit_references (reference, book, deposit_id)
			SELECT ref, book, id FROM unnest($1::text[], $2::text[], $3::text[]) AS t(ref, book, id) WHERE ref <> ''`,
			n.references, n.books, n.ids)
	}
	*n = newDeposits{}
	return err
}

// applyDepositRefund moves a deposit's refunded_amount by a refund event.
func applyDepositRefund(ctx context.Context, tx pgx.Tx, e ledger.Event) error {
	var d ledger.RefundData
	if err := ledger.DecodeData(&e, &d); err != nil {
		return err
	}
	sign := ""
	switch {
	case d.DepositID == "":
		return nil
	case e.Type == ledger.RefundRequested, e.Type == ledger.RefundSucceededEvent && (d.GatewayInitiated || d.Reinstated):
		sign = "+"
	case e.Type == ledger.RefundFailedEvent:
		sign = "-"
	default:
		return nil // a pending refund that succeeds was counted when requested
	}
	_, err := tx.Exec(ctx, `UPDATE deposits SET refunded_amount = refunded_amount `+sign+` $2::numeric, position = $3, updated_at = $4 WHERE book = $5 AND id = $1`,
		d.DepositID, d.Amount, e.Position, e.RecordedAt, e.Book)
	return err
}

var depositStatusAfter = map[ledger.EventType]ledger.DepositStatus{
	ledger.DepositSucceededEvent: ledger.DepositSucceeded,
	ledger.DepositFailedEvent:    ledger.DepositFailed,
	ledger.DepositExpiredEvent:   ledger.DepositExpired,
	ledger.DepositFlaggedEvent:   ledger.DepositFlagged,
}

// Refunds keeps the refunds table. (The refunded amounts of deposits and
// transfers belong to the projections that own those tables.)
type Refunds struct{}

// Name implements Projection.
func (Refunds) Name() string { return "refunds" }

// Tables implements Projection.
func (Refunds) Tables() []Table { return []Table{{Name: "refunds", Book: "book = $1"}} }

// Apply implements Projection.
func (Refunds) Apply(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	for _, e := range events {
		switch e.Type {
		case ledger.TransferRefunded, ledger.RefundRequested, ledger.RefundSubmitted, ledger.RefundSucceededEvent, ledger.RefundFailedEvent:
		case ledger.HoldRefunded:
			if err := applyHoldRefund(ctx, tx, e); err != nil {
				return fmt.Errorf("refunds: event %d: %w", e.Position, err)
			}
			continue
		default:
			continue
		}
		var d ledger.RefundData
		if err := ledger.DecodeData(&e, &d); err != nil {
			return fmt.Errorf("refunds: event %d: %w", e.Position, err)
		}
		if err := applyRefund(ctx, tx, e, d); err != nil {
			return fmt.Errorf("refunds: event %d: %w", e.Position, err)
		}
	}
	return nil
}

func applyRefund(ctx context.Context, tx pgx.Tx, e ledger.Event, d ledger.RefundData) error {
	insert := func(status ledger.RefundStatus) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO refunds (id, book, deposit_id, transfer_id, account_id, amount, currency, status, gateway,
			                     gateway_refund_id, gateway_initiated, reason, created_position, position, created_at, updated_at)
			VALUES ($1, $2, nullif($3, ''), nullif($4, ''), $5, $6::numeric, $7, $8, nullif($9, ''), nullif($10, ''), $11, $12, $13, $13, $14, $14)`,
			d.RefundID, e.Book, d.DepositID, d.TransferID, d.Account, d.Amount, d.Currency, string(status), d.Gateway,
			d.GatewayRefundID, d.GatewayInitiated, d.Reason, e.Position, e.RecordedAt)
		return err
	}
	update := func(status ledger.RefundStatus) error {
		_, err := tx.Exec(ctx, `UPDATE refunds SET status = $2, gateway_refund_id = coalesce(nullif($3, ''), gateway_refund_id), position = $4, updated_at = $5 WHERE book = $6 AND id = $1`,
			d.RefundID, string(status), d.GatewayRefundID, e.Position, e.RecordedAt, e.Book)
		return err
	}
	switch e.Type {
	case ledger.TransferRefunded:
		return insert(ledger.RefundStatusSucceeded)
	case ledger.RefundRequested:
		return insert(ledger.RefundStatusPending)
	case ledger.RefundSubmitted:
		return update(ledger.RefundStatusPending)
	case ledger.RefundSucceededEvent:
		if d.GatewayInitiated {
			return insert(ledger.RefundStatusSucceeded)
		}
		return update(ledger.RefundStatusSucceeded)
	case ledger.RefundFailedEvent:
		return update(ledger.RefundStatusFailed)
	}
	return nil
}
