package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections/sinks"
)

// routeOnlyServer is the API without a journal or a store: enough to list its
// routes and serve the embedded document, so these tests need no database.
func routeOnlyServer() *Server {
	return New(Config{AdminKey: "x", Sandbox: http.NotFoundHandler(), Keys: pgjournal.NewKeys(nil), Subscriptions: sinks.NewSubscriptions(nil, sinks.URLRules{}), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true}

// servedOpenAPI returns the document as GET /openapi.json serves it, decoded.
func servedOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	s := routeOnlyServer()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /openapi.json: status %d", rec.Code)
	}
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

// operations lists the document's operations as "METHOD /path".
func operations(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("openapi.json has no paths object")
	}
	ops := map[string]map[string]any{}
	for path, item := range paths {
		item, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("paths[%q] is not an object", path)
		}
		for method, op := range item {
			if !httpMethods[method] {
				continue
			}
			o, ok := op.(map[string]any)
			if !ok {
				t.Fatalf("%s %s is not an object", method, path)
			}
			ops[strings.ToUpper(method)+" "+path] = o
		}
	}
	return ops
}

var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// routes lists the server's routes as "METHOD /path", with Echo's :id as {id}.
func routes() map[string]bool {
	out := map[string]bool{}
	for _, r := range routeOnlyServer().Routes() {
		out[r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	return out
}

func TestOpenAPIIsJSONOfVersion310(t *testing.T) {
	doc := servedOpenAPI(t)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf(`"openapi" = %v, want "3.1.0"`, doc["openapi"])
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := servedOpenAPI(t)
	ops := operations(t, doc)
	rs := routes()
	if len(rs) == 0 {
		t.Fatal("the server has no routes")
	}
	t.Run("every route has an operation", func(t *testing.T) {
		for _, r := range sortedKeys(rs) {
			if ops[r] == nil {
				t.Errorf("route %s is not documented in openapi.json", r)
			}
		}
	})
	t.Run("every operation is a route", func(t *testing.T) {
		for _, op := range sortedKeys(ops) {
			if !rs[op] {
				t.Errorf("openapi.json documents %s, which the server does not route", op)
			}
		}
	})
	t.Run("v1 operations need a bearer key, webhooks and the others none", func(t *testing.T) {
		for _, name := range sortedKeys(ops) {
			sec, _ := ops[name]["security"].([]any)
			bearer := false
			for _, s := range sec {
				if m, ok := s.(map[string]any); ok && m["bearerAuth"] != nil {
					bearer = true
				}
			}
			// Webhooks are authenticated by the gateway's signature instead.
			want := strings.Contains(name, " /v1/") && !strings.Contains(name, " /v1/webhooks/")
			if bearer != want {
				t.Errorf("%s: bearer security %v, want %v", name, bearer, want)
			}
		}
	})
	t.Run("every path template parameter is declared", func(t *testing.T) {
		for _, name := range sortedKeys(ops) {
			path := strings.SplitN(name, " ", 2)[1]
			declared := map[string]bool{}
			params, _ := ops[name]["parameters"].([]any)
			if item, ok := doc["paths"].(map[string]any)[path].(map[string]any); ok {
				shared, _ := item["parameters"].([]any) // path-level parameters apply too
				params = append(params, shared...)
			}
			for _, p := range params {
				p = deref(t, doc, p)
				if m, ok := p.(map[string]any); ok && m["in"] == "path" && m["required"] == true {
					declared[m["name"].(string)] = true
				}
			}
			for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter %q is not declared as a required path parameter", name, m[1])
				}
			}
		}
	})
	t.Run("operation ids are unique", func(t *testing.T) {
		seen := map[string]string{}
		for _, name := range sortedKeys(ops) {
			id, _ := ops[name]["operationId"].(string)
			if id == "" {
				t.Errorf("%s has no operationId", name)
			} else if other, dup := seen[id]; dup {
				t.Errorf("operationId %q is used by %s and %s", id, other, name)
			}
			seen[id] = name
		}
	})
}

func TestOpenAPIRefsResolve(t *testing.T) {
	doc := servedOpenAPI(t)
	n := 0
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				n++
				if !strings.HasPrefix(r, "#/components/") {
					t.Errorf("%s: $ref %q does not point into #/components/", at, r)
				} else if _, ok := pointer(doc, r); !ok {
					t.Errorf("%s: $ref %q does not resolve", at, r)
				}
			}
			for k, x := range v {
				walk(at+"/"+k, x)
			}
		case []any:
			for i, x := range v {
				walk(at+"/"+strconv.Itoa(i), x)
			}
		}
	}
	walk("#", doc)
	if n == 0 {
		t.Fatal("no $ref found: the walk is broken")
	}
}

func TestOpenAPIProblemCodesAreTheCatalogue(t *testing.T) {
	doc := servedOpenAPI(t)
	enum, ok := pointer(doc, "#/components/schemas/Problem/properties/code/enum")
	if !ok {
		t.Fatal("Problem.code has no enum")
	}
	documented := map[string]bool{}
	for _, c := range enum.([]any) {
		documented[c.(string)] = true
	}
	for code := range statusOf {
		if !documented[string(code)] {
			t.Errorf("error code %s is missing from Problem.code", code)
		}
	}
	for c := range documented {
		found := false
		for code := range statusOf {
			found = found || string(code) == c
		}
		if !found {
			t.Errorf("Problem.code lists %s, which has no HTTP status in statusOf", c)
		}
	}
}

// pointer resolves a local JSON pointer such as "#/components/schemas/Account".
func pointer(doc map[string]any, ref string) (any, bool) {
	var cur any = doc
	for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func deref(t *testing.T, doc map[string]any, v any) any {
	t.Helper()
	if m, ok := v.(map[string]any); ok {
		if r, ok := m["$ref"].(string); ok {
			x, ok := pointer(doc, r)
			if !ok {
				t.Fatalf("$ref %q does not resolve", r)
			}
			return x
		}
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
