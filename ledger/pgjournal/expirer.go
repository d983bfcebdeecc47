package pgjournal

import (
	"context"
	"errors"
	"net/http"
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
	PageSize int           // due holds read at a time (default 500)
	// Now is the expirer's clock (default time.Now). The journal decides
	// with its own: where the two disagree (processes' clocks apart), a hold
	// due by this one may not be due by the journal's yet.
	Now func() time.Time
}

// expiryPage is how many due holds one pass reads at a time by default.
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

// Pass expires every hold due when it starts and reports how many it
// expired. It reads the due holds a page at a time, in (expires_at, book,
// id) order, and always moves on past the page it read: a hold whose expiry
// the journal refused, or found not yet due (its clock behind ours), is
// logged and left pending for the next pass, never read again at once, so
// a page full of them cannot hold the expirer on one page.
func (x *Expirer) Pass(ctx context.Context) (int, error) {
	page := x.PageSize
	if page <= 0 {
		page = expiryPage
	}
	now := time.Now()
	if x.Now != nil {
		now = x.Now()
	}
	var after DueHold
	var failed error // a book's failed append, reported once every page was tried
	expired := 0
	for {
		due, err := x.Store.DueHolds(ctx, now, after, page)
		if err != nil {
			return expired, errors.Join(failed, err)
		}
		n, err := x.expire(ctx, due)
		expired += n
		failed = errors.Join(failed, err)
		if len(due) < page || ctx.Err() != nil {
			return expired, failed
		}
		after = due[len(due)-1]
	}
}

// Item answers of an expiry, read back from the group's outcome.
const (
	holdExpired = http.StatusOK
	holdEnded   = http.StatusNoContent // captured or voided first: nothing to expire
	holdNotDue  = http.StatusConflict  // still pending, but not due by the journal's clock
	holdRefused = http.StatusUnprocessableEntity
)

// expire submits ExpireHold for due, one group per book (each book's
// expiries share one append), and reports how many holds it expired,
// logging each it did not.
func (x *Expirer) expire(ctx context.Context, due []DueHold) (int, error) {
	books := map[string][]Request{}
	var order []string
	for _, h := range due {
		if books[h.Book] == nil {
			order = append(order, h.Book)
		}
		books[h.Book] = append(books[h.Book], Request{Command: ledger.ExpireHold{HoldID: h.ID}, Render: renderExpiry(h.ID)})
	}
	expired := 0
	var failed error
	for _, book := range order {
		var items []ItemOutcome
		group := Request{Book: book, Items: books[book], Render: func(o Outcome) Response {
			items = o.Items
			return Response{}
		}}
		if _, err := x.Journal.Submit(ctx, group); err != nil {
			if ctx.Err() != nil {
				return expired, err
			}
			// One book's failure does not stop the others' expiries.
			x.Journal.opt.Logger.Error("could not expire a book's due holds; the next pass tries again", "book", book, "holds", len(books[book]), "err", err)
			failed = err
			continue
		}
		for i, item := range items {
			id := books[book][i].Command.(ledger.ExpireHold).HoldID
			switch {
			case item.Err == nil && item.Response.Status == holdExpired:
				expired++
			case item.Err == nil && item.Response.Status == holdEnded:
			case item.Err == nil && item.Response.Status == holdNotDue:
				x.Journal.opt.Logger.Warn("a due hold did not expire: the journal found it not yet due (clocks apart?); the next pass tries again",
					"book", book, "hold", id)
			default:
				x.Journal.opt.Logger.Error("the journal refused a due hold's expiry; the next pass tries again",
					"book", book, "hold", id, "err", item.Err, "refusal", string(item.Response.Body))
			}
		}
	}
	return expired, failed
}

// renderExpiry records in an item's answer what became of the hold.
func renderExpiry(id string) func(Outcome) Response {
	return func(o Outcome) Response {
		switch {
		case o.Err != nil:
			return Response{Status: holdRefused, Body: []byte(o.Err.Error())}
		case len(o.Events) > 0:
			return Response{Status: holdExpired}
		}
		if h, ok := o.State.Hold(id); ok && h.Status == ledger.HoldStatusPending {
			return Response{Status: holdNotDue}
		}
		return Response{Status: holdEnded}
	}
}
