package pgjournal

import (
	"slices"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
)

// loader reads everything a batch decides on, after the book's head row is
// locked (queueHead). That lock makes the append the only writer of its
// book's rows — every projection row of a book is written by an append of
// that book, and a rebuild takes every head lock first — so what the loader
// reads cannot change before the batch commits, and it locks no row itself
// (locking a row writes to it: two writes per balance, with the update).
// Its reads are queued into pipelines:
// one round trip when the batch reads no deposits or transfers (transfers,
// adjustments, account changes), two when the accounts to lock depend on
// the deposits and transfers read first.
type loader struct {
	j     *Journal
	book  string
	batch []*pending

	depositKeys    []ledger.DepositKey // named by the commands
	transferIDs    []string
	refundIDs      []string
	pendingOf      []string // accounts whose pending refunds the batch reads
	holdIDs        []string
	transactionIDs []string
	proposalIDs    []string

	deposits   []ledger.Deposit // as read and locked
	depositIDs []string
	transfers  []ledger.TransferRecord
	refunds    []ledger.Refund
	holds      []ledger.Hold
	txns       []ledger.TransactionRecord
	proposals  []ledger.AdjustmentProposal
	accounts   []ledger.Account

	withdrawalKeys []ledger.WithdrawalKey // named by the commands; see withdrawals.go
	withdrawals    []ledger.Withdrawal    // as read and locked
}

func newLoader(j *Journal, book string, batch []*pending) *loader {
	l := &loader{j: j, book: book, batch: batch}
	for _, cmd := range commands(batch) {
		if r, ok := cmd.(ledger.DepositReader); ok {
			l.depositKeys = append(l.depositKeys, r.Deposits()...)
		}
		if r, ok := cmd.(ledger.RefundReader); ok {
			l.transferIDs = append(l.transferIDs, r.Transfers()...)
			for _, k := range r.Refunds() {
				if k.ID != "" {
					l.refundIDs = append(l.refundIDs, k.ID)
				}
				if k.PendingOfRef != "" {
					l.pendingOf = append(l.pendingOf, k.PendingOfRef)
				}
			}
		}
		if r, ok := cmd.(ledger.ProposalReader); ok {
			l.proposalIDs = append(l.proposalIDs, r.Proposals()...)
		}
		if r, ok := cmd.(ledger.HoldReader); ok {
			l.holdIDs = append(l.holdIDs, r.Holds()...)
		}
		if r, ok := cmd.(ledger.TransactionReader); ok {
			l.transactionIDs = append(l.transactionIDs, r.Transactions()...)
		}
		if r, ok := cmd.(ledger.WithdrawalReader); ok {
			l.withdrawalKeys = append(l.withdrawalKeys, r.Withdrawals()...)
		}
	}
	return l
}

// queueFirst queues the first trip's reads. It reports whether a second
// trip (queueSecond) is needed.
func (l *loader) queueFirst(p *pipeline) bool {
	if len(l.depositKeys) > 0 {
		l.queueDeposits(p)
	}
	if len(l.transferIDs) > 0 {
		l.queueTransfers(p)
	}
	if len(l.holdIDs) > 0 {
		l.queueHolds(p)
	}
	if len(l.transactionIDs) > 0 {
		l.queueTransactions(p)
	}
	if len(l.withdrawalKeys) > 0 {
		l.queueWithdrawals(p)
	}
	if len(l.proposalIDs) > 0 {
		l.queueProposals(p)
	}
	// The accounts the commands name are read in this trip either way; a
	// second trip reads those of the records read in this one, if any.
	refs, system := l.namedAccounts()
	l.queueAccounts(p, refs, system)
	if len(l.proposalIDs) > 0 || len(l.depositKeys) > 0 || len(l.transferIDs) > 0 || len(l.holdIDs) > 0 || len(l.transactionIDs) > 0 || len(l.withdrawalKeys) > 0 {
		return true
	}
	if l.readsRefunds() {
		l.queueRefunds(p)
	}
	return false
}

