package httpapi

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every list refuses a query parameter it does not take (and one given
// twice), naming it, before anything else: a filter silently ignored
// answers another question than the one asked. The lists are found in the
// OpenAPI document (every operation that takes ?limit=), so lists added
// later are held to the same rule.
func TestListsRefuseUnknownQueryParameters(t *testing.T) {
	h := newHarness(t)
	a := h.open("alice", "NGN")
	doc := servedOpenAPI(t)
	shared, _ := doc["components"].(map[string]any)["parameters"].(map[string]any)
	var lists []string
	declared := map[string][]string{} // list → the query parameters the document declares
	for _, name := range sortedKeys(operations(t, doc)) {
		op := operations(t, doc)[name]
		params, _ := op["parameters"].([]any)
		path := strings.TrimPrefix(name, "GET ")
		for _, p := range params {
			m, _ := p.(map[string]any)
			if m["$ref"] == "#/components/parameters/Limit" {
				lists = append(lists, path)
			}
			if ref, ok := m["$ref"].(string); ok {
				m, _ = shared[strings.TrimPrefix(ref, "#/components/parameters/")].(map[string]any)
			}
			if m["in"] == "query" {
				declared[path] = append(declared[path], m["name"].(string))
			}
		}
	}
	if len(lists) < 7 {
		t.Fatalf("found only %d lists in openapi.json: %v", len(lists), lists)
	}
	// A list under another resource is asked about one that exists.
	sub := h.must(h.do("POST", "/v1/subscriptions", map[string]any{"url": "http://127.0.0.1:1/hook", "events": []string{"*"}}), 201).str(t, "id")
	for _, list := range lists {
		id := a
		if strings.HasPrefix(list, "/v1/subscriptions/") {
			id = sub
		}
		path := strings.NewReplacer("{id}", id).Replace(list)
		t.Run("GET "+path+" takes every query parameter the document declares", func(t *testing.T) {
			for _, name := range declared[list] {
				if r := h.do("GET", path+"?"+name+"=", nil); r.status != 200 {
					t.Errorf("?%s=: %d %s", name, r.status, r.body)
				}
			}
			for _, name := range []string{"from", "to"} {
				if !slices.Contains(declared[list], name) {
					t.Errorf("the document does not declare ?%s=", name)
				}
			}
		})
		t.Run("GET "+path+"?bogus=1 is 400 naming bogus", func(t *testing.T) {
			r := h.do("GET", path+"?bogus=1", nil)
			if r.status != 400 || r.str(t, "code") != "invalid_request" || !strings.Contains(r.str(t, "detail"), `"bogus"`) {
				t.Fatalf("%d %s", r.status, r.body)
			}
			fields, _ := r.json(t)["errors"].([]any)
			if len(fields) != 1 || fields[0].(map[string]any)["field"] != "bogus" {
				t.Fatalf("errors %v", fields)
			}
		})
		t.Run("GET "+path+"?limit=1&limit=2 is 400", func(t *testing.T) {
			if r := h.do("GET", path+"?limit=1&limit=2", nil); r.status != 400 {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
}

// The filters users expect where rows carry them: ?status= on deposits and
// refunds, ?from=&to= (RFC 3339; from ≤ time < to) on every list of rows
// with a time.
func TestListFilters(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a, b := h.open("alice", "NGN"), h.open("bob", "NGN")
	h.fund(a, "100", "NGN")
	h.deposit(a, "10.00", "NGN", "paystack")
	tr := h.must(h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "30.00", "currency": "NGN"}, "Idempotency-Key", "t1"), 201).json(t)
	h.must(h.refund(map[string]any{"transfer": tr["id"]}, "r1"), 201)

	count := func(t *testing.T, path string) int {
		t.Helper()
		r := h.do("GET", path, nil)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		return len(r.json(t)["data"].([]any))
	}
	statuses := []struct {
		name, path string
		want       int
	}{
		{"deposits filter by status: pending", "/v1/deposits?status=pending", 1},
		{"deposits filter by status: succeeded", "/v1/deposits?status=succeeded", 0},
		{"refunds filter by status: succeeded", "/v1/refunds?status=succeeded", 1},
		{"refunds filter by status: pending", "/v1/refunds?status=pending", 0},
	}
	for _, c := range statuses {
		t.Run(c.name, func(t *testing.T) {
			if n := count(t, c.path); n != c.want {
				t.Fatalf("%d rows, want %d", n, c.want)
			}
		})
	}
	for _, path := range []string{"/v1/deposits?status=paid", "/v1/refunds?status=done"} {
		t.Run("an unknown status is 400: "+path, func(t *testing.T) {
			if r := h.do("GET", path, nil); r.status != 400 || r.str(t, "code") != "invalid_request" {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}

	past := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	for _, list := range []string{"/v1/accounts", "/v1/transfers", "/v1/deposits", "/v1/refunds", "/v1/events", "/v1/keys", "/v1/accounts/" + a + "/entries"} {
		t.Run(list+": from and to select by time", func(t *testing.T) {
			if list == "/v1/keys" {
				h.key("carol", "accounts:read")
			}
			all := count(t, list)
			if all == 0 {
				t.Fatal("the list is empty: nothing to filter")
			}
			if n := count(t, list+"?from="+past+"&to="+future); n != all {
				t.Fatalf("from an hour ago to in an hour: %d rows, want %d", n, all)
			}
			if n := count(t, list+"?from="+future); n != 0 {
				t.Fatalf("from in an hour: %d rows, want 0", n)
			}
			if n := count(t, list+"?to="+past); n != 0 {
				t.Fatalf("to an hour ago: %d rows, want 0", n)
			}
		})
	}
	t.Run("to before from is 400", func(t *testing.T) {
		if r := h.do("GET", "/v1/transfers?from="+future+"&to="+past, nil); r.status != 400 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}
