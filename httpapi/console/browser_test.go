package console_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/sandbox"
	"github.com/tallyledger/tally/httpapi"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/schema/testdb"
)

// One headless Chromium serves every test of this binary; each test gets a
// fresh browser context (its own cookies) in it.
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	dir    string
	skip   string
	err    error
}

func TestMain(m *testing.M) {
	code := testdb.Run(m)
	if browser.cancel != nil {
		browser.cancel()
		_ = os.RemoveAll(browser.dir)
	}
	os.Exit(code)
}

// chromiumPath finds the browser: TALLY_CHROMIUM, else Debian's chromium
// (or another Chromium build) on PATH.
func chromiumPath() string {
	if p := os.Getenv("TALLY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func startBrowser() {
	path := chromiumPath()
	if path == "" {
		browser.skip = "browser tests skipped: no Chromium found (install Debian's chromium package — `make test` does so when run as root on Debian — or set TALLY_CHROMIUM to a Chromium binary)"
		return
	}
	browser.dir, browser.err = os.MkdirTemp("", "tally-console-chromium-")
	if browser.err != nil {
		return
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(browser.dir), chromedp.WindowSize(1280, 900),
	}
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	browser.ctx = ctx
	browser.cancel = func() { cancelCtx(); cancelAlloc() }
	// Start it now, so that the first test's timeout does not include it.
	browser.err = chromedp.Do(ctx)
}

// page is one test's browser tab against one Tally server.
type page struct {
	t      *testing.T
	ctx    context.Context
	tally  *tally
	mu     sync.Mutex
	errors []string
}

// newPage opens a tab in a fresh browser context. The test fails if any
// page it shows throws, logs a console error or breaks a security policy.
func newPage(t *testing.T, tl *tally) *page {
	t.Helper()
	browser.once.Do(startBrowser)
	if browser.skip != "" {
		t.Skip(browser.skip)
	}
	if browser.err != nil {
		t.Fatalf("start Chromium: %v", browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	p := &page{t: t, ctx: ctx, tally: tl}
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg = fmt.Sprintf("exception: %s %s (%s:%d)", d.Text, describe(d.Exception), d.URL, d.LineNumber)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, describe(a))
				}
				msg = "console.error: " + strings.Join(parts, " ")
			}
		case *cdplog.EventEntryAdded:
			// A page answered with an error status is logged as a network
			// error; tests that expect one check the status themselves.
			// Everything else (a blocked script or style, a missing asset,
			// a policy violation) is a defect.
			e := ev.Entry
			if e.Level == cdplog.EntryLevelError && (e.Source != cdplog.EntrySourceNetwork || strings.Contains(e.URL, "/console/assets/")) {
				msg = fmt.Sprintf("%s: %s %s", e.Source, e.Text, e.URL)
			}
		}
		if msg != "" {
			p.mu.Lock()
			p.errors = append(p.errors, msg)
			p.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.errors {
			t.Errorf("JavaScript error in the page: %s", e)
		}
		cancelTimeout()
		cancel()
	})
	return p
}

func describe(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	if o.Description != "" {
		return o.Description
	}
	return fmt.Sprint(o.Value)
}

// run runs chromedp actions, failing the test on error.
func (p *page) run(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// get runs one chromedp action that returns a value.
func get[T any](p *page, action chromedp.Action[T]) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, action)
	if err != nil {
		p.t.Fatalf("browser: %v", err)
	}
	return v
}

// eval evaluates JavaScript in the page.
func eval[T any](p *page, js string) T {
	p.t.Helper()
	return get(p, chromedp.Evaluate[T](js))
}

// open navigates to a console path and waits for its main element.
func (p *page) open(path string) {
	p.t.Helper()
	p.run(chromedp.Navigate(p.tally.url+path), chromedp.WaitReady(chromedp.CSS("main")))
}

// text returns the trimmed text of the first element matching sel.
func (p *page) text(sel string) string {
	p.t.Helper()
	return strings.TrimSpace(get(p, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible)))
}

