package pgjournal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
)

// sequencer serializes the appends of one book. It takes whatever commands
// are queued (up to MaxBatch) and appends them in one transaction; while
// that transaction runs, the next batch accumulates. That is the group
// commit.
//
// Most batches are optimistic (see launch): decided against what the
// sequencer knows of its book, and sent on its chain connection, where
// PostgreSQL runs them back to back. Up to two are in flight: one running,
// the next decided and queued behind it, so the book's lock never waits for
// Go. The others are appended carefully (see appendCareful), one at a time,
// once everything in flight has landed.
type sequencer struct {
	j     *Journal
	book  string
	queue chan *pending
	cache bookCache
	chain chain
	pace  pacer
	// readKeysUntil, while in the future, has optimistic batches read the
	// idempotency records of the keys the cache does not know before
	// deciding (see keyTaken).
	readKeysUntil time.Time
}

// keyReadWindow is how long optimistic batches read their unknown keys'
// records after a batch failed on a key another process had recorded.
const keyReadWindow = time.Minute

// inFlight is how many optimistic batches of a book may be in flight: one
// running, one queued behind it. More would only split the waiting commands
// into more, smaller transactions, each with its own commit.
const inFlight = 2

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
	s.chain.j = s.j
	defer s.chain.shut()
	var flying []*flight
	drain := func() {
		for len(flying) > 0 {
			flying = s.land(flying)
		}
	}
	for {
		var batch []*pending
		switch {
		case len(flying) >= inFlight:
			flying = s.land(flying)
			continue
		case len(flying) == 1:
			// One batch runs: the next may form while it does, as late as
			// the pacer says, so that it takes the commands still on their way.
			var open bool
			batch, open = s.collect(s.pace.wait(flying[0]))
			s.pace.collected(len(batch))
			if len(batch) == 0 {
				flying = s.land(flying)
				if !open {
					drain()
					return
				}
				continue
			}
		default:
			first, ok := s.next()
			if !ok {
				return
			}
			batch = s.fill([]*pending{first})
		}
		batch = live(batch)
		if len(batch) == 0 {
			continue
		}
		if f, ok := s.launch(batch, drain); ok {
			flying = append(flying, f)
			continue
		}
		drain()
		s.process(batch)
	}
}

// idleClose is how long a sequencer with nothing to do keeps its chain
// connection: each book that appends holds one, and books can be many.
const idleClose = 2 * time.Second

// next waits for the next command, closing the chain connection if none
// comes for idleClose. ok is false once the queue is closed.
func (s *sequencer) next() (p *pending, ok bool) {
	select {
	case p, ok = <-s.queue:
		return p, ok
	default:
	}
	idle := time.NewTimer(idleClose)
	defer idle.Stop()
	select {
	case p, ok = <-s.queue:
		return p, ok
	case <-idle.C:
		s.chain.shut()
		p, ok = <-s.queue
		return p, ok
	}
}

// fill adds what is queued to batch, up to MaxBatch commands (a group
// counts as its items), without waiting.
func (s *sequencer) fill(batch []*pending) []*pending {
	for weight(batch) < s.j.opt.MaxBatch {
		select {
		case p, ok := <-s.queue:
			if !ok {
				return batch
			}
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// collect gathers a batch while another runs: it waits until target
// commands have come or the deadline passes, then takes whatever else is
// queued. open is false once the queue is closed.
func (s *sequencer) collect(target int, deadline time.Time) (batch []*pending, open bool) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for len(batch) < target && weight(batch) < s.j.opt.MaxBatch {
		select {
		case p, ok := <-s.queue:
			if !ok {
				return batch, false
			}
			batch = append(batch, p)
		case <-timer.C:
			return s.fill(batch), true
		}
	}
	return s.fill(batch), true
}

// weight is how many commands batch decides: a group counts as its items,
// so that batches of batches stay about MaxBatch commands (the last group
// taken may pass it; a group larger than MaxBatch goes alone).
func weight(batch []*pending) int {
	n := 0
	for _, p := range batch {
		n += max(1, len(p.req.Items))
	}
	return n
}

// live answers the commands whose callers have given up (they were never
// decided) and returns the others.
func live(batch []*pending) []*pending {
	out := batch[:0]
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.done <- result{err: err}
			continue
		}
		out = append(out, p)
	}
	return out
}

