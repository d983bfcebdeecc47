package pgjournal

import (
	"context"
	"time"

	"github.com/tallyledger/tally/ledger"
)

// Expirer voids holds whose time has passed: it finds pending holds past
// their expires_at in the holds table and submits ExpireHold for each
// through the sequencer, so that an expiry and a concurrent capture or void
// are ordered like any two commands (the loser changes nothing). It keeps
// no state of its own: after a restart its first pass catches up with
// every hold that expired while it was down. Several processes may run one;
// the sequencer makes the second expiry of a hold a no-op.
type Expirer struct {
	Journal  *Journal
	Store    *Store
	Interval time.Duration // between passes (default 10s)
}

// expiryPage is how many due holds one pass reads at a time.
const expiryPage = 500

// Run expires due holds every Interval until ctx is done.
func (x *Expirer) Run(ctx context.Context) {
	interval := x.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := x.Pass(ctx); err != nil && ctx.Err() == nil {
			x.Journal.opt.Logger.Warn("hold expiry pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass expires every hold due now and reports how many it submitted.
func (x *Expirer) Pass(ctx context.Context) (int, error) {
	total := 0
	for {
		due, err := x.Store.DueHolds(ctx, time.Now(), expiryPage)
		if err != nil {
			return total, err
		}
		// One group per book: each book's expiries share one append.
		books := map[string][]Request{}
		var order []string
		for _, h := range due {
			if books[h.Book] == nil {
				order = append(order, h.Book)
			}
			books[h.Book] = append(books[h.Book], Request{Command: ledger.ExpireHold{HoldID: h.ID}, Render: renderNothing})
		}
		for _, book := range order {
			if _, err := x.Journal.Submit(ctx, Request{Book: book, Items: books[book], Render: renderNothing}); err != nil {
				return total, err
			}
		}
		total += len(due)
		// A hold the sequencer did not expire (its clock is behind ours)
		// stays due: stop rather than read it again at once.
		if len(due) < expiryPage {
			return total, nil
		}
	}
}

func renderNothing(Outcome) Response { return Response{} }