// readsRefunds says whether the batch reads refunds: by id, of the deposits
// read, or pending from an account.
func (l *loader) readsRefunds() bool {
	return len(l.refundIDs) > 0 || len(l.depositIDs) > 0 || len(l.pendingOf) > 0
}

// queueSecond queues the reads that depend on the records the first trip
// read: their refunds, and the accounts they name that were not read yet.
// It reports whether it queued anything: a batch of payments for new
// deposits, say, needs no second trip.
func (l *loader) queueSecond(p *pipeline) bool {
	queued := l.readsRefunds()
	if queued {
		l.queueRefunds(p)
	}
	refs, system := l.recordAccounts()
	return l.queueAccounts(p, refs, system) || queued
}

// state is what the batch decides against, once the reads are done.
func (l *loader) state() *ledger.State {
	state := ledger.NewState(l.accounts)
	for _, d := range l.deposits {
		state.AddDeposit(d)
	}
	for _, t := range l.transfers {
		state.AddTransfer(t)
	}
	for _, r := range l.refunds {
		state.AddRefund(r)
	}
	for _, h := range l.holds {
		state.AddHold(h)
	}
	for _, t := range l.txns {
		state.AddTransaction(t)
	}
	for _, w := range l.withdrawals {
		state.AddWithdrawal(w)
	}
	for _, p := range l.proposals {
		state.AddProposal(p)
	}
	return state
}

// The deposit and account lookups probe an index once per key, each
// through a LATERAL subquery that OFFSET 0 keeps from being flattened into
// a join: an equality on a whole unique key is planned as one index lookup
// whatever the table's statistics say. A table the planner has no
// statistics for yet (a young one, growing faster than autovacuum analyzes
// it) otherwise gets a plan that reads the book's every row through an
// index on the book alone and filters them: milliseconds per batch, with
// the book's head locked. (A single WHERE with OR across the keys, or
// = ANY over the array of keys, leaves the planner that choice.)
const depositsSQL = `
	SELECT ` + DepositColumns + ` FROM (
		SELECT x.id FROM unnest($1::text[]) AS k(id), LATERAL (
		      SELECT id FROM deposits WHERE book = $5 AND id = k.id OFFSET 0) x
		UNION SELECT x.id FROM unnest($2::text[]) AS k(ref), LATERAL (
		      SELECT deposit_id AS id FROM deposit_references WHERE reference = k.ref AND book = $5 OFFSET 0) x
		UNION SELECT x.id FROM unnest($3::text[], $4::text[]) AS k(gateway, ref), LATERAL (
		      SELECT id FROM deposits WHERE book = $5 AND gateway = k.gateway AND gateway_reference = k.ref OFFSET 0) x
	) i, LATERAL (SELECT * FROM deposits WHERE book = $5 AND id = i.id OFFSET 0) d
	ORDER BY d.id`

func (l *loader) queueDeposits(p *pipeline) {
	queueDepositKeys(p, l.book, l.depositKeys, func(d ledger.Deposit) {
		l.deposits = append(l.deposits, d)
		l.depositIDs = append(l.depositIDs, d.ID)
	})
}

// queueDepositKeys queues the read of book's deposits that keys name.
func queueDepositKeys(p *pipeline, book string, keys []ledger.DepositKey, scan func(ledger.Deposit)) {
	var ids, refs, gateways, gatewayRefs []string
	for _, k := range keys {
		if k.ID != "" {
			ids = append(ids, k.ID)
		}
		if k.Reference != "" {
			refs = append(refs, k.Reference)
		}
		if k.GatewayReference != "" {
			gateways = append(gateways, k.Gateway)
			gatewayRefs = append(gatewayRefs, k.GatewayReference)
		}
	}
	p.query("read deposits", depositsSQL, []any{ids, refs, gateways, gatewayRefs, book}, func(rows pgx.Rows) error {
		d, err := scanDeposit(rows)
		if err != nil {
			return err
		}
		scan(d)
		return nil
	})
}