// land waits for the oldest batch in flight and answers its commands. A
// batch PostgreSQL refused (the book was not as it was decided against, or
// a write failed) is appended carefully instead, after the batches behind
// it have landed too: they were decided on top of it and fail as well.
func (s *sequencer) land(flying []*flight) []*flight {
	f := flying[0]
	flying = flying[1:]
	err := s.chain.receive(f.steps, s.j.opt.BatchTimeout)
	s.pace.landed(f)
	if err == nil {
		s.j.recordBatch(s.book, f.events, len(f.batch), time.Since(f.sent))
		s.j.optimistic.Add(1)
		for i, p := range f.batch {
			p.done <- f.results[i]
		}
		return flying
	}
	s.cache.invalidate()
	if Unavailable(err) {
		// The connection is gone with the transaction's outcome: appending
		// again could append twice. The callers retry with their keys.
		s.j.opt.Logger.Error("append failed", "book", s.book, "size", len(f.batch), "err", err)
		for _, p := range f.batch {
			p.done <- result{err: classify(err)}
		}
		return flying
	}
	s.j.refused.Add(1)
	s.j.opt.Logger.Debug("optimistic append refused; appending carefully", "book", s.book, "size", len(f.batch), "err", err)
	if keyTaken(err) {
		s.readKeysUntil = time.Now().Add(keyReadWindow)
	}
	redo := [][]*pending{f.batch}
	for _, g := range flying {
		err := s.chain.receive(g.steps, s.j.opt.BatchTimeout)
		switch {
		case err == nil: // it chained from f, so it cannot have committed; if it did, it stands
			s.j.recordBatch(s.book, g.events, len(g.batch), time.Since(g.sent))
			for i, p := range g.batch {
				p.done <- g.results[i]
			}
		case Unavailable(err):
			for _, p := range g.batch {
				p.done <- result{err: classify(err)}
			}
		default:
			redo = append(redo, g.batch)
		}
	}
	if s.j.opt.Citus {
		// The failed explicit transaction is still open on the chain.
		s.chain.shut()
	}
	for _, b := range redo {
		s.process(live(b))
	}
	return nil
}

// process appends a batch carefully. If the transaction fails for a reason
// other than an unreachable database, each command is retried alone so that
// one bad command cannot fail its neighbours.
func (s *sequencer) process(batch []*pending) {
	if len(batch) == 0 {
		return
	}
	results, err := s.appendCareful(batch)
	if headBehind(err) {
		// The head row is behind the journal: a process of an older Tally
		// appended without moving it. Repair it and try once more.
		if rerr := s.repairHead(); rerr != nil {
			s.j.opt.Logger.Error("repairing the book's head", "book", s.book, "err", rerr)
		} else {
			s.j.opt.Logger.Warn("the book's head was behind its journal; repaired it", "book", s.book)
			results, err = s.appendCareful(batch)
		}
	}
	if err != nil && len(batch) > 1 && !Unavailable(err) {
		s.j.opt.Logger.Warn("batch append failed; retrying commands one by one", "book", s.book, "size", len(batch), "err", err)
		for _, p := range batch {
			s.process(live([]*pending{p}))
		}
		return
	}
	if err != nil {
		s.j.opt.Logger.Error("append failed", "book", s.book, "size", len(batch), "err", err)
		for _, p := range batch {
			p.done <- result{err: classify(err)}
		}
		return
	}
	for i, p := range batch {
		p.done <- results[i]
	}
}

