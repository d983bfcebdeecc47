// Package pgjournal stores Tally's journal in PostgreSQL. Its sequencer is the
// only write path: one goroutine per book batches commands, decides them
// against the book's state, and appends the resulting events, postings,
// inline projections and idempotency records in one transaction (group
// commit) — optimistically, against what it knows of the book, under
// conditions PostgreSQL checks, or carefully, against state read and locked
// in the transaction.
package pgjournal

import (
	"context"
	"errors"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
)

// Projection applies journal events to its tables inside the append
// transaction (see package projections).
type Projection interface {
	Name() string
	Apply(ctx context.Context, tx pgx.Tx, events []ledger.Event) error
}

// Options tune the journal. Zero values take the defaults.
type Options struct {
	// MaxBatch caps the commands decided in one transaction (default 256).
	// A group (a batch request) counts as its items; the last group taken
	// may pass the cap, and a group larger than it goes alone.
	MaxBatch int
	// BatchTimeout bounds one append transaction (default 10s).
	BatchTimeout time.Duration
	// Inline projections run in every append transaction, in order.
	Inline []Projection
	Logger *slog.Logger
	// Observer, if set, is told about every committed batch (metrics).
	Observer Observer
	// Citus says the database is a Citus coordinator with the schema
	// distributed by book (TALLY_CITUS): statements are then planned with
	// their parameters, so that Citus routes each to its book's shard.
	Citus bool
	// Appended, if set, is called with the book and the events of every
	// committed batch (in position order, none if the batch appended
	// nothing), from the sequencer goroutine, so it must return at once: it
	// is how readers in this process (projections.Runner.Committed) learn
	// of appends without polling, and take the events without reading them
	// back. The events are shared: they must not be modified. Other
	// processes learn of appends on AppendChannel, which the journal always
	// announces on.
	Appended func(book string, events []ledger.Event)
}

// Observer learns how the sequencer batches. It is called from the
// sequencer goroutine after each commit, so it must return quickly.
type Observer interface {
	// BatchCommitted reports one append transaction: how many commands it
	// answered and how long it took from BEGIN to the acknowledged COMMIT.
	BatchCommitted(book string, commands int, elapsed time.Duration)
}

// Journal is the write side of the ledger.
type Journal struct {
	pool *pgxpool.Pool
	opt  Options

	mu      sync.Mutex
	seqs    map[string]*sequencer
	closing bool
	wg      sync.WaitGroup
	// closeNotifier stops the notifier once, however often Close is called.
	closeNotifier sync.Once
	// sending is held (shared) while Submit puts a command on a queue, so
	// that Close cannot close the queue under it.
	sending sync.RWMutex

	notifier *notifier

	books    sync.Map // account id or wallet number → book
	accounts sync.Map // wallet number, or systemKey of a system account → account id
	// otherBooks is set once an append found more than one book (books are
	// never deleted): SoleBook requests are then refused at once.
	otherBooks atomic.Bool

	batches, commands, largest atomic.Int64
	optimistic, refused        atomic.Int64
}

// Stats counts the sequencer's committed work since the journal was created.
type Stats struct {
	Batches  int64 // committed append transactions
	Commands int64 // commands answered by them
	Largest  int64 // the most commands one transaction carried
	// Optimistic counts the batches committed without reading under the
	// book's lock; Refused, the optimistic attempts PostgreSQL refused
	// (stale cache, reused key, failed write), appended carefully instead.
	Optimistic, Refused int64
}

// Stats reports how the group commit has been batching.
func (j *Journal) Stats() Stats {
	return Stats{Batches: j.batches.Load(), Commands: j.commands.Load(), Largest: j.largest.Load(),
		Optimistic: j.optimistic.Load(), Refused: j.refused.Load()}
}

func (j *Journal) recordBatch(book string, events []ledger.Event, n int, elapsed time.Duration) {
	if j.opt.Observer != nil {
		j.opt.Observer.BatchCommitted(book, n, elapsed)
	}
	if j.opt.Appended != nil {
		j.opt.Appended(book, events)
	}
	j.notifier.appended(book)
	j.batches.Add(1)
	j.commands.Add(int64(n))
	for {
		cur := j.largest.Load()
		if int64(n) <= cur || j.largest.CompareAndSwap(cur, int64(n)) {
			return
		}
	}
}

// New returns a journal writing through pool.
func New(pool *pgxpool.Pool, opt Options) *Journal {
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 256
	}
	if opt.BatchTimeout <= 0 {
		opt.BatchTimeout = 10 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Journal{pool: pool, opt: opt, seqs: map[string]*sequencer{}, notifier: newNotifier(pool, opt.Logger)}
}

