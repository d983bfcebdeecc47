package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
)

// harden bounds every request: a deadline on its context, which pgx honours
// by cancelling the query in PostgreSQL (and the journal by not deciding a
// command whose caller has given up), and a hard cap on the body for any
// handler that reads it (readBody answers 413 before the cap is reached).
func (s *Server) harden(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		r.Body = http.MaxBytesReader(c.Response(), r.Body, MaxBodyBytes)
		if s.requestTimeout > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), s.requestTimeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		c.SetRequest(r)
		err := next(c)
		// A database that hangs (rather than refusing connections) must not
		// hang every client with it: past the deadline the request answers
		// 503. A write may still commit after its request gave up; a retry
		// with the same Idempotency-Key finds out.
		if errors.Is(err, context.DeadlineExceeded) && ledger.ErrorCode(err) == ledger.EInternal {
			return ledger.Errorf(ledger.EUnavailable, "the ledger did not answer in time; retry with the same Idempotency-Key")
		}
		return err
	}
}

// defaultRequestTimeout bounds a request when Config.RequestTimeout is zero.
const defaultRequestTimeout = 10 * time.Second
