package console

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"sync"
	"time"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/projections"
)

func (c *Console) verifyPage(w http.ResponseWriter, r *http.Request, u *user) {
	b, err := book(r)
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	c.render(w, r, http.StatusOK, "verify", u, map[string]any{"Book": b})
}

// progressType asks POST /console/verify for its live form: progress lines,
// then the rendered report (see assets/console.js).
const progressType = "application/x-ndjson"

// verify re-derives a book from its journal (projections.Set.Verify, as GET
// /v1/audit/verify). Without JavaScript the form posts and the page comes
// back with the report; with it, the script asks for progress lines
// ({"done","total"}) while the verify runs, then {"html"} with the report.
func (c *Console) verify(w http.ResponseWriter, r *http.Request, u *user) {
	b := r.PostFormValue("book")
	if b == "" {
		b = ledger.DefaultBook
	}
	if !bookName.MatchString(b) {
		c.fail(w, r, u, ledger.Errorf(ledger.EInvalidRequest, "book must be lower-case letters, digits, '-' or '_', starting with a letter"))
		return
	}
	select {
	case c.verifying <- struct{}{}:
		defer func() { <-c.verifying }()
	default:
		c.fail(w, r, u, ledger.Errorf(ledger.ERateLimited, "a verify is already running on this server; try again when it is done"))
		return
	}
	ctx, cancel := longRunning(w, r)
	defer cancel()
	live := r.Header.Get("Accept") == progressType
	var mu sync.Mutex // Progress may be called from the verify's goroutines
	var last time.Time
	opt := projections.VerifyOptions{}
	if live {
		w.Header().Set("Content-Type", progressType)
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		enc := json.NewEncoder(w)
		opt.Progress = func(done, total int64) {
			mu.Lock()
			defer mu.Unlock()
			if time.Since(last) < 100*time.Millisecond && done < total {
				return
			}
			last = time.Now()
			if enc.Encode(map[string]int64{"done": done, "total": total}) != nil || rc.Flush() != nil {
				cancel() // the browser went away
			}
		}
	}
	rep, err := c.cfg.Projections.Verify(ctx, b, opt)
	if !live {
		if err != nil {
			c.fail(w, r, u, err)
			return
		}
		c.render(w, r, http.StatusOK, "verify", u, map[string]any{"Book": b, "Report": rep})
		return
	}
	mu.Lock()
	defer mu.Unlock()
	var out map[string]any
	if err != nil {
		msg := "the verify could not run; it has been logged"
		if le, ok := err.(*ledger.Error); ok {
			msg = le.Message
		} else {
			c.cfg.Logger.Error("console verify", "book", b, "err", err)
		}
		out = map[string]any{"error": msg}
	} else {
		var html bytes.Buffer
		if err := c.pages["verify"].ExecuteTemplate(&html, "report", rep); err != nil {
			c.cfg.Logger.Error("console verify render", "err", err)
			out = map[string]any{"error": "the report could not be rendered"}
		} else {
			out = map[string]any{"html": template.HTML(html.String())}
		}
	}
	_ = json.NewEncoder(w).Encode(out)
}
