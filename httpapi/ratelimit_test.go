package httpapi

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/schema/testdb"
)

// Rate limits are opt-in and apply to keys bound to an owner only: a
// backend service with one key may use all of the server's capacity.
func TestRateLimitsAreOptInAndForOwnerBoundKeys(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RateLimit, c.RateBurst = 1, 2 })
	sendMany := func(t *testing.T, key string) (limited int) {
		for range 10 {
			r := h.do("GET", "/v1/accounts", nil, as(key)...)
			if r.status == 429 {
				limited++
			} else {
				h.must(r, 200)
			}
		}
		return limited
	}
	t.Run("the admin key is never limited", func(t *testing.T) {
		if n := sendMany(t, adminKey); n != 0 {
			t.Fatalf("%d of 10 requests with the admin key got 429", n)
		}
	})
	t.Run("a key without an owner is never limited", func(t *testing.T) {
		if n := sendMany(t, h.key("", "accounts:read")); n != 0 {
			t.Fatalf("%d of 10 requests got 429", n)
		}
	})
	t.Run("a key bound to an owner is limited when a limit is set", func(t *testing.T) {
		if n := sendMany(t, h.key("alice", "accounts:read")); n < 5 {
			t.Fatalf("only %d of 10 requests at 1/s, bursts of 2, got 429", n)
		}
	})
	t.Run("without a limit an owner-bound key is not limited", func(t *testing.T) {
		h := newHarness(t)
		key := h.key("alice", "accounts:read")
		for range 300 {
			h.must(h.do("GET", "/v1/accounts", nil, as(key)...), 200)
		}
	})
}

// countingTracer counts the statements run on a pool.
type countingTracer struct{ n atomic.Int64 }

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// A flood of key-shaped tokens from one address cannot drive database
// lookups without end: each address has a bucket of failed attempts, taken
// before the lookup. Valid keys give their token back; the admin key needs
// no lookup and is never refused.
func TestUnauthenticatedAttemptsAreLimitedPerAddress(t *testing.T) {
	url := testdb.New(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	lookups := &countingTracer{}
	cfg.ConnConfig.Tracer = lookups
	keyPool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(keyPool.Close)
	h := newHarnessAt(t, url, func(c *Config) {
		c.Keys = pgjournal.NewKeys(keyPool)
		c.UnauthRateLimit, c.UnauthRateBurst = 0.01, 3
	})
	valid := h.key("alice", "accounts:read")

	t.Run("valid keys are not counted", func(t *testing.T) {
		for range 10 {
			h.must(h.do("GET", "/v1/accounts", nil, as(valid)...), 200)
		}
	})
	t.Run("past the burst, forged keys answer 429 without a lookup", func(t *testing.T) {
		before := lookups.n.Load()
		var refused, limited int
		for range 20 {
			forged, _ := ledger.NewAPIKeySecret()
			r := h.do("GET", "/v1/accounts", nil, as(forged)...)
			switch r.status {
			case 401:
				refused++
			case 429:
				limited++
				if r.str(t, "code") != "rate_limited" {
					t.Fatalf("%s", r.body)
				}
				if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
					t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
				}
			default:
				t.Fatalf("%d %s", r.status, r.body)
			}
		}
		if refused != 3 || limited != 17 {
			t.Fatalf("%d answered 401 and %d 429; want 3 and 17", refused, limited)
		}
		if n := lookups.n.Load() - before; n > 3 {
			t.Fatalf("20 forged keys made %d database lookups; want at most 3", n)
		}
	})
	t.Run("requests without a key count too", func(t *testing.T) {
		h.must(h.do("GET", "/v1/accounts", nil, "Authorization", ""), 429)
	})
	t.Run("the admin key is still served from that address", func(t *testing.T) {
		h.must(h.do("GET", "/v1/accounts", nil), 200)
	})
	t.Run("other keys from that address wait for the bucket", func(t *testing.T) {
		h.must(h.do("GET", "/v1/accounts", nil, as(valid)...), 429)
	})
}

// The failed-authentication limit counts per client: the TCP peer, unless
// the peer is a trusted proxy, whose X-Forwarded-For then names the client.
// Anyone else's forwarding headers are ignored.
func TestFailedAuthenticationsCountPerClientBehindTrustedProxies(t *testing.T) {
	forged := func(h *harness, forwardedFor string) int {
		key, _ := ledger.NewAPIKeySecret()
		return h.do("GET", "/v1/accounts", nil, as(key, "X-Forwarded-For", forwardedFor)...).status
	}
	t.Run("without trusted proxies, X-Forwarded-For does not buy a new bucket", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.UnauthRateLimit, c.UnauthRateBurst = 0.01, 1 })
		if s := forged(h, "198.51.100.1"); s != 401 {
			t.Fatalf("first attempt: %d", s)
		}
		if s := forged(h, "198.51.100.2"); s != 429 {
			t.Fatalf("second attempt from the same peer, another X-Forwarded-For: %d, want 429", s)
		}
	})
	t.Run("behind a trusted proxy, each forwarded client has its own bucket", func(t *testing.T) {
		_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
		h := newHarness(t, func(c *Config) {
			c.UnauthRateLimit, c.UnauthRateBurst = 0.01, 1
			c.TrustedProxies = []*net.IPNet{loopback}
		})
		if s := forged(h, "198.51.100.1"); s != 401 {
			t.Fatalf("first attempt of client 1: %d", s)
		}
		if s := forged(h, "198.51.100.1"); s != 429 {
			t.Fatalf("second attempt of client 1: %d, want 429", s)
		}
		if s := forged(h, "198.51.100.2"); s != 401 {
			t.Fatalf("first attempt of client 2: %d, want 401", s)
		}
	})
}
