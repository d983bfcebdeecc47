package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/tallyledger/tally/ledger"
	"golang.org/x/time/rate"
)

// Scopes of routes other changes add; a JWT may carry them (see jwtScopes).
const (
	ScopeHoldsWrite       Scope = "holds:write"
	ScopeWithdrawalsWrite Scope = "withdrawals:write"
)

// jwtScopes are the scopes a JWT may grant: every non-admin scope a wallet
// user could need. events:read (the auditors') and admin never come from a
// JWT, whatever its claims say.
var jwtScopes = []Scope{
	ScopeAccountsRead, ScopeAccountsWrite, ScopeTransfersWrite, ScopeDepositsWrite,
	ScopeWithdrawalsWrite, ScopeRefundsWrite, ScopeHoldsWrite,
}

// maxOwnerLength is the longest owner an account takes (see accounts.go).
const maxOwnerLength = 128

// JWTLeeway is the clock skew tolerated on exp and nbf.
const JWTLeeway = 60 * time.Second

// DefaultJWTRefetchEvery is how often, at most, an unknown kid makes Tally
// fetch the JWKS again: a stream of tokens with made-up kids must not turn
// into a stream of requests to the identity provider.
const DefaultJWTRefetchEvery = time.Minute

// jwksAlgorithms are the asymmetric algorithms a JWKS key may sign with.
var jwksAlgorithms = []string{"RS256", "ES256", "EdDSA"}

// JWTConfig configures end-user tokens (TALLY_JWT_*): either a JWKS URL, an
// HS256 secret, or both; Issuers and Audiences are required.
type JWTConfig struct {
	// Issuers are the accepted iss values (Google uses two spellings).
	Issuers []string
	// Audiences are the accepted aud values; a token must name one of them.
	Audiences []string
	// JWKSURL is the identity provider's JSON Web Key Set (RS256, ES256, EdDSA keys).
	JWKSURL string
	// HS256Secret is the key of tokens the operator's own app signs; at least 32 bytes.
	HS256Secret []byte
	// OwnerClaim names the claim that holds the owner; default "sub".
	OwnerClaim string
	// DefaultScopes are granted when a token has neither scope nor scp; default accounts:read.
	DefaultScopes []Scope
	// HTTPClient fetches the JWKS; default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// RefetchEvery bounds refetches of the JWKS on an unknown kid; default DefaultJWTRefetchEvery.
	RefetchEvery time.Duration
	// Logger reports failed JWKS fetches; default slog.Default().
	Logger *slog.Logger
}

// JWTVerifier turns end-user JWTs into principals bound to an owner.
type JWTVerifier struct {
	cfg     JWTConfig
	jwks    keyfunc.Keyfunc // nil without a JWKS URL
	parser  *jwt.Parser
	stop    context.CancelFunc
	allowed map[Scope]bool
}

// NewJWTVerifier checks cfg and starts caching the JWKS, if one is configured
// (the first fetch happens now; if the provider is down, tokens are refused
// until a later fetch succeeds). Close stops the background refresh.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	if len(cfg.Issuers) == 0 || len(cfg.Audiences) == 0 {
		return nil, errors.New("TALLY_JWT_ISSUER and TALLY_JWT_AUDIENCE are both required for JWTs")
	}
	if cfg.JWKSURL == "" && len(cfg.HS256Secret) == 0 {
		return nil, errors.New("JWTs need TALLY_JWT_JWKS_URL or TALLY_JWT_HS256_SECRET")
	}
	if len(cfg.HS256Secret) > 0 && len(cfg.HS256Secret) < 32 {
		return nil, errors.New("TALLY_JWT_HS256_SECRET must be at least 32 bytes (RFC 7518 §3.2)")
	}
	if cfg.OwnerClaim == "" {
		cfg.OwnerClaim = "sub"
	}
	if cfg.DefaultScopes == nil {
		cfg.DefaultScopes = []Scope{ScopeAccountsRead}
	}
	for _, s := range cfg.DefaultScopes {
		if !slices.Contains(jwtScopes, s) {
			return nil, fmt.Errorf("TALLY_JWT_DEFAULT_SCOPES: %q cannot be granted to a JWT", s)
		}
	}
	if cfg.RefetchEvery <= 0 {
		cfg.RefetchEvery = DefaultJWTRefetchEvery
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	v := &JWTVerifier{cfg: cfg, stop: func() {}, allowed: map[Scope]bool{}}
	for _, s := range jwtScopes {
		v.allowed[s] = true
	}
	// The accepted algorithms follow from the keys configured: HS256 only
	// with a secret, the asymmetric ones only with a JWKS. "none" never.
	var methods []string
	if cfg.JWKSURL != "" {
		methods = append(methods, jwksAlgorithms...)
		ctx, cancel := context.WithCancel(context.Background())
		jwks, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
			Client:            cfg.HTTPClient,
			RefreshUnknownKID: rate.NewLimiter(rate.Every(cfg.RefetchEvery), 1),
			// A token whose refetch would wait longer than this is refused
			// at once (401); the bound also limits the refetch itself.
			RateLimitWaitMax: min(5*time.Second, cfg.RefetchEvery/4),
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(_ context.Context, err error) {
					cfg.Logger.Warn("fetching the JWKS failed; tokens signed with keys not cached yet are refused", "url", u, "err", err)
				}
			},
		})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("TALLY_JWT_JWKS_URL: %w", err)
		}
		v.jwks, v.stop = jwks, cancel
	}
	if len(cfg.HS256Secret) > 0 {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithAudience(cfg.Audiences...),
		jwt.WithLeeway(JWTLeeway),
		jwt.WithExpirationRequired(),
	)
	return v, nil
}

