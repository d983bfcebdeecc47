package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// Checks a verify report names in its problems.
const (
	CheckContiguity     = "contiguity"      // positions run 1, 2, 3, … without a gap
	CheckChain          = "chain"           // prev_hash links back and the hash recomputes
	CheckBalanced       = "balanced"        // each event's postings sum to zero per currency
	CheckRunningBalance = "running_balance" // each balance_after is the sum of the account's amounts so far
	CheckReadable       = "readable"        // the stored rows can be read as an event
	CheckRecordedOrder  = "recorded_order"  // recorded times never go backwards (as-of reads search by them)
)

// VerifyOptions tune Verify. Zero values take the defaults.
type VerifyOptions struct {
	// Progress, if set, is called as events are checked.
	Progress func(done, total int64)
	// JournalOnly skips re-deriving the projections.
	JournalOnly bool
	// MaxProblems caps the problems listed (default 100); MaxMismatches the
	// rows listed per projection (default 20). Counting goes on past them.
	MaxProblems, MaxMismatches int
}

// Report is what Verify found in one book. OK is true only if every check
// passed; negative wallets are listed but do not fail it (a gateway refund
// Tally did not ask for may legitimately take a wallet below zero).
type Report struct {
	OK                bool   `json:"ok"`
	Book              string `json:"book"`
	Events            int64  `json:"events"`
	LastPosition      int64  `json:"last_position"`
	LastHash          string `json:"last_hash"`
	ChainOK           bool   `json:"chain_ok"`
	Contiguous        bool   `json:"contiguous"`
	Balanced          bool   `json:"balanced"`
	RunningBalancesOK bool   `json:"running_balances_ok"`
	// FirstBadPosition is the lowest position at which a journal check
	// failed; nil when the journal is sound.
	FirstBadPosition *int64             `json:"first_bad_position"`
	Problems         []Problem          `json:"problems"`
	ProblemCount     int                `json:"problem_count"`
	Projections      []ProjectionReport `json:"projections"`
	NegativeWallets  []NegativeWallet   `json:"negative_wallets"`
	DurationMS       int64              `json:"duration_ms"`
}

// Problem is one failed journal check.
type Problem struct {
	Check    string `json:"check"`
	Position int64  `json:"position"`
	Account  string `json:"account,omitempty"`
	Detail   string `json:"detail"`
}

// ProjectionReport says whether a projection's live rows equal its replay.
type ProjectionReport struct {
	Name string `json:"name"`
	Mode Mode   `json:"mode"`
	OK   bool   `json:"ok"`
	// Position is how far the projection was compared: the head for inline
	// projections, the checkpoint for async ones (Lag events behind).
	Position   int64      `json:"position"`
	Lag        int64      `json:"lag"`
	Mismatches []Mismatch `json:"mismatches"`
	// More is set when there are more mismatching rows than listed.
	More bool `json:"more,omitempty"`
	// Error is set when the replay itself failed.
	Error string `json:"error,omitempty"`
}

// NegativeWallet is a wallet whose re-derived balance is below zero.
type NegativeWallet struct {
	Account  string          `json:"account"`
	Owner    string          `json:"owner,omitempty"`
	Currency ledger.Currency `json:"currency"`
	Balance  string          `json:"balance"`
}

