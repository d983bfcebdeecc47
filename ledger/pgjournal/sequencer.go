package pgjournal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
)

// sequencer serializes the appends of one book. It takes whatever commands
// are queued (up to MaxBatch) and appends them in one transaction; while it
// commits, the next batch accumulates. That is the group commit.
type sequencer struct {
	j     *Journal
	book  string
	queue chan *pending
}

type pending struct {
	ctx  context.Context
	req  Request
	done chan result
}

type result struct {
	resp Response
	err  error
}

func (s *sequencer) run() {
	for first := range s.queue {
		batch := []*pending{first}
	fill:
		for len(batch) < s.j.opt.MaxBatch {
			select {
			case p, ok := <-s.queue:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		s.process(batch)
	}
}

// process appends a batch. If the transaction fails for a reason other than
// an unreachable database, each command is retried alone so that one bad
// command cannot fail its neighbours.
func (s *sequencer) process(batch []*pending) {
	live := batch[:0]
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.done <- result{err: err} // never decided: the caller gave up first
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	results, err := s.append(live)
	if err != nil && len(live) > 1 && !Unavailable(err) {
		s.j.opt.Logger.Warn("batch append failed; retrying commands one by one", "book", s.book, "size", len(live), "err", err)
		for _, p := range live {
			s.process([]*pending{p})
		}
		return
	}
	if err != nil {
		s.j.opt.Logger.Error("append failed", "book", s.book, "size", len(live), "err", err)
		for _, p := range live {
			p.done <- result{err: classify(err)}
		}
		return
	}
	for i, p := range live {
		p.done <- results[i]
	}
}

// append runs one transaction for the batch and returns each command's result.
func (s *sequencer) append(batch []*pending) ([]result, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.j.opt.BatchTimeout)
	defer cancel()
	tx, err := s.j.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit

	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, LockKey(s.book)); err != nil {
		return nil, err
	}
	position, prevHash, lastRecorded, err := head(ctx, tx, s.book)
	if err != nil {
		return nil, err
	}
	if position == 0 {
		// A book's first event: the book row must exist before its events.
		if _, err := tx.Exec(ctx, `INSERT INTO books (name) VALUES ($1) ON CONFLICT DO NOTHING`, s.book); err != nil {
			return nil, err
		}
	}
	stored, err := storedResponses(ctx, tx, batch)
	if err != nil {
		return nil, err
	}
	state, err := loadState(ctx, tx, s.book, batch)
	if err != nil {
		return nil, err
	}

	// Recorded times never go backwards within a book, even if the clock does.
	now := ledger.Truncate(time.Now())
	if now.Before(lastRecorded) {
		now = lastRecorded
	}
	env := ledger.Env{Book: s.book, Now: now, NewID: ledger.NewID, NewWalletNumber: ledger.NewWalletNumber}

	results := make([]result, len(batch))
	var events []ledger.Event
	var records []record
	for i, p := range batch {
		if idem := p.req.Idempotency; idem != nil {
			k := scopedKey{idem.Scope, idem.Key}
			if r, ok := stored[k]; ok && !(idem.Finish && r.Response.Status == InProgress) {
				results[i] = r.answer(idem.Fingerprint)
				continue
			}
		}
		decided, derr := state.Decide(p.req.Command, env)
		out := Outcome{State: state}
		if derr != nil {
			var le *ledger.Error
			if !errors.As(derr, &le) {
				return nil, derr
			}
			out.Err = le
		}
		for k := range decided {
			e := &decided[k]
			position++
			e.Position, e.PrevHash, e.RecordedAt = position, prevHash, now
			if e.Book != s.book {
				return nil, fmt.Errorf("pgjournal: %s decided for book %s in the %s sequencer", e.Type, e.Book, s.book)
			}
			if err := state.Apply(e); err != nil {
				return nil, err
			}
			if e.Hash, err = ledger.HashEvent(*e); err != nil {
				return nil, err
			}
			prevHash = e.Hash
		}
		out.Events = decided
		events = append(events, decided...)
		resp := p.req.Render(out)
		results[i] = result{resp: resp}
		if idem := p.req.Idempotency; idem != nil {
			rec := record{Scope: idem.Scope, Key: idem.Key, Fingerprint: idem.Fingerprint, Response: resp}
			if len(decided) > 0 {
				rec.Position = decided[len(decided)-1].Position
			}
			records = append(records, rec)
			// A second request with the same key in this batch is a retry of this one.
			stored[scopedKey{idem.Scope, idem.Key}] = rec
		}
	}

	if err := insertEvents(ctx, tx, events); err != nil {
		return nil, err
	}
	for _, pr := range s.j.opt.Inline {
		if err := pr.Apply(ctx, tx, events); err != nil {
			return nil, fmt.Errorf("projection %s: %w", pr.Name(), err)
		}
	}
	if err := insertRecords(ctx, tx, records); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	s.j.recordBatch(s.book, len(batch), time.Since(start))
	return results, nil
}

