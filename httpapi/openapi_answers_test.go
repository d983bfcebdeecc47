package httpapi

import (
	"strings"
	"testing"
)

// probes (and the landing page) answer 200 (or 503) to every GET: no key, no
// parameter, no body, so no 4xx answer to list (.redocly.lint-ignore.yaml
// says the same to the linter).
var probes = map[string]bool{"GET /": true, "GET /healthz": true, "GET /readyz": true, "GET /openapi.json": true, "GET /metrics": true}

func TestOpenAPIListsSecurityAndClientErrors(t *testing.T) {
	doc := servedOpenAPI(t)
	ops := operations(t, doc)
	shared, _ := doc["components"].(map[string]any)["parameters"].(map[string]any)
	responses := func(name string) map[string]any {
		r, _ := ops[name]["responses"].(map[string]any)
		return r
	}
	t.Run("every operation declares its security, public ones as an empty list", func(t *testing.T) {
		for _, name := range sortedKeys(ops) {
			sec, ok := ops[name]["security"].([]any)
			if !ok {
				t.Errorf("%s declares no security (public operations say \"security\": [])", name)
				continue
			}
			public := !strings.Contains(name, " /v1/") || strings.Contains(name, " /v1/webhooks/")
			if public && len(sec) != 0 {
				t.Errorf("%s is public but its security is %v", name, sec)
			}
		}
	})
	t.Run("operations that take a key list 401, 403 and 429", func(t *testing.T) {
		for _, name := range sortedKeys(ops) {
			if sec, _ := ops[name]["security"].([]any); len(sec) == 0 {
				continue
			}
			for _, code := range []string{"401", "403", "429"} {
				if responses(name)[code] == nil {
					t.Errorf("%s does not list %s", name, code)
				}
			}
		}
	})
	t.Run("operations with query parameters list 400", func(t *testing.T) {
		for _, name := range sortedKeys(ops) {
			if hasQueryParameter(ops[name], shared) && responses(name)["400"] == nil {
				t.Errorf("%s takes query parameters but does not list 400", name)
			}
		}
	})
	t.Run("every operation but the probes lists a 4xx answer", func(t *testing.T) {
		for _, name := range sortedKeys(ops) {
			n := 0
			for code := range responses(name) {
				if strings.HasPrefix(code, "4") {
					n++
				}
			}
			if n == 0 && !probes[name] {
				t.Errorf("%s lists no 4xx answer", name)
			}
		}
	})
}

// hasQueryParameter reports whether op declares a query parameter, itself
// or by reference to one of the shared parameters.
func hasQueryParameter(op, shared map[string]any) bool {
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		m, _ := p.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			m, _ = shared[strings.TrimPrefix(ref, "#/components/parameters/")].(map[string]any)
		}
		if m["in"] == "query" {
			return true
		}
	}
	return false
}
