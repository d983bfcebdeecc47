package pgjournal

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
)

// Store answers reads from the journal and its inline projections. Reads
// never take the sequencer's locks.
type Store struct {
	pool    *pgxpool.Pool
	replica *replica // nil: every read goes to pool (see UseReplica)
}

// NewStore returns a store reading through pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const accountColumns = `a.id, a.book, coalesce(a.wallet_number, ''), coalesce(a.name, ''), coalesce(a.owner, ''),
	a.currency, a.kind, a.status, a.metadata, a.created_at, b.balance::text, b.held::text, a.overdraft_limit::text`

func scanAccount(row pgx.Row) (ledger.Account, error) {
	var a ledger.Account
	var cur, balance, held, limit string
	var meta []byte
	if err := row.Scan(&a.ID, &a.Book, &a.WalletNumber, &a.Name, &a.Owner, &cur, &a.Kind, &a.Status, &meta, &a.CreatedAt, &balance, &held, &limit); err != nil {
		return a, err
	}
	a.Currency = ledger.Currency(cur)
	// Most accounts have no metadata; the sequencer scans every account of
	// every batch, so the common case skips the decoder.
	if string(meta) != "{}" {
		if err := json.Unmarshal(meta, &a.Metadata); err != nil {
			return a, err
		}
	}
	var err error
	if a.Balance, err = parseMoney(balance, a.Currency); err != nil {
		return a, err
	}
	if a.Held, err = parseMoney(held, a.Currency); err != nil {
		return a, err
	}
	a.OverdraftLimit, err = parseMoney(limit, a.Currency)
	return a, err
}

// Account finds an account by id or wallet number. Returns ENotFound if there is none.
func (s *Store) Account(ctx context.Context, ref string) (ledger.Account, error) {
	a, err := scanAccount(s.reader(ctx).QueryRow(ctx, `SELECT `+accountColumns+`
		FROM accounts a JOIN balances b ON b.book = a.book AND b.account_id = a.id
		WHERE a.id = $1 OR a.wallet_number = $1`, ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ledger.Errorf(ledger.ENotFound, "account %s not found", ref)
	}
	return a, classify(err)
}

// Cursor is a place in a list in journal order: rows sort by the book and
// the position of the event that created them. A row is created under its
// book's lock with the next position, so new rows only ever sort after
// every cursor already handed out for their book.
type Cursor struct {
	Book     string
	Position int64
}

// Listed is one row of a list with the cursor just after it.
type Listed[T any] struct {
	Item   T
	Cursor Cursor
}

// listRow scans a row's own columns, then the two cursor columns the list
// query appends.
type listRow struct {
	pgx.Row
	cursor *Cursor
}

func (r listRow) Scan(dest ...any) error {
	return r.Row.Scan(append(dest, &r.cursor.Book, &r.cursor.Position)...)
}

// list runs a list query whose last two columns are the cursor and scans
// each row with scan.
func list[T any](ctx context.Context, s *Store, scan func(pgx.Row) (T, error), query string, args ...any) ([]Listed[T], error) {
	rows, err := s.reader(ctx).Query(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []Listed[T]
	for rows.Next() {
		var l Listed[T]
		if l.Item, err = scan(listRow{rows, &l.Cursor}); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, classify(rows.Err())
}

// Period bounds a list by its rows' time (created_at, or recorded_at for
// events): From ≤ time < To. A nil end is open.
type Period struct {
	From, To *time.Time
}

// AccountFilter selects accounts for a list. Empty fields do not filter.
type AccountFilter struct {
	Owner, Currency, Kind string
	Period
	After Cursor
	Limit int
}

// Accounts lists accounts in the order they were opened.
func (s *Store) Accounts(ctx context.Context, f AccountFilter) ([]Listed[ledger.Account], error) {
	return list(ctx, s, scanAccount, `SELECT `+accountColumns+`, a.book, a.opened_position
		FROM accounts a JOIN balances b ON b.book = a.book AND b.account_id = a.id
		WHERE ($1 = '' OR a.owner = $1) AND ($2 = '' OR a.currency = $2) AND ($3 = '' OR a.kind = $3)
		  AND (a.book, a.opened_position) > ($4, $5)
		  AND ($7::timestamptz IS NULL OR a.created_at >= $7) AND ($8::timestamptz IS NULL OR a.created_at < $8)
		ORDER BY a.book, a.opened_position LIMIT $6`, f.Owner, f.Currency, f.Kind, f.After.Book, f.After.Position, f.Limit, f.From, f.To)
}

// Balance is an account's balance as of a journal position.
type Balance struct {
	AccountID string
	Balance   ledger.Money
	Position  int64 // the last journal position of the book included
}

// BalanceAt returns the account's balance including every event of its book
// up to and including position (0, or a position past the end: up to the
// latest); Position says which position that was. Returns ENotFound for an
// unknown account.
func (s *Store) BalanceAt(ctx context.Context, ref string, position int64) (Balance, error) {
	var b Balance
	var book, cur, amount string
	q := s.reader(ctx)
	err := q.QueryRow(ctx, `SELECT id, book, currency FROM accounts WHERE id = $1 OR wallet_number = $1`, ref).Scan(&b.AccountID, &book, &cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, ledger.Errorf(ledger.ENotFound, "account %s not found", ref)
	}
	if err != nil {
		return b, classify(err)
	}
	// Every table is named by the book, so Citus runs this on one shard;
	// across shards it cannot plan a correlated subquery beside a subquery
	// in FROM (the single statement this was before answered 500 there).
	err = q.QueryRow(ctx, `
		SELECT upto.pos, coalesce((SELECT p.balance_after FROM postings p WHERE p.book = $1 AND p.account_id = $2 AND p.position <= upto.pos
		                           ORDER BY p.position DESC, p.seq DESC LIMIT 1), 0)::text
		FROM (SELECT CASE WHEN $3::bigint > 0 THEN least($3::bigint, coalesce(max(position), 0)) ELSE coalesce(max(position), 0) END AS pos
		      FROM events WHERE book = $1) upto`, book, b.AccountID, position).Scan(&b.Position, &amount)
	if err != nil {
		return b, classify(err)
	}
	b.Balance, err = parseMoney(amount, ledger.Currency(cur))
	return b, err
}

// PositionAt returns the last position of the book recorded at or before t (0 if none).
//
// Recorded times never go backwards within a book (the sequencer sees to
// it), so the position is searched for by position, on the primary key:
// each round trip reads the times of up to positionProbes evenly spaced
// positions of the range left and narrows it that many times — four round
// trips for ten million events. An index on the time would cost every
// append an entry; migration 0027 dropped it (issue 17).
func (s *Store) PositionAt(ctx context.Context, book string, t time.Time) (int64, error) {
	q := s.reader(ctx)
	var lo, hi int64 // the answer is in [lo, hi]
	if err := q.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events WHERE book = $1`, book).Scan(&hi); err != nil {
		return 0, classify(err)
	}
	for lo < hi {
		step := (hi - lo + positionProbes - 1) / positionProbes
		probes := make([]int64, 0, positionProbes)
		for p := lo + step; p <= hi; p += step {
			probes = append(probes, p)
		}
		// The last probe recorded at or before t (lo if none): the answer is
		// there or after it, and before the next probe.
		var last int64
		if err := q.QueryRow(ctx, `SELECT coalesce(max(position), $4) FROM events WHERE book = $1 AND position = ANY($2) AND recorded_at <= $3`,
			book, probes, t, lo).Scan(&last); err != nil {
			return 0, classify(err)
		}
		lo, hi = last, min(hi, last+step-1)
	}
	return lo, nil
}

