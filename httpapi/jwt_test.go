package httpapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/tallyledger/tally/ledger"
)

const (
	testIssuer   = "https://id.example.com/"
	testAudience = "wallet-app"
)

// identityProvider is a fake identity provider: a JWKS endpoint over real
// HTTP that counts its fetches, and the private keys that sign its tokens.
type identityProvider struct {
	srv     *httptest.Server
	fetches atomic.Int64

	mu   sync.Mutex
	keys map[string]any // kid → private key
	jwks []byte
}

func newIdentityProvider(t *testing.T) *identityProvider {
	t.Helper()
	idp := &identityProvider{keys: map[string]any{}}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idp.add(t, "rsa-1", rsaKey)
	idp.add(t, "ec-1", ecKey)
	idp.add(t, "ed-1", edKey)
	idp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		idp.fetches.Add(1)
		idp.mu.Lock()
		body := idp.jwks
		idp.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(idp.srv.Close)
	return idp
}

// add publishes the public half of key under kid (with jwkset, not by hand).
func (idp *identityProvider) add(t *testing.T, kid string, key any) {
	t.Helper()
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.keys[kid] = key
	set := jwkset.NewMemoryStorage()
	for id, k := range idp.keys {
		var public any
		switch k := k.(type) {
		case *rsa.PrivateKey:
			public = &k.PublicKey
		case *ecdsa.PrivateKey:
			public = &k.PublicKey
		case ed25519.PrivateKey:
			public = k.Public()
		}
		jwk, err := jwkset.NewJWKFromKey(public, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: id, USE: jwkset.UseSig}})
		if err != nil {
			t.Fatal(err)
		}
		if err := set.KeyWrite(context.Background(), jwk); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := set.JSONPublic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	idp.jwks = raw
}

func (idp *identityProvider) rsaKey() *rsa.PrivateKey {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return idp.keys["rsa-1"].(*rsa.PrivateKey)
}

// sign makes a token with the key of kid and the method that fits it.
func (idp *identityProvider) sign(t testing.TB, kid string, claims jwt.MapClaims) string {
	t.Helper()
	idp.mu.Lock()
	key := idp.keys[kid]
	idp.mu.Unlock()
	var m jwt.SigningMethod
	switch key.(type) {
	case *rsa.PrivateKey:
		m = jwt.SigningMethodRS256
	case *ecdsa.PrivateKey:
		m = jwt.SigningMethodES256
	case ed25519.PrivateKey:
		m = jwt.SigningMethodEdDSA
	}
	return signWith(t, m, kid, key, claims)
}

func signWith(t testing.TB, m jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// userClaims are the claims of a valid token for owner, changed by changes
// (a nil value removes a claim).
func userClaims(owner string, changes jwt.MapClaims) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": owner,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func jwtConfig(idp *identityProvider) JWTConfig {
	return JWTConfig{
		Issuers: []string{testIssuer}, Audiences: []string{testAudience}, JWKSURL: idp.srv.URL,
		RefetchEvery: 4 * time.Second,
	}
}

