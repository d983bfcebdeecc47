package console_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/tallyledger/tally/httpapi"
)

func TestSignInAndOut(t *testing.T) {
	tl := newTally(t)
	p := newPage(t, tl)
	_, auditor := tl.key("", "events:read")
	_, clerk := tl.key("", "accounts:read", "transfers:write")
	_, ownerAuditor := tl.key("user-1", "accounts:read")

	t.Run("a page needs a session: the browser is sent to sign in", func(t *testing.T) {
		p.open("/console/journal")
		if got := p.path(); !strings.HasPrefix(got, "/console/sign-in?next=") {
			t.Fatalf("at %s, want the sign-in page", got)
		}
		p.screenshot("sign-in")
		p.fitsPhone("sign-in")
	})
	refused := []struct{ name, key, message string }{
		{"an unknown key cannot sign in", "tally_notakey0000000000000000000000000000", "not valid"},
		{"a key without events:read or admin cannot sign in", clerk, "needs the events:read or admin scope"},
		{"an owner-bound key (which cannot hold events:read) cannot sign in", ownerAuditor, "needs the events:read or admin scope"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			p.signIn(tt.key)
			if msg := p.text(".error"); !strings.Contains(msg, tt.message) {
				t.Fatalf("message %q, want it to say %q", msg, tt.message)
			}
			if p.path() != "/console/sign-in" {
				t.Fatalf("at %s after a refused sign-in", p.path())
			}
		})
	}
	t.Run("an events:read key signs in, to the page it asked for", func(t *testing.T) {
		p.open("/console/trial-balance")
		p.submit("form", map[string]string{"key": auditor}, `button[type="submit"]`)
		if got := p.path(); got != "/console/trial-balance" {
			t.Fatalf("signed in to %s, want /console/trial-balance", got)
		}
		if who := p.text(".who"); !strings.Contains(who, "auditor") {
			t.Fatalf("header says %q", who)
		}
	})
	t.Run("the session cookie is HttpOnly and SameSite=Strict, and holds no key", func(t *testing.T) {
		res, err := chromedp.Call(p.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{tl.url + "/console/journal"}})
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, c := range res.Cookies {
			if c.Name != "tally_console" {
				continue
			}
			found = true
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/console" {
				t.Fatalf("cookie %+v", c)
			}
			if strings.Contains(c.Value, auditor) {
				t.Fatal("the cookie carries the API key")
			}
			if life := c.Expires - float64(time.Now().Unix()); life < 11.9*3600 || life > 12.1*3600 {
				t.Fatalf("cookie lives %.0f s, want 12 h", life)
			}
		}
		if !found {
			t.Fatalf("no session cookie among %v", res.Cookies)
		}
	})
	t.Run("an auditor cannot propose adjustments", func(t *testing.T) {
		p.open("/console/adjustments")
		if n := eval[int](p, `document.querySelectorAll("#propose-form").length`); n != 0 {
			t.Fatal("the propose form is shown to an auditor")
		}
	})
	t.Run("sign-out ends the session on the server", func(t *testing.T) {
		p.open("/console/journal")
		var n0 int
		if err := tl.pool.QueryRow(context.Background(), `SELECT count(*) FROM console_sessions`).Scan(&n0); err != nil || n0 != 1 {
			t.Fatalf("%d sessions before sign-out (%v)", n0, err)
		}
		p.signOut()
		var n int
		if err := tl.pool.QueryRow(context.Background(), `SELECT count(*) FROM console_sessions`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d sessions after sign-out (%v)", n, err)
		}
		p.open("/console/journal")
		if got := p.path(); !strings.HasPrefix(got, "/console/sign-in") {
			t.Fatalf("after sign-out the journal opened at %s", got)
		}
	})
	t.Run("an expired session is signed out", func(t *testing.T) {
		p.signIn(auditor)
		if _, err := tl.pool.Exec(context.Background(), `UPDATE console_sessions SET expires_at = now() - interval '1 second'`); err != nil {
			t.Fatal(err)
		}
		p.open("/console/journal")
		if got := p.path(); !strings.HasPrefix(got, "/console/sign-in") {
			t.Fatalf("an expired session opened %s", got)
		}
	})
	t.Run("revoking the key ends its sessions", func(t *testing.T) {
		id, key := tl.key("", "events:read")
		p.signIn(key)
		if p.path() != "/console/journal" {
			t.Fatalf("sign-in landed on %s", p.path())
		}
		tl.api("DELETE", "/v1/keys/"+id, nil, "", 204)
		p.open("/console/journal")
		if got := p.path(); !strings.HasPrefix(got, "/console/sign-in") {
			t.Fatalf("a revoked key's session opened %s", got)
		}
		var n int
		if err := tl.pool.QueryRow(context.Background(), `SELECT count(*) FROM console_sessions WHERE key_id = $1`, id).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the revoked key keeps %d sessions (%v)", n, err)
		}
	})
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// A form POST without its CSRF token is refused, over plain HTTP (the
// browser test of the same is in TestFourEyes).
func TestFormsNeedTheirCSRFToken(t *testing.T) {
	tl := newTally(t)
	c := tl.client()
	get := func(path string) string {
		resp, err := c.Get(tl.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	post := func(path string, form url.Values) int {
		resp, err := c.PostForm(tl.url+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	m := csrfField.FindStringSubmatch(get("/console/sign-in"))
	if m == nil {
		t.Fatal("the sign-in form has no CSRF token")
	}
	if got := post("/console/sign-in", url.Values{"key": {adminKey}}); got != http.StatusForbidden {
		t.Fatalf("sign-in without its token: %d, want 403", got)
	}
	if got := post("/console/sign-in", url.Values{"key": {adminKey}, "csrf": {m[1]}}); got != http.StatusSeeOther {
		t.Fatalf("sign-in with its token: %d, want 303", got)
	}
	journal := get("/console/journal")
	m = csrfField.FindStringSubmatch(journal)
	if m == nil {
		t.Fatal("the journal's sign-out form has no CSRF token")
	}
	acc := tl.open("user-1", "NGN")
	for _, tt := range []struct {
		name string
		path string
		form url.Values
	}{
		{"sign-out", "/console/sign-out", url.Values{}},
		{"propose", "/console/adjustments", url.Values{"account": {acc}, "direction": {"credit"}, "amount": {"1.00"}, "currency": {"NGN"}, "reason": {"x"}}},
		{"verify", "/console/verify", url.Values{"book": {"main"}}},
	} {
		t.Run(tt.name+" without its token is refused", func(t *testing.T) {
			if got := post(tt.path, tt.form); got != http.StatusForbidden {
				t.Fatalf("status %d, want 403", got)
			}
			tt.form.Set("csrf", "forged")
			if got := post(tt.path, tt.form); got != http.StatusForbidden {
				t.Fatalf("with a forged token: status %d, want 403", got)
			}
		})
	}
	var proposals int
	if err := tl.pool.QueryRow(context.Background(), `SELECT count(*) FROM adjustment_proposals`).Scan(&proposals); err != nil || proposals != 0 {
		t.Fatalf("%d proposals recorded by refused forms (%v)", proposals, err)
	}
	t.Run("a proposal form sent twice proposes once", func(t *testing.T) {
		page := get("/console/adjustments")
		nonce := regexp.MustCompile(`name="nonce" value="([^"]+)"`).FindStringSubmatch(page)
		if nonce == nil {
			t.Fatal("the proposal form has no one-time value")
		}
		form := url.Values{"csrf": {m[1]}, "nonce": {nonce[1]}, "account": {acc}, "direction": {"credit"}, "amount": {"1.00"}, "currency": {"NGN"}, "reason": {"twice"}}
		for range 2 {
			if got := post("/console/adjustments", form); got != http.StatusSeeOther {
				t.Fatalf("status %d, want 303", got)
			}
		}
		form.Set("amount", "2.00")
		if got := post("/console/adjustments", form); got != http.StatusUnprocessableEntity {
			t.Fatalf("the one-time value reused for another proposal: status %d, want 422", got)
		}
		var n int
		if err := tl.pool.QueryRow(context.Background(), `SELECT count(*) FROM adjustment_proposals`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d proposals (%v), want 1", n, err)
		}
	})
	if got := post("/console/sign-out", url.Values{"csrf": {m[1]}}); got != http.StatusSeeOther {
		t.Fatalf("sign-out with its token: %d, want 303", got)
	}

	t.Run("an auditor's session cannot propose, approve or reject", func(t *testing.T) {
		var id string
		if err := tl.pool.QueryRow(context.Background(), `SELECT id FROM adjustment_proposals`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		_, auditor := tl.key("", "events:read")
		c = tl.client()
		signInCSRF := csrfField.FindStringSubmatch(get("/console/sign-in"))[1]
		if got := post("/console/sign-in", url.Values{"key": {auditor}, "csrf": {signInCSRF}}); got != http.StatusSeeOther {
			t.Fatalf("auditor sign-in: %d", got)
		}
		token := csrfField.FindStringSubmatch(get("/console/journal"))[1]
		for path, form := range map[string]url.Values{
			"/console/adjustments":                    {"account": {acc}, "direction": {"credit"}, "amount": {"1.00"}, "currency": {"NGN"}, "reason": {"x"}},
			"/console/adjustments/" + id + "/approve": {},
			"/console/adjustments/" + id + "/reject":  {"reason": {"x"}},
		} {
			form.Set("csrf", token)
			if got := post(path, form); got != http.StatusForbidden {
				t.Errorf("auditor POST %s: %d, want 403", path, got)
			}
		}
		var status string
		if err := tl.pool.QueryRow(context.Background(), `SELECT status FROM adjustment_proposals WHERE id = $1`, id).Scan(&status); err != nil || status != "pending" {
			t.Fatalf("proposal %s after an auditor's POSTs (%v)", status, err)
		}
	})
}

// The harness itself: an exception, a console error or a script the
// security policy blocks is caught (and would fail the test).
func TestBrowserHarnessCatchesPageErrors(t *testing.T) {
	tl := newTally(t)
	p := newPage(t, tl)
	p.open("/console/sign-in")
	for _, tt := range []struct{ name, js, want string }{
		{"an uncaught exception", `setTimeout(() => { throw new Error("boom-exception") }, 0)`, "boom-exception"},
		{"a console error", `console.error("boom-console")`, "boom-console"},
		{"an inline script the policy blocks", `document.body.appendChild(Object.assign(document.createElement("script"), {textContent: "window.x = 1"}))`, "Content Security Policy"},
	} {
		t.Run(tt.name+" is caught", func(t *testing.T) {
			eval[any](p, tt.js)
			deadline := time.Now().Add(5 * time.Second)
			for {
				p.mu.Lock()
				caught := strings.Contains(strings.Join(p.errors, "\n"), tt.want)
				if caught {
					p.errors = nil
				}
				p.mu.Unlock()
				if caught {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%q was not reported", tt.want)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestCookiesAreSecureOverHTTPS(t *testing.T) {
	tl := newTally(t)
	for _, tt := range []struct {
		name   string
		proto  string
		secure bool
	}{
		{"behind a proxy that says https the cookie is Secure", "https", true},
		{"over plain http (local mode) it is not", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tl.url+"/console/sign-in", nil)
			if tt.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cookies := resp.Cookies()
			if len(cookies) != 1 || cookies[0].Secure != tt.secure || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
				t.Fatalf("cookies %+v", cookies)
			}
		})
	}
}

func TestLandingPageLinksTheConsole(t *testing.T) {
	tl := newTally(t)
	resp, err := http.Get(tl.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `href="/console"`) {
		t.Fatalf("GET / (%d) does not link the mounted console", resp.StatusCode)
	}
}

// Failed sign-ins spend the address's bucket of failed authentications,
// as failed API keys do; successful ones do not.
func TestFailedSignInsAreRateLimited(t *testing.T) {
	tl := newTally(t, func(c *httpapi.Config) { c.UnauthRateLimit, c.UnauthRateBurst = 0.001, 2 })
	c := tl.client()
	signIn := func(key string) *http.Response {
		resp, err := c.Get(tl.url + "/console/sign-in")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		token := csrfField.FindStringSubmatch(string(body))[1]
		resp, err = c.PostForm(tl.url+"/console/sign-in", url.Values{"key": {key}, "csrf": {token}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for range 3 {
		if got := signIn(adminKey).StatusCode; got != http.StatusSeeOther {
			t.Fatalf("a good sign-in: %d", got)
		}
	}
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		resp := signIn("tally_wrongwrongwrongwrongwrongwrongwrong")
		if resp.StatusCode != want {
			t.Fatalf("failed sign-in %d: %d, want %d", i+1, resp.StatusCode, want)
		}
		if want == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
}
