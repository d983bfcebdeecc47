package httpapi

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// The read-your-writes headers (docs/scale-out.md): every write answer
// names the book's position once the write is in; a read that sends it back
// is answered only from a copy of the database that has reached it.
const (
	HeaderPosition    = "Tally-Position"
	HeaderMinPosition = "Tally-Min-Position"
)

// readRouting lets the reads of GET /v1/… requests go to the read replica
// (when one is configured; see pgjournal.Store.UseReplica), with the
// position the client asks for. Every other request reads the primary: a
// write must never decide on what a replica, possibly behind, shows.
func (s *Server) readRouting(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/v1/") {
			return next(c)
		}
		var min *pgjournal.Position
		if h := r.Header.Get(HeaderMinPosition); h != "" {
			p, err := pgjournal.ParsePosition(h)
			if err != nil {
				return ledger.Errorf(ledger.EInvalidRequest, "%s: %v; send back the %s of a write answer", HeaderMinPosition, err, HeaderPosition)
			}
			min = &p
		}
		c.SetRequest(r.WithContext(pgjournal.OnReplica(r.Context(), min)))
		return next(c)
	}
}

// setPosition adds Tally-Position to a write's answer.
func setPosition(c echo.Context, p pgjournal.Position) {
	if p.Book != "" {
		c.Response().Header().Set(HeaderPosition, p.String())
	}
}
