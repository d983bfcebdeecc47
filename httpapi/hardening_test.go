package httpapi

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
)

func TestRateLimitPerKey(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RateLimit, c.RateBurst = 4, 3 })
	burst := h.key("alice", "accounts:read")
	other := h.key("alice", "accounts:read")

	var ok, limited int
	for range 8 {
		r := h.do("GET", "/v1/accounts", nil, as(burst)...)
		switch r.status {
		case 200:
			ok++
		case 429:
			limited++
			if r.str(t, "code") != "rate_limited" {
				t.Fatalf("%s", r.body)
			}
			if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s != 1 {
				t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	// A burst of 3 at 4/s: the first 3 pass, and a token or two may refill
	// while the burst is sent.
	if ok < 3 || ok > 5 || limited != 8-ok {
		t.Fatalf("%d passed and %d were limited", ok, limited)
	}
	t.Run("other keys have buckets of their own", func(t *testing.T) {
		h.must(h.do("GET", "/v1/accounts", nil, as(other)...), 200)
	})
	t.Run("a refused request does not spend the next token", func(t *testing.T) {
		time.Sleep(300 * time.Millisecond)
		h.must(h.do("GET", "/v1/accounts", nil, as(burst)...), 200)
	})
}

// A request that runs out of time answers 503 unavailable and its database
// work is cancelled in PostgreSQL rather than left waiting.
func TestRequestTimeoutCancelsDatabaseWork(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RequestTimeout = 300 * time.Millisecond })
	ctx := context.Background()
	a, b := h.open("u1", "NGN"), h.open("u2", "NGN")
	h.fund(a, "10", "NGN")

	waiting := func() int {
		var n int
		if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("a read blocked by a lock is cancelled", func(t *testing.T) {
		tx, err := h.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		if _, err := tx.Exec(ctx, `LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		r := h.must(h.do("GET", "/v1/accounts/"+a, nil), 503)
		if took := time.Since(start); r.str(t, "code") != "unavailable" || took < 250*time.Millisecond || took > 3*time.Second {
			t.Fatalf("after %v: %s", time.Since(start), r.body)
		}
		deadline := time.Now().Add(3 * time.Second)
		for waiting() > 0 {
			if time.Now().After(deadline) {
				t.Fatal("the timed-out query is still waiting in PostgreSQL")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("a transfer that times out is answered 503 and a retry settles it", func(t *testing.T) {
		tx, err := h.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM balances WHERE account_id = $1 FOR UPDATE`, a); err != nil {
			t.Fatal(err)
		}
		body := map[string]any{"from": a, "to": b, "amount": "3", "currency": "NGN"}
		r := h.must(h.do("POST", "/v1/transfers", body, "Idempotency-Key", "slow"), 503)
		if r.str(t, "code") != "unavailable" || !strings.Contains(r.str(t, "detail"), "Idempotency-Key") {
			t.Fatalf("%s", r.body)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		// The batch was already running when the caller gave up, so it
		// commits; the retry finds out and answers from the record.
		var again reply
		for range 50 {
			if again = h.do("POST", "/v1/transfers", body, "Idempotency-Key", "slow"); again.status != 409 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		h.must(again, 201)
		if h.balance(b) != "3.00" {
			t.Fatalf("balance %s after a timed-out transfer and its retry", h.balance(b))
		}
	})
	h.checkJournal(ledger.DefaultBook)
}

// A body of exactly 1 MiB is read; one byte more is 413, announced or not.
func TestBodiesAreCapped(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		name   string
		size   int
		status int
		code   string
	}{
		{"a body of exactly 1 MiB is read", MaxBodyBytes, 400, "invalid_request"}, // the name is too long
		{"a body one byte over 1 MiB is refused", MaxBodyBytes + 1, 413, "body_too_large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			prefix, suffix := `{"scopes":["admin"],"name":"`, `"}`
			// Chunked, so that no Content-Length announces the size.
			body := io.MultiReader(strings.NewReader(prefix), strings.NewReader(strings.Repeat("a", c.size-len(prefix)-len(suffix))), strings.NewReader(suffix))
			req, err := http.NewRequest("POST", h.srv.URL+"/v1/keys", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+adminKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status || !strings.Contains(string(got), `"code":"`+c.code+`"`) {
				t.Fatalf("%d %s", resp.StatusCode, got)
			}
		})
	}
}

// A handler that reads the raw body itself (as webhook receivers do) also
// hits the cap, and the client gets 413, not 500.
func TestRawBodyReadersAreCapped(t *testing.T) {
	h := newHarness(t)
	h.api.echo.POST("/test/raw", func(c echo.Context) error {
		if _, err := io.ReadAll(c.Request().Body); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
	h.must(h.do("POST", "/test/raw", strings.Repeat("a", MaxBodyBytes)), 204)
	r := h.must(h.do("POST", "/test/raw", strings.Repeat("a", MaxBodyBytes+1)), 413)
	if r.str(t, "code") != "body_too_large" {
		t.Fatalf("%s", r.body)
	}
}
