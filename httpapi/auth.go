package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// Scope is a permission an API key carries.
type Scope string

// Scopes, as in the API contract.
const (
	ScopeAccountsRead   Scope = "accounts:read"
	ScopeAccountsWrite  Scope = "accounts:write"
	ScopeTransfersWrite Scope = "transfers:write"
	ScopeDepositsWrite  Scope = "deposits:write"
	ScopeRefundsWrite   Scope = "refunds:write"
	ScopeEventsRead     Scope = "events:read"
	ScopeAdmin          Scope = "admin"
)

// Principal is who is calling: the key and what it may do.
type Principal struct {
	KeyID  string
	Owner  string // empty: the key may act for every owner
	Scopes map[Scope]bool
	// Lineage is the first key id of the key's rotation chain; empty for the
	// bootstrap key.
	Lineage string
}

// Has reports whether the principal holds the scope. admin holds every scope.
func (p *Principal) Has(s Scope) bool { return p.Scopes[ScopeAdmin] || p.Scopes[s] }

// IdempotencyScope is the namespace of the caller's Idempotency-Keys: the
// owner, or for owner-less keys the key's lineage, so that a retry sent
// with the rotated key still finds the first attempt.
func (p *Principal) IdempotencyScope() string {
	if p.Owner != "" {
		return "owner:" + p.Owner
	}
	if p.Lineage != "" {
		return "key:" + p.Lineage
	}
	return "key:" + p.KeyID
}

// authenticator checks bearer keys: the bootstrap admin key, then the keys
// stored in the database (see keys.go).
type authenticator struct {
	adminKey string
	keys     *pgjournal.Keys // nil: only the admin key authenticates
	jwt      *JWTVerifier    // nil: end-user JWTs are not accepted (jwt.go)
}

// principal returns who token belongs to. Returns EUnauthenticated for an
// unknown, revoked or expired key, EUnavailable if the database is down.
func (a *authenticator) principal(ctx context.Context, token string) (*Principal, error) {
	if a.isAdmin(token) {
		return adminPrincipal(), nil
	}
	if a.jwt != nil && looksLikeJWT(token) {
		return a.jwt.Principal(ctx, token)
	}
	if a.keys == nil || !ledger.LooksLikeAPIKey(token) {
		return nil, ledger.Errorf(ledger.EUnauthenticated, "the API key is not valid")
	}
	k, err := a.keys.Authenticate(ctx, ledger.HashAPIKey(token))
	if err != nil {
		return nil, err
	}
	return principalOf(k), nil
}

// isAdmin reports whether token is the bootstrap admin key (in constant time).
func (a *authenticator) isAdmin(token string) bool {
	return a.adminKey != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.adminKey)) == 1
}

func adminPrincipal() *Principal {
	return &Principal{KeyID: "admin", Scopes: map[Scope]bool{ScopeAdmin: true}}
}

// authenticate requires a valid "Authorization: Bearer <key>".
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
		if ok && token != "" && s.auth.isAdmin(token) {
			c.Set("principal", adminPrincipal())
			return next(c)
		}
		// Every other attempt may cost a database lookup: each client
		// address has a bucket of attempts that fail, taken before the
		// lookup and given back when the key turns out to be valid.
		counted, wait, giveBack := s.unauthLimiter.reserve(clientAddress(c), time.Now())
		if !counted {
			return rateLimited(c, s.unauthLimiter, wait, "this address")
		}
		if !ok || token == "" {
			return ledger.Errorf(ledger.EUnauthenticated, "send an API key as \"Authorization: Bearer <key>\"")
		}
		p, err := s.auth.principal(c.Request().Context(), token)
		if err != nil {
			if ledger.ErrorCode(err) != ledger.EUnauthenticated {
				giveBack() // the database failed, not the client
			}
			return err
		}
		giveBack()
		c.Set("principal", p)
		return next(c)
	}
}

// require refuses callers whose key lacks the scope. An empty scope is a
// route that checks scopes itself (a batch: those of its items).
func require(scope Scope) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if scope != "" && !principal(c).Has(scope) {
				return ledger.Errorf(ledger.EForbidden, "this API key lacks the %s scope", scope)
			}
			return next(c)
		}
	}
}

func principal(c echo.Context) *Principal {
	p, _ := c.Get("principal").(*Principal)
	if p == nil {
		return &Principal{}
	}
	return p
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "req_" + hex.EncodeToString(b)
}
