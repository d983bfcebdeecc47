package console

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// pageSize is how many rows a console list shows per page.
const pageSize = 50

var bookName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// book reads ?book= (default main).
func book(r *http.Request) (string, error) {
	b := r.URL.Query().Get("book")
	if b == "" {
		return ledger.DefaultBook, nil
	}
	if !bookName.MatchString(b) {
		return "", ledger.Errorf(ledger.EInvalidRequest, "book must be lower-case letters, digits, '-' or '_', starting with a letter")
	}
	return b, nil
}

// positiveInt reads an optional positive integer query parameter (0 if absent).
func positiveInt(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, ledger.Errorf(ledger.EInvalidRequest, "%s must be a whole number", name)
	}
	return n, nil
}

// instant reads an optional time: RFC 3339, or what a datetime-local input
// sends (taken as UTC, which the form says).
func instant(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, ledger.Errorf(ledger.EInvalidRequest, "%s must be a time such as 2026-01-31T23:59 (UTC)", name)
}

// eventTypes are suggested by the journal's type filter, which takes any
// type (so that types added later need no change here).
var eventTypes = []ledger.EventType{
	ledger.AccountOpened, ledger.AccountFrozen, ledger.AccountUnfrozen, ledger.AccountClosed,
	ledger.TransferCompleted, ledger.AdjustmentProposed, ledger.AdjustmentPosted, ledger.AdjustmentRejected,
	ledger.DepositInitiated, ledger.DepositCheckoutOpened, ledger.DepositSucceededEvent, ledger.DepositFailedEvent,
	ledger.DepositExpiredEvent, ledger.DepositFlaggedEvent, ledger.GatewayUnmatched,
	ledger.TransferRefunded, ledger.RefundRequested, ledger.RefundSubmitted, ledger.RefundSucceededEvent, ledger.RefundFailedEvent,
	ledger.HoldCreated, ledger.HoldCaptured, ledger.HoldVoided, ledger.HoldExpired,
	ledger.WithdrawalRequested, ledger.WithdrawalSubmitted, ledger.WithdrawalSucceededEvent, ledger.WithdrawalFailedEvent,
	ledger.WithdrawalReversedEvent, ledger.DestinationErased,
}

// journal lists a book's events with their postings and hashes, filtered by
// type and account: Store.Events, as GET /v1/events.
func (c *Console) journal(w http.ResponseWriter, r *http.Request, u *user) {
	b, err := book(r)
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	after, err := positiveInt(r, "after")
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	q := r.URL.Query()
	f := pgjournal.EventFilter{Book: b, After: after, Type: q.Get("type"), Account: strings.TrimSpace(q.Get("account")), Limit: pageSize + 1}
	if f.Account != "" {
		// Wallet numbers are accepted too: the filter needs the id.
		if a, err := c.cfg.Store.Account(r.Context(), f.Account); err == nil {
			f.Account = a.ID
		}
	}
	events, err := c.cfg.Store.Events(r.Context(), f)
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	next := int64(0)
	if len(events) > pageSize {
		events = events[:pageSize]
		next = events[pageSize-1].Position
	}
	c.render(w, r, http.StatusOK, "journal", u, map[string]any{
		"Book": b, "Type": f.Type, "Account": q.Get("account"), "Events": events, "Next": next, "Types": eventTypes,
	})
}

// accounts lists a book's accounts (Store.Accounts, as GET /v1/accounts).
func (c *Console) accounts(w http.ResponseWriter, r *http.Request, u *user) {
	q := r.URL.Query()
	if ref := strings.TrimSpace(q.Get("ref")); ref != "" {
		a, err := c.cfg.Store.Account(r.Context(), ref)
		if err != nil {
			c.fail(w, r, u, err)
			return
		}
		http.Redirect(w, r, "/console/accounts/"+a.ID, http.StatusSeeOther)
		return
	}
	after, err := cursor(q.Get("after"))
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	rows, err := c.cfg.Store.Accounts(r.Context(), pgjournal.AccountFilter{Owner: q.Get("owner"), After: after, Limit: pageSize + 1})
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	next := ""
	if len(rows) > pageSize {
		rows = rows[:pageSize]
		next = rows[pageSize-1].Cursor.Book + ":" + strconv.FormatInt(rows[pageSize-1].Cursor.Position, 10)
	}
	c.render(w, r, http.StatusOK, "accounts", u, map[string]any{"Rows": rows, "Next": next, "Owner": q.Get("owner")})
}