func (l *loader) queueTransfers(p *pipeline) {
	p.query("read transfers", `
		SELECT t.id, t.book, t.from_account, t.to_account, t.currency, t.amount::text, t.refunded_amount::text
		FROM unnest($1::text[]) AS k(id), LATERAL (SELECT * FROM transfers WHERE book = $2 AND id = k.id OFFSET 0) t
		ORDER BY t.id`, []any{l.transferIDs, l.book}, func(rows pgx.Rows) error {
		var t ledger.TransferRecord
		var cur, amount, refunded string
		if err := rows.Scan(&t.ID, &t.Book, &t.From, &t.To, &cur, &amount, &refunded); err != nil {
			return err
		}
		var err error
		if t.Amount, err = parseMoney(amount, ledger.Currency(cur)); err == nil {
			t.RefundedAmount, err = parseMoney(refunded, ledger.Currency(cur))
		}
		if err != nil {
			return err
		}
		l.transfers = append(l.transfers, t)
		return nil
	})
}

// queueHolds reads the holds the batch names (in its book).
func (l *loader) queueHolds(p *pipeline) {
	p.query("read holds", `
		SELECT `+holdLockColumns+` FROM unnest($2::text[]) AS k(hold_id),
			LATERAL (SELECT * FROM holds WHERE book = $1 AND id = k.hold_id OFFSET 0) h
		ORDER BY h.id`, []any{l.book, l.holdIDs}, func(rows pgx.Rows) error {
		h, err := scanHoldLock(rows)
		if err != nil {
			return err
		}
		l.holds = append(l.holds, h)
		return nil
	})
}

// queueTransactions reads the transactions the batch names (in its book),
// with their legs.
func (l *loader) queueTransactions(p *pipeline) {
	p.query("read transactions", `
		SELECT t.id, coalesce(t.reversed_by, ''),
		       array_agg(g.from_account ORDER BY g.seq), array_agg(g.to_account ORDER BY g.seq),
		       array_agg(g.amount::text ORDER BY g.seq), array_agg(g.currency ORDER BY g.seq)
		FROM transactions t JOIN transaction_legs g ON g.book = t.book AND g.transaction_id = t.id
		WHERE t.book = $1 AND t.id = ANY($2)
		GROUP BY t.id, t.reversed_by`, []any{l.book, l.transactionIDs}, func(rows pgx.Rows) error {
		t := ledger.TransactionRecord{Book: l.book}
		var froms, tos, amounts, currencies []string
		if err := rows.Scan(&t.ID, &t.ReversedBy, &froms, &tos, &amounts, &currencies); err != nil {
			return err
		}
		for i := range froms {
			amount, err := parseMoney(amounts[i], ledger.Currency(currencies[i]))
			if err != nil {
				return err
			}
			t.Legs = append(t.Legs, ledger.Leg{From: froms[i], To: tos[i], Amount: amount})
		}
		l.txns = append(l.txns, t)
		return nil
	})
}

// queueRefunds reads the refunds the batch names, every refund of the
// deposits it read (a gateway's refund notification is matched among them)
// and the pending refunds of the accounts it closes.
func (l *loader) queueRefunds(p *pipeline) {
	p.query("read refunds", `SELECT `+refundColumns+` FROM refunds r
		WHERE r.book = $3 AND r.id = ANY(ARRAY(
			SELECT id FROM refunds WHERE book = $3 AND id = ANY($1)
			UNION SELECT id FROM refunds WHERE book = $3 AND deposit_id = ANY($2)
			UNION SELECT id FROM refunds WHERE book = $3 AND status = 'pending' AND account_id IN (
				SELECT id FROM accounts WHERE book = $3 AND id = ANY($4)
				UNION SELECT id FROM accounts WHERE book = $3 AND wallet_number = ANY($4))))
		ORDER BY r.id`, []any{l.refundIDs, l.depositIDs, l.book, l.pendingOf},
		func(rows pgx.Rows) error {
			r, err := scanRefund(rows)
			if err != nil {
				return err
			}
			l.refunds = append(l.refunds, r)
			return nil
		})
}

