package httpapi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// The JSON shapes of the API. Times are RFC 3339 UTC with milliseconds.

type accountView struct {
	ID           string               `json:"id"`
	WalletNumber string               `json:"wallet_number,omitempty"`
	Name         string               `json:"name,omitempty"`
	Owner        string               `json:"owner,omitempty"`
	Currency     ledger.Currency      `json:"currency"`
	Book         string               `json:"book"`
	Kind         ledger.AccountKind   `json:"kind"`
	Status       ledger.AccountStatus `json:"status"`
	Balance      string               `json:"balance"`
	// Held is the sum of the account's pending holds (already out of Balance).
	Held           string            `json:"held"`
	OverdraftLimit string            `json:"overdraft_limit"`
	Metadata       map[string]string `json:"metadata"`
	CreatedAt      string            `json:"created_at"`
}

func viewAccount(a ledger.Account) accountView {
	meta := a.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	return accountView{
		ID: a.ID, WalletNumber: a.WalletNumber, Name: a.Name, Owner: a.Owner, Currency: a.Currency,
		Book: a.Book, Kind: a.Kind, Status: a.Status, Balance: a.Balance.String(), Metadata: meta,
		Held: a.HeldOrZero().String(), OverdraftLimit: a.Limit().String(), CreatedAt: formatTime(a.CreatedAt),
	}
}

type transferView struct {
	ID             string            `json:"id"`
	Status         string            `json:"status"`
	From           string            `json:"from"`
	To             string            `json:"to"`
	Amount         string            `json:"amount"`
	Currency       ledger.Currency   `json:"currency"`
	Description    string            `json:"description"`
	Metadata       map[string]string `json:"metadata"`
	Position       int64             `json:"position"`
	CreatedAt      string            `json:"created_at"`
	RefundedAmount string            `json:"refunded_amount"`
}

func viewTransfer(t pgjournal.Transfer) transferView {
	meta := t.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	return transferView{
		ID: t.ID, Status: t.Status, From: t.From, To: t.To, Amount: t.Amount.String(), Currency: t.Amount.Currency(),
		Description: t.Description, Metadata: meta, Position: t.Position, CreatedAt: formatTime(t.CreatedAt),
		RefundedAmount: t.RefundedAmount.String(),
	}
}

type adjustmentView struct {
	ID        string           `json:"id"`
	Account   string           `json:"account"`
	Direction ledger.Direction `json:"direction"`
	Amount    string           `json:"amount"`
	Currency  ledger.Currency  `json:"currency"`
	Reason    string           `json:"reason"`
	Position  int64            `json:"position"`
	CreatedAt string           `json:"created_at"`
}

type balanceView struct {
	AccountID string          `json:"account_id"`
	Currency  ledger.Currency `json:"currency"`
	Balance   string          `json:"balance"`
	Position  int64           `json:"position"`
	At        string          `json:"at,omitempty"`
}

type entryView struct {
	Position     int64            `json:"position"`
	EventID      string           `json:"event_id"`
	Type         ledger.EventType `json:"type"`
	Amount       string           `json:"amount"`
	BalanceAfter string           `json:"balance_after"`
	Currency     ledger.Currency  `json:"currency"`
	Counterparty *string          `json:"counterparty"`
	Reference    string           `json:"reference"`
	Description  string           `json:"description"`
	RecordedAt   string           `json:"recorded_at"`
}

func viewEntry(e pgjournal.Entry) entryView {
	v := entryView{
		Position: e.Position, EventID: e.EventID, Type: e.Type, Amount: e.Amount.String(),
		BalanceAfter: e.BalanceAfter.String(), Currency: e.Amount.Currency(), Reference: e.Reference,
		Description: e.Description, RecordedAt: formatTime(e.RecordedAt),
	}
	if e.Counterparty != "" {
		v.Counterparty = &e.Counterparty
	}
	return v
}

