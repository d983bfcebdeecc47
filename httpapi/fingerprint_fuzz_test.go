package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/tallyledger/tally/ledger"
)

// FuzzFingerprint checks the idempotency fingerprint on arbitrary bodies: it
// never panics; equal canonical bodies (the same request in another layout:
// whitespace, key order) have the same fingerprint, so a client's retry is recognised; another
// method or path has another; and two bodies share a fingerprint only if
// they are the same request, so a different request under a reused key is
// always caught (idempotency_key_reused).
func FuzzFingerprint(f *testing.F) {
	for _, pair := range [][2]string{
		{`{"from":"acc_1","to":"acc_2","amount":"300.00","currency":"NGN"}`, `{"currency":"NGN","amount":"300.00","to":"acc_2","from":"acc_1"}`},
		{`{"from":"acc_1","to":"acc_2","amount":"300.00","currency":"NGN"}`, `{"from":"acc_1","to":"acc_2","amount":"300.0","currency":"NGN"}`},
		{`{"a":"1"}`, `{"a":"1"} {"b":"2"}`},
		{`{"a":"1","a":"2"}`, `{"a":"2"}`},
		{`{"n":-0}`, `{"n":0}`},
		{`{"x":1.5}`, `{"x": 1.5}`},
		{`{"s":"\u00e9"}`, "{\"s\":\"é\"}"},
		{``, `{}`},
	} {
		f.Add([]byte(pair[0]), []byte(pair[1]))
	}
	f.Fuzz(func(t *testing.T, body, other []byte) {
		// Bodies that are not UTF-8 are refused before a fingerprint is taken.
		if !utf8.Valid(body) || !utf8.Valid(other) {
			return
		}
		fp := Fingerprint("POST", "/v1/transfers", body)
		if len(fp) != 64 || fp != Fingerprint("POST", "/v1/transfers", body) {
			t.Fatalf("fingerprint %q is not a stable SHA-256", fp)
		}
		if fp == Fingerprint("POST", "/v1/refunds", body) || fp == Fingerprint("PUT", "/v1/transfers", body) {
			t.Fatal("the method and path are not part of the fingerprint")
		}
		// (A body JCS cannot canonicalize - one with a non-integer number,
		// which no request of the API has - is fingerprinted byte for byte:
		// a retry in another layout is then taken for another request, the
		// safe mistake.)
		if _, err := ledger.Canonicalize(body); err == nil {
			var indented bytes.Buffer
			if err := json.Indent(&indented, body, " ", "\t"); err == nil {
				if got := Fingerprint("POST", "/v1/transfers", indented.Bytes()); got != fp {
					t.Fatalf("%q and its re-indented form have different fingerprints", body)
				}
			}
		}
		if Fingerprint("POST", "/v1/transfers", other) == fp && !sameRequest(body, other) {
			t.Fatalf("different requests %q and %q share a fingerprint", body, other)
		}
	})
}

// sameRequest reports whether two bodies are one request: the same bytes,
// or the same JSON value (integers compared by value).
func sameRequest(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	if !json.Valid(a) || !json.Valid(b) {
		return false
	}
	return reflect.DeepEqual(decodeValue(a), decodeValue(b))
}

func decodeValue(raw []byte) any {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	_ = dec.Decode(&v)
	return normalizeNumbers(v)
}

func normalizeNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(v.String(), 10, 64); err == nil {
			return n
		}
		return v.String()
	case []any:
		for i := range v {
			v[i] = normalizeNumbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = normalizeNumbers(v[k])
		}
	}
	return v
}
