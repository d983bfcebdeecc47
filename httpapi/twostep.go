package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// DefaultInProgressLease is how long a two-step request's lease on its
// in-progress idempotency record lasts without renewal; the process running
// it renews it every third of that. A retry after a crash resumes the
// request once the lease has run out.
const DefaultInProgressLease = 30 * time.Second

// twoStep is a request that appends in two steps around a call to a payment
// gateway: first is recorded before the gateway is called, and the command
// then returns records the gateway's answer. Between the two the
// Idempotency-Key's record stays "in progress", holding id (the deposit or
// refund first created), so a retry after a crash resumes the request instead
// of starting a second one.
type twoStep struct {
	book  string // the book of both steps; empty: the book of first's account
	first ledger.Command
	id    string
	// then runs outside any transaction, with a context that outlives the
	// client, and returns the second command and how to render its outcome.
	// resumed says that an earlier attempt (perhaps in a process that
	// crashed) may already have called the gateway.
	then func(ctx context.Context, id string, resumed bool) (ledger.Command, func(pgjournal.Outcome) pgjournal.Response, error)
}

// submitTwoStep runs a twoStep with the full Idempotency-Key semantics. The
// in-progress record in PostgreSQL is the lock: the request holds a lease on
// it while it calls the gateway, renewed while this process lives, so a
// duplicate in any process gets 409 idempotency_key_in_use, and a retry
// after the holder died takes the lease over and resumes.
func (s *Server) submitTwoStep(c echo.Context, key string, body []byte, r twoStep) error {
	p := principal(c)
	idem := pgjournal.Idempotency{Scope: p.IdempotencyScope(), Key: key, Fingerprint: Fingerprint(c.Request().Method, c.Request().URL.Path, body)}

	first, err := s.journal.Submit(c.Request().Context(), pgjournal.Request{Command: r.first, Book: r.book, Idempotency: &idem,
		Render: func(o pgjournal.Outcome) pgjournal.Response {
			if o.Err != nil {
				return problemResponse(o.Err)
			}
			return pgjournal.Response{Status: pgjournal.InProgress, ContentType: "application/json", Body: []byte(fmt.Sprintf(`{"id":%q}`, r.id))}
		}})
	if err != nil {
		return submitError(err)
	}
	if first.Status != pgjournal.InProgress {
		return write(c, first) // refused, or a retry of a finished request
	}
	var progress struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(first.Body, &progress); err != nil {
		return fmt.Errorf("in-progress idempotency record: %w", err)
	}

	// Idempotency records are kept per book: the record is in the book the
	// first step went to.
	book := first.Position.Book
	holder := ledger.NewID("lease")
	claimed, err := s.store.ClaimInProgress(c.Request().Context(), book, idem.Scope, idem.Key, holder, s.lease)
	if err != nil {
		return submitError(err)
	}
	if !claimed {
		return ledger.Errorf(ledger.EIdempotencyKeyInUse, "a request with this Idempotency-Key is still in progress; retry when it has finished")
	}
	// The gateway call and its recording outlive a client that hangs up, but
	// not the lease: once it cannot be renewed, another attempt may take the
	// request over and call the gateway too, so this one abandons its call
	// and records nothing (see leaseLost).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), gatewayTimeout)
	defer cancel()
	lease := s.keepLease(ctx, cancel, book, idem, holder)
	defer lease.stop()

	next, render, err := r.then(ctx, progress.ID, first.Replayed)
	if lease.lost.Load() {
		return leaseLost()
	}
	if err != nil {
		return err
	}
	idem.Finish, idem.Holder = true, holder
	resp, err := s.journal.Submit(ctx, pgjournal.Request{Command: next, Book: book, Idempotency: &idem, Render: render})
	if err != nil {
		return submitError(err)
	}
	return write(c, resp)
}

// leaseLost answers a request that stopped because it lost its lease. What
// its gateway call did is unknown, so nothing is recorded for it: the
// operation stays pending, its money held, and the lease's new holder (a
// retry with the same Idempotency-Key) or the gateway's webhook or the
// reconciler settles it.
func leaseLost() error {
	return ledger.Errorf(ledger.EUnavailable, "this request could not keep its hold on the Idempotency-Key while it called the gateway, so it stopped; "+
		"the operation stays pending until its outcome is known; retry with the same Idempotency-Key")
}

// heldLease is a lease renewed in the background; lost is set (and the
// request's context cancelled) once a renewal fails or finds the lease gone.
type heldLease struct {
	lost atomic.Bool
	stop func()
}

// keepLease renews holder's lease until stop is called, which then releases
// it (a finished record no longer needs it; an unfinished one can be resumed
// by a retry at once). A renewal that fails, or finds another holder, stops
// the request at once through cancel: it can no longer prove that it alone
// runs the request, and a gateway call in flight is abandoned (its outcome
// unknown) rather than raced with another attempt's.
func (s *Server) keepLease(ctx context.Context, cancel context.CancelFunc, book string, idem pgjournal.Idempotency, holder string) *heldLease {
	lease := &heldLease{}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(s.lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				ok, err := s.store.ClaimInProgress(ctx, book, idem.Scope, idem.Key, holder, s.lease)
				if ok && err == nil {
					continue
				}
				select {
				case <-done: // the request finished while the renewal ran
					return
				default:
				}
				if ctx.Err() != nil {
					return // the request ran out of time and is ending anyway
				}
				s.log.Error("lost the lease of an in-progress request: it stops, its outcome left to the lease's next holder",
					"book", book, "err", err, "taken_over", err == nil)
				lease.lost.Store(true)
				cancel()
				return
			}
		}
	}()
	lease.stop = func() {
		close(done)
		<-stopped
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.store.ReleaseInProgress(rctx, book, idem.Scope, idem.Key, holder); err != nil {
			s.log.Warn("could not release the lease of an in-progress request", "err", err)
		}
	}
	return lease
}
