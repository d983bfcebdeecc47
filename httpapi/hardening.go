package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
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
		return next(c)
	}
}

// defaultRequestTimeout bounds a request when Config.RequestTimeout is zero.
const defaultRequestTimeout = 10 * time.Second
