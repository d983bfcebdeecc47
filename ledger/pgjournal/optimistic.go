package pgjournal

import (
	"context"
	"slices"
	"time"

	"github.com/tallyledger/tally/ledger"
)

// flight is an optimistic batch sent on the chain and not yet landed.
type flight struct {
	batch   []*pending
	results []result
	events  []ledger.Event // what it appends, if it commits
	steps   []step         // what each statement sent is, for errors
	sent    time.Time      // when it was sent
}

// launch decides a batch optimistically and sends it on the chain, without
// reading the book under its lock. It decides against the sequencer's
// cache — the book as the batches before it left it, committed or not —
// and the transaction it sends runs, right after the one in front of it on
// the chain, as:
//
//	move the book's head row from the head decided on to the new one (its
//	row lock is the book's lock; the move fails unless the head was the one
//	decided on); events, postings, inline projections, idempotency
//	records; commit
//
// So nothing is read while the book is locked, and no round trip and no Go
// code sit between one batch's commit and the next one's writes: the
// book's critical section is PostgreSQL writing. Accounts the cache does
// not hold are read first, without the lock, which is sound because no
// batch in flight touches them (it would have cached them) and anyone
// else's append moves the head.
//
// The conditions make it safe. The head assertion fails unless the event
// the batch chains from (position and hash) is still the book's last: a
// batch before it failed, or another process appended. A retried key the
// cache has a record of is answered from it; any other key is assumed new,
// and one that already exists fails its plain insert. Either way the
// transaction rolls back, the cache is emptied, and land appends the batch
// carefully; a retried key is answered there, from its record.
//
// Only batches whose commands read nothing but accounts (transfers,
// adjustments, account changes, new holds), holds the cache has (captures,
// voids, expiries) and deposits (payment notifications; see
// lookupDeposits) go this way: ok is false for the others, and when the
// cache cannot be decided on. drain lands what is in flight, which
// preparing a new statement on the chain needs.
func (s *sequencer) launch(batch []*pending, drain func()) (*flight, bool) {
	var refs []string
	var system []ledger.SystemRef
	var holdIDs []string
	var depositKeys []ledger.DepositKey
	keys, finishing := idempotencyKeys(batch)
	if finishing {
		return nil, false
	}
	for _, cmd := range commands(batch) {
		switch c := cmd.(type) {
		case ledger.GatewayNotification:
			// A payment's notification is decided on its deposit (if any)
			// and accounts; refunds' and payouts' are not optimistic.
			if !c.AboutAPayment() {
				return nil, false
			}
			depositKeys = append(depositKeys, c.Deposits()...)
		case ledger.CaptureHold, ledger.VoidHold, ledger.ExpireHold:
			// Decided on the hold alone: optimistic if the cache has it.
			holdIDs = append(holdIDs, cmd.(ledger.HoldReader).Holds()...)
		case ledger.DepositReader, ledger.RefundReader, ledger.HoldReader, ledger.TransactionReader, ledger.WithdrawalReader, ledger.ProposalReader:
			return nil, false
		}
		refs = append(refs, cmd.AccountRefs()...)
		system = append(system, cmd.SystemAccounts()...)
	}
	gen, h, ok := s.cache.snapshot()
	if !ok {
		return nil, false
	}
	holds, ok := s.cache.lookupHolds(gen, holdIDs)
	if !ok {
		return nil, false
	}
	// A retried key the cache has is answered from its record; one it
	// has not is assumed new, which its insert checks.
	stored, ok := s.cache.lookupRecords(gen, keys)
	if !ok {
		return nil, false
	}
	for _, hold := range holds {
		refs = append(refs, hold.From, hold.To)
		system = append(system, ledger.SystemAccountsForHold(hold)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.j.opt.BatchTimeout)
	defer cancel()
	if len(stored) < len(keys) && time.Now().Before(s.readKeysUntil) {
		// Read without the lock, a record is a committed answer (or an
		// in-progress one, answered as the careful append would); a key
		// recorded after the read still fails its insert.
		unknown := slices.DeleteFunc(slices.Clone(keys), func(k scopedKey) bool { _, hit := stored[k]; return hit })
		if err := s.readUnlocked(ctx, func(p *pipeline) { queueStoredResponses(p, s.book, unknown, false, stored) }); err != nil {
			return nil, false
		}
	}
	deposits, ok := s.lookupDeposits(ctx, gen, depositKeys)
	if !ok {
		return nil, false
	}
	for _, d := range deposits {
		refs = append(refs, d.Account)
		system = append(system, ledger.SystemAccountsFor(d)...)
	}
	accounts, unread, ok := s.cache.lookup(gen, sortRefs(s.book, refs, system, s.j.knownAccount))
	if !ok {
		return nil, false
	}
	if !unread.empty() {
		read, err := s.readAccounts(ctx, unread)
		if err != nil {
			return nil, false
		}
		accounts = append(accounts, read...)
	}
	state := ledger.NewState(accounts)
	for _, hold := range holds {
		state.AddHold(hold)
	}
	for _, d := range deposits {
		state.AddDeposit(d)
	}
	d, err := s.decide(batch, state, h, stored)
	if err != nil {
		s.cache.invalidate()
		return nil, false
	}
	var p pipeline
	if s.j.opt.Citus {
		// Citus does not see an implicit transaction (statements up to a
		// Sync) as one: without BEGIN each statement would commit on its
		// own on the worker. A failed explicit transaction stays open at
		// the Sync; land closes the chain then.
		p.exec("begin", "BEGIN")
	}
	// Lock the book and assert its head is the one decided on, in one
	// statement: see moveHeadSQL.
	p.exec("move book head", moveHeadSQL, s.book, h.position, h.hash, d.head.position, d.head.hash, d.head.recordedAt())
	if soleBookIn(batch) {
		// SoleBook requests need this book to be the only one: if it is
		// not, the batch fails and is appended carefully, which refuses
		// them (queueOtherBooks).
		p.exec("assert the only book", `SELECT 1 / (NOT EXISTS (SELECT 1 FROM books WHERE name <> $1))::int`, s.book)
	}
	if err := s.queueWrites(ctx, nil, &p, d); err != nil {
		s.cache.invalidate()
		return nil, false
	}
	if s.j.opt.Citus {
		p.exec("commit", "COMMIT")
	}
	if err := s.chain.ready(ctx); err != nil {
		s.cache.invalidate()
		return nil, false
	}
	if !s.chain.prepared(&p) {
		drain()
		// Landing can close the chain (a lost connection, or a refused
		// transaction on Citus): open it again if so.
		if err := s.chain.ready(ctx); err != nil {
			s.cache.invalidate()
			return nil, false
		}
		if err := s.chain.prepare(ctx, &p); err != nil {
			s.chain.shut()
			s.cache.invalidate()
			return nil, false
		}
	}
	// The next batch decides on top of this one, sent or not yet committed.
	if !s.cache.advance(gen, d.head, state.Accounts(), state.Holds(), state.Deposits(), d.records) {
		return nil, false
	}
	if err := s.chain.send(&p); err != nil {
		// Nothing of it ran: a transaction only commits at its Sync.
		s.cache.invalidate()
		return nil, false
	}
	return &flight{batch: batch, results: d.results, events: d.events, steps: p.steps, sent: time.Now()}, true
}

// lookupDeposits returns the deposits keys name: the cache's, and the
// others read without the book's lock, which is sound for the same reason
// as readAccounts (a batch in flight that touched one has cached it, and
// anyone else's append moves the head). A key that finds none is a
// deposit that does not exist at the head decided on: a payment for it
// is a new, unsolicited deposit, whose reference deposit_references keeps
// unique.
func (s *sequencer) lookupDeposits(ctx context.Context, gen uint64, keys []ledger.DepositKey) ([]ledger.Deposit, bool) {
	if len(keys) == 0 {
		return nil, true
	}
	found, unread, ok := s.cache.lookupDeposits(gen, keys)
	if !ok {
		return nil, false
	}
	if len(unread) == 0 {
		return found, true
	}
	cached := map[string]bool{}
	for _, d := range found {
		cached[d.ID] = true
	}
	err := s.readUnlocked(ctx, func(p *pipeline) {
		queueDepositKeys(p, s.book, unread, func(d ledger.Deposit) {
			if !cached[d.ID] { // the cache's is the newer
				found = append(found, d)
			}
		})
	})
	if err != nil {
		return nil, false
	}
	return found, true
}

// readAccounts reads accounts without locking them, for an optimistic batch.
func (s *sequencer) readAccounts(ctx context.Context, r accountRefs) ([]ledger.Account, error) {
	var out []ledger.Account
	err := s.readUnlocked(ctx, func(p *pipeline) {
		r.queue(p, s.j, func(a ledger.Account) { out = append(out, a) })
	})
	return out, err
}

// readUnlocked runs the reads queue queues in one read-only transaction, in
// one round trip, without the book's lock.
func (s *sequencer) readUnlocked(ctx context.Context, queue func(*pipeline)) error {
	t, err := s.begin()
	if err != nil {
		return err
	}
	defer t.end()
	var p pipeline
	p.begin(true)
	queue(&p)
	p.exec("end read", "COMMIT")
	return p.send(ctx, t.conn)
}
