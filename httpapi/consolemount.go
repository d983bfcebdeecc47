package httpapi

import (
	"context"
	"crypto/subtle"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/httpapi/console"
	"github.com/tallyledger/tally/ledger"
)

// ConsolePath is where the finance console is served.
const ConsolePath = "/console"

// mountConsole serves the finance console (package console) at /console
// when the server has sessions and projections to serve it with.
func (s *Server) mountConsole(cfg Config) {
	if cfg.Sessions == nil || cfg.Projections == nil {
		return
	}
	h := echo.WrapHandler(console.New(console.Config{
		Journal: cfg.Journal, Store: cfg.Store, Projections: cfg.Projections, Sessions: cfg.Sessions,
		Identify: s.auth.identify, Logger: s.log,
	}))
	s.echo.Any(ConsolePath, h)
	s.echo.Any(ConsolePath+"/*", h)
	s.echo.POST(ConsolePath+"/sign-in", h, s.limitSignIns)
	s.console = true
}

// limitSignIns counts failed console sign-ins in the same per-address
// bucket as failed API authentications (TALLY_UNAUTH_RATE_LIMIT), so the
// sign-in form is no easier a way to guess keys than the API.
func (s *Server) limitSignIns(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		counted, wait, giveBack := s.unauthLimiter.reserve(clientAddress(c), time.Now())
		if !counted {
			secs := max(int(math.Ceil(wait.Seconds())), 1)
			c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
			return c.HTML(http.StatusTooManyRequests, "<!doctype html><title>Too many sign-ins</title><p>Too many failed sign-ins from this address: try again in "+strconv.Itoa(secs)+" s.</p>")
		}
		err := next(c)
		// A sign-in counts when the key was refused, not when it worked
		// (303) or the server failed (5xx).
		if st := c.Response().Status; st == http.StatusSeeOther || st >= 500 {
			giveBack()
		}
		return err
	}
}

// HasConsole reports whether the console is served (at ConsolePath).
func (s *Server) HasConsole() bool { return s.console }

// identify is the console's view of an API key, by the key's SHA-256: the
// bootstrap admin key, or a stored key that is neither revoked nor expired.
func (a *authenticator) identify(ctx context.Context, keyHash []byte) (console.Identity, error) {
	var p *Principal
	if a.adminKey != "" && subtle.ConstantTimeCompare(keyHash, ledger.HashAPIKey(a.adminKey)) == 1 {
		p = &Principal{KeyID: "admin", Scopes: map[Scope]bool{ScopeAdmin: true}}
	} else {
		if a.keys == nil {
			return console.Identity{}, ledger.Errorf(ledger.EUnauthenticated, "the API key is not valid")
		}
		k, err := a.keys.Authenticate(ctx, keyHash)
		if err != nil {
			return console.Identity{}, err
		}
		p = principalOf(k)
	}
	return console.Identity{KeyID: p.KeyID, Actor: p.Actor(), Admin: p.Has(ScopeAdmin), Reader: p.Has(ScopeEventsRead), Owner: p.Owner}, nil
}