func newVerifier(t *testing.T, cfg JWTConfig) *JWTVerifier {
	t.Helper()
	v, err := NewJWTVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func withJWT(v *JWTVerifier) func(*Config) {
	return func(c *Config) { c.JWT = v }
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// TestJWTRefusals sends every kind of bad token to a real server whose
// verifier fetches a real JWKS over HTTP: each is 401 unauthenticated and
// appends nothing.
func TestJWTRefusals(t *testing.T) {
	idp := newIdentityProvider(t)
	h := newHarness(t, withJWT(newVerifier(t, jwtConfig(idp))))
	h.open("user-1", "USD")

	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&idp.rsaKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	now := time.Now()
	valid := userClaims("user-1", nil)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, token, why string
	}{
		{"a token signed by another key under a known kid (forged) is refused", signWith(t, jwt.SigningMethodRS256, "rsa-1", otherRSA, valid), "signature"},
		{"an expired token is refused", idp.sign(t, "rsa-1", userClaims("user-1", jwt.MapClaims{"exp": now.Add(-2 * time.Minute).Unix()})), "expired"},
		{"a token not valid yet (nbf beyond the leeway) is refused", idp.sign(t, "ec-1", userClaims("user-1", jwt.MapClaims{"nbf": now.Add(2 * time.Minute).Unix()})), "not valid yet"},
		{"a token from another issuer is refused", idp.sign(t, "rsa-1", userClaims("user-1", jwt.MapClaims{"iss": "https://evil.example.com/"})), "issuer"},
		{"a token for another audience is refused", idp.sign(t, "ed-1", userClaims("user-1", jwt.MapClaims{"aud": "another-app"})), "audience"},
		{"a token with an unknown kid is refused", signWith(t, jwt.SigningMethodRS256, "rsa-unknown", otherRSA, valid), "signature"},
		{"an unsigned token (alg none) is refused", none, "signature"},
		{"an HS256 token keyed with the RSA public key (algorithm confusion) is refused", signWith(t, jwt.SigningMethodHS256, "rsa-1", pubPEM, valid), "signature"},
		{"an HS256 token is refused when only a JWKS is configured", signWith(t, jwt.SigningMethodHS256, "", []byte("0123456789abcdef0123456789abcdef"), valid), "signature"},
		{"a token without exp is refused", idp.sign(t, "rsa-1", userClaims("user-1", jwt.MapClaims{"exp": nil})), "required claim"},
		{"a token without aud is refused", idp.sign(t, "rsa-1", userClaims("user-1", jwt.MapClaims{"aud": nil})), "required claim"},
		{"a token without an owner claim is refused", idp.sign(t, "rsa-1", userClaims("user-1", jwt.MapClaims{"sub": nil})), "sub claim"},
		{"a token with a tampered payload is refused", tamper(t, idp.sign(t, "rsa-1", valid)), "signature"},
		{"a garbage token shaped like a JWT is refused", "eyJhbGciOiJSUzI1NiJ9.e30.bm9wZQ", "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.eventCount()
			r := h.do("GET", "/v1/accounts", nil, bearer(tt.token)...)
			if r.status != http.StatusUnauthorized || r.str(t, "code") != string(ledger.EUnauthenticated) {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if !strings.Contains(r.str(t, "detail"), tt.why) {
				t.Errorf("detail %q does not say %q", r.str(t, "detail"), tt.why)
			}
			r = h.do("POST", "/v1/accounts", map[string]any{"owner": "user-1", "currency": "USD"}, bearer(tt.token)...)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("open account: status %d: %s", r.status, r.body)
			}
			if h.eventCount() != before {
				t.Error("a refused token appended events")
			}
		})
	}
}

// tamper changes the payload of a signed token, keeping its signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	p := jwt.NewParser()
	claims := jwt.MapClaims{}
	_, parts, err := p.ParseUnverified(token, claims)
	if err != nil {
		t.Fatal(err)
	}
	claims["sub"] = "user-2"
	forged := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	s, err := forged.SigningString()
	if err != nil {
		t.Fatal(err)
	}
	return s + "." + parts[2]
}