// positionProbes is how many positions each of PositionAt's round trips reads.
const positionProbes = 64

// Entry is one posting of an account, as its history shows it.
type Entry struct {
	Position     int64
	Seq          int
	EventID      string
	Type         ledger.EventType
	Amount       ledger.Money
	BalanceAfter ledger.Money
	Counterparty string // the other leg's account; empty if none
	Reference    string // the transfer, adjustment, deposit or refund id
	Description  string
	RecordedAt   time.Time
}

// EntryFilter selects an account's entries. Zero fields do not filter.
type EntryFilter struct {
	From, To      time.Time // recorded_at ≥ From and < To
	Type          string
	AfterPosition int64 // cursor
	AfterSeq      int64
	Limit         int
}

// Entries lists an account's postings in journal order.
func (s *Store) Entries(ctx context.Context, accountID string, f EntryFilter) ([]Entry, error) {
	var from, to *time.Time
	if !f.From.IsZero() {
		from = &f.From
	}
	if !f.To.IsZero() {
		to = &f.To
	}
	rows, err := s.reader(ctx).Query(ctx, `
		SELECT p.position, p.seq, e.id, e.type, p.currency, p.amount::text, p.balance_after::text,
		       coalesce((SELECT o.account_id FROM postings o
		                 WHERE o.book = p.book AND o.position = p.position AND o.account_id <> p.account_id
		                 ORDER BY o.seq LIMIT 1), ''),
		       coalesce(e.data->>'transfer_id', e.data->>'adjustment_id', e.data->>'deposit_id', e.data->>'refund_id',
		                e.data->>'hold_id', e.data->>'transaction_id', ''),
		       coalesce(e.data->>'description', e.data->>'reason', ''),
		       e.recorded_at
		FROM postings p JOIN events e ON e.book = p.book AND e.position = p.position
		WHERE p.account_id = $1 AND (p.position, p.seq) > ($2, $3)
		  AND ($4::timestamptz IS NULL OR e.recorded_at >= $4)
		  AND ($5::timestamptz IS NULL OR e.recorded_at < $5)
		  AND ($6 = '' OR e.type = $6)
		ORDER BY p.position, p.seq LIMIT $7`,
		accountID, f.AfterPosition, f.AfterSeq, from, to, f.Type, f.Limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var en Entry
		var cur, amount, after string
		if err := rows.Scan(&en.Position, &en.Seq, &en.EventID, &en.Type, &cur, &amount, &after,
			&en.Counterparty, &en.Reference, &en.Description, &en.RecordedAt); err != nil {
			return nil, err
		}
		if en.Amount, err = parseMoney(amount, ledger.Currency(cur)); err != nil {
			return nil, err
		}
		if en.BalanceAfter, err = parseMoney(after, ledger.Currency(cur)); err != nil {
			return nil, err
		}
		out = append(out, en)
	}
	return out, classify(rows.Err())
}

