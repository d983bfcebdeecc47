package pgjournal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tallyledger/tally/ledger"
)

// sequencer serializes the appends of one book. It takes whatever commands
// are queued (up to MaxBatch) and appends them in one transaction; while it
// commits, the next batch accumulates. That is the group commit.
//
// The next batch is formed as soon as the current one has decided and
// starts writing: it begins its transaction and waits for the book's
// advisory lock inside PostgreSQL, its reads queued behind the lock, while
// the current one writes and commits. The lock still admits one batch at a
// time and the waiting batch reads the book only once it holds the lock, so
// it decides against everything the first committed. What the overlap
// removes from the book's critical path is the round trip and the wake-ups
// between one commit and the next batch's first read; forming the batch no
// earlier than that keeps it as large as before. At most two batches use
// the database at once: one writing, one waiting or reading.
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
	var wg sync.WaitGroup
	defer wg.Wait()
	var writing <-chan struct{} // closed once the batch in front is writing
	for {
		if writing != nil {
			<-writing
		}
		first, ok := <-s.queue
		if !ok {
			return
		}
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
		w := make(chan struct{})
		writing = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := sync.OnceFunc(func() { close(w) })
			defer next() // also when the batch failed before writing
			s.process(batch, next)
		}()
	}
}

// process appends a batch. If the transaction fails for a reason other than
// an unreachable database, each command is retried alone so that one bad
// command cannot fail its neighbours.
//
// writing is called once the batch's writes are on their way (or it
// failed), to let the next batch form.
func (s *sequencer) process(batch []*pending, writing func()) {
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
	results, err := s.append(live, writing)
	if err != nil && len(live) > 1 && !Unavailable(err) {
		s.j.opt.Logger.Warn("batch append failed; retrying commands one by one", "book", s.book, "size", len(live), "err", err)
		writing()
		for _, p := range live {
			s.process([]*pending{p}, func() {})
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

// append runs one transaction for the batch and returns each command's
// result. Its statements go in pipelines: one round trip opens the
// transaction, takes the book's lock and reads what the batch decides on
// (two when it reads deposits or transfers first), the batch is decided in
// memory, and one more round trip writes everything and commits.
func (s *sequencer) append(batch []*pending, writing func()) ([]result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.j.opt.BatchTimeout)
	defer cancel()
	pc, err := s.j.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	// The pool discards a connection released broken or inside a
	// transaction; rolling back a failed append keeps it usable.
	defer pc.Release()
	conn := pc.Conn()
	committed := false
	defer func() {
		if !committed && !conn.IsClosed() && conn.PgConn().TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = conn.Exec(rctx, "ROLLBACK")
		}
	}()

	var h head
	stored := map[scopedKey]record{}
	load := newLoader(s.j, s.book, batch)
	var p pipeline
	p.exec("begin", "BEGIN")
	p.exec("lock book", `SELECT pg_advisory_xact_lock($1)`, LockKey(s.book))
	queueHead(&p, s.book, &h)
	queueStoredResponses(&p, batch, stored)
	second := load.queueFirst(&p)
	if err := p.send(ctx, conn); err != nil {
		return nil, err
	}
	if second {
		load.queueSecond(&p)
		if err := p.send(ctx, conn); err != nil {
			return nil, err
		}
	}
	state := load.state()

	// Recorded times never go backwards within a book, even if the clock does.
	now := ledger.Truncate(time.Now())
	if now.Before(h.lastRecorded) {
		now = h.lastRecorded
	}
	env := ledger.Env{Book: s.book, Now: now, NewID: ledger.NewID, NewWalletNumber: ledger.NewWalletNumber}

	if h.position == 0 {
		// A book's first event: the book row must exist before its events.
		p.exec("open book", `INSERT INTO books (name) VALUES ($1) ON CONFLICT DO NOTHING`, s.book)
	}
	position, prevHash := h.position, h.hash
	results := make([]result, len(batch))
	var events []ledger.Event
	var records []record
	for i, b := range batch {
		if idem := b.req.Idempotency; idem != nil {
			k := scopedKey{idem.Scope, idem.Key}
			if r, ok := stored[k]; ok && !(idem.Finish && r.Response.Status == InProgress) {
				results[i] = r.answer(idem.Fingerprint)
				continue
			}
		}
		decided, derr := state.Decide(b.req.Command, env)
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
		resp := b.req.Render(out)
		results[i] = result{resp: resp}
		if idem := b.req.Idempotency; idem != nil {
			_, seen := stored[scopedKey{idem.Scope, idem.Key}]
			rec := record{Scope: idem.Scope, Key: idem.Key, Fingerprint: idem.Fingerprint, Response: resp, finishes: seen}
			if len(decided) > 0 {
				rec.Position = decided[len(decided)-1].Position
			}
			records = append(records, rec)
			// A second request with the same key in this batch is a retry of this one.
			stored[scopedKey{idem.Scope, idem.Key}] = rec
		}
	}

	queueEvents(&p, events)
	for _, pr := range s.j.opt.Inline {
		tx := &pipelineTx{conn: conn, p: &p, label: "projection " + pr.Name()}
		if err := pr.Apply(ctx, tx, events); err != nil {
			return nil, fmt.Errorf("projection %s: %w", pr.Name(), err)
		}
	}
	queueRecords(&p, records)
	p.commit(&committed)
	writing()
	if err := p.send(ctx, conn); err != nil && !committed {
		return nil, err
	} else if err != nil {
		// The commit was acknowledged: the batch is durable whatever failed after.
		s.j.opt.Logger.Warn("after commit", "book", s.book, "err", err)
	}
	s.j.recordBatch(len(batch))
	return results, nil
}

type scopedKey struct{ scope, key string }

// record is a stored idempotency record.
type record struct {
	Scope, Key, Fingerprint string
	Response                Response
	Position                int64
	// finishes marks a record that replaces the key's in-progress one
	// (Idempotency.Finish); every other record is for a key not seen yet.
	finishes bool
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