// accountsByIDSQL reads the accounts of the common batch, all known by
// id: an index lookup per id (see depositsSQL). Like every lookup of an
// append, it names the book: an account of another book is not found from
// this one.
const accountsByIDSQL = `
	SELECT ` + accountColumns + ` FROM unnest($1::text[]) AS k(id),
		LATERAL (SELECT * FROM accounts WHERE book = $2 AND id = k.id OFFSET 0) a,
		LATERAL (SELECT * FROM balances WHERE book = $2 AND account_id = a.id OFFSET 0) b
	ORDER BY a.id`

// accountsSQL also finds accounts by wallet number and system accounts by
// name, each branch through its own index. It costs about twice the plain
// lookup, so it is used only for refs the journal has not seen yet.
const accountsSQL = `
	SELECT ` + accountColumns + ` FROM (
		SELECT x.id FROM unnest($1::text[]) AS k(ref), LATERAL (
		      SELECT id FROM accounts WHERE book = $5 AND id = k.ref OFFSET 0) x
		UNION SELECT x.id FROM unnest($1::text[]) AS k(ref), LATERAL (
		      SELECT id FROM accounts WHERE book = $5 AND wallet_number = k.ref OFFSET 0) x
		UNION SELECT x.id FROM unnest($2::text[], $3::text[], $4::text[]) AS s(book, currency, name), LATERAL (
		      SELECT id FROM accounts WHERE book = $5 AND book = s.book AND currency = s.currency AND name = s.name OFFSET 0) x
	) i, LATERAL (SELECT * FROM accounts WHERE book = $5 AND id = i.id OFFSET 0) a,
		LATERAL (SELECT * FROM balances WHERE book = $5 AND account_id = a.id OFFSET 0) b
	ORDER BY a.id`

// accountRefs are the accounts a batch names, sorted into what the
// queries need: ids (given, or known from wallet numbers and system
// accounts seen before), other refs (wallet numbers, or anything else to
// be matched against both id and wallet number), and system accounts by name.
type accountRefs struct {
	book                     string // the batch's book, which every lookup names
	ids, others              []string
	books, currencies, names []string
}

// sortRefs sorts refs and system refs (whose empty Book means book) for
// accountRefs, looking each up with known first.
func sortRefs(book string, refs []string, system []ledger.SystemRef, known func(string) (string, bool)) accountRefs {
	r := accountRefs{book: book}
	seen := map[string]bool{}
	for _, ref := range refs {
		if ref == "" || seen[ref] {
			continue
		}
		seen[ref] = true
		if id, ok := known(ref); ok {
			r.ids = append(r.ids, id)
		} else if ledger.HasPrefix(ref, ledger.PrefixAccount) {
			r.ids = append(r.ids, ref)
		} else {
			r.others = append(r.others, ref)
		}
	}
	for _, sys := range system {
		if sys.Book == "" {
			sys.Book = book
		}
		k := systemKey(sys)
		if seen[k] {
			continue
		}
		seen[k] = true
		if id, ok := known(k); ok {
			r.ids = append(r.ids, id)
			continue
		}
		r.books = append(r.books, sys.Book)
		r.currencies = append(r.currencies, string(sys.Currency))
		r.names = append(r.names, sys.Name)
	}
	return r
}

