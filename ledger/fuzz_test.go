package ledger

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
)

// FuzzCanonicalize checks RFC 8785 canonicalization, which the hash chain
// and the idempotency fingerprint rest on, on arbitrary input: it never
// panics; what it accepts is exactly one JSON value; its output is JSON
// meaning the same as the input; and canonicalizing the output changes
// nothing.
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{
		`{"from":"acc_1","to":"acc_2","amount":"300.00","currency":"NGN"}`,
		`{ "b": 1, "a": [true, null, "x"] }`,
		`{"\u20ac":1,"\ud83d\ude00":2,"a":3}`,
		`{"s":"a\u0001\n\t\"\\/"}`,
		`{"a":"1","a":"2"}`,
		`[-0, 9007199254740992, -9007199254740992]`,
		`{"a":"1"} {"b":"2"}`,
		`{"x":1.5}`,
		`"\ud800"`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		canon, err := Canonicalize(raw)
		if err != nil {
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("accepted %q, which is not one JSON value, as %q", raw, canon)
		}
		again, err := Canonicalize(canon)
		if err != nil || !bytes.Equal(again, canon) {
			t.Fatalf("canonical form %q canonicalizes to %q, %v", canon, again, err)
		}
		if a, b := decodeNormalized(t, raw), decodeNormalized(t, canon); !reflect.DeepEqual(a, b) {
			t.Fatalf("%q means %#v, its canonical form %q means %#v", raw, a, canon, b)
		}
	})
}

// decodeNormalized decodes JSON with integers as int64, so that -0 and 0
// (one number, rendered "0" by JCS) compare equal.
func decodeNormalized(t *testing.T, raw []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", raw, err)
	}
	return normalize(v)
}

func normalize(v any) any {
	switch v := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(v.String(), 10, 64); err == nil {
			return n
		}
		return v.String()
	case []any:
		for i := range v {
			v[i] = normalize(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = normalize(v[k])
		}
	}
	return v
}