func cursor(s string) (pgjournal.Cursor, error) {
	if s == "" {
		return pgjournal.Cursor{}, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i > 0 {
		if p, err := strconv.ParseInt(s[i+1:], 10, 64); err == nil {
			return pgjournal.Cursor{Book: s[:i], Position: p}, nil
		}
	}
	return pgjournal.Cursor{}, ledger.Errorf(ledger.EInvalidRequest, "after is not a list position")
}

// historySize bounds the entries an account page lists and charts.
const historySize = 200

// account shows an account: balance, history with balance_after, the
// balance as of a chosen time, and a chart of its balance over time.
func (c *Console) account(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	a, err := c.cfg.Store.Account(ctx, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	at, err := instant(r, "at")
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	afterPos, err := positiveInt(r, "after")
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	afterSeq, err := positiveInt(r, "seq")
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	entries, err := c.cfg.Store.Entries(ctx, a.ID, pgjournal.EntryFilter{AfterPosition: afterPos, AfterSeq: afterSeq, Limit: historySize + 1})
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	var next *pgjournal.Entry
	if len(entries) > historySize {
		entries = entries[:historySize]
		next = &entries[historySize-1]
	}
	data := map[string]any{"Account": a, "Entries": entries, "Next": next, "Chart": balanceChart(entries)}
	if !at.IsZero() {
		pos, err := c.cfg.Store.PositionAt(ctx, a.Book, at)
		if err != nil {
			c.fail(w, r, u, err)
			return
		}
		asOf := ledger.Zero(a.Currency) // nothing recorded yet at that time
		if pos > 0 {
			bal, err := c.cfg.Store.BalanceAt(ctx, a.ID, pos)
			if err != nil {
				c.fail(w, r, u, err)
				return
			}
			asOf = bal.Balance
		}
		data["At"], data["AtPosition"], data["AsOf"] = at, pos, asOf
	}
	y, m, _ := time.Now().UTC().Date()
	data["From"] = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	data["To"] = time.Now().UTC().Format(time.DateOnly)
	c.render(w, r, http.StatusOK, "account", u, data)
}

// trialBalance lists every account's balance as of a position or time, with
// the totals per currency (which must be zero): Store.TrialBalance, as GET
// /v1/audit/trial-balance.
func (c *Console) trialBalance(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	b, err := book(r)
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	position, err := positiveInt(r, "position")
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	at, err := instant(r, "at")
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	head, err := c.cfg.Store.Head(ctx, b)
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	switch {
	case !at.IsZero() && position > 0:
		c.fail(w, r, u, ledger.Errorf(ledger.EInvalidRequest, "give a position or a time, not both"))
		return
	case !at.IsZero():
		if position, err = c.cfg.Store.PositionAt(ctx, b, at); err != nil {
			c.fail(w, r, u, err)
			return
		}
	case position > head.Position:
		c.fail(w, r, u, ledger.Errorf(ledger.EInvalidRequest, "book %s ends at position %d", b, head.Position))
		return
	case position == 0:
		position = head.Position
	}
	var lines []pgjournal.TrialLine
	totals, err := c.cfg.Store.TrialBalance(ctx, b, position, func(l pgjournal.TrialLine) error {
		lines = append(lines, l)
		return nil
	})
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	balanced := true
	for _, t := range totals {
		balanced = balanced && t.Sum.IsZero()
	}
	c.render(w, r, http.StatusOK, "trial-balance", u, map[string]any{
		"Book": b, "Position": position, "Head": head.Position, "At": at, "Lines": lines, "Totals": totals, "Balanced": balanced,
	})
}

// payments lists deposits, refunds, holds and withdrawals by status
// (Store.Deposits, Store.Refunds, Store.Holds and Store.Withdrawals, as GET
// /v1/deposits, /v1/refunds, /v1/holds and /v1/withdrawals). Withdrawals
// carry only the masked account number: the full one is never read here.
func (c *Console) payments(w http.ResponseWriter, r *http.Request, u *user) {
	q := r.URL.Query()
	depStatus, refStatus, holdStatus, wdStatus := q.Get("deposits"), q.Get("refunds"), q.Get("holds"), q.Get("withdrawals")
	if !oneOf(depStatus, "", "pending", "succeeded", "failed", "expired", "flagged") || !oneOf(refStatus, "", "pending", "succeeded", "failed") ||
		!oneOf(holdStatus, "", "pending", "captured", "voided", "expired") || !oneOf(wdStatus, "", "pending", "succeeded", "failed", "reversed") {
		c.fail(w, r, u, ledger.Errorf(ledger.EInvalidRequest, "unknown status"))
		return
	}
	deposits, err := c.cfg.Store.Deposits(r.Context(), pgjournal.DepositFilter{Status: depStatus, Limit: pageSize})
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	refunds, err := c.cfg.Store.Refunds(r.Context(), pgjournal.RefundFilter{Status: refStatus, Limit: pageSize})
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	holds, err := c.cfg.Store.Holds(r.Context(), pgjournal.HoldFilter{Status: holdStatus, Limit: pageSize})
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	withdrawals, err := c.cfg.Store.Withdrawals(r.Context(), pgjournal.WithdrawalFilter{Status: wdStatus, Limit: pageSize})
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	c.render(w, r, http.StatusOK, "payments", u, map[string]any{
		"Deposits": deposits, "Refunds": refunds, "Holds": holds, "Withdrawals": withdrawals,
		"DepositStatus": depStatus, "RefundStatus": refStatus, "HoldStatus": holdStatus, "WithdrawalStatus": wdStatus,
		"DepositStatuses":    []string{"pending", "succeeded", "failed", "expired", "flagged"},
		"RefundStatuses":     []string{"pending", "succeeded", "failed"},
		"HoldStatuses":       []string{"pending", "captured", "voided", "expired"},
		"WithdrawalStatuses": []string{"pending", "succeeded", "failed", "reversed"},
	})
}

func oneOf(s string, allowed ...string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	return false
}

// unmatched is a gateway.unmatched event, decoded for the queue.
type unmatched struct {
	Event ledger.Event
	Data  map[string]any
}

// queue lists what finance must resolve: flagged deposits (the gateway
// reported a payment that does not match) and gateway events Tally could not
// match, each with what can be done about it.
func (c *Console) queue(w http.ResponseWriter, r *http.Request, u *user) {
	b, err := book(r)
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	flagged, err := c.cfg.Store.Deposits(r.Context(), pgjournal.DepositFilter{Status: string(ledger.DepositFlagged), Limit: pageSize})
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	events, err := c.cfg.Store.Events(r.Context(), pgjournal.EventFilter{Book: b, Type: string(ledger.GatewayUnmatched), Limit: pageSize})
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	var un []unmatched
	for _, e := range events {
		d, _ := decodeData(e.Data)
		un = append(un, unmatched{Event: e, Data: d})
	}
	c.render(w, r, http.StatusOK, "queue", u, map[string]any{"Book": b, "Flagged": flagged, "Unmatched": un})
}