// TestJWTAccepted shows the keys and leeway a valid token may use, and that
// its principal sees only its owner's accounts.
func TestJWTAccepted(t *testing.T) {
	idp := newIdentityProvider(t)
	h := newHarness(t, withJWT(newVerifier(t, jwtConfig(idp))))
	mine := h.open("user-1", "USD")
	h.open("user-2", "USD")
	now := time.Now()
	tests := []struct {
		name  string
		token string
	}{
		{"an RS256 token from the JWKS is accepted", idp.sign(t, "rsa-1", userClaims("user-1", nil))},
		{"an ES256 token from the JWKS is accepted", idp.sign(t, "ec-1", userClaims("user-1", nil))},
		{"an EdDSA token from the JWKS is accepted", idp.sign(t, "ed-1", userClaims("user-1", nil))},
		{"a token expired 30 s ago is within the 60 s leeway", idp.sign(t, "rsa-1", userClaims("user-1", jwt.MapClaims{"exp": now.Add(-30 * time.Second).Unix()}))},
		{"a token valid in 30 s is within the 60 s leeway", idp.sign(t, "rsa-1", userClaims("user-1", jwt.MapClaims{"nbf": now.Add(30 * time.Second).Unix()}))},
		{"an audience list naming this server is accepted", idp.sign(t, "rsa-1", userClaims("user-1", jwt.MapClaims{"aud": []string{"other", testAudience}}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.must(h.do("GET", "/v1/accounts", nil, bearer(tt.token)...), http.StatusOK)
			data, _ := r.json(t)["data"].([]any)
			if len(data) != 1 || data[0].(map[string]any)["id"] != mine {
				t.Fatalf("the JWT of user-1 sees %v, want only %s", data, mine)
			}
		})
	}
}

// TestJWTIsNeverAdmin: whatever a token claims, its principal holds only the
// non-admin scopes, and an admin route answers 403.
func TestJWTIsNeverAdmin(t *testing.T) {
	idp := newIdentityProvider(t)
	h := newHarness(t, withJWT(newVerifier(t, jwtConfig(idp))))
	token := idp.sign(t, "rsa-1", userClaims("user-1", jwt.MapClaims{"scope": "admin events:read accounts:write"}))
	r := h.do("POST", "/v1/keys", map[string]any{"name": "escalate", "scopes": []string{"admin"}}, bearer(token)...)
	if r.status != http.StatusForbidden {
		t.Fatalf("creating a key with a JWT: status %d: %s", r.status, r.body)
	}
	if r := h.do("GET", "/v1/events", nil, bearer(token)...); r.status != http.StatusForbidden {
		t.Fatalf("reading the journal with a JWT: status %d: %s", r.status, r.body)
	}
	// accounts:write was granted: the user opens a wallet for itself only.
	h.must(h.do("POST", "/v1/accounts", map[string]any{"currency": "USD"}, bearer(token)...), http.StatusCreated)
	if r := h.do("POST", "/v1/accounts", map[string]any{"owner": "user-2", "currency": "USD"}, bearer(token)...); r.status != http.StatusForbidden {
		t.Fatalf("opening another owner's wallet: status %d: %s", r.status, r.body)
	}
}

// TestJWTScopes checks which scopes a token's claims grant.
func TestJWTScopes(t *testing.T) {
	idp := newIdentityProvider(t)
	v := newVerifier(t, jwtConfig(idp))
	custom := jwtConfig(idp)
	custom.DefaultScopes = []Scope{ScopeAccountsRead, ScopeTransfersWrite}
	custom.OwnerClaim = "email"
	vc := newVerifier(t, custom)
	tests := []struct {
		name   string
		v      *JWTVerifier
		claims jwt.MapClaims
		owner  string
		want   []Scope
	}{
		{"scope is split on spaces and kept when allowed", v, jwt.MapClaims{"scope": "accounts:read transfers:write holds:write withdrawals:write"}, "user-1",
			[]Scope{ScopeAccountsRead, ScopeTransfersWrite, ScopeHoldsWrite, ScopeWithdrawalsWrite}},
		{"admin and events:read are dropped from scope", v, jwt.MapClaims{"scope": "admin events:read deposits:write openid"}, "user-1", []Scope{ScopeDepositsWrite}},
		{"scp as a list is read", v, jwt.MapClaims{"scp": []string{"refunds:write", "admin"}}, "user-1", []Scope{ScopeRefundsWrite}},
		{"scp as a string is read", v, jwt.MapClaims{"scp": "accounts:write"}, "user-1", []Scope{ScopeAccountsWrite}},
		{"a scope claim with nothing allowed grants nothing", v, jwt.MapClaims{"scope": "openid email"}, "user-1", nil},
		{"without scope or scp the default is accounts:read", v, nil, "user-1", []Scope{ScopeAccountsRead}},
		{"TALLY_JWT_DEFAULT_SCOPES replaces the default", vc, jwt.MapClaims{"email": "ada@example.com"}, "ada@example.com", []Scope{ScopeAccountsRead, ScopeTransfersWrite}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.v.Principal(context.Background(), idp.sign(t, "rsa-1", userClaims("user-1", tt.claims)))
			if err != nil {
				t.Fatal(err)
			}
			if p.Owner != tt.owner || p.Has(ScopeAdmin) || p.Has(ScopeEventsRead) {
				t.Errorf("principal = %+v", p)
			}
			if len(p.Scopes) != len(tt.want) {
				t.Errorf("scopes = %v, want %v", p.Scopes, tt.want)
			}
			for _, s := range tt.want {
				if !p.Has(s) {
					t.Errorf("scope %s missing from %v", s, p.Scopes)
				}
			}
			if p.IdempotencyScope() != "owner:"+tt.owner {
				t.Errorf("idempotency scope = %q", p.IdempotencyScope())
			}
		})
	}
	t.Run("an owner claim that is not a string is refused", func(t *testing.T) {
		_, err := vc.Principal(context.Background(), idp.sign(t, "rsa-1", userClaims("user-1", jwt.MapClaims{"email": 42})))
		var le *ledger.Error
		if !errors.As(err, &le) || le.Code != ledger.EUnauthenticated {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestJWTIdempotencyKeysAreScopedToTheOwner: two users may pick the same
// Idempotency-Key; a user's retry is answered from its own first attempt.
func TestJWTIdempotencyKeysAreScopedToTheOwner(t *testing.T) {
	idp := newIdentityProvider(t)
	h := newHarness(t, withJWT(newVerifier(t, jwtConfig(idp))))
	accounts := map[string][2]string{}
	for _, u := range []string{"user-1", "user-2"} {
		from, to := h.open(u, "USD"), h.open(u, "USD")
		h.fund(from, "100.00", "USD")
		accounts[u] = [2]string{from, to}
	}
	for _, u := range []string{"user-1", "user-2"} {
		token := idp.sign(t, "rsa-1", userClaims(u, jwt.MapClaims{"scope": "transfers:write"}))
		body := map[string]any{"from": accounts[u][0], "to": accounts[u][1], "amount": "10.00", "currency": "USD"}
		first := h.must(h.do("POST", "/v1/transfers", body, append(bearer(token), "Idempotency-Key", "same-key")...), http.StatusCreated)
		again := h.must(h.do("POST", "/v1/transfers", body, append(bearer(token), "Idempotency-Key", "same-key")...), http.StatusCreated)
		if again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(first.body) {
			t.Errorf("%s's retry was not replayed: %s", u, again.body)
		}
	}
	for _, u := range []string{"user-1", "user-2"} {
		if got := h.balance(accounts[u][1]); got != "10.00" {
			t.Errorf("%s's recipient holds %s, want 10.00 (one transfer each)", u, got)
		}
	}
}

// TestJWKSRefetchOnUnknownKID: a new kid makes the verifier fetch the JWKS
// again, at most once per RefetchEvery, so made-up kids cannot flood the
// identity provider.
func TestJWKSRefetchOnUnknownKID(t *testing.T) {
	idp := newIdentityProvider(t)
	// Keys are made first: RSA key generation is slow under -race and must
	// not eat into the interval being measured.
	rotated, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	third, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, jwtConfig(idp)) // RefetchEvery 4 s
	ctx := context.Background()
	if _, err := v.Principal(ctx, idp.sign(t, "rsa-1", userClaims("user-1", nil))); err != nil {
		t.Fatal(err)
	}
	if n := idp.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after the first token, want 1 (cached)", n)
	}

	// The provider rotates in a key: the first token with it triggers one refetch.
	idp.add(t, "rsa-2", rotated)
	if _, err := v.Principal(ctx, idp.sign(t, "rsa-2", userClaims("user-1", nil))); err != nil {
		t.Fatalf("a token with the rotated-in kid: %v", err)
	}
	if n := idp.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}

	// Made-up kids right after: refused without fetching again.
	for range 20 {
		if _, err := v.Principal(ctx, signWith(t, jwt.SigningMethodRS256, "made-up", rotated, userClaims("user-1", nil))); err == nil {
			t.Fatal("a token with an unknown kid was accepted")
		}
	}
	// A genuinely new key within the interval is refused too, and after the
	// interval one refetch finds it.
	idp.add(t, "rsa-3", third)
	if _, err := v.Principal(ctx, idp.sign(t, "rsa-3", userClaims("user-1", nil))); err == nil {
		t.Fatal("a refetch happened within the interval")
	}
	if n := idp.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after 21 unknown kids within the interval, want still 2", n)
	}
	time.Sleep(4100 * time.Millisecond)
	if _, err := v.Principal(ctx, idp.sign(t, "rsa-3", userClaims("user-1", nil))); err != nil {
		t.Fatalf("after the interval: %v", err)
	}
	if n := idp.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
}

