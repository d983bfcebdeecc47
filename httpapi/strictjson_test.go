package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
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
		`{"atomic":true,"items":[{"type":"transfer","idempotency_key":"k","body":{"amount":"1","amount":"2"}}]}`,
		`{"items":[{"type":"transfer"},{"Type":"transfer","body":[1,{"x":null,"y":[true,false]}]}]}`,
		`{"items":[],"atomic":false,"items":[]}`,
		` { "metadata" : { "a":"1", "b":"2", "a" : "3" } } `,
		`{"m\u0065tadata":{},"metadata":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// The byte scanner refuses what the Token-based check it replaced
		// refused, with the same path and message, on every valid document
		// of valid UTF-8 (decodeJSON refuses the rest before the check;
		// the token check would name an invalid byte as U+FFFD).
		if json.Valid(body) && utf8.Valid(body) {
			for _, typ := range []reflect.Type{reflect.TypeOf(transferRequest{}), reflect.TypeOf(batchRequest{}), reflect.TypeOf(map[string]any{})} {
				got, want := checkStrictJSON(body, typ), tokenStrictJSON(body, typ)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%q as %s: the scanner says %v, the token check %v", body, typ, got, want)
				}
				if se, ok := got.(*strictError); ok && se.path != want.(*strictError).path {
					t.Fatalf("%q as %s: the scanner names %q, the token check %q", body, typ, se.path, want.(*strictError).path)
				}
			}
		}
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
			if _, ok := names.types[name]; !ok {
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

// tokenStrictJSON is the strict check as it was written first, over
// json.Decoder.Token: slow, but plainly right, so the fuzz test holds the
// byte scanner to it.
func tokenStrictJSON(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	err := tokenStrictValue(dec, t, "")
	if _, ok := err.(*strictError); ok {
		return err
	}
	return nil
}

func tokenStrictValue(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		return tokenStrictObject(dec, t, path)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := tokenStrictValue(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ]
		return err
	}
	return nil
}

func tokenStrictObject(dec *json.Decoder, t reflect.Type, path string) error {
	var fields *structFields
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = jsonFields(t)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		at := strings.TrimPrefix(path+"."+name, ".")
		if seen[name] {
			return &strictError{path: at, msg: fmt.Sprintf("field %q appears more than once", at)}
		}
		seen[name] = true
		next := elem
		if fields != nil {
			ft, exact := fields.types[name]
			if !exact {
				for _, known := range fields.names {
					if strings.EqualFold(known, name) {
						return &strictError{path: at, msg: fmt.Sprintf("field %q is spelled %q: field names are case-sensitive", at, known)}
					}
				}
			}
			next = ft
		}
		if err := tokenStrictValue(dec, next, at); err != nil {
			return err
		}
	}
	_, err := dec.Token() // }
	return err
}