// texts returns the trimmed text of every element matching sel.
func (p *page) texts(sel string) []string {
	p.t.Helper()
	return eval[[]string](p, fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(e => e.textContent.trim())`, sel))
}

// path is the page's current path (and query).
func (p *page) path() string {
	p.t.Helper()
	loc := get(p, chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		p.t.Fatal(err)
	}
	return u.RequestURI()
}

// submit fills the named fields of the form matching sel and submits it,
// then waits for the next page.
func (p *page) submit(sel string, fields map[string]string, button string) {
	p.t.Helper()
	var actions []chromedp.Action[chromedp.Void]
	for name, value := range fields {
		field := chromedp.CSS(sel + ` [name="` + name + `"]`)
		if eval[string](p, fmt.Sprintf(`document.querySelector(%q).tagName`, string(field))) == "SELECT" {
			actions = append(actions, chromedp.SetValue(field, value))
		} else {
			actions = append(actions, chromedp.Clear(field), chromedp.SendKeys(field, value))
		}
	}
	p.run(actions...)
	p.click(sel + " " + button)
}

// click clicks the element matching sel and waits for the page it loads.
func (p *page) click(sel string) {
	p.t.Helper()
	before := eval[float64](p, `window.__tallyPage = Math.random()`)
	p.run(chromedp.Click(chromedp.CSS(sel)))
	// Wait until a new document (without the marker) is ready.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		v, err := chromedp.Run(p.ctx, chromedp.Evaluate[any](`document.readyState === "complete" && window.__tallyPage === undefined`))
		if err == nil && v == true {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("clicking %s (page %v) loaded no new page", sel, before)
}

// signIn signs in with key through the sign-in form.
func (p *page) signIn(key string) {
	p.t.Helper()
	p.open("/console/sign-in")
	p.submit("form", map[string]string{"key": key}, `button[type="submit"]`)
}

// signOut presses the header's sign-out button.
func (p *page) signOut() {
	p.t.Helper()
	p.click(".signout button")
	p.run(chromedp.WaitVisible(chromedp.ID("key")))
}

// screenshot saves the page to docs/console/<name>.png when
// TALLY_SCREENSHOTS=1, so that `make test` does not touch the tree.
func (p *page) screenshot(name string) {
	p.t.Helper()
	if os.Getenv("TALLY_SCREENSHOTS") != "1" {
		return
	}
	png := get(p, chromedp.FullScreenshot(100))
	dir := filepath.Join("..", "..", "docs", "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

const adminKey = "console-test-admin-key"

// tally is a real Tally (API and console) on a fresh database, over real
// HTTP, with the sandbox gateway.
type tally struct {
	t       *testing.T
	url     string
	pool    *pgxpool.Pool
	set     *projections.Set
	runner  *projections.Runner
	secret  []byte
	sandbox *sandbox.Gateway
}

func newTally(t *testing.T, options ...func(*httpapi.Config)) *tally {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	set := projections.Default(pool)
	var inline []pgjournal.Projection
	for _, p := range set.Inline() {
		inline = append(inline, p)
	}
	store := pgjournal.NewStore(pool)
	journal := pgjournal.New(pool, pgjournal.Options{Inline: inline})
	var api *httpapi.Server
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.ServeHTTP(w, r) }))
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	sb, err := sandbox.New(sandbox.Config{BaseURL: srv.URL, Secret: secret, Lookup: httpapi.SandboxLookup(store)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := httpapi.Config{
		Journal: journal, Store: store, Keys: pgjournal.NewKeys(pool), AdminKey: adminKey, Ready: store.Ping,
		Projections: set, Sessions: pgjournal.NewSessions(pool),
		Gateways: gateways.Set{"sandbox": sb}, Sandbox: sb.Handler(),
	}
	for _, o := range options {
		o(&cfg)
	}
	api = httpapi.New(cfg)
	if !api.HasConsole() {
		t.Fatal("the console is not mounted")
	}
	t.Cleanup(func() {
		_ = sb.Close()
		srv.Close()
		journal.Close()
		pool.Close()
	})
	return &tally{t: t, url: srv.URL, pool: pool, set: set, runner: set.Runner(projections.RunnerOptions{}), secret: secret, sandbox: sb}
}

// api calls the JSON API with key (the admin key if empty) and returns the
// decoded answer, failing unless the status is want.
func (tl *tally) api(method, path string, body any, key string, want int) map[string]any {
	tl.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, tl.url+path, rd)
	if key == "" {
		key = adminKey
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if method == "POST" {
		req.Header.Set("Idempotency-Key", fmt.Sprintf("k-%d", time.Now().UnixNano()))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tl.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		tl.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			tl.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return m
}

// key creates an owner-less API key and returns its id and secret.
func (tl *tally) key(owner string, scopes ...string) (id, secret string) {
	tl.t.Helper()
	req := map[string]any{"name": "console test", "scopes": scopes}
	if owner != "" {
		req["owner"] = owner
	}
	k := tl.api("POST", "/v1/keys", req, "", 201)
	return k["id"].(string), k["key"].(string)
}

func (tl *tally) open(owner, currency string) string {
	tl.t.Helper()
	return tl.api("POST", "/v1/accounts", map[string]any{"owner": owner, "currency": currency}, "", 201)["id"].(string)
}

func (tl *tally) adjust(account, direction, amount, currency string) {
	tl.t.Helper()
	tl.api("POST", "/v1/adjustments", map[string]any{"account": account, "direction": direction, "amount": amount, "currency": currency, "reason": "test"}, "", 201)
}

func (tl *tally) transfer(from, to, amount, currency string) {
	tl.t.Helper()
	tl.api("POST", "/v1/transfers", map[string]any{"from": from, "to": to, "amount": amount, "currency": currency}, "", 201)
}

func (tl *tally) balance(account string) string {
	tl.t.Helper()
	return tl.api("GET", "/v1/accounts/"+account+"/balance", nil, "", 200)["balance"].(string)
}

// webhook sends a signed sandbox webhook, as the sandbox gateway would.
func (tl *tally) webhook(eventType, reference, amount, currency string) {
	tl.t.Helper()
	body, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("evt_sbx_%d", time.Now().UnixNano()), "type": eventType, "created": time.Now().Unix(),
		"data": map[string]any{"reference": reference, "gateway_reference": "sbx_" + reference, "amount": amount, "currency": currency}})
	req, _ := http.NewRequest("POST", tl.url+"/v1/webhooks/sandbox", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(sandbox.SignatureHeader, sandbox.Sign(tl.secret, body, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tl.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		tl.t.Fatalf("webhook: status %d", resp.StatusCode)
	}
}

// client is a cookie-keeping HTTP client for requests a browser would not
// send (a form without its token).
func (tl *tally) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
