package httpapi

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// landing answers GET / with a small page for whoever opens Tally's URL in a
// browser: what this is and where to go next. It links the console only when
// one is routed (a GET route at /console or under it), so the page never
// points at a 404.
func (s *Server) landing(c echo.Context) error {
	view := landingView{Version: s.version, Console: s.consolePath(), Base: c.Scheme() + "://" + c.Request().Host}
	var buf bytes.Buffer
	if err := landingPage.Execute(&buf, view); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

// consolePath returns the path of the web console when the server routes
// one, else "".
func (s *Server) consolePath() string {
	for _, r := range s.echo.Routes() {
		if r.Method == http.MethodGet && (r.Path == "/console" || strings.HasPrefix(r.Path, "/console/")) {
			return "/console"
		}
	}
	return ""
}

type landingView struct {
	Version string
	Console string // "" when no console is routed
	Base    string // this server as the client reached it, for the example
}

var landingPage = template.Must(template.New("landing").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tally</title>
<style>
  *, *::before, *::after { box-sizing: border-box; }
  body { margin: 0; padding: 1rem; background: #f4f5f7; color: #1f2933;
         font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
  main { max-width: 40rem; margin: 2rem auto; background: #fff; border-radius: 12px;
         padding: clamp(1.25rem, 5vw, 2rem); box-shadow: 0 4px 24px rgba(0,0,0,.08); overflow-wrap: anywhere; }
  h1 { margin: 0 0 .25rem; font-size: 1.5rem; } h2 { font-size: 1rem; margin: 1.5rem 0 .5rem; }
  ul { padding-left: 1.25rem; margin: 0; } li { margin: .25rem 0; }
  code { font-family: ui-monospace, monospace; font-size: .9em; background: #f4f5f7; border-radius: 4px; padding: 0 .25rem; }
  pre { background: #f4f5f7; border-radius: 8px; padding: .75rem; overflow-x: auto; font-size: .85rem; }
  a { color: #2457c5; } .muted { color: #7b8794; font-size: .9rem; }
</style>
</head>
<body><main>
<h1>Tally</h1>
<p class="muted">An event-sourced double-entry ledger{{if .Version}} · version {{.Version}}{{end}}</p>
<p>This server speaks JSON under <code>/v1</code>, with an API key as a bearer token:</p>
<pre>curl -H "Authorization: Bearer $TALLY_ADMIN_KEY" {{.Base}}/v1/accounts</pre>
<h2>Here</h2>
<ul>
{{- if .Console}}
  <li><a href="{{.Console}}">Console</a>: accounts, transfers and the journal in a browser</li>
{{- end}}
  <li><a href="/openapi.json">/openapi.json</a>: the OpenAPI 3.1 document of every operation</li>
  <li><a href="/healthz">/healthz</a> (the process is up) and <a href="/readyz">/readyz</a> (the database answers, migrations applied)</li>
  <li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
</ul>
<h2>Documentation, in the repository</h2>
<ul>
  <li><code>README.md</code>: quick start and walkthroughs</li>
  <li><code>docs/api.md</code>: the API guide and the error codes</li>
  <li><code>docs/events.md</code>: every event in the journal</li>
  <li><code>docs/gateways.md</code>: payment gateways and the sandbox</li>
  <li><code>docs/auth.md</code>: API keys and scopes</li>
  <li><code>docs/audit.md</code>: verify, replay, statements and export</li>
  <li><code>docs/operations.md</code>: configuration, metrics and the runbook</li>
</ul>
</main></body></html>
`))