// appendCareful runs the batch the safe way. Its statements go in
// pipelines: one round trip opens the transaction, takes the book's lock
// and reads what the batch decides on (two when it reads
// deposits or transfers first), the batch is decided in memory, and one
// more round trip writes everything and commits.
func (s *sequencer) appendCareful(batch []*pending) ([]result, error) {
	t, err := s.begin()
	if err != nil {
		s.cache.invalidate()
		return nil, err
	}
	defer t.end()

	var h head
	var headRow bool
	stored := map[scopedKey]record{}
	load := newLoader(s.j, s.book, batch)
	var p pipeline
	p.begin(false)
	queueHead(&p, s.book, &h, &headRow)
	keys, finishing := idempotencyKeys(batch)
	queueStoredResponses(&p, s.book, keys, finishing, stored)
	queueOtherBooks(&p, s.j, s.book, batch)
	second := load.queueFirst(&p)
	if err := p.send(t.ctx, t.conn); err != nil {
		s.cache.invalidate()
		return nil, err
	}
	if second && load.queueSecond(&p) {
		if err := p.send(t.ctx, t.conn); err != nil {
			s.cache.invalidate()
			return nil, err
		}
	}
	state := load.state()
	if !headRow {
		// A new book: the book row must exist before its events. Its head
		// row is not there to lock yet; a process that opens the same book
		// at the same moment fails on the events' primary key, and its batch
		// is appended again, then under the head's lock.
		p.exec("open book", `INSERT INTO books (name) VALUES ($1) ON CONFLICT DO NOTHING`, s.book)
	}
	d, err := s.decide(batch, state, h, stored)
	if err != nil {
		s.cache.invalidate()
		return nil, err
	}
	// What this batch read it read under the lock: the cache can start from it.
	s.cache.reset(h, d.head, state.Accounts(), state.Holds(), state.Deposits(), d.records)
	if err := s.write(t, &p, d, !headRow || d.head != h); err != nil {
		s.cache.invalidate()
		return nil, err
	}
	return d.results, nil
}

// appendTx is one append's connection and transaction.
type appendTx struct {
	ctx       context.Context
	cancel    context.CancelFunc
	pc        *pgxpool.Conn
	conn      *pgx.Conn
	committed bool
	started   time.Time // for the commit latency the Observer sees
}

func (s *sequencer) begin() (*appendTx, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.j.opt.BatchTimeout)
	pc, err := s.j.pool.Acquire(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	return &appendTx{ctx: ctx, cancel: cancel, pc: pc, conn: pc.Conn(), started: time.Now()}, nil
}

// end rolls back an append that did not commit and gives the connection
// back. (The pool discards a connection released broken or inside a
// transaction; rolling back keeps it usable.)
func (t *appendTx) end() {
	if !t.committed && !t.conn.IsClosed() && t.conn.PgConn().TxStatus() != 'I' {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = t.conn.Exec(ctx, "ROLLBACK")
		cancel()
	}
	t.pc.Release()
	t.cancel()
}

// decision is what deciding a batch produced.
type decision struct {
	results []result
	events  []ledger.Event
	records []record
	head    head // the book's head after the batch
}

// decide decides each command of the batch in order against state, which
// it moves forward, numbering and chaining the events from h. stored holds
// the idempotency records found for the batch's keys.
func (s *sequencer) decide(batch []*pending, state *ledger.State, h head, stored map[scopedKey]record) (decision, error) {
	// Recorded times never go backwards within a book, even if the clock does.
	now := ledger.Truncate(time.Now())
	if now.Before(h.lastRecorded) {
		now = h.lastRecorded
	}
	env := ledger.Env{Book: s.book, Now: now, NewID: ledger.NewID, NewWalletNumber: ledger.NewWalletNumber}
	d := decision{results: make([]result, len(batch)), head: h}
	for i, b := range batch {
		if b.req.SoleBook && s.j.otherBooks.Load() {
			d.results[i] = result{err: ErrOtherBooks}
			continue
		}
		var err error
		if b.req.isGroup() {
			d.results[i], err = s.decideGroup(b.req, state, env, &d, stored)
		} else {
			d.results[i], err = s.decideOne(b.req, state, env, &d, stored, false)
		}
		if err != nil {
			return d, err
		}
		// Read-your-writes: the book's position once this request is
		// answered (a replayed answer's too).
		d.results[i].resp.Position = Position{s.book, d.head.position}
	}
	return d, nil
}