// Request is one command for the sequencer.
type Request struct {
	Command ledger.Command
	// Book to decide in. Empty: the book of the command's first account
	// (or the default book if that account is unknown; the decision then
	// reports it as not found).
	Book string
	// Idempotency, when set, makes the request answer from the stored
	// response on a retry, and stores this one's in the append transaction.
	Idempotency *Idempotency
	// Render turns the outcome into the HTTP answer. It runs in the
	// sequencer, inside the transaction, so that the stored response and the
	// first answer are the same bytes.
	Render func(Outcome) Response
	// Items make the request a group (a batch): Command is unused, and the
	// items, each a request of its own with its own key and Render, are
	// decided in order in one append transaction. Render then renders the
	// group from Outcome.Items. The group's Idempotency, if any, stores the
	// group's answer.
	Items []Request
	// Atomic makes a group all or nothing: at the first item refused, no
	// item's events or records are kept (Outcome.Failed names it).
	Atomic bool
	// SoleBook sends the request to Book only if Book is the database's
	// only book, which the append checks in its transaction: otherwise
	// Submit returns ErrOtherBooks, deciding nothing, and the caller finds
	// the request's book. A caller whose lookup of the book answers "the
	// only book" whenever there is one (a payment notification's) saves
	// that lookup.
	SoleBook bool
}

// ErrOtherBooks answers a SoleBook request when the database has other
// books than the request's.
var ErrOtherBooks = errors.New("pgjournal: the database has other books than the request's")

func (r Request) isGroup() bool { return r.Items != nil }

// commands lists the commands of a sequencer batch, groups' items included.
func commands(batch []*pending) []ledger.Command {
	out := make([]ledger.Command, 0, len(batch))
	for _, p := range batch {
		if p.req.isGroup() {
			for _, item := range p.req.Items {
				out = append(out, item.Command)
			}
			continue
		}
		out = append(out, p.req.Command)
	}
	return out
}

// accountRefs are the accounts a request names: the first item's, for a group.
func (r Request) accountRefs() []string {
	if !r.isGroup() {
		return r.Command.AccountRefs()
	}
	for _, item := range r.Items {
		if refs := item.Command.AccountRefs(); len(refs) > 0 {
			return refs
		}
	}
	return nil
}

// Idempotency identifies a request for retries.
type Idempotency struct {
	Scope       string // the calling owner, or the key id for owner-less keys
	Key         string // the client's Idempotency-Key
	Fingerprint string // hash of method, path and canonical body
	// Finish replaces the key's InProgress record with this request's
	// answer, for requests that append in two steps (a deposit: recorded,
	// then the gateway is called, then its answer is recorded).
	Finish bool
	// Holder is the lease the finishing request holds on the in-progress
	// record (ClaimInProgress). The finish is refused with EUnavailable,
	// recording nothing, unless the record is still leased to Holder: a
	// request that lost its lease to a retry leaves the outcome to it.
	Holder string
}

// InProgress is the status of a stored response that is not final yet: the
// first step of a two-step request committed, the last has not. Its body is
// the render of the first step; a retry that finds it resumes the request.
const InProgress = 0

// Outcome is what deciding a command produced.
type Outcome struct {
	Events []ledger.Event // appended events with positions and hashes; empty on failure or no-op
	Err    *ledger.Error  // the refusal, if the command was refused
	State  *ledger.State  // accounts as they stand right after this command
	// Items are a group's items' answers, in order; an atomic group that
	// failed has answers up to its Failed item only (-1: none failed).
	Items  []ItemOutcome
	Failed int
}

// ItemOutcome is one item's answer in a group: its rendered response, or
// Err when it could not be decided (its key was used for another request).
type ItemOutcome struct {
	Response Response
	Err      error
}

// Response is a rendered answer.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
	Replayed    bool // answered from an earlier request's record
	// Position is the book's position once the request was answered: a
	// read that asks for it sees the request's effects (read-your-writes
	// across a replica). Set by the sequencer, not by Render.
	Position Position
}

// ErrClosed is returned by Submit once Close has begun.
var ErrClosed = ledger.Errorf(ledger.EUnavailable, "the ledger is shutting down")

// Submit queues the request on its book's sequencer and waits for its answer.
// It returns a ledger *Error with EIdempotencyKeyReused when the key was used
// for a different request, EUnavailable when the database cannot be reached,
// and other errors for internal failures. Business refusals are not errors:
// they are rendered into the Response (and stored, for idempotent requests).
func (j *Journal) Submit(ctx context.Context, req Request) (Response, error) {
	if req.SoleBook && j.otherBooks.Load() {
		return Response{}, ErrOtherBooks
	}
	book := req.Book
	if book == "" {
		var err error
		if book, err = j.bookOf(ctx, req.accountRefs()); err != nil {
			return Response{}, classify(err)
		}
	}
	p := &pending{ctx: ctx, req: req, done: make(chan result, 1)}
	if err := j.enqueue(ctx, book, p); err != nil {
		return Response{}, err
	}
	select {
	case r := <-p.done:
		return r.resp, r.err
	case <-ctx.Done():
		// The command may still commit; a retry with the same
		// Idempotency-Key will find out.
		return Response{}, ctx.Err()
	}
}

