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

// limiter is a token bucket per API key, in this process. Behind a load
// balancer each process keeps its own buckets, so a key's effective limit is
// the per-process limit times the processes it reaches.
type limiter struct {
	rate  rate.Limit // tokens per second; 0: unlimited
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter // key id → bucket; bounded by the keys that exist
}

func newLimiter(perSecond float64, burst int) *limiter {
	if burst < 1 {
		burst = int(math.Ceil(perSecond))
	}
	return &limiter{rate: rate.Limit(perSecond), burst: max(burst, 1), buckets: map[string]*rate.Limiter{}}
}

// allow takes a token from the key's bucket; when there is none it returns
// how long until there will be.
func (l *limiter) allow(keyID string, now time.Time) (bool, time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	b := l.buckets[keyID]
	if b == nil {
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[keyID] = b
	}
	l.mu.Unlock()
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request does not spend the next token
		return false, d
	}
	return true, 0
}

// forget drops a revoked key's bucket.
func (l *limiter) forget(keyID string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	delete(l.buckets, keyID)
	l.mu.Unlock()
}

// rateLimit answers 429 rate_limited, with Retry-After in whole seconds,
// when the calling key has used up its bucket. It runs after authenticate,
// so that it counts per key.
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ok, wait := s.limiter.allow(principal(c).KeyID, time.Now())
		if !ok {
			secs := int(math.Ceil(wait.Seconds()))
			c.Response().Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			return ledger.Errorf(ledger.ERateLimited, "this API key sent too many requests: at most %g per second, bursts of %d; retry after %d s",
				float64(s.limiter.rate), s.limiter.burst, max(secs, 1))
		}
		return next(c)
	}
}