// queue queues the read of the accounts r names, in ascending id order.
func (r accountRefs) queue(p *pipeline, j *Journal, scan func(ledger.Account)) {
	sql, args := accountsByIDSQL, []any{r.ids, r.book}
	if len(r.others) > 0 || len(r.names) > 0 {
		sql, args = accountsSQL, []any{append(r.ids, r.others...), r.books, r.currencies, r.names, r.book}
	}
	p.query("read accounts", sql, args, func(rows pgx.Rows) error {
		a, err := scanAccount(rows)
		if err != nil {
			return err
		}
		j.rememberAccount(a)
		scan(a)
		return nil
	})
}

// namedAccounts are the accounts the batch's commands name (ids or wallet
// numbers, and system accounts).
func (l *loader) namedAccounts() (refs []string, system []ledger.SystemRef) {
	for _, cmd := range commands(l.batch) {
		refs = append(refs, cmd.AccountRefs()...)
		system = append(system, cmd.SystemAccounts()...)
	}
	return refs, system
}

// recordAccounts are the accounts of the records the batch read.
func (l *loader) recordAccounts() (refs []string, system []ledger.SystemRef) {
	for _, h := range l.holds {
		refs = append(refs, h.From, h.To)
		system = append(system, ledger.SystemAccountsForHold(h)...)
	}
	for _, t := range l.txns {
		for _, leg := range t.Legs {
			refs = append(refs, leg.From, leg.To)
		}
	}
	for _, d := range l.deposits {
		refs = append(refs, d.Account)
		system = append(system, ledger.SystemAccountsFor(d)...)
	}
	for _, t := range l.transfers {
		refs = append(refs, t.From, t.To)
	}
	for _, w := range l.withdrawals {
		refs = append(refs, w.Account)
		system = append(system, ledger.SystemAccountsForWithdrawal(w)...)
	}
	for _, p := range l.proposals {
		refs = append(refs, p.Account)
		system = append(system, ledger.SystemAccountsForProposal(p)...)
	}
	return refs, system
}

// queueAccounts queues the read of the accounts refs and system name,
// leaving out those already read. It reports whether it queued a read.
func (l *loader) queueAccounts(p *pipeline, refs []string, system []ledger.SystemRef) bool {
	read := map[string]bool{}
	for _, a := range l.accounts {
		read[a.ID], read[a.WalletNumber] = true, true
		if a.Kind == ledger.KindSystem {
			read[accountSystemKey(a)] = true
		}
	}
	r := sortRefs(l.book, refs, system, l.j.knownAccount)
	r.ids = slices.DeleteFunc(r.ids, func(id string) bool { return read[id] })
	r.others = slices.DeleteFunc(r.others, func(ref string) bool { return read[ref] })
	for i := len(r.names) - 1; i >= 0; i-- {
		if read[r.systemKey(i)] {
			r.books = slices.Delete(r.books, i, i+1)
			r.currencies = slices.Delete(r.currencies, i, i+1)
			r.names = slices.Delete(r.names, i, i+1)
		}
	}
	if r.empty() {
		return false
	}
	r.queue(p, l.j, func(a ledger.Account) {
		l.accounts = append(l.accounts, a)
	})
	return true
}

// head is a book's last position, hash and recorded time.
type head struct {
	position     int64
	hash         string
	lastRecorded time.Time
}

// lockHeadSQL locks the book's head row and reads it: the book's
// single-writer lock (see the book_heads migration). Under READ COMMITTED a
// row locked after waiting is read as its locker committed it, so the head
// read is the latest.
const lockHeadSQL = `SELECT position, hash, recorded_at FROM book_heads WHERE book = $1 FOR UPDATE`

// queueHead queues the locking read of the book's head (position 0 and the
// genesis hash for a book without a head row yet: one whose first event
// this batch appends; *found reports the row).
func queueHead(p *pipeline, book string, h *head, found *bool) {
	h.hash = ledger.GenesisHash
	p.query("lock book head", lockHeadSQL, []any{book}, func(rows pgx.Rows) error {
		var recorded *time.Time
		if err := rows.Scan(&h.position, &h.hash, &recorded); err != nil {
			return err
		}
		if recorded != nil {
			h.lastRecorded = *recorded
		}
		*found = true
		return nil
	})
}