// decideOne decides one command (on its own, or as an item of a group),
// appending its events and idempotency record to d. A retried key is
// answered from stored. The error is internal: refusals are rendered.
func (s *sequencer) decideOne(req Request, state *ledger.State, env ledger.Env, d *decision, stored map[scopedKey]record, item bool) (result, error) {
	if idem := req.Idempotency; idem != nil {
		k := scopedKey{idem.Scope, idem.Key}
		if r, ok := stored[k]; ok && !(idem.Finish && r.Response.Status == InProgress) {
			return r.answer(idem.Fingerprint), nil
		} else if ok && r.leaseHolder != idem.Holder {
			return result{err: ledger.Errorf(ledger.EUnavailable, "this request lost its hold on the Idempotency-Key to another attempt, "+
				"which records the outcome; retry with the same Idempotency-Key")}, nil
		}
	}
	decided, derr := state.Decide(req.Command, env)
	out := Outcome{State: state}
	if derr != nil {
		var le *ledger.Error
		if !errors.As(derr, &le) {
			return result{}, derr
		}
		out.Err = le
	}
	for _, e := range decided {
		if e.Book != s.book {
			if !item {
				return result{}, fmt.Errorf("pgjournal: %s decided for book %s in the %s sequencer", e.Type, e.Book, s.book)
			}
			// A batch is decided in one book; an item about another book's
			// accounts is refused, as if they were not there.
			decided, out.Err = nil, ledger.Errorf(ledger.ENotFound, "the item's accounts are not in book %s, the book of this batch", s.book)
			break
		}
	}
	for k := range decided {
		e := &decided[k]
		d.head.position++
		e.Position, e.PrevHash, e.RecordedAt = d.head.position, d.head.hash, env.Now
		if err := state.Apply(e); err != nil {
			return result{}, err
		}
		var err error
		if e.Hash, err = ledger.HashEvent(*e); err != nil {
			return result{}, err
		}
		d.head.hash, d.head.lastRecorded = e.Hash, env.Now
	}
	out.Events = decided
	d.events = append(d.events, decided...)
	resp := req.Render(out)
	if idem := req.Idempotency; idem != nil {
		_, seen := stored[scopedKey{idem.Scope, idem.Key}]
		rec := record{Scope: idem.Scope, Key: idem.Key, Fingerprint: idem.Fingerprint, Response: resp, finishes: seen}
		if len(decided) > 0 {
			rec.Position = decided[len(decided)-1].Position
		}
		d.records = append(d.records, rec)
		// A second request with the same key in this batch is a retry of this one.
		stored[scopedKey{idem.Scope, idem.Key}] = rec
	}
	return result{resp: resp}, nil
}

