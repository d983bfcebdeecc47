// Package gatewaytest owns the test scaffolding every gateway adapter shares: a fake gateway API
// over HTTP that records what it was sent, fixtures from testdata, exact decimals, JSON rewrites
// that keep numbers as written, HMAC signing, and the webhook fuzz target's set-up and checks.
// It is imported by tests only.
package gatewaytest

import (
	"bytes"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
)

// Fixture reads testdata/name, trimmed of surrounding white space.
func Fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

// Decimal parses s exactly, or fails the test.
func Decimal(t testing.TB, s string) apd.Decimal {
	t.Helper()
	d, _, err := apd.NewFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return *d
}

// DecodeJSON decodes body with every number kept as its exact text (json.Number).
func DecodeJSON(body []byte) (map[string]any, error) {
	var v map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	err := d.Decode(&v)
	return v, err
}

// Rewrite decodes a JSON object (numbers kept exactly), lets edit change it and encodes it again.
func Rewrite(t testing.TB, body []byte, edit func(obj map[string]any)) []byte {
	t.Helper()
	v, err := DecodeJSON(body)
	if err != nil {
		t.Fatal(err)
	}
	edit(v)
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Set applies changes to obj: a nil value deletes the field.
func Set(obj map[string]any, changes map[string]any) {
	for k, v := range changes {
		if v == nil {
			delete(obj, k)
			continue
		}
		obj[k] = v
	}
}

// HMACHex is the lowercase hex HMAC of body under key, computed independently of any adapter.
func HMACHex(h func() hash.Hash, key string, body []byte) string {
	mac := hmac.New(h, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Request is one request the fake gateway received.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
	JSON         map[string]any // the body as JSON, numbers as json.Number; nil if it is not JSON
	Form         url.Values     // the body as a form, for form-encoded APIs (Stripe, OAuth2)
	Query        url.Values     // the URL's query
}

// Answer is what the fake gateway answers on one route.
type Answer struct {
	Status int
	Body   string
	Delay  time.Duration // how long to wait before answering (the client may give up first)
	// Respond, when set, computes the answer from the request instead of Status and Body.
	Respond func(r Request) (status int, body string)
}

// Server is a fake gateway API over real HTTP: it answers each "METHOD /path" route with its
// Answer (the route "*" answers any other) and records every request.
type Server struct {
	URL string

	mu       sync.Mutex
	requests []Request
	answers  map[string]Answer
}

// NewServer starts a fake gateway, closed when the test ends.
func NewServer(t testing.TB, answers map[string]Answer) *Server {
	t.Helper()
	s := &Server{answers: map[string]Answer{}}
	for k, v := range answers {
		s.answers[k] = v
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Client is an HTTP client with a short timeout, so a test sees a slow gateway time out quickly.
func Client() *http.Client { return &http.Client{Timeout: 500 * time.Millisecond} }

// SetAnswer replaces the answer on route.
func (s *Server) SetAnswer(route string, a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[route] = a
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: raw}
	req.JSON, _ = DecodeJSON(raw)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		req.Form, _ = url.ParseQuery(string(raw))
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	a, ok := s.answers[r.Method+" "+r.URL.Path]
	if !ok {
		a, ok = s.answers["*"]
	}
	s.mu.Unlock()
	if !ok {
		a = Answer{Status: http.StatusNotFound, Body: `{"message":"no such route in the fake"}`}
	}
	if a.Delay > 0 {
		select {
		case <-time.After(a.Delay):
		case <-r.Context().Done():
			return
		}
	}
	status, body := a.Status, a.Body
	if a.Respond != nil {
		status, body = a.Respond(req)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// Requests returns a copy of every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Calls counts the requests received on route ("POST /path"); "*" counts them all.
func (s *Server) Calls(route string) int {
	n := 0
	for _, r := range s.Requests() {
		if route == "*" || r.Method+" "+r.Path == route {
			n++
		}
	}
	return n
}

// Last returns the last request received, failing the test if there was none.
func (s *Server) Last(t testing.TB) Request {
	t.Helper()
	rs := s.Requests()
	if len(rs) == 0 {
		t.Fatal("the gateway was not called")
	}
	return rs[len(rs)-1]
}

// BasicAuth returns the request's basic-auth credentials, as http.Request.BasicAuth does.
func (r Request) BasicAuth() (user, pass string, ok bool) {
	req := http.Request{Header: r.Header}
	return req.BasicAuth()
}
