package pgjournal

import (
	"context"
	"time"

	"github.com/tallyledger/tally/ledger"
)

// flight is an optimistic batch sent on the chain and not yet landed.
type flight struct {
	batch   []*pending
	results []result
	steps   []step    // what each statement sent is, for errors
	sent    time.Time // when it was sent
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
// batch before it failed, or another process appended. An idempotency key
// assumed new that already exists fails its plain insert. Either way the
// transaction rolls back, the cache is emptied, and land appends the batch
// carefully; a retried key is answered there, from its record.
//
// Only batches whose commands read nothing but accounts (transfers,
// adjustments, account changes, new holds) and holds the cache has
// (captures, voids, expiries) go this way: ok is false for the others, and
// when the cache cannot be decided on. drain lands what is in flight,
// which preparing a new statement on the chain needs.
func (s *sequencer) launch(batch []*pending, drain func()) (*flight, bool) {
	var refs []string
	var system []ledger.SystemRef
	for _, b := range batch {
		if b.req.SoleBook || (b.req.Idempotency != nil && b.req.Idempotency.Finish) {
			return nil, false
		}
	}
	var holdIDs []string
	for _, cmd := range commands(batch) {
		switch cmd.(type) {
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
	for _, hold := range holds {
		refs = append(refs, hold.From, hold.To)
		system = append(system, ledger.SystemAccountsForHold(hold)...)
	}
	accounts, unread, ok := s.cache.lookup(gen, sortRefs(s.book, refs, system, s.j.knownAccount))
	if !ok {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.j.opt.BatchTimeout)
	defer cancel()
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
	d, err := s.decide(batch, state, h, map[scopedKey]record{})
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
	if !s.cache.advance(gen, d.head, state.Accounts(), state.Holds()) {
		return nil, false
	}
	if err := s.chain.send(&p); err != nil {
		// Nothing of it ran: a transaction only commits at its Sync.
		s.cache.invalidate()
		return nil, false
	}
	return &flight{batch: batch, results: d.results, steps: p.steps, sent: time.Now()}, true
}

// readAccounts reads accounts without locking them, for an optimistic batch.
func (s *sequencer) readAccounts(ctx context.Context, r accountRefs) ([]ledger.Account, error) {
	t, err := s.begin()
	if err != nil {
		return nil, err
	}
	defer t.end()
	var out []ledger.Account
	var p pipeline
	p.begin(true)
	r.queue(&p, s.j, func(a ledger.Account) { out = append(out, a) })
	p.exec("end read", "COMMIT")
	return out, p.send(ctx, t.conn)
}