// head returns the book's last position, hash and recorded time.
func head(ctx context.Context, tx pgx.Tx, book string) (int64, string, time.Time, error) {
	var pos int64
	var hash string
	var at time.Time
	err := tx.QueryRow(ctx, `SELECT position, hash, recorded_at FROM events WHERE book = $1 ORDER BY position DESC LIMIT 1`, book).Scan(&pos, &hash, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ledger.GenesisHash, time.Time{}, nil
	}
	return pos, hash, at, err
}

// loadState reads and locks everything the batch decides on. Every batch
// locks in the same order — deposits, transfers, refunds, then balance rows
// in ascending account id — so concurrent batches cannot deadlock.
func loadState(ctx context.Context, tx pgx.Tx, book string, batch []*pending) (*ledger.State, error) {
	deposits, err := lockDeposits(ctx, tx, batch)
	if err != nil {
		return nil, err
	}
	var depositIDs []string
	for _, d := range deposits {
		depositIDs = append(depositIDs, d.ID)
	}
	transfers, refunds, err := lockTransfersAndRefunds(ctx, tx, batch, depositIDs)
	if err != nil {
		return nil, err
	}
	var refs []string
	var system []ledger.SystemRef
	for _, p := range batch {
		refs = append(refs, p.req.Command.AccountRefs()...)
		system = append(system, p.req.Command.SystemAccounts()...)
	}
	for _, d := range deposits {
		refs = append(refs, d.Account)
		system = append(system, ledger.SystemAccountsFor(d)...)
	}
	for _, t := range transfers {
		refs = append(refs, t.From, t.To)
	}
	accounts, err := lockAccounts(ctx, tx, book, refs, system)
	if err != nil {
		return nil, err
	}
	state := ledger.NewState(accounts)
	for _, d := range deposits {
		state.AddDeposit(d)
	}
	for _, t := range transfers {
		state.AddTransfer(t)
	}
	for _, r := range refunds {
		state.AddRefund(r)
	}
	return state, nil
}