// queueMoveHead queues the upsert of the book's head after a careful batch.
func queueMoveHead(p *pipeline, book string, h head) {
	p.exec("move book head", `
		INSERT INTO book_heads AS h (book, position, hash, recorded_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (book) DO UPDATE SET position = excluded.position, hash = excluded.hash, recorded_at = excluded.recorded_at`,
		book, h.position, h.hash, h.recordedAt())
}

// recordedAt is the head's recorded time for book_heads: NULL while the
// book has no events.
func (h head) recordedAt() *time.Time {
	if h.position == 0 {
		return nil
	}
	return &h.lastRecorded
}

// moveHeadSQL moves the head of an optimistic batch's book from the head it
// was decided on to the one it leaves: its row lock is the book's lock, and
// a division by zero, PostgreSQL's cheapest assertion, aborts the
// transaction unless the head was the one decided on. (Under READ
// COMMITTED, an UPDATE that waited for the row re-checks its WHERE against
// the row as committed, so a batch that lost the race matches nothing.)
const moveHeadSQL = `
	WITH moved AS (
		UPDATE book_heads SET position = $4, hash = $5, recorded_at = $6
		WHERE book = $1 AND position = $2 AND hash = $3
		RETURNING 1)
	SELECT 1 / count(*)::int FROM moved`

// queueStoredResponses queues the lookup of the idempotency records of keys
// (kept per book: a retry goes to the book the request went to). A batch
// that finishes an in-progress record locks the records it reads
// (finishing), so that no other attempt can take the record's lease
// (ClaimInProgress) between the check of its holder and the finish.
func queueStoredResponses(p *pipeline, book string, keys []scopedKey, finishing bool, stored map[scopedKey]record) {
	if len(keys) == 0 {
		return
	}
	scopes, names := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		scopes[i], names[i] = k.scope, k.key
	}
	lock := ""
	if finishing {
		lock = " FOR UPDATE"
	}
	p.query("read idempotency records", `
		SELECT r.scope, r.key, r.fingerprint, r.status, r.content_type, r.body, coalesce(r.position, 0), coalesce(r.lease_holder, '')
		FROM unnest($1::text[], $2::text[]) AS k(scope, key), LATERAL (
			SELECT * FROM idempotency_keys WHERE book = $3 AND scope = k.scope AND key = k.key OFFSET 0`+lock+`) r`, []any{scopes, names, book},
		func(rows pgx.Rows) error {
			var r record
			if err := rows.Scan(&r.Scope, &r.Key, &r.Fingerprint, &r.Response.Status, &r.Response.ContentType, &r.Response.Body, &r.Position, &r.leaseHolder); err != nil {
				return err
			}
			stored[scopedKey{r.Scope, r.Key}] = r
			return nil
		})
}

// queueOtherBooks queues, for a batch with SoleBook requests, the check
// that the database has no book but this one; finding one sets
// j.otherBooks, and decide then refuses those requests. A book's row is
// committed with its first event, so a deposit or account a request
// names in another book (created before the gateway could notify about
// it) is seen.
func queueOtherBooks(p *pipeline, j *Journal, book string, batch []*pending) {
	if !soleBookIn(batch) {
		return
	}
	p.query("look for other books", `SELECT name FROM books WHERE name <> $1 LIMIT 1`, []any{book}, func(pgx.Rows) error {
		j.otherBooks.Store(true)
		return nil
	})
}

// soleBookIn says whether a request of the batch is SoleBook.
func soleBookIn(batch []*pending) bool {
	return slices.ContainsFunc(batch, func(b *pending) bool { return b.req.SoleBook })
}

func parseMoney(s string, cur ledger.Currency) (ledger.Money, error) {
	d, _, err := apd.NewFromString(s)
	if err != nil {
		return ledger.Money{}, err
	}
	return ledger.MoneyFromDecimal(d, cur)
}