// TestJWTWithHS256Secret: the app's own HS256 tokens are accepted with the
// secret, and no asymmetric token is accepted without a JWKS.
func TestJWTWithHS256Secret(t *testing.T) {
	idp := newIdentityProvider(t)
	secret := []byte("an-app-secret-of-at-least-32-bytes!")
	v := newVerifier(t, JWTConfig{Issuers: []string{testIssuer}, Audiences: []string{testAudience}, HS256Secret: secret})
	ctx := context.Background()
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"an HS256 token signed with the secret is accepted", signWith(t, jwt.SigningMethodHS256, "", secret, userClaims("user-1", nil)), true},
		{"an HS256 token signed with another secret is refused", signWith(t, jwt.SigningMethodHS256, "", []byte("another-secret-of-at-least-32-bytes"), userClaims("user-1", nil)), false},
		{"an HS512 token is refused", signWith(t, jwt.SigningMethodHS512, "", secret, userClaims("user-1", nil)), false},
		{"an RS256 token is refused without a JWKS", idp.sign(t, "rsa-1", userClaims("user-1", nil)), false},
		{"an expired HS256 token is refused", signWith(t, jwt.SigningMethodHS256, "", secret, userClaims("user-1", jwt.MapClaims{"exp": time.Now().Add(-2 * time.Minute).Unix()})), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Principal(ctx, tt.token)
			if tt.ok != (err == nil) {
				t.Fatalf("principal %+v, err %v", p, err)
			}
		})
	}
}

