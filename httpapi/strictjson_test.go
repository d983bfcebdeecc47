package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// Every POST body is read exactly as sent: a field given twice, or in
// another letter case, is 400 invalid_request and appends nothing.
func TestStrictJSONBodies(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("a", "USD"), h.open("b", "USD")
	h.fund(a, "200", "USD")
	before := h.eventCount()
	for _, tc := range []struct {
		name, path, body, field string
	}{
		{"a duplicated amount is refused", "/v1/transfers", `{"from":"` + a + `","to":"` + b + `","amount":"1.00","amount":"100.00","currency":"USD"}`, "amount"},
		{"an amount in another letter case is refused", "/v1/transfers", `{"from":"` + a + `","to":"` + b + `","amount":"1.00","Amount":"100.00","currency":"USD"}`, "Amount"},
		{"a field only in another letter case is refused", "/v1/transfers", `{"FROM":"` + a + `","to":"` + b + `","amount":"1.00","currency":"USD"}`, "FROM"},
		{"a duplicated owner on an account is refused", "/v1/accounts", `{"owner":"x","owner":"y","currency":"USD"}`, "owner"},
		{"a duplicated owner on a key is refused", "/v1/keys", `{"name":"k","owner":"alice","owner":"","scopes":["accounts:read"]}`, "owner"},
		{"an owner in another letter case on a key is refused", "/v1/keys", `{"name":"k","owner":"alice","Owner":"","scopes":["accounts:read"]}`, "Owner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("POST", tc.path, tc.body, "Idempotency-Key", "strict-"+tc.name)
			if r.status != 400 || r.str(t, "code") != "invalid_request" || !strings.Contains(string(r.body), tc.field) {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	if h.eventCount() != before {
		t.Fatal("a refused body appended events")
	}
	if list := h.must(h.do("GET", "/v1/keys", nil), 200).json(t)["data"].([]any); len(list) != 0 {
		t.Fatalf("keys were created: %v", list)
	}
	t.Run("the same request in another layout is still accepted", func(t *testing.T) {
		h.must(h.do("POST", "/v1/transfers", `{ "currency":"USD", "amount":"1.00", "to":"`+b+`", "from":"`+a+`" }`, "Idempotency-Key", "layout"), 201)
	})
}

// FuzzStrictJSON checks that whatever body the strict check lets through,
// encoding/json reads every name in it exactly once and as spelled: decoding
// into the request type and into a generic map agree field by field.
func FuzzStrictJSON(f *testing.F) {
	for _, s := range []string{
		`{"from":"a","to":"b","amount":"1.00","currency":"USD"}`,
		`{"amount":"1.00","Amount":"100.00"}`,
		`{"amount":"1.00","amount":"100.00"}`,
		`{"amount":"1.00","AMOUNT":"2"}`,
		`{"from":"a","nested":{"x":1,"x":2}}`,
		`{"from":"a","\u0061mount":"1","amount":"2"}`,
		`{"amount":"1.00","amo\u017ft":"3"}`,
		`[1,2]`, `{`, `{"from":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req transferRequest
		if decodeJSON(body, &req) != nil {
			return
		}
		var generic map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&generic); err != nil {
			t.Fatalf("accepted %q, which is not a JSON object: %v", body, err)
		}
		names := jsonFields(reflect.TypeOf(req))
		got := reflect.ValueOf(req)
		for i := 0; i < got.NumField(); i++ {
			if got.Field(i).Kind() != reflect.String {
				continue
			}
			name, _, _ := strings.Cut(got.Type().Field(i).Tag.Get("json"), ",")
			want, _ := generic[name].(string)
			if got.Field(i).String() != want {
				t.Fatalf("accepted %q: the decoder read %s=%q, the body says %q", body, name, got.Field(i).String(), want)
			}
		}
		for name := range generic {
			if _, ok := names[name]; !ok {
				t.Fatalf("accepted %q with a field %q the request has no exact name for", body, name)
			}
		}
		// Each top-level name appears once: as many names as map entries.
		dec = json.NewDecoder(bytes.NewReader(body))
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		count := 0
		for dec.More() {
			if _, err := dec.Token(); err != nil {
				t.Fatal(err)
			}
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
			count++
		}
		if count != len(generic) {
			t.Fatalf("accepted %q, which names a field more than once", body)
		}
	})
}
