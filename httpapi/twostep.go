package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
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
	// The gateway call and its recording outlive a client that hangs up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), gatewayTimeout)
	defer cancel()
	defer s.keepLease(ctx, book, idem, holder)()

	next, render, err := r.then(ctx, progress.ID, first.Replayed)
	if err != nil {
		return err
	}
	idem.Finish = true
	resp, err := s.journal.Submit(ctx, pgjournal.Request{Command: next, Book: book, Idempotency: &idem, Render: render})
	if err != nil {
		return submitError(err)
	}
	return write(c, resp)
}

// keepLease renews holder's lease until the returned function is called,
// which then releases it (a finished record no longer needs it; an
// unfinished one can be resumed by a retry at once).
func (s *Server) keepLease(ctx context.Context, book string, idem pgjournal.Idempotency, holder string) func() {
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
				if ok, err := s.store.ClaimInProgress(ctx, book, idem.Scope, idem.Key, holder, s.lease); err != nil || !ok {
					s.log.Warn("could not renew the lease of an in-progress request", "err", err, "renewed", ok)
				}
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.store.ReleaseInProgress(rctx, book, idem.Scope, idem.Key, holder); err != nil {
			s.log.Warn("could not release the lease of an in-progress request", "err", err)
		}
	}
}
