package httpapi

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"golang.org/x/time/rate"
)

// limiter is a token bucket per name (an API key's id, or a client's
// address), in this process. Behind a load balancer each process keeps its
// own buckets, so a key's effective limit is the per-process limit times the
// processes it reaches.
type limiter struct {
	rate  rate.Limit // tokens per second; 0: unlimited
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// maxBuckets bounds a limiter's memory: past it, buckets that are full again
// (their name has been quiet long enough) are dropped, which forgets nothing.
const maxBuckets = 10_000

// newLimiter returns a limiter of perSecond sustained, bursts of burst
// (burst < 1: twice the rate, at least 1). perSecond ≤ 0: unlimited.
func newLimiter(perSecond float64, burst int) *limiter {
	if burst < 1 {
		burst = int(math.Ceil(2 * perSecond))
	}
	return &limiter{rate: rate.Limit(max(perSecond, 0)), burst: max(burst, 1), buckets: map[string]*rate.Limiter{}}
}

// on reports whether the limiter limits anything.
func (l *limiter) on() bool { return l != nil && l.rate > 0 }

// reserve takes a token from name's bucket. ok is false when there is none,
// with how long until there will be; a refused request spends nothing. When
// ok, cancel gives the token back (for requests that turn out not to count).
func (l *limiter) reserve(name string, now time.Time) (ok bool, wait time.Duration, cancel func()) {
	if !l.on() {
		return true, 0, func() {}
	}
	l.mu.Lock()
	b := l.buckets[name]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			for n, other := range l.buckets {
				if other.TokensAt(now) >= float64(l.burst) {
					delete(l.buckets, n)
				}
			}
		}
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[name] = b
	}
	l.mu.Unlock()
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d, nil
	}
	return true, 0, func() { r.CancelAt(now) }
}

// allow takes a token from name's bucket; when there is none it returns
// how long until there will be.
func (l *limiter) allow(name string, now time.Time) (bool, time.Duration) {
	ok, wait, _ := l.reserve(name, now)
	return ok, wait
}

// forget drops a revoked key's bucket.
func (l *limiter) forget(name string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	delete(l.buckets, name)
	l.mu.Unlock()
}

// rateLimited is the 429 rate_limited answer, with Retry-After in whole
// seconds.
func rateLimited(c echo.Context, l *limiter, wait time.Duration, who string) error {
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return ledger.Errorf(ledger.ERateLimited, "%s sent too many requests: at most %g per second, bursts of %d; retry after %d s",
		who, float64(l.rate), l.burst, secs)
}

// rateLimit answers 429 rate_limited when the calling key is bound to an
// owner and has used up its bucket. Keys without an owner (the admin key,
// backend services) are never limited: limits are opt-in (TALLY_RATE_LIMIT)
// and meant for keys handed to many end users' devices. It runs after
// authenticate, so that it counts per key.
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := principal(c)
		if p.Owner == "" {
			return next(c)
		}
		if ok, wait := s.limiter.allow(p.KeyID, time.Now()); !ok {
			return rateLimited(c, s.limiter, wait, "this API key")
		}
		return next(c)
	}
}

// clientAddress is the client's address: the TCP peer's, or, when the peer
// is one of Config.TrustedProxies, the nearest address in X-Forwarded-For
// that is not a trusted proxy. Forwarding headers from anyone else are
// ignored: any client can send them, and would take as many buckets as it
// liked.
func clientAddress(c echo.Context) string { return c.RealIP() }