func TestJWTConfigRefusals(t *testing.T) {
	good := JWTConfig{Issuers: []string{testIssuer}, Audiences: []string{testAudience}, HS256Secret: []byte("an-app-secret-of-at-least-32-bytes!")}
	tests := []struct {
		name   string
		change func(*JWTConfig)
	}{
		{"an issuer is required", func(c *JWTConfig) { c.Issuers = nil }},
		{"an audience is required", func(c *JWTConfig) { c.Audiences = nil }},
		{"a key source is required", func(c *JWTConfig) { c.HS256Secret = nil }},
		{"an HS256 secret shorter than 32 bytes is refused", func(c *JWTConfig) { c.HS256Secret = []byte("short") }},
		{"admin cannot be a default scope", func(c *JWTConfig) { c.DefaultScopes = []Scope{ScopeAdmin} }},
		{"events:read cannot be a default scope", func(c *JWTConfig) { c.DefaultScopes = []Scope{ScopeEventsRead} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.change(&cfg)
			if v, err := NewJWTVerifier(cfg); err == nil {
				v.Close()
				t.Fatal("accepted")
			}
		})
	}
}

// TestOpenAPIListsJWTWhereAJWTIsAccepted: an operation lists jwtAuth exactly
// when its route's scope is one a JWT may hold.
func TestOpenAPIListsJWTWhereAJWTIsAccepted(t *testing.T) {
	doc := servedOpenAPI(t)
	ops := operations(t, doc)
	for route, scope := range routeOnlyServer().routeScopes {
		route = echoParam.ReplaceAllString(route, "{$1}")
		op := ops[route]
		if op == nil {
			continue // TestOpenAPIMatchesRoutes reports it
		}
		listed := false
		sec, _ := op["security"].([]any)
		for _, s := range sec {
			if m, ok := s.(map[string]any); ok && m["jwtAuth"] != nil {
				listed = true
			}
		}
		// A route without a scope of its own (a batch) checks its items'
		// scopes, so a JWT may use it for what its scopes allow.
		if want := slices.Contains(jwtScopes, scope) || scope == ""; listed != want {
			t.Errorf("%s (scope %s): jwtAuth listed %v, want %v", route, scope, listed, want)
		}
	}
}
