package httpapi

import (
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// Query parameters every list takes (see listQuery for lists in journal
// order, which also take ?account=).
var listParams = []string{"limit", "cursor", "from", "to"}

// checkQuery refuses a query parameter the route does not take, and one
// given twice: a filter silently ignored would answer another question than
// the one asked. allowed are the route's own parameters; every list also
// takes listParams. Call it first, so that the answer does not depend on
// what the ignored parameter would have found.
func checkQuery(c echo.Context, allowed ...string) error {
	for name, values := range c.QueryParams() {
		if !slices.Contains(allowed, name) && !slices.Contains(listParams, name) {
			known := append(slices.Clone(allowed), listParams...)
			slices.Sort(known)
			return ledger.Errorf(ledger.EInvalidRequest, "unknown query parameter %q: this list takes %s", name, strings.Join(known, ", ")).WithField(name)
		}
		if len(values) > 1 {
			return ledger.Errorf(ledger.EInvalidRequest, "query parameter %q is given %d times: give it once", name, len(values)).WithField(name)
		}
	}
	return nil
}

// period reads ?from= and ?to= (RFC 3339): rows whose time is at or after
// from and before to.
func period(c echo.Context) (pgjournal.Period, error) {
	var p pgjournal.Period
	from, fromGiven, err := timeParam(c, "from")
	if err != nil {
		return p, err
	}
	to, toGiven, err := timeParam(c, "to")
	if err != nil {
		return p, err
	}
	if fromGiven {
		p.From = &from
	}
	if toGiven {
		p.To = &to
	}
	if fromGiven && toGiven && to.Before(from) {
		return p, ledger.Errorf(ledger.EInvalidRequest, "to must not be before from").WithField("to")
	}
	return p, nil
}

// statusParam reads an optional ?status=, which must be one of allowed.
func statusParam[S ~string](c echo.Context, allowed ...S) (string, error) {
	s := c.QueryParam("status")
	if s == "" || slices.Contains(allowed, S(s)) {
		return s, nil
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return "", ledger.Errorf(ledger.EInvalidRequest, "status must be one of %s", strings.Join(names, ", ")).WithField("status")
}

// idList is what a list in id order (keys, subscriptions, deliveries) was
// asked for.
type idList struct {
	limit  int
	after  string // the id cursor
	period pgjournal.Period
}

// idListQuery reads a list in id order: its own filters (any other
// parameter is 400, see checkQuery), ?limit=, ?from=&to= and ?cursor=.
func idListQuery(c echo.Context, filters ...string) (q idList, err error) {
	if err = checkQuery(c, filters...); err != nil {
		return q, err
	}
	if q.limit, err = parseLimit(c); err != nil {
		return q, err
	}
	if q.period, err = period(c); err != nil {
		return q, err
	}
	q.after, err = idCursor(c)
	return q, err
}
