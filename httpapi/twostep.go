package httpapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// twoStep is a request that appends in two steps around a call to a payment
// gateway: first is recorded before the gateway is called, and the command
// then returns records the gateway's answer. Between the two the
// Idempotency-Key's record stays "in progress", holding id (the deposit or
// refund first created), so a retry after a crash resumes the request instead
// of starting a second one.
type twoStep struct {
	book  string // empty: the book of first's account
	first ledger.Command
	id    string
	// then runs outside any transaction, with a context that outlives the
	// client, and returns the second command and how to render its outcome.
	then func(ctx context.Context, id string) (ledger.Command, func(pgjournal.Outcome) pgjournal.Response, error)
}

// submitTwoStep runs a twoStep with the full Idempotency-Key semantics.
func (s *Server) submitTwoStep(c echo.Context, key string, body []byte, r twoStep) error {
	p := principal(c)
	idem := pgjournal.Idempotency{Scope: p.IdempotencyScope(), Key: key, Fingerprint: Fingerprint(c.Request().Method, c.Request().URL.Path, body)}
	slot := idem.Scope + "\x00" + idem.Key
	if !s.inflight.acquire(slot) {
		return ledger.Errorf(ledger.EIdempotencyKeyInUse, "a request with this Idempotency-Key is still in progress; retry when it has finished")
	}
	defer s.inflight.release(slot)

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

	// The gateway call and its recording outlive a client that hangs up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), gatewayTimeout)
	defer cancel()
	next, render, err := r.then(ctx, progress.ID)
	if err != nil {
		return err
	}
	idem.Finish = true
	resp, err := s.journal.Submit(ctx, pgjournal.Request{Command: next, Book: r.book, Idempotency: &idem, Render: render})
	if err != nil {
		return submitError(err)
	}
	return write(c, resp)
}