// list is the envelope of every list response.
type list[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// page trims a result fetched with limit+1 rows to limit, and makes the
// cursor from the last row kept when there is more.
func page[T, V any](rows []T, limit int, view func(T) V, cursor func(T) string) list[V] {
	out := list[V]{Data: make([]V, 0, len(rows))}
	if len(rows) > limit {
		rows = rows[:limit]
		c := encodeCursor(cursor(rows[len(rows)-1]))
		out.NextCursor = &c
	}
	for _, r := range rows {
		out.Data = append(out.Data, view(r))
	}
	return out
}

// pageListed is page for rows listed in journal order with their cursors.
func pageListed[T, V any](rows []pgjournal.Listed[T], limit int, view func(T) V) list[V] {
	return page(rows, limit, func(l pgjournal.Listed[T]) V { return view(l.Item) },
		func(l pgjournal.Listed[T]) string {
			return l.Cursor.Book + ":" + strconv.FormatInt(l.Cursor.Position, 10)
		})
}

// listQuery is what every list in journal order reads from the query:
// ?limit=, ?cursor=, an optional ?account= the caller may see, and ?from=
// and ?to= on the rows' creation time. filters names the list's own
// parameters, which its handler reads; any other parameter is 400 (see
// checkQuery).
type listQuery struct {
	limit   int
	after   pgjournal.Cursor
	account string
	period  pgjournal.Period
}

func (s *Server) listQuery(c echo.Context, filters ...string) (q listQuery, err error) {
	if err = checkQuery(c, append(filters, "account")...); err != nil {
		return q, err
	}
	if q.limit, err = parseLimit(c); err != nil {
		return q, err
	}
	if q.period, err = period(c); err != nil {
		return q, err
	}
	if q.after, err = listCursor(c); err != nil {
		return q, err
	}
	q.account, err = s.accountParam(c)
	return q, err
}

// listCursor reads the ?cursor= of a list in journal order.
func listCursor(c echo.Context) (pgjournal.Cursor, error) {
	var cur pgjournal.Cursor
	raw := c.QueryParam("cursor")
	if raw == "" {
		return cur, nil
	}
	text, err := base64.RawURLEncoding.DecodeString(raw)
	if i := bytes.LastIndexByte(text, ':'); err == nil && i > 0 {
		cur.Book = string(text[:i])
		if cur.Position, err = strconv.ParseInt(string(text[i+1:]), 10, 64); err == nil && cur.Position >= 0 {
			return cur, nil
		}
	}
	return cur, ledger.Errorf(ledger.EInvalidRequest, "cursor is not one this API issued").WithField("cursor")
}

// idCursor reads the ?cursor= of a list in id order (API keys: they are
// configuration, not journal rows).
func idCursor(c echo.Context) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c.QueryParam("cursor"))
	if err != nil {
		return "", ledger.Errorf(ledger.EInvalidRequest, "cursor is not one this API issued").WithField("cursor")
	}
	return string(raw), nil
}

// accountParam resolves an optional ?account= (id or wallet number) to an
// account id the caller may see; empty stays empty.
func (s *Server) accountParam(c echo.Context) (string, error) {
	ref := c.QueryParam("account")
	if ref == "" {
		return "", nil
	}
	if checkAccountRef(ref) != nil {
		return "", ledger.Errorf(ledger.EInvalidRequest, "account must be an account id or wallet number").WithField("account")
	}
	a, err := s.store.Account(c.Request().Context(), ref)
	if err != nil {
		return "", err
	}
	if !canSee(c, a) {
		return "", notFound("account", ref)
	}
	return a.ID, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(ledger.TimeFormat) }

// Cursors are opaque to clients: base64url of an internal position.
func encodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// decodeCursor reads a cursor of one or two journal integers ("position"
// or "position.seq") into dst.
func decodeCursor(c string, dst ...*int64) error {
	if c == "" {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		parts := strings.Split(string(raw), ".")
		if len(parts) == len(dst) {
			for i, p := range parts {
				if *dst[i], err = strconv.ParseInt(p, 10, 64); err != nil || *dst[i] < 0 {
					err = errors.New("not a position")
					break
				}
			}
			if err == nil {
				return nil
			}
		}
	}
	return ledger.Errorf(ledger.EInvalidRequest, "cursor is not one this API issued").WithField("cursor")
}
