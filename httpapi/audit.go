package httpapi

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
)

// auditAPI serves the journal and audit routes: verify, the trial balance
// and account statements.
type auditAPI struct {
	s           *Server
	projections *projections.Set
	// verifying admits one verify at a time per process: each replays a
	// whole book, and a second one would only slow the first.
	verifying chan struct{}
}

// auditRoutes registers the audit routes. Verify and the statement need the
// projections; without them those routes answer 503.
func (s *Server) auditRoutes(v1 func(method, path string, h echo.HandlerFunc, scope Scope), set *projections.Set) {
	a := &auditAPI{s: s, projections: set, verifying: make(chan struct{}, 1)}
	v1("GET", "/audit/verify", a.verify, ScopeEventsRead)
	v1("GET", "/audit/trial-balance", a.trialBalance, ScopeEventsRead)
	v1("GET", "/accounts/:id/statement", a.statement, ScopeAccountsRead)
}

func (a *auditAPI) available() error {
	if a.projections == nil {
		return ledger.Errorf(ledger.EUnavailable, "audits are not configured on this server")
	}
	return nil
}

// noDeadline lifts the server's write timeout for a long report: the
// request's context still ends it if the client goes away.
func noDeadline(c echo.Context) {
	_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Time{})
}

func queryBook(c echo.Context) (string, error) {
	book := c.QueryParam("book")
	if book == "" {
		return ledger.DefaultBook, nil
	}
	if !bookName.MatchString(book) {
		return "", ledger.Errorf(ledger.EInvalidRequest, "book must be lower-case letters, digits, '-' or '_', starting with a letter").WithField("book")
	}
	return book, nil
}

