package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestLandingPage(t *testing.T) {
	get := func(s *Server) (*httptest.ResponseRecorder, string) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return rec, rec.Body.String()
	}
	newServer := func() *Server {
		return New(Config{AdminKey: "x", Version: "v1.2.3-test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}

	t.Run("GET / needs no key and links the OpenAPI document, the health checks and the docs", func(t *testing.T) {
		rec, body := get(newServer())
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		for _, want := range []string{`href="/openapi.json"`, `href="/healthz"`, `href="/readyz"`, "docs/api.md", "docs/operations.md", "v1.2.3-test", `name="viewport"`} {
			if !strings.Contains(body, want) {
				t.Errorf("landing page lacks %q", want)
			}
		}
		if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("Content-Security-Policy = %q", rec.Header().Get("Content-Security-Policy"))
		}
	})
	t.Run("without a console there is no console link", func(t *testing.T) {
		if _, body := get(newServer()); strings.Contains(body, "/console") {
			t.Error("the page links a console that is not there")
		}
	})
	t.Run("a routed console is linked", func(t *testing.T) {
		for _, path := range []string{"/console", "/console/*"} {
			s := newServer()
			s.echo.GET(path, func(c echo.Context) error { return c.String(http.StatusOK, "console") })
			if _, body := get(s); !strings.Contains(body, `href="/console"`) {
				t.Errorf("console at %s: the page does not link it", path)
			}
		}
	})
	t.Run("a hostile Host header is escaped", func(t *testing.T) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = `x"><script>alert(1)</script>`
		newServer().ServeHTTP(rec, req)
		if strings.Contains(rec.Body.String(), "<script>") {
			t.Error("the Host header reached the page unescaped")
		}
	})
}
