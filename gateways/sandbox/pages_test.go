package sandbox

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Statuses are past participles: "This deposit is succeeded" is not English.
func TestPagesWordTheStatus(t *testing.T) {
	for _, c := range []struct{ status, want string }{
		{"succeeded", "This deposit has already been paid"},
		{"failed", "This deposit has failed"},
		{"expired", "This deposit has expired"},
		{"flagged", "This deposit was flagged for review"},
	} {
		t.Run("a "+c.status+" deposit reads "+strconv.Quote(c.want), func(t *testing.T) {
			info := pendingDeposit(t)
			info.Status = c.status
			_, h := newSandbox(t, &webhookSink{}, info)
			for _, rec := range []*httptest.ResponseRecorder{
				do(h, "GET", "/sandbox/checkout/DEP-01HX", nil),
				do(h, "POST", "/sandbox/checkout/DEP-01HX/pay", nil),
			} {
				body := rec.Body.String()
				if !strings.Contains(body, c.want) || strings.Contains(body, "is "+c.status) {
					t.Errorf("page (status %d) does not read %q, or reads %q:\n%s", rec.Code, c.want, "is "+c.status, body)
				}
			}
		})
	}
}

// The pages are what a payer sees on a phone: the viewport follows the
// device, and nothing is wider than a 360 px screen. A real browser measures
// it where one is installed; the markup rules hold everywhere.
func TestPagesFitA360pxPhone(t *testing.T) {
	long := pendingDeposit(t)
	long.Reference = "DEP-" + strings.Repeat("01HXQ7ZK", 8)
	long.Amount = dec(t, "123456789012345.00")
	long.CallbackURL = "https://shop.example.com/wallet/return?session=" + strings.Repeat("abcdef0123", 10)
	_, h := newSandbox(t, &webhookSink{}, long)
	ref := long.Reference
	pages := map[string]func() string{
		"checkout": func() string { return do(h, "GET", "/sandbox/checkout/"+ref, nil).Body.String() },
		"result":   func() string { return do(h, "POST", "/sandbox/checkout/"+ref+"/pay", nil).Body.String() },
	}
	for name, page := range pages {
		t.Run("the "+name+" page sets the viewport and sizes boxes with their padding", func(t *testing.T) {
			body := page()
			for _, want := range []string{`<meta name="viewport" content="width=device-width, initial-scale=1">`, "box-sizing: border-box"} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
		})
	}

	browser := findChromium()
	for name, page := range pages {
		t.Run("the "+name+" page is no wider than 360 px in a real browser", func(t *testing.T) {
			if browser == "" {
				t.Skip("no chromium installed to measure the layout")
			}
			body := page()
			if !strings.Contains(body, ref) {
				t.Fatalf("the page does not show the deposit:\n%s", body)
			}
			width, viewport := measure(t, browser, body)
			if width > viewport || viewport != 360 {
				t.Errorf("the page is %d px wide in a %d px viewport, want at most 360", width, viewport)
			}
		})
	}
}

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

var measured = regexp.MustCompile(`data-fit="(\d+)/(\d+)"`)

// measure lays page out in a 360 px wide frame of a headless browser and
// returns the document's scroll width and the frame's viewport width. The
// page is served without its headers (their frame-ancestors 'none' is for
// production), and the frame's own document measures it.
func measure(t *testing.T, browser, page string) (width, viewport int) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	})
	mux.HandleFunc("/frame", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html><body style="margin:0">
<iframe id="f" src="/page" style="width:360px;height:740px;border:0"></iframe>
<script>f.onload = function () { var d = f.contentDocument.documentElement;
  document.body.setAttribute("data-fit", d.scrollWidth + "/" + d.clientWidth); };</script></body></html>`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000", "--dump-dom", srv.URL+"/frame").Output()
	m := measured.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("the browser measured nothing (%v):\n%s", err, out)
	}
	width, _ = strconv.Atoi(m[1])
	viewport, _ = strconv.Atoi(m[2])
	return width, viewport
}