// verify re-derives a book from its journal: GET /v1/audit/verify?book=.
func (a *auditAPI) verify(c echo.Context) error {
	if err := a.available(); err != nil {
		return err
	}
	book, err := queryBook(c)
	if err != nil {
		return err
	}
	select {
	case a.verifying <- struct{}{}:
		defer func() { <-a.verifying }()
	default:
		c.Response().Header().Set("Retry-After", "10")
		return ledger.Errorf(ledger.ERateLimited, "a verify is already running on this server; retry when it is done")
	}
	noDeadline(c)
	rep, err := a.projections.Verify(c.Request().Context(), book, projections.VerifyOptions{})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// asOf reads ?at= or ?position= into a position of book (0: the head).
// at maps to the last position recorded at or before it.
func (a *auditAPI) asOf(c echo.Context, book string) (position int64, at *time.Time, err error) {
	t, atGiven, err := timeParam(c, "at")
	if err != nil {
		return 0, nil, err
	}
	if atGiven {
		at = &t
	}
	p := c.QueryParam("position")
	if p != "" {
		if position, err = strconv.ParseInt(p, 10, 64); err != nil || position < 1 {
			return 0, at, ledger.Errorf(ledger.EInvalidRequest, "position must be a positive integer").WithField("position")
		}
	}
	if at != nil && p != "" {
		return 0, at, ledger.Errorf(ledger.EInvalidRequest, "give at or position, not both")
	}
	ctx := c.Request().Context()
	head, err := a.s.store.Head(ctx, book)
	if err != nil {
		return 0, at, err
	}
	switch {
	case at != nil:
		position, err = a.s.store.PositionAt(ctx, book, *at)
	case position > head.Position:
		err = ledger.Errorf(ledger.EInvalidRequest, "book %s ends at position %d", book, head.Position).WithField("position")
	case position == 0:
		position = head.Position
	}
	return position, at, err
}

type trialLineView struct {
	Account  string             `json:"account"`
	Kind     ledger.AccountKind `json:"kind"`
	Name     string             `json:"name,omitempty"`
	Owner    string             `json:"owner,omitempty"`
	Currency ledger.Currency    `json:"currency"`
	Balance  string             `json:"balance"`
}

type trialTotalView struct {
	Currency ledger.Currency `json:"currency"`
	Sum      string          `json:"sum"`
}

// trialBalance lists every account's balance as of a position or time and
// the sums per currency, which must be zero:
// GET /v1/audit/trial-balance?book=&at=|position=. The accounts stream out
// as they are read, so a book of any size is answered in constant memory;
// should the database fail midway, the body ends early and is not valid JSON.
func (a *auditAPI) trialBalance(c echo.Context) error {
	book, err := queryBook(c)
	if err != nil {
		return err
	}
	position, at, err := a.asOf(c, book)
	if err != nil {
		return err
	}
	noDeadline(c)
	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	resp.WriteHeader(http.StatusOK)
	w := bufio.NewWriterSize(resp, 64<<10)
	head, _ := json.Marshal(book)
	w.WriteString(`{"book":` + string(head) + `,"position":` + itoa(position))
	if at != nil {
		w.WriteString(`,"at":"` + formatTime(*at) + `"`)
	}
	w.WriteString(`,"accounts":[`)
	first := true
	totals, err := a.s.store.TrialBalance(c.Request().Context(), book, position, func(l pgjournal.TrialLine) error {
		line, err := json.Marshal(trialLineView{Account: l.Account, Kind: l.Kind, Name: l.Name, Owner: l.Owner, Currency: l.Balance.Currency(), Balance: l.Balance.String()})
		if err != nil {
			return err
		}
		if !first {
			w.WriteByte(',')
		}
		first = false
		_, err = w.Write(line)
		return err
	})
	if err != nil {
		a.s.log.Error("trial balance cut short", "book", book, "position", position, "request_id", requestID(c), "err", err)
		return w.Flush()
	}
	views := make([]trialTotalView, 0, len(totals))
	balanced := true
	for _, t := range totals {
		views = append(views, trialTotalView{Currency: t.Currency, Sum: t.Sum.String()})
		balanced = balanced && t.Sum.IsZero()
	}
	tail, _ := json.Marshal(views)
	w.WriteString(`],"totals":` + string(tail) + `,"balanced":` + strconv.FormatBool(balanced) + "}\n")
	return w.Flush()
}

// maxStatementDays bounds one statement; a year fits.
const maxStatementDays = 366

type statementDayView struct {
	Date          string `json:"date"`
	Opening       string `json:"opening"`
	Credits       string `json:"credits"`
	Debits        string `json:"debits"`
	Closing       string `json:"closing"`
	Entries       int    `json:"entries"`
	FirstPosition int64  `json:"first_position"`
	LastPosition  int64  `json:"last_position"`
}

type statementView struct {
	AccountID string             `json:"account_id"`
	Book      string             `json:"book"`
	Currency  ledger.Currency    `json:"currency"`
	From      string             `json:"from"`
	To        string             `json:"to"`
	Opening   string             `json:"opening"`
	Credits   string             `json:"credits"`
	Debits    string             `json:"debits"`
	Closing   string             `json:"closing"`
	Days      []statementDayView `json:"days"`
	Position  int64              `json:"position"`
}

func parseDay(c echo.Context, name string) (time.Time, error) {
	s := c.QueryParam(name)
	if s == "" {
		return time.Time{}, nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return d, ledger.Errorf(ledger.EInvalidRequest, "%s must be a date such as 2026-01-31", name).WithField(name)
	}
	return d, nil
}

// statement is an account's activity per UTC day, from the daily summaries:
// GET /v1/accounts/{id}/statement?from=YYYY-MM-DD&to=YYYY-MM-DD (both days
// included; by default the current month up to today). The summaries are
// kept async: position says which journal position they include.
func (a *auditAPI) statement(c echo.Context) error {
	if err := a.available(); err != nil {
		return err
	}
	ref, err := accountRef(c)
	if err != nil {
		return err
	}
	from, err := parseDay(c, "from")
	if err != nil {
		return err
	}
	to, err := parseDay(c, "to")
	if err != nil {
		return err
	}
	if to.IsZero() {
		y, m, d := time.Now().UTC().Date()
		to = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	if from.IsZero() {
		from = time.Date(to.Year(), to.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	if from.After(to) {
		return ledger.Errorf(ledger.EInvalidRequest, "from must not be after to").WithField("from")
	}
	if to.Sub(from) >= maxStatementDays*24*time.Hour {
		return ledger.Errorf(ledger.EInvalidRequest, "a statement covers at most %d days", maxStatementDays).WithField("to")
	}
	st, err := a.projections.Statement(c.Request().Context(), ref, from, to)
	if err != nil {
		return err
	}
	// A key bound to an owner sees only that owner's accounts.
	if p := principal(c); p.Owner != "" {
		acc, err := a.s.store.Account(c.Request().Context(), st.AccountID)
		if err != nil || acc.Owner != p.Owner {
			return ledger.Errorf(ledger.ENotFound, "account %s not found", ref)
		}
	}
	v := statementView{
		AccountID: st.AccountID, Book: st.Book, Currency: st.Currency,
		From: st.From.Format(time.DateOnly), To: st.To.Format(time.DateOnly),
		Opening: st.Opening.String(), Credits: st.Credits.String(), Debits: st.Debits.String(), Closing: st.Closing.String(),
		Days: make([]statementDayView, 0, len(st.Days)), Position: st.Position,
	}
	for _, d := range st.Days {
		v.Days = append(v.Days, statementDayView{
			Date: d.Date.Format(time.DateOnly), Opening: d.Opening.String(), Credits: d.Credits.String(),
			Debits: d.Debits.String(), Closing: d.Closing.String(), Entries: d.Entries,
			FirstPosition: d.FirstPosition, LastPosition: d.LastPosition,
		})
	}
	return c.JSON(http.StatusOK, v)
}
