package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// strictOpenAPI makes every response of a route the server has, to a request
// the harness sends, fail the test when the OpenAPI document does not
// describe its operation. It is false only while the document for the core
// routes is being written on another branch: after merging, the lead sets it
// to true, and from then on the document cannot drift from the code.
// Operations the document does describe are always checked.
const strictOpenAPI = true

// openAPIValidator checks responses against the embedded OpenAPI document:
// it finds the operation with kin-openapi's router, then validates status,
// headers and body with openapi3filter.ValidateResponse.
type openAPIValidator struct {
	router routers.Router
	api    *Server // nil: no server to ask which routes exist
}

var (
	openAPIOnce   sync.Once
	openAPIRouter routers.Router
	openAPIErr    error
)

// loadOpenAPI returns a validator for responses of api. The document is
// parsed once per test binary.
func loadOpenAPI(t testing.TB, api *Server) *openAPIValidator {
	t.Helper()
	openAPIOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(OpenAPI)
		if err != nil {
			openAPIErr = err
			return
		}
		// The router matches on the path alone: the document's server URL
		// (localhost:8080) is not the test server's.
		doc.Servers = nil
		openAPIRouter, openAPIErr = legacy.NewRouter(doc)
	})
	if openAPIErr != nil {
		t.Fatalf("openapi.json: %v", openAPIErr)
	}
	return &openAPIValidator{router: openAPIRouter, api: api}
}

// check validates one response. It reports with Errorf, not Fatal, because
// the harness sends requests from many goroutines at once.
func (v *openAPIValidator) check(t testing.TB, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	// The router matches on the path alone; the test server's host is not in the document.
	r := req.Clone(context.Background())
	r.URL.Scheme, r.URL.Host, r.Host = "", "", ""
	route, params, err := v.router.FindRoute(r)
	if err != nil {
		var re *routers.RouteError
		if strictOpenAPI && errors.As(err, &re) && v.serverHas(req.Method, req.URL.Path) {
			t.Errorf("OpenAPI: %s %s answered %d but the document does not describe it", req.Method, req.URL.Path, resp.StatusCode)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: r, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: resp.StatusCode,
		Header: resp.Header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("OpenAPI: %s %s answered %d, which the document does not allow: %v\nbody: %s",
			req.Method, req.URL.Path, resp.StatusCode, err, truncate(body))
	}
}

// serverHas reports whether the server routes method and path to a handler
// of its own, as opposed to answering 404 or 405 for a route it lacks (which
// tests send on purpose, and which no document can describe).
func (v *openAPIValidator) serverHas(method, path string) bool {
	if v.api == nil {
		return false
	}
	c := v.api.echo.NewContext(nil, nil)
	v.api.echo.Router().Find(method, path, c)
	return v.api.routes[method+" "+c.Path()]
}

func truncate(b []byte) []byte {
	if len(b) > 500 {
		return append(b[:500:500], "…"...)
	}
	return b
}

// The document must be valid OpenAPI 3.1, and every operation it describes
// must be one the server has.
func TestOpenAPIDocumentIsValidAndDescribesOnlyRealRoutes(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi is %q, want 3.1", doc.OpenAPI)
	}
	h := newHarness(t, func(cfg *Config) { cfg.Sandbox = http.NotFoundHandler() })
	has := map[string]bool{}
	for _, r := range h.api.Routes() {
		has[r.Method+" "+r.Path] = true
	}
	for path, item := range doc.Paths.Map() {
		echoPath := path
		for {
			i := strings.IndexByte(echoPath, '{')
			if i < 0 {
				break
			}
			j := strings.IndexByte(echoPath, '}')
			echoPath = echoPath[:i] + ":" + echoPath[i+1:j] + echoPath[j+1:]
		}
		for method := range item.Operations() {
			if !has[method+" "+echoPath] {
				t.Errorf("the document describes %s %s, which the server does not have", method, path)
			}
		}
	}
}

// The validator itself must catch a response that breaks the document.
func TestOpenAPIValidatorCatchesDrift(t *testing.T) {
	v := loadOpenAPI(t, nil)
	req, _ := http.NewRequest("GET", "/v1/keys", nil)
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(nil))}
	rec := &recordingT{TB: t}
	v.check(rec, req, resp, []byte(`{"data":[{"id":42}],"next_cursor":null}`))
	if !rec.failed {
		t.Fatal("a key list whose id is a number passed validation")
	}
}

type recordingT struct {
	testing.TB
	failed bool
}

func (r *recordingT) Errorf(string, ...any) { r.failed = true }
func (r *recordingT) Helper()               {}
