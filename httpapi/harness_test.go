package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/ledger/pgjournal/journaltest"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/projections/sinks"
	"github.com/tallyledger/tally/schema/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

const adminKey = "test-admin-key"

// harness is a real Tally API on a fresh PostgreSQL database, over real HTTP.
type harness struct {
	t     testing.TB
	api   *Server
	srv   *httptest.Server
	pool  *pgxpool.Pool
	store *pgjournal.Store
	// openapi checks every response against the OpenAPI document.
	openapi *openAPIValidator
	set     *projections.Set
}

// newHarness starts the API; options adjust its Config (gateways, rate
// limits, a capturing logger, …) before it starts.
func newHarness(t *testing.T, options ...func(*Config)) *harness {
	return newBenchHarness(t, options...)
}

// newBenchHarness is newHarness for tests and benchmarks alike.
func newBenchHarness(t testing.TB, options ...func(*Config)) *harness {
	t.Helper()
	return newHarnessAt(t, testdb.New(t), options...)
}

// newHarnessAt is a harness on the database at url, for tests that bring
// their own server (the outage test stops and starts it).
func newHarnessAt(t testing.TB, url string, options ...func(*Config)) *harness {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	set := projections.Default(pool)
	var inline []pgjournal.Projection
	for _, p := range set.Inline() {
		inline = append(inline, p)
	}
	store := pgjournal.NewStore(pool)
	metrics := NewMetrics(store.PoolStats)
	journal := pgjournal.New(pool, pgjournal.Options{Inline: inline, Observer: metrics, Logger: testLogger(t)})
	cfg := Config{Journal: journal, Store: store, Keys: pgjournal.NewKeys(pool), Metrics: metrics, AdminKey: adminKey, Ready: store.Ping, Logger: testLogger(t), Projections: set,
		Subscriptions: sinks.NewSubscriptions(pool, sinks.URLRules{AllowHTTP: true, AllowPrivate: true})}
	for _, o := range options {
		o(&cfg)
	}
	api := New(cfg)
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		journal.Close()
		pool.Close()
	})
	return &harness{t: t, api: api, srv: srv, pool: pool, store: store, openapi: loadOpenAPI(t, api), set: set}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

func (r reply) str(t testing.TB, field string) string {
	t.Helper()
	s, _ := r.json(t)[field].(string)
	return s
}

// do sends a request; body may be a string (sent as is) or a value (JSON-encoded).
// headers are name, value pairs; Authorization and Content-Type default to
// the admin key and application/json.
func (h *harness) do(method, path string, body any, headers ...string) reply {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	h.openapi.check(h.t, req, resp, raw)
	return reply{status: resp.StatusCode, header: resp.Header, body: raw}
}

func (h *harness) must(r reply, status int) reply {
	h.t.Helper()
	if r.status != status {
		h.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// open opens a wallet and returns its id.
func (h *harness) open(owner, currency string) string {
	h.t.Helper()
	return h.must(h.do("POST", "/v1/accounts", map[string]any{"owner": owner, "currency": currency}), 201).str(h.t, "id")
}

// fund credits a wallet with an adjustment.
func (h *harness) fund(account, amount, currency string) {
	h.t.Helper()
	h.must(h.do("POST", "/v1/adjustments", map[string]any{
		"account": account, "direction": "credit", "amount": amount, "currency": currency, "reason": "test float",
	}, "Idempotency-Key", ledger.NewID("fund")), 201)
}

func (h *harness) balance(account string) string {
	h.t.Helper()
	return h.must(h.do("GET", "/v1/accounts/"+account+"/balance", nil), 200).str(h.t, "balance")
}

func (h *harness) eventCount() int64 {
	h.t.Helper()
	n, err := h.store.EventCount(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// checkJournal re-derives the book's invariants from the journal itself
// (see journaltest.Check): gap-free positions, a valid hash chain, postings
// summing to zero per currency in every event, no wallet below zero, and
// balances and transfers equal to the replayed journal.
func (h *harness) checkJournal(book string) []ledger.Event {
	h.t.Helper()
	return journaltest.Check(h.t, h.pool, book)
}

// testLogger sends the server's logs to the test log, shown only on failure.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
