package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/tallyledger/tally/ledger"
)

// pageNames are the templates in templates/, each rendered inside layout.html.
var pageNames = []string{"sign-in", "error", "journal", "accounts", "account", "trial-balance", "verify",
	"payments", "queue", "adjustments"}

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(ledger.TimeFormat)
	},
	// short shows the start of a hash; the whole hash is in the title and
	// the copyable text.
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12] + "…"
		}
		return s
	},
	"pretty": func(raw json.RawMessage) string {
		var b bytes.Buffer
		if err := json.Indent(&b, raw, "", "  "); err != nil {
			return string(raw)
		}
		return b.String()
	},
	"json": func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	},
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	},
	"negative": func(m ledger.Money) bool { return m.Sign() < 0 },
	"add":      func(a, b int64) int64 { return a + b },
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
}

func parsePages() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t := template.Must(layout.Clone())
		pages[name] = template.Must(t.ParseFS(templateFS, "templates/"+name+".html"))
	}
	return pages
}

// view is what every page's template sees.
type view struct {
	Page   string
	User   *user
	Path   string
	Data   any
	Banner string // a one-line notice after a form (?done=)
}

// render writes a page: the layout around the named template.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, u *user, data any) {
	var b bytes.Buffer
	v := view{Page: name, User: u, Path: r.URL.Path, Data: data, Banner: r.URL.Query().Get("done")}
	if err := c.pages[name].ExecuteTemplate(&b, "layout.html", v); err != nil {
		c.cfg.Logger.Error("console render", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