// decideGroup decides a group's items in order, each against the state the
// earlier ones left, and renders the group's answer from theirs. An atomic
// group keeps its items' events and records only if every item succeeded:
// at the first failure the state, events, records and head go back to
// where they were before the group, and the items after it are not decided.
func (s *sequencer) decideGroup(req Request, state *ledger.State, env ledger.Env, d *decision, stored map[scopedKey]record) (result, error) {
	if idem := req.Idempotency; idem != nil {
		if r, ok := stored[scopedKey{idem.Scope, idem.Key}]; ok {
			return r.answer(idem.Fingerprint), nil
		}
	}
	var snap *ledger.State
	events, records, head := len(d.events), len(d.records), d.head
	var added []scopedKey
	if req.Atomic {
		snap = state.Clone()
	}
	out := Outcome{State: state, Items: make([]ItemOutcome, len(req.Items)), Failed: -1}
	for k, item := range req.Items {
		if idem := item.Idempotency; idem != nil {
			if _, ok := stored[scopedKey{idem.Scope, idem.Key}]; !ok {
				added = append(added, scopedKey{idem.Scope, idem.Key})
			}
		}
		r, err := s.decideOne(item, state, env, d, stored, true)
		if err != nil {
			return result{}, err
		}
		out.Items[k] = ItemOutcome{Response: r.resp, Err: r.err}
		if req.Atomic && (r.err != nil || r.resp.Status >= 400) {
			out.Failed = k
			*state = *snap
			d.events, d.records, d.head = d.events[:events], d.records[:records], head
			for _, key := range added {
				delete(stored, key)
			}
			break
		}
	}
	out.Events = d.events[events:]
	resp := req.Render(out)
	if idem := req.Idempotency; idem != nil {
		rec := record{Scope: idem.Scope, Key: idem.Key, Fingerprint: idem.Fingerprint, Response: resp}
		if len(out.Events) > 0 {
			rec.Position = out.Events[len(out.Events)-1].Position
		}
		d.records = append(d.records, rec)
		stored[scopedKey{idem.Scope, idem.Key}] = rec
	}
	return result{resp: resp}, nil
}

// queueWrites queues the batch's events, inline projections and
// idempotency records after what p already holds. conn is where a
// projection's reads go (nil: it may not read).
func (s *sequencer) queueWrites(ctx context.Context, conn *pgx.Conn, p *pipeline, d decision) error {
	queueEvents(p, d.events)
	for _, pr := range s.j.opt.Inline {
		tx := &pipelineTx{conn: conn, p: p, label: "projection " + pr.Name()}
		if err := pr.Apply(ctx, tx, d.events); err != nil {
			return fmt.Errorf("projection %s: %w", pr.Name(), err)
		}
	}
	queueRecords(p, s.book, d.records)
	return nil
}

// write queues the batch's writes (and, if moved, the book's new head) and
// COMMIT after what p already holds and sends it all in one round trip.
func (s *sequencer) write(t *appendTx, p *pipeline, d decision, moved bool) error {
	p.writePlans(s.j.opt.Citus)
	if err := s.queueWrites(t.ctx, t.conn, p, d); err != nil {
		return err
	}
	if moved {
		queueMoveHead(p, s.book, d.head)
	}
	p.commit(&t.committed)
	if err := p.send(t.ctx, t.conn); err != nil && !t.committed {
		return err
	} else if err != nil {
		// The commit was acknowledged: the batch is durable whatever failed after.
		s.j.opt.Logger.Warn("after commit", "book", s.book, "err", err)
	}
	s.j.recordBatch(s.book, d.events, len(d.results), time.Since(t.started))
	return nil
}

type scopedKey struct{ scope, key string }

// idempotencyKeys lists the idempotency keys of the batch's requests and
// their items, and says whether one of them finishes an in-progress record.
func idempotencyKeys(batch []*pending) (keys []scopedKey, finishing bool) {
	add := func(idem *Idempotency) {
		if idem != nil {
			keys = append(keys, scopedKey{idem.Scope, idem.Key})
			finishing = finishing || idem.Finish
		}
	}
	for _, b := range batch {
		add(b.req.Idempotency)
		for _, item := range b.req.Items {
			add(item.Idempotency)
		}
	}
	return keys, finishing
}

// record is a stored idempotency record.
type record struct {
	Scope, Key, Fingerprint string
	Response                Response
	Position                int64
	// finishes marks a record that replaces the key's in-progress one
	// (Idempotency.Finish); every other record is for a key not seen yet.
	finishes bool
	// leaseHolder holds an in-progress record's lease, read (and the row
	// locked) when the batch finishes one.
	leaseHolder string
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
