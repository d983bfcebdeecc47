package httpapi

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// listEvents reads the journal of one book: GET /v1/events?book=&after=&cursor=&type=&account=&limit=.
func (s *Server) listEvents(c echo.Context) error {
	if err := checkQuery(c, "book", "type", "account", "after"); err != nil {
		return err
	}
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	f := pgjournal.EventFilter{Book: c.QueryParam("book"), Type: c.QueryParam("type"), Account: c.QueryParam("account"), Limit: limit + 1}
	if f.Book == "" {
		f.Book = ledger.DefaultBook
	}
	if a := c.QueryParam("after"); a != "" {
		if f.After, err = strconv.ParseInt(a, 10, 64); err != nil || f.After < 0 {
			return ledger.Errorf(ledger.EInvalidRequest, "after must be a journal position (an integer ≥ 0)").WithField("after")
		}
	}
	if err := decodeCursor(c.QueryParam("cursor"), &f.After); err != nil {
		return err
	}
	if f.Period, err = period(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if f.Account, err = s.accountParam(c); err != nil {
		return err
	}
	events, err := s.store.Events(ctx, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page(events, limit, func(e ledger.Event) ledger.Event { return e }, func(e ledger.Event) string {
		return itoa(e.Position)
	}))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
