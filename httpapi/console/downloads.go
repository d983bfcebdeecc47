package console

import (
	"bufio"
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// longRunning lifts the server's write deadline and the request timeout
// for a download or a verify, which may take longer than a page; the work
// stops when the browser goes away (a write fails) or after an hour.
func longRunning(w http.ResponseWriter, r *http.Request) (context.Context, context.CancelFunc) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	return context.WithTimeout(context.WithoutCancel(r.Context()), time.Hour)
}

// statement downloads an account's statement, one row per UTC day, as CSV:
// projections.Set.Statement, as GET /v1/accounts/{id}/statement.
func (c *Console) statement(w http.ResponseWriter, r *http.Request, u *user) {
	day := func(name string, def time.Time) (time.Time, error) {
		s := r.URL.Query().Get(name)
		if s == "" {
			return def, nil
		}
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return d, ledger.Errorf(ledger.EInvalidRequest, "%s must be a date such as 2026-01-31", name)
		}
		return d, nil
	}
	now := time.Now().UTC()
	to, err := day("to", time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC))
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	from, err := day("from", time.Date(to.Year(), to.Month(), 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	if from.After(to) || to.Sub(from) >= 366*24*time.Hour {
		c.fail(w, r, u, ledger.Errorf(ledger.EInvalidRequest, "from must not be after to, and a statement covers at most 366 days"))
		return
	}
	st, err := c.cfg.Projections.Statement(r.Context(), r.PathValue("id"), from, to)
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	name := "statement-" + st.AccountID + "-" + from.Format(time.DateOnly) + "-" + to.Format(time.DateOnly) + ".csv"
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"account", "currency", "date", "opening", "credits", "debits", "closing", "entries", "first_position", "last_position"})
	for _, d := range st.Days {
		_ = cw.Write([]string{st.AccountID, string(st.Currency), d.Date.Format(time.DateOnly), d.Opening.String(), d.Credits.String(),
			d.Debits.String(), d.Closing.String(), strconv.Itoa(d.Entries), strconv.FormatInt(d.FirstPosition, 10), strconv.FormatInt(d.LastPosition, 10)})
	}
	// The range's totals, and how far the (asynchronous) summaries reach.
	_ = cw.Write([]string{st.AccountID, string(st.Currency), "total " + from.Format(time.DateOnly) + " to " + to.Format(time.DateOnly),
		st.Opening.String(), st.Credits.String(), st.Debits.String(), st.Closing.String(), "", "", strconv.FormatInt(st.Position, 10)})
	cw.Flush()
}

// export downloads a book's journal as JSON Lines (each line exactly the
// event GET /v1/events returns, so hashes can be re-checked) or CSV — the
// same formats as `tally export`.
func (c *Console) export(w http.ResponseWriter, r *http.Request, u *user) {
	b, err := book(r)
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "jsonl"
	}
	if format != "jsonl" && format != "csv" {
		c.fail(w, r, u, ledger.Errorf(ledger.EInvalidRequest, "format must be jsonl or csv"))
		return
	}
	ctx, cancel := longRunning(w, r)
	defer cancel()
	head, err := c.cfg.Store.Head(ctx, b)
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	ctype := map[string]string{"jsonl": "application/jsonl", "csv": "text/csv; charset=utf-8"}[format]
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="journal-`+b+`-1-`+strconv.FormatInt(head.Position, 10)+`.`+format+`"`)
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	cw := csv.NewWriter(bw)
	if format == "csv" {
		_ = cw.Write(pgjournal.ExportCSVHeader)
	}
	for last := int64(0); last < head.Position; {
		events, err := c.cfg.Store.ReadEvents(ctx, b, last, head.Position, 5000)
		if err != nil || len(events) == 0 {
			if err != nil {
				c.cfg.Logger.Error("console export cut short", "book", b, "after", last, "err", err)
			}
			return
		}
		for _, e := range events {
			if format == "csv" {
				err = pgjournal.WriteCSV(cw, e)
			} else {
				err = pgjournal.WriteJSONL(bw, e)
			}
			if err != nil {
				return // the browser went away
			}
		}
		cw.Flush()
		last = events[len(events)-1].Position
	}
}