// lockAccounts loads the accounts named by refs and system, locking their
// balance rows once, in ascending id order.
func lockAccounts(ctx context.Context, tx pgx.Tx, book string, refs []string, system []ledger.SystemRef) ([]ledger.Account, error) {
	var sysBooks, sysCurrencies, sysNames []string
	for _, r := range system {
		if r.Book == "" {
			r.Book = book
		}
		sysBooks = append(sysBooks, r.Book)
		sysCurrencies = append(sysCurrencies, string(r.Currency))
		sysNames = append(sysNames, r.Name)
	}
	rows, err := tx.Query(ctx, `
		SELECT a.id, a.book, coalesce(a.wallet_number, ''), coalesce(a.name, ''), coalesce(a.owner, ''),
		       a.currency, a.kind, a.status, a.metadata, a.created_at, b.balance::text
		FROM accounts a JOIN balances b ON b.account_id = a.id
		WHERE a.id = ANY($1) OR a.wallet_number = ANY($1)
		   OR (a.book, a.currency, a.name) IN (SELECT * FROM unnest($2::text[], $3::text[], $4::text[]))
		ORDER BY a.id
		FOR UPDATE OF b`, refs, sysBooks, sysCurrencies, sysNames)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func parseMoney(s string, cur ledger.Currency) (ledger.Money, error) {
	d, _, err := apd.NewFromString(s)
	if err != nil {
		return ledger.Money{}, err
	}
	return ledger.MoneyFromDecimal(d, cur)
}

// insertEvents writes events and their postings, one statement each.
func insertEvents(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	books, ids, types, datas, prevs, hashes := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	positions := make([]int64, n)
	occurred, recorded := make([]time.Time, n), make([]time.Time, n)
	var pBooks, pAccounts, pCurrencies, pAmounts, pAfter []string
	var pPositions []int64
	var pSeqs []int16
	for i, e := range events {
		books[i], ids[i], types[i], datas[i], prevs[i], hashes[i] = e.Book, e.ID, string(e.Type), string(e.Data), e.PrevHash, e.Hash
		positions[i], occurred[i], recorded[i] = e.Position, e.OccurredAt, e.RecordedAt
		for k, p := range e.Postings {
			pBooks = append(pBooks, e.Book)
			pPositions = append(pPositions, e.Position)
			pSeqs = append(pSeqs, int16(k))
			pAccounts = append(pAccounts, p.Account)
			pCurrencies = append(pCurrencies, string(p.Amount.Currency()))
			pAmounts = append(pAmounts, p.Amount.String())
			pAfter = append(pAfter, p.BalanceAfter.String())
		}
	}
	// A book exists once its first event is written: events refer to books,
	// so the row must precede them (projections run only after this).
	if events[0].Position == 1 {
		if _, err := tx.Exec(ctx, `INSERT INTO books (name) VALUES ($1) ON CONFLICT DO NOTHING`, events[0].Book); err != nil {
			return fmt.Errorf("insert book: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO events (book, position, id, type, occurred_at, recorded_at, data, prev_hash, hash)
		SELECT book, pos, id, typ, occ, rec, data::jsonb, prev, hash
		FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[], $9::text[])
		     AS t(book, pos, id, typ, occ, rec, data, prev, hash)`,
		books, positions, ids, types, occurred, recorded, datas, prevs, hashes); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	if len(pBooks) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO postings (book, position, seq, account_id, currency, amount, balance_after)
		SELECT book, pos, seq, acc, cur, amount::numeric, after::numeric
		FROM unnest($1::text[], $2::bigint[], $3::smallint[], $4::text[], $5::text[], $6::text[], $7::text[])
		     AS t(book, pos, seq, acc, cur, amount, after)`,
		pBooks, pPositions, pSeqs, pAccounts, pCurrencies, pAmounts, pAfter); err != nil {
		return fmt.Errorf("insert postings: %w", err)
	}
	return nil
}

type scopedKey struct{ scope, key string }

// record is a stored idempotency record.
type record struct {
	Scope, Key, Fingerprint string
	Response                Response
	Position                int64
}

// answer replies to a retry: the stored response if the request is the same,
// EIdempotencyKeyReused if it is not.
func (r record) answer(fingerprint string) result {
	if r.Fingerprint != fingerprint {
		return result{err: ledger.Errorf(ledger.EIdempotencyKeyReused, "this Idempotency-Key was already used for a different request; use a new key")}
	}
	resp := r.Response
	resp.Replayed = true
	return result{resp: resp}
}

func storedResponses(ctx context.Context, tx pgx.Tx, batch []*pending) (map[scopedKey]record, error) {
	var scopes, keys []string
	for _, p := range batch {
		if idem := p.req.Idempotency; idem != nil {
			scopes = append(scopes, idem.Scope)
			keys = append(keys, idem.Key)
		}
	}
	stored := map[scopedKey]record{}
	if len(keys) == 0 {
		return stored, nil
	}
	rows, err := tx.Query(ctx, `
		SELECT scope, key, fingerprint, status, content_type, body, coalesce(position, 0)
		FROM idempotency_keys WHERE (scope, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, scopes, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r record
		if err := rows.Scan(&r.Scope, &r.Key, &r.Fingerprint, &r.Response.Status, &r.Response.ContentType, &r.Response.Body, &r.Position); err != nil {
			return nil, err
		}
		stored[scopedKey{r.Scope, r.Key}] = r
	}
	return stored, rows.Err()
}

func insertRecords(ctx context.Context, tx pgx.Tx, records []record) error {
	if len(records) == 0 {
		return nil
	}
	var scopes, keys, fps, types []string
	var statuses []int32
	var bodies [][]byte
	var positions []*int64
	for _, r := range records {
		scopes = append(scopes, r.Scope)
		keys = append(keys, r.Key)
		fps = append(fps, r.Fingerprint)
		statuses = append(statuses, int32(r.Response.Status))
		types = append(types, r.Response.ContentType)
		bodies = append(bodies, r.Response.Body)
		if r.Position > 0 {
			pos := r.Position
			positions = append(positions, &pos)
		} else {
			positions = append(positions, nil)
		}
	}
	// Only an in-progress record (a deposit waiting for its gateway) is ever
	// overwritten; a final answer is kept forever.
	_, err := tx.Exec(ctx, `
		INSERT INTO idempotency_keys AS k (scope, key, fingerprint, status, content_type, body, position)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bytea[], $7::bigint[])
		ON CONFLICT (scope, key) DO UPDATE
		SET status = excluded.status, content_type = excluded.content_type, body = excluded.body,
		    position = coalesce(excluded.position, k.position)
		WHERE k.status = 0 AND k.fingerprint = excluded.fingerprint`,
		scopes, keys, fps, statuses, types, bodies, positions)
	if err != nil {
		return fmt.Errorf("insert idempotency records: %w", err)
	}
	return nil
}

// lockDeposits loads and locks the deposits the batch decides on.
func lockDeposits(ctx context.Context, tx pgx.Tx, batch []*pending) ([]ledger.Deposit, error) {
	var ids, refs, gateways, gatewayRefs []string
	for _, p := range batch {
		r, ok := p.req.Command.(ledger.DepositReader)
		if !ok {
			continue
		}
		for _, k := range r.Deposits() {
			ids = append(ids, k.ID)
			refs = append(refs, k.Reference)
			gateways = append(gateways, k.Gateway)
			gatewayRefs = append(gatewayRefs, k.GatewayReference)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `
		SELECT `+DepositColumns+` FROM deposits d
		WHERE d.id = ANY($1) OR d.reference = ANY($2)
		   OR (d.gateway, d.gateway_reference) IN (SELECT * FROM unnest($3::text[], $4::text[]))
		ORDER BY d.id
		FOR UPDATE`, ids, refs, gateways, gatewayRefs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.Deposit
	for rows.Next() {
		d, err := scanDeposit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// lockTransfersAndRefunds loads and locks the transfers and refunds the
// batch decides on, and every refund of the given deposits (a gateway's
// refund notification is matched among them).
func lockTransfersAndRefunds(ctx context.Context, tx pgx.Tx, batch []*pending, depositIDs []string) ([]ledger.TransferRecord, []ledger.Refund, error) {
	var transferIDs, refundIDs []string
	for _, p := range batch {
		r, ok := p.req.Command.(ledger.RefundReader)
		if !ok {
			continue
		}
		transferIDs = append(transferIDs, r.Transfers()...)
		for _, k := range r.Refunds() {
			refundIDs = append(refundIDs, k.ID)
		}
	}
	var transfers []ledger.TransferRecord
	var refunds []ledger.Refund
	if len(transferIDs) > 0 {
		rows, err := tx.Query(ctx, `
			SELECT id, book, from_account, to_account, currency, amount::text, refunded_amount::text
			FROM transfers WHERE id = ANY($1) ORDER BY id FOR UPDATE`, transferIDs)
		if err != nil {
			return nil, nil, err
		}
		for rows.Next() {
			var t ledger.TransferRecord
			var cur, amount, refunded string
			if err := rows.Scan(&t.ID, &t.Book, &t.From, &t.To, &cur, &amount, &refunded); err != nil {
				rows.Close()
				return nil, nil, err
			}
			if t.Amount, err = parseMoney(amount, ledger.Currency(cur)); err == nil {
				t.RefundedAmount, err = parseMoney(refunded, ledger.Currency(cur))
			}
			if err != nil {
				rows.Close()
				return nil, nil, err
			}
			transfers = append(transfers, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
	}
	if len(refundIDs) > 0 || len(depositIDs) > 0 {
		rows, err := tx.Query(ctx, `SELECT `+refundColumns+` FROM refunds r
			WHERE r.id = ANY($1) OR r.deposit_id = ANY($2) ORDER BY r.id FOR UPDATE`, refundIDs, depositIDs)
		if err != nil {
			return nil, nil, err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRefund(rows)
			if err != nil {
				return nil, nil, err
			}
			refunds = append(refunds, r)
		}
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
	}
	return transfers, refunds, nil
}
