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
	"github.com/tallyledger/tally/projections"
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
	set   *projections.Set
}

func newHarness(t *testing.T) *harness { return newBenchHarness(t) }

// newBenchHarness is newHarness for tests and benchmarks alike.
func newBenchHarness(t testing.TB) *harness {
	t.Helper()
	url := testdb.New(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	set := projections.Default(pool)
	var inline []pgjournal.Projection
	for _, p := range set.Inline() {
		inline = append(inline, p)
	}
	journal := pgjournal.New(pool, pgjournal.Options{Inline: inline})
	store := pgjournal.NewStore(pool)
	api := New(Config{Journal: journal, Store: store, AdminKey: adminKey, Ready: store.Ping, Logger: testLogger(t), Projections: set})
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		journal.Close()
		pool.Close()
	})
	return &harness{t: t, api: api, srv: srv, pool: pool, store: store, set: set}
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

// checkJournal re-derives the book's invariants from the journal itself:
// gap-free positions, a valid hash chain, postings summing to zero per
// currency in every event, no wallet below zero, and balances equal to the
// replayed postings.
func (h *harness) checkJournal(book string) []ledger.Event {
	h.t.Helper()
	ctx := context.Background()
	var all []ledger.Event
	prevPos, prevHash := int64(0), ledger.GenesisHash
	replayed := map[string]ledger.Money{}
	for {
		page, err := h.store.Events(ctx, pgjournal.EventFilter{Book: book, After: prevPos, Limit: 1000})
		if err != nil {
			h.t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if err := ledger.CheckLink(prevPos, prevHash, e); err != nil {
				h.t.Fatal(err)
			}
			if err := ledger.CheckBalanced(e.Postings); err != nil {
				h.t.Fatalf("position %d: %v", e.Position, err)
			}
			for _, p := range e.Postings {
				b, ok := replayed[p.Account]
				if !ok {
					b = ledger.Zero(p.Amount.Currency())
				}
				replayed[p.Account] = b.Add(p.Amount)
				if replayed[p.Account].Cmp(p.BalanceAfter) != 0 {
					h.t.Fatalf("position %d: balance_after %s of %s, replay gives %s", e.Position, p.BalanceAfter, p.Account, replayed[p.Account])
				}
			}
			prevPos, prevHash = e.Position, e.Hash
		}
		all = append(all, page...)
	}
	rows, err := h.pool.Query(ctx, `SELECT a.id, a.kind, b.balance::text, a.currency FROM accounts a JOIN balances b ON b.account_id = a.id WHERE a.book = $1`, book)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, kind, bal, cur string
		if err := rows.Scan(&id, &kind, &bal, &cur); err != nil {
			h.t.Fatal(err)
		}
		live := ledger.MustMoney(bal, cur)
		want, ok := replayed[id]
		if !ok {
			want = ledger.Zero(ledger.Currency(cur))
		}
		if live.Cmp(want) != 0 {
			h.t.Fatalf("balance of %s is %s, the journal replays to %s", id, live, want)
		}
		if kind == "wallet" && live.Sign() < 0 {
			h.t.Fatalf("wallet %s is below zero: %s", id, live)
		}
	}
	return all
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