// Verify re-derives one book from its journal and compares: the chain
// (each prev_hash links back, each hash recomputes), contiguity (positions
// 1…N without a gap), zero-sum postings per event, every running balance
// (balance_after), and every projection, inline and async, replayed into
// fresh tables and compared row by row with the live ones. It also lists
// wallets whose re-derived balance is negative.
//
// Appends may go on meanwhile: the bulk is checked up to the head found at
// the start (journal rows up to it never change), then one snapshot fixes
// the moment the report describes, LastPosition, and the rest is checked
// and compared in it. Verify writes nothing but temporary tables. It
// returns ENotFound for an unknown book; a failed check is not an error,
// it is in the report.
func (s *Set) Verify(ctx context.Context, book string, opt VerifyOptions) (*Report, error) {
	start := time.Now()
	if opt.MaxProblems <= 0 {
		opt.MaxProblems = 100
	}
	if opt.MaxMismatches <= 0 {
		opt.MaxMismatches = 20
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	head0, err := pgjournal.BookHead(ctx, s.pool, book)
	if err != nil {
		return nil, err
	}
	var members []member
	if !opt.JournalOnly {
		members = s.all()
	}
	rep := &Report{Book: book, Problems: []Problem{}, Projections: []ProjectionReport{}, NegativeWallets: []NegativeWallet{}}
	var firstBad int64
	problem := func(p Problem) {
		rep.ProblemCount++
		if len(rep.Problems) < opt.MaxProblems {
			rep.Problems = append(rep.Problems, p)
		}
		if firstBad == 0 || p.Position < firstBad {
			firstBad = p.Position
		}
	}
	chain := chainCheck{hash: ledger.GenesisHash}
	var checked int64 // the chain has been followed through this position
	visit := func(events []ledger.Event) error {
		for _, e := range events {
			if e.Position <= checked {
				continue // replayed again for a lagging async projection
			}
			chain.check(e, problem)
			rep.Events++
			rep.LastPosition, rep.LastHash = e.Position, e.Hash
		}
		if opt.Progress != nil {
			opt.Progress(rep.Events, head0.Position)
		}
		return nil
	}
	// stopped records rows that cannot even be read: the replay ends there
	// and the report says where.
	stopped := false
	stop := func(err error) error {
		var ce *pgjournal.CorruptError
		if !errors.As(err, &ce) {
			return err
		}
		problem(Problem{Check: CheckReadable, Position: ce.Position, Detail: ce.Error()})
		stopped = true
		return nil
	}

	ss, err := s.openSession(ctx, members, true)
	if err != nil {
		return nil, err
	}
	defer ss.close()

	// The running balances up to the same head are re-derived meanwhile, on
	// a connection of their own.
	bulk := make(chan runningResult, 1)
	go func() { bulk <- s.runningBalances(ctx, book, 0, head0.Position) }()

	// Phase 1, the bulk: every event up to the head as it was at the start.
	// Journal rows at or below it never change (the triggers see to that,
	// and this very check finds out if something got around them), so no
	// snapshot is needed, and each page commits on its own.
	spans := map[string]span{}
	for _, m := range members {
		upto := head0.Position
		if m.mode == ModeAsync {
			at, err := checkpoint(ctx, s.pool, m.proj.Name(), book)
			if err != nil {
				return nil, err
			}
			upto = min(at, upto)
		}
		spans[m.proj.Name()] = span{0, upto}
	}
	if len(spans) == 0 {
		spans[""] = span{0, head0.Position} // the journal checks alone
	}
	if _, err := ss.replay(ctx, nil, book, spans, visit); err != nil {
		if err := stop(err); err != nil {
			return nil, err
		}
	}
	checked = head0.Position

	// Phase 2: one repeatable-read transaction fixes the moment the report
	// describes. The copies catch up to it (the events appended since the
	// start, and the async checkpoints' moves), the running balances of the
	// new postings are checked, and the tables are compared, all in it.
	tx, err := ss.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read-only
	head, err := pgjournal.BookHead(ctx, tx, book)
	if err != nil {
		return nil, err
	}

	catchUp := map[string]span{}
	for name, sp := range spans {
		upto := head.Position
		if m, _, ok := s.Lookup(name); ok && ss.modeOf(m) == ModeAsync {
			at, err := checkpoint(ctx, tx, name, book)
			if err != nil {
				return nil, err
			}
			if at < sp.upto {
				return nil, fmt.Errorf("projections: the checkpoint of %s in book %s went back from %d to %d during verify", name, book, sp.upto, at)
			}
			upto = min(at, upto)
		}
		catchUp[name] = span{sp.upto, upto}
	}
	if !stopped {
		if _, err := ss.replay(ctx, tx, book, catchUp, visit); err != nil {
			if err := stop(err); err != nil {
				return nil, err
			}
		}
	}
	if stopped {
		// The copies are incomplete: comparing them would only mislead.
		for _, m := range members {
			ss.failed[m.proj.Name()] = "the replay stopped at unreadable journal rows"
		}
	}
	if rep.LastHash == "" {
		rep.LastHash = ledger.GenesisHash
	}
	if err := compareAll(ctx, ss, tx, book, head.Position, catchUp, opt.MaxMismatches, rep); err != nil {
		return nil, err
	}

	rb := <-bulk
	if rb.err != nil {
		return nil, rb.err
	}
	if err := pgjournal.CheckRunningBalances(ctx, tx, book, head0.Position, head.Position, rb.add); err != nil {
		return nil, err
	}
	for _, m := range rb.kept {
		problem(Problem{Check: CheckRunningBalance, Position: m.Position, Account: m.Account,
			Detail: fmt.Sprintf("balance_after of %s at position %d (posting %d) is %s; the previous balance plus the amount is %s", m.Account, m.Position, m.Seq, m.Stored, m.Expected)})
	}
	if rb.count > len(rb.kept) {
		rep.ProblemCount += rb.count - len(rb.kept)
	}
	if rb.count > 0 && (firstBad == 0 || rb.first < firstBad) {
		firstBad = rb.first
	}
	// With every running balance checked, the last stored one is the
	// re-derived balance.
	if err := pgjournal.NegativeWallets(ctx, tx, book, head.Position, func(w pgjournal.NegativeWallet) error {
		rep.NegativeWallets = append(rep.NegativeWallets, NegativeWallet{Account: w.Account, Owner: w.Owner, Currency: w.Balance.Currency(), Balance: w.Balance.String()})
		return nil
	}); err != nil {
		return nil, err
	}

	rep.Contiguous, rep.ChainOK, rep.Balanced = !chain.gap, !chain.broken, !chain.unbalanced
	rep.RunningBalancesOK = rb.count == 0
	rep.OK = rep.ProblemCount == 0
	for _, p := range rep.Projections {
		rep.OK = rep.OK && p.OK
	}
	if firstBad > 0 {
		rep.FirstBadPosition = &firstBad
	}
	rep.DurationMS = time.Since(start).Milliseconds()
	return rep, nil
}

// chainCheck follows one book's events in position order.
type chainCheck struct {
	position                int64
	hash                    string
	recorded                time.Time
	gap, broken, unbalanced bool
}

func (c *chainCheck) check(e ledger.Event, problem func(Problem)) {
	if e.Position != c.position+1 {
		c.gap = true
		problem(Problem{Check: CheckContiguity, Position: e.Position, Detail: fmt.Sprintf("position %d follows %d: the journal has a gap", e.Position, c.position)})
		// prev_hash cannot link to the last event seen either; the event's
		// own hash can still be checked.
		if e.PrevHash != c.hash {
			c.broken = true
			problem(Problem{Check: CheckChain, Position: e.Position, Detail: fmt.Sprintf("position %d: prev_hash does not match the hash of position %d", e.Position, c.position)})
		}
		if h, err := ledger.HashEvent(e); err != nil || h != e.Hash {
			c.broken = true
			problem(Problem{Check: CheckChain, Position: e.Position, Detail: fmt.Sprintf("position %d: stored hash does not match its content", e.Position)})
		}
	} else if err := ledger.CheckLink(c.position, c.hash, e); err != nil {
		c.broken = true
		problem(Problem{Check: CheckChain, Position: e.Position, Detail: err.Error()})
	}
	if err := ledger.CheckBalanced(e.Postings); err != nil {
		c.unbalanced = true
		problem(Problem{Check: CheckBalanced, Position: e.Position, Detail: fmt.Sprintf("position %d: %v", e.Position, err)})
	}
	if e.RecordedAt.Before(c.recorded) {
		problem(Problem{Check: CheckRecordedOrder, Position: e.Position, Detail: fmt.Sprintf("position %d was recorded at %s, before position %d (%s)",
			e.Position, e.RecordedAt.UTC().Format(time.RFC3339Nano), c.position, c.recorded.UTC().Format(time.RFC3339Nano))})
	}
	c.position, c.hash, c.recorded = e.Position, e.Hash, e.RecordedAt
}

// compareAll compares every replayed projection with its live tables in
// tx and adds the results to rep.
func compareAll(ctx context.Context, ss *session, tx pgx.Tx, book string, head int64, spans map[string]span, max int, rep *Report) error {
	if len(ss.members) == 0 {
		return nil
	}
	// A Book condition may name other tables: they must be the live ones.
	if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+ss.live+`, pg_temp`); err != nil {
		return err
	}
	for _, m := range ss.members {
		name := m.proj.Name()
		at := spans[name].upto
		pr := ProjectionReport{Name: name, Mode: m.mode, Position: at, Lag: head - at, Mismatches: []Mismatch{}}
		if msg, failed := ss.failed[name]; failed {
			pr.Error = msg
			rep.Projections = append(rep.Projections, pr)
			continue
		}
		for _, t := range ss.tables {
			if t.owner != name {
				continue
			}
			mm, more, err := ss.compare(ctx, tx, t, book, max)
			if err != nil {
				return err
			}
			pr.Mismatches = append(pr.Mismatches, mm...)
			pr.More = pr.More || more
		}
		if len(pr.Mismatches) > max {
			pr.Mismatches, pr.More = pr.Mismatches[:max], true
		}
		pr.OK = len(pr.Mismatches) == 0
		rep.Projections = append(rep.Projections, pr)
	}
	return nil
}

// runningResult collects running-balance mismatches, keeping the first
// maxBalanceMismatches so that a journal broken everywhere still yields a
// report of bounded size.
type runningResult struct {
	kept  []pgjournal.BalanceMismatch
	count int
	first int64 // the lowest position of all, kept or not
	err   error
}

const maxBalanceMismatches = 1000

func (r *runningResult) add(m pgjournal.BalanceMismatch) error {
	r.count++
	if r.first == 0 || m.Position < r.first {
		r.first = m.Position
	}
	if len(r.kept) < maxBalanceMismatches {
		r.kept = append(r.kept, m)
	}
	return nil
}

// runningBalances checks the running balances of book in (after, upto] on
// a pool connection. Those journal rows never change, so no snapshot is
// needed.
func (s *Set) runningBalances(ctx context.Context, book string, after, upto int64) runningResult {
	var r runningResult
	r.err = pgjournal.CheckRunningBalances(ctx, s.pool, book, after, upto, r.add)
	return r
}