// Transfer is a transfer as the transfers projection holds it.
type Transfer struct {
	ID             string
	Book           string
	From, To       string
	Amount         ledger.Money
	RefundedAmount ledger.Money
	Description    string
	Metadata       map[string]string
	Status         string
	Position       int64
	CreatedAt      time.Time
}

const transferColumns = `t.id, t.book, t.from_account, t.to_account, t.currency, t.amount::text, t.refunded_amount::text, t.description, t.metadata, t.status, t.position, t.created_at`

func scanTransfer(row pgx.Row) (Transfer, error) {
	var t Transfer
	var cur, amount, refunded string
	var meta []byte
	if err := row.Scan(&t.ID, &t.Book, &t.From, &t.To, &cur, &amount, &refunded, &t.Description, &meta, &t.Status, &t.Position, &t.CreatedAt); err != nil {
		return t, err
	}
	var err error
	if t.Amount, err = parseMoney(amount, ledger.Currency(cur)); err != nil {
		return t, err
	}
	if t.RefundedAmount, err = parseMoney(refunded, ledger.Currency(cur)); err != nil {
		return t, err
	}
	return t, json.Unmarshal(meta, &t.Metadata)
}

// Transfer finds a transfer by id. Returns ENotFound if there is none. An
// id names no book, so the primary key (book, id) is probed once per book:
// an index by id alone would cost every transfer an entry (migration 0027).
func (s *Store) Transfer(ctx context.Context, id string) (Transfer, error) {
	t, err := scanTransfer(s.reader(ctx).QueryRow(ctx, `SELECT `+transferColumns+` FROM transfers t WHERE t.book = ANY(ARRAY(SELECT name FROM books)) AND t.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ledger.Errorf(ledger.ENotFound, "transfer %s not found", id)
	}
	return t, classify(err)
}

// TransferFilter selects transfers for a list. Empty fields do not filter.
type TransferFilter struct {
	Account string // transfers from or to this account
	Owner   string // transfers from or to any account of this owner
	Period
	After Cursor
	Limit int
}

// Transfers lists transfers in journal order.
func (s *Store) Transfers(ctx context.Context, f TransferFilter) ([]Listed[Transfer], error) {
	if f.Account != "" {
		return s.accountTransfers(ctx, f)
	}
	return list(ctx, s, scanTransfer, `SELECT `+transferColumns+`, book, position FROM transfers t
		WHERE ($1 = '' OR EXISTS (SELECT 1 FROM accounts a WHERE a.book = t.book AND a.owner = $1 AND a.id IN (t.from_account, t.to_account)))
		  AND (book, position) > ($2, $3)
		  AND ($5::timestamptz IS NULL OR created_at >= $5) AND ($6::timestamptz IS NULL OR created_at < $6)
		ORDER BY book, position LIMIT $4`, f.Owner, f.After.Book, f.After.Position, f.Limit, f.From, f.To)
}

// accountTransfers lists the transfers from or to one account. There is no
// index of transfers by account (each would cost every transfer an entry,
// migration 0028): a transfer.completed event posts to its two accounts and
// no other, at the transfer's position, so the account's postings
// (postings_by_account, in position order) find them; a page reads the
// account's postings up to its last transfer, so a wallet whose postings
// are mostly deposits or holds costs more per page. The query names no
// other condition on the pair: with one, PostgreSQL estimated a row or two
// and read all of the account's postings to sort them, where walking the
// index in order stops at the page's end.
func (s *Store) accountTransfers(ctx context.Context, f TransferFilter) ([]Listed[Transfer], error) {
	q := s.reader(ctx)
	var book, kind string
	err := q.QueryRow(ctx, `SELECT book, kind FROM accounts WHERE id = $1`, f.Account).Scan(&book, &kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err)
	}
	if kind != string(ledger.KindWallet) {
		// Money moves between wallets only: a system account, whose
		// postings are many, is in no transfer.
		return nil, nil
	}
	// The cursor is (book, position); all of the account's transfers are in its book.
	var after int64
	switch {
	case book < f.After.Book:
		return nil, nil
	case book == f.After.Book:
		after = f.After.Position
	}
	return list(ctx, s, scanTransfer, `SELECT `+transferColumns+`, t.book, t.position
		FROM postings p JOIN transfers t ON t.book = p.book AND t.position = p.position
		WHERE p.book = $1 AND p.account_id = $2 AND p.position > $3
		  AND ($5 = '' OR EXISTS (SELECT 1 FROM accounts a WHERE a.book = t.book AND a.owner = $5 AND a.id IN (t.from_account, t.to_account)))
		  AND ($6::timestamptz IS NULL OR t.created_at >= $6) AND ($7::timestamptz IS NULL OR t.created_at < $7)
		ORDER BY p.position, p.seq LIMIT $4`, book, f.Account, after, f.Limit, f.Owner, f.From, f.To)
}

// EventFilter selects journal events. Zero fields do not filter.
type EventFilter struct {
	Book    string
	After   int64
	Type    string
	Account string
	Period
	Limit int
}

// Events reads the journal of one book in position order.
func (s *Store) Events(ctx context.Context, f EventFilter) ([]ledger.Event, error) {
	rows, err := s.reader(ctx).Query(ctx, `
		SELECT e.book, e.position, e.id, e.type, e.occurred_at, e.recorded_at, e.data::text, e.prev_hash, e.hash
		FROM events e
		WHERE e.book = $1 AND e.position > $2 AND ($3 = '' OR e.type = $3)
		  AND ($4 = '' OR e.data->>'account_id' = $4 OR e.data->>'account' = $4 OR EXISTS (
		        SELECT 1 FROM postings p WHERE p.book = e.book AND p.position = e.position AND p.account_id = $4))
		  AND ($6::timestamptz IS NULL OR e.recorded_at >= $6) AND ($7::timestamptz IS NULL OR e.recorded_at < $7)
		ORDER BY e.position LIMIT $5`, f.Book, f.After, f.Type, f.Account, f.Limit, f.From, f.To)
	if err != nil {
		return nil, classify(err)
	}
	var out []ledger.Event
	var positions []int64
	for rows.Next() {
		var e ledger.Event
		var data string
		if err := rows.Scan(&e.Book, &e.Position, &e.ID, &e.Type, &e.OccurredAt, &e.RecordedAt, &data, &e.PrevHash, &e.Hash); err != nil {
			rows.Close()
			return nil, err
		}
		e.Data = json.RawMessage(data)
		out = append(out, e)
		positions = append(positions, e.Position)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	if len(out) == 0 {
		return out, nil
	}
	if err := s.attachPostings(ctx, f.Book, positions, out); err != nil {
		return nil, err
	}
	return out, nil
}

// attachPostings loads the postings of events (sorted by position).
func (s *Store) attachPostings(ctx context.Context, book string, positions []int64, events []ledger.Event) error {
	rows, err := s.reader(ctx).Query(ctx, `
		SELECT position, account_id, currency, amount::text, balance_after::text
		FROM postings WHERE book = $1 AND position = ANY($2) ORDER BY position, seq`, book, positions)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	byPos := make(map[int64]*ledger.Event, len(events))
	for i := range events {
		byPos[events[i].Position] = &events[i]
	}
	for rows.Next() {
		var pos int64
		var acc, cur, amount, after string
		if err := rows.Scan(&pos, &acc, &cur, &amount, &after); err != nil {
			return err
		}
		p := ledger.Posting{Account: acc}
		if p.Amount, err = parseMoney(amount, ledger.Currency(cur)); err != nil {
			return err
		}
		if p.BalanceAfter, err = parseMoney(after, ledger.Currency(cur)); err != nil {
			return err
		}
		e := byPos[pos]
		e.Postings = append(e.Postings, p)
	}
	return classify(rows.Err())
}

// EventCount returns the number of events in the journal (all books); tests
// and operators use it to check that a refused request appended nothing.
func (s *Store) EventCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.reader(ctx).QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n)
	return n, classify(err)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return classify(s.pool.Ping(ctx)) }

// DepositColumns are the columns scanDeposit reads, from deposits aliased d.
const DepositColumns = `d.id, d.book, d.account_id, coalesce(d.reference, ''), d.gateway, d.currency, d.amount::text,
	d.status, coalesce(d.gateway_reference, ''), coalesce(d.checkout_url, ''), d.refunded_amount::text, d.created_at`

func scanDeposit(row pgx.Row) (ledger.Deposit, error) {
	var d ledger.Deposit
	var cur, amount, refunded string
	if err := row.Scan(&d.ID, &d.Book, &d.Account, &d.Reference, &d.Gateway, &cur, &amount, &d.Status,
		&d.GatewayReference, &d.CheckoutURL, &refunded, &d.CreatedAt); err != nil {
		return d, err
	}
	var err error
	if d.Amount, err = parseMoney(amount, ledger.Currency(cur)); err != nil {
		return d, err
	}
	d.RefundedAmount, err = parseMoney(refunded, ledger.Currency(cur))
	return d, err
}

// DepositView is a deposit as GET /v1/deposits shows it.
type DepositView struct {
	ledger.Deposit
	Unsolicited      bool
	ReceivedAmount   string
	ReceivedCurrency string
	Reason           string
	UpdatedAt        time.Time
}

const depositViewColumns = DepositColumns + `, d.unsolicited, coalesce(d.received_amount, ''), coalesce(d.received_currency, ''),
	coalesce(d.reason, ''), d.updated_at`

func scanDepositView(row pgx.Row) (DepositView, error) {
	var v DepositView
	var cur, amount, refunded string
	if err := row.Scan(&v.ID, &v.Book, &v.Account, &v.Reference, &v.Gateway, &cur, &amount, &v.Status,
		&v.GatewayReference, &v.CheckoutURL, &refunded, &v.CreatedAt,
		&v.Unsolicited, &v.ReceivedAmount, &v.ReceivedCurrency, &v.Reason, &v.UpdatedAt); err != nil {
		return v, err
	}
	var err error
	if v.Amount, err = parseMoney(amount, ledger.Currency(cur)); err != nil {
		return v, err
	}
	v.RefundedAmount, err = parseMoney(refunded, ledger.Currency(cur))
	return v, err
}

// Deposit finds a deposit by id or by our reference. Returns ENotFound if
// there is none. Found by id, it is looked for in each book, as Transfer is.
func (s *Store) Deposit(ctx context.Context, ref string) (DepositView, error) {
	v, err := scanDepositView(s.reader(ctx).QueryRow(ctx, `SELECT `+depositViewColumns+` FROM deposits d
		WHERE d.book = ANY(ARRAY(SELECT name FROM books)) AND d.id = coalesce((SELECT deposit_id FROM deposit_references WHERE reference = $1), $1)`, ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, ledger.Errorf(ledger.ENotFound, "deposit %s not found", ref)
	}
	return v, classify(err)
}

// DepositFilter selects deposits for a list. Empty fields do not filter.
type DepositFilter struct {
	Account string // deposits to this account
	Owner   string // deposits to any account of this owner
	Status  string
	Period
	After Cursor
	Limit int
}

// Deposits lists deposits in journal order.
func (s *Store) Deposits(ctx context.Context, f DepositFilter) ([]Listed[DepositView], error) {
	return list(ctx, s, scanDepositView, `SELECT `+depositViewColumns+`, d.book, d.created_position FROM deposits d
		WHERE ($1 = '' OR d.account_id = $1)
		  AND ($2 = '' OR EXISTS (SELECT 1 FROM accounts a WHERE a.book = d.book AND a.id = d.account_id AND a.owner = $2))
		  AND (d.book, d.created_position) > ($3, $4)
		  AND ($6 = '' OR d.status = $6)
		  AND ($7::timestamptz IS NULL OR d.created_at >= $7) AND ($8::timestamptz IS NULL OR d.created_at < $8)
		ORDER BY d.book, d.created_position LIMIT $5`, f.Account, f.Owner, f.After.Book, f.After.Position, f.Limit, f.Status, f.From, f.To)
}

// BookOfDeposit returns the book of the deposit a gateway notification is
// about (by our reference, or the gateway's payment id), or of the wallet its
// metadata names; empty if neither is known.
func (s *Store) BookOfDeposit(ctx context.Context, reference, gateway, gatewayReference, account string) (string, error) {
	var book string
	err := s.reader(ctx).QueryRow(ctx, `
		SELECT book FROM (
			SELECT book, 1 AS rank FROM deposit_references WHERE reference = $1 AND $1 <> ''
			UNION ALL SELECT book, 2 FROM deposits WHERE gateway = $2 AND gateway_reference = $3 AND $3 <> ''
			UNION ALL SELECT book, 3 FROM wallet_numbers WHERE wallet_number = $4 AND $4 <> ''
			UNION ALL SELECT book, 4 FROM accounts WHERE id = $4 AND $4 <> ''
		) t ORDER BY rank LIMIT 1`, reference, gateway, gatewayReference, account).Scan(&book)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return book, classify(err)
}

const refundColumns = `r.id, r.book, coalesce(r.deposit_id, ''), coalesce(r.transfer_id, ''), r.account_id, r.currency,
	r.amount::text, r.status, coalesce(r.gateway, ''), coalesce(r.gateway_refund_id, ''), r.gateway_initiated,
	r.reason, r.created_at, coalesce(r.hold_id, '')`

func scanRefund(row pgx.Row) (ledger.Refund, error) {
	var r ledger.Refund
	var cur, amount string
	if err := row.Scan(&r.ID, &r.Book, &r.DepositID, &r.TransferID, &r.Account, &cur, &amount, &r.Status,
		&r.Gateway, &r.GatewayRefundID, &r.GatewayInitiated, &r.Reason, &r.CreatedAt, &r.HoldID); err != nil {
		return r, err
	}
	var err error
	r.Amount, err = parseMoney(amount, ledger.Currency(cur))
	return r, err
}

// Refund finds a refund by id. Returns ENotFound if there is none.
func (s *Store) Refund(ctx context.Context, id string) (ledger.Refund, error) {
	r, err := scanRefund(s.reader(ctx).QueryRow(ctx, `SELECT `+refundColumns+` FROM refunds r WHERE r.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ledger.Errorf(ledger.ENotFound, "refund %s not found", id)
	}
	return r, classify(err)
}

// RefundFilter selects refunds for a list. Empty fields do not filter.
type RefundFilter struct {
	Deposit, Transfer string
	Owner             string // refunds out of any account of this owner
	Status            string
	Period
	After Cursor
	Limit int
}

// Refunds lists refunds in journal order.
func (s *Store) Refunds(ctx context.Context, f RefundFilter) ([]Listed[ledger.Refund], error) {
	return list(ctx, s, scanRefund, `SELECT `+refundColumns+`, r.book, r.created_position FROM refunds r
		WHERE ($1 = '' OR r.deposit_id = $1) AND ($2 = '' OR r.transfer_id = $2)
		  AND ($3 = '' OR EXISTS (SELECT 1 FROM accounts a WHERE a.book = r.book AND a.id = r.account_id AND a.owner = $3))
		  AND (r.book, r.created_position) > ($4, $5)
		  AND ($7 = '' OR r.status = $7)
		  AND ($8::timestamptz IS NULL OR r.created_at >= $8) AND ($9::timestamptz IS NULL OR r.created_at < $9)
		ORDER BY r.book, r.created_position LIMIT $6`, f.Deposit, f.Transfer, f.Owner, f.After.Book, f.After.Position, f.Limit, f.Status, f.From, f.To)
}