// enqueue puts p on its book's sequencer queue. It returns ErrClosed once
// Close has begun, and ctx's error if the caller gives up while the queue is full.
func (j *Journal) enqueue(ctx context.Context, book string, p *pending) error {
	j.sending.RLock()
	defer j.sending.RUnlock()
	s, err := j.sequencer(book)
	if err != nil {
		return err
	}
	select {
	case s.queue <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting commands, lets every sequencer finish what is queued
// (answering every caller), and waits for them.
func (j *Journal) Close() {
	// Wait for Submits that are putting a command on a queue: the sequencers
	// keep draining, so they finish, and later ones see closing.
	j.sending.Lock()
	j.mu.Lock()
	if !j.closing {
		j.closing = true
		for _, s := range j.seqs {
			close(s.queue)
		}
	}
	j.mu.Unlock()
	j.sending.Unlock()
	j.wg.Wait()
	j.closeNotifier.Do(j.notifier.close)
}

func (j *Journal) sequencer(book string) (*sequencer, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closing {
		return nil, ErrClosed
	}
	s := j.seqs[book]
	if s == nil {
		s = &sequencer{j: j, book: book, queue: make(chan *pending, 4*j.opt.MaxBatch)}
		j.seqs[book] = s
		j.wg.Add(1)
		go func() {
			defer j.wg.Done()
			s.run()
		}()
	}
	return s, nil
}

// bookOf finds the book of the first known account among refs. An account
// never changes book, so the answer is cached and the read needs no lock.
func (j *Journal) bookOf(ctx context.Context, refs []string) (string, error) {
	for _, ref := range refs {
		if book, ok := j.books.Load(ref); ok {
			return book.(string), nil
		}
		var book string
		// Wallet numbers through their lookup table; ids (which name no book)
		// with a look at every book's accounts, once per process.
		err := j.pool.QueryRow(ctx, `SELECT book FROM wallet_numbers WHERE wallet_number = $1
			UNION ALL SELECT book FROM accounts WHERE id = $1 LIMIT 1`, ref).Scan(&book)
		if err == nil {
			j.books.Store(ref, book)
			return book, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return "", err
		}
	}
	return ledger.DefaultBook, nil
}

// knownAccount returns the id of the account a wallet number or a
// systemKey names, if an append has already loaded it. Both are fixed for
// the account's life (and accounts are never deleted), so the cache never
// goes stale; it lets the sequencer read accounts by id alone.
func (j *Journal) knownAccount(key string) (string, bool) {
	id, ok := j.accounts.Load(key)
	if !ok {
		return "", false
	}
	return id.(string), true
}

// rememberAccount records what knownAccount answers for a.
func (j *Journal) rememberAccount(a ledger.Account) {
	if a.WalletNumber != "" {
		j.accounts.Store(a.WalletNumber, a.ID)
	}
	if a.Kind == ledger.KindSystem {
		j.accounts.Store(accountSystemKey(a), a.ID)
	}
}

// accountSystemKey is the systemKey of system account a.
func accountSystemKey(a ledger.Account) string {
	return systemKey(ledger.SystemRef{Book: a.Book, Currency: a.Currency, Name: a.Name})
}

// systemKey is the knownAccount key of a system account.
func systemKey(r ledger.SystemRef) string {
	return "system\x00" + r.Book + "\x00" + string(r.Currency) + "\x00" + r.Name
}

// LockKey is a pg_advisory_xact_lock key for name, for locks that are not
// a book's (API keys' per-owner limit). Books are locked through their head
// row in book_heads, which Citus keeps with the book's shard.
func LockKey(book string) int64 {
	h := fnv.New64a()
	h.Write([]byte("tally/book/" + book))
	return int64(h.Sum64())
}

// classify turns database failures into catalogued errors: unreachable
// database → EUnavailable; anything else stays internal.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var le *ledger.Error
	if errors.As(err, &le) {
		return err
	}
	if Unavailable(err) {
		return &ledger.Error{Code: ledger.EUnavailable, Message: "the database is unavailable; retry with the same Idempotency-Key"}
	}
	return err
}

// Unavailable reports whether err means the database could not be reached
// (as opposed to a query it refused).
func Unavailable(err error) bool {
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P: operator intervention (shutdown).
		return len(pe.Code) == 5 && (pe.Code[:2] == "08" || pe.Code[:3] == "57P")
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