// Close stops refreshing the JWKS.
func (v *JWTVerifier) Close() {
	if v != nil {
		v.stop()
	}
}

// key picks the verification key by the token's algorithm, so an HS256
// token is only ever checked against the HS256 secret and never against a
// public key of the JWKS (algorithm confusion).
func (v *JWTVerifier) key(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		switch t.Method.(type) {
		case *jwt.SigningMethodHMAC:
			if len(v.cfg.HS256Secret) == 0 {
				return nil, errors.New("HS256 tokens are not accepted")
			}
			return v.cfg.HS256Secret, nil
		case *jwt.SigningMethodRSA, *jwt.SigningMethodECDSA, *jwt.SigningMethodEd25519:
			if v.jwks == nil {
				return nil, errors.New("asymmetric tokens need a JWKS")
			}
			return v.jwks.KeyfuncCtx(ctx)(t)
		}
		return nil, fmt.Errorf("algorithm %s is not accepted", t.Method.Alg())
	}
}

// Principal verifies token and returns its owner-bound principal.
// Returns EUnauthenticated for any token that fails a check.
func (v *JWTVerifier) Principal(ctx context.Context, token string) (*Principal, error) {
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.key(ctx)); err != nil {
		return nil, ledger.Errorf(ledger.EUnauthenticated, "the bearer token is not valid: %s", jwtFailure(err))
	}
	iss, _ := claims.GetIssuer()
	if !slices.Contains(v.cfg.Issuers, iss) {
		return nil, ledger.Errorf(ledger.EUnauthenticated, "the bearer token is not valid: its issuer is not accepted")
	}
	owner, _ := claims[v.cfg.OwnerClaim].(string)
	if strings.TrimSpace(owner) == "" {
		return nil, ledger.Errorf(ledger.EUnauthenticated, "the bearer token is not valid: it has no %s claim naming its owner", v.cfg.OwnerClaim)
	}
	if len(owner) > maxOwnerLength {
		return nil, ledger.Errorf(ledger.EUnauthenticated, "the bearer token is not valid: its %s claim is longer than %d characters", v.cfg.OwnerClaim, maxOwnerLength)
	}
	p := &Principal{KeyID: "jwt:" + owner, Owner: owner, Scopes: map[Scope]bool{}}
	granted, ok := tokenScopes(claims)
	if !ok {
		granted = v.cfg.DefaultScopes
	}
	for _, s := range granted {
		if v.allowed[s] {
			p.Scopes[s] = true
		}
	}
	return p, nil
}

// tokenScopes reads "scope" (space-separated, RFC 8693) or "scp" (a list or
// a space-separated string, as Azure and Okta write it); ok is false when the
// token has neither.
func tokenScopes(claims jwt.MapClaims) (scopes []Scope, ok bool) {
	for _, name := range []string{"scope", "scp"} {
		switch v := claims[name].(type) {
		case string:
			for _, s := range strings.Fields(v) {
				scopes = append(scopes, Scope(s))
			}
			return scopes, true
		case []any:
			for _, s := range v {
				if str, isStr := s.(string); isStr {
					scopes = append(scopes, Scope(str))
				}
			}
			return scopes, true
		}
	}
	return nil, false
}

// jwtFailure says which check failed, in words safe to show the caller.
func jwtFailure(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "it is not a well-formed JWT"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "it has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "it is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "its audience is not this server"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "a required claim (exp, aud) is missing"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "its signature cannot be verified with the configured keys"
	}
	return "it failed verification"
}

// looksLikeJWT reports whether token has the three base64url parts of a JWS
// compact serialization, so API keys never reach the JWT parser.
func looksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2 && strings.HasPrefix(token, "eyJ")
}
