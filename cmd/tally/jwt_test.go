package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/tallyledger/tally/httpapi"
)

func TestJWTFromEnv(t *testing.T) {
	t.Run("without TALLY_JWT_* settings JWTs are off", func(t *testing.T) {
		if c, err := configFromEnv(); err != nil || c.JWT != nil {
			t.Fatalf("%+v %v", c.JWT, err)
		}
	})
	t.Run("the settings are read, lists split on commas", func(t *testing.T) {
		t.Setenv("TALLY_JWT_ISSUER", "https://accounts.google.com, accounts.google.com")
		t.Setenv("TALLY_JWT_AUDIENCE", "123-abc.apps.googleusercontent.com")
		t.Setenv("TALLY_JWT_JWKS_URL", "https://www.googleapis.com/oauth2/v3/certs")
		t.Setenv("TALLY_JWT_OWNER_CLAIM", "email")
		t.Setenv("TALLY_JWT_DEFAULT_SCOPES", "accounts:read transfers:write")
		c, err := configFromEnv()
		if err != nil || c.JWT == nil {
			t.Fatal(err)
		}
		j := c.JWT
		if !slices.Equal(j.Issuers, []string{"https://accounts.google.com", "accounts.google.com"}) || j.OwnerClaim != "email" ||
			!slices.Equal(j.DefaultScopes, []httpapi.Scope{httpapi.ScopeAccountsRead, httpapi.ScopeTransfersWrite}) {
			t.Fatalf("%+v", j)
		}
	})
	t.Run("an issuer without an audience is refused", func(t *testing.T) {
		t.Setenv("TALLY_JWT_ISSUER", "https://id.example.com/")
		t.Setenv("TALLY_JWT_HS256_SECRET", strings.Repeat("s", 32))
		if _, err := configFromEnv(); err == nil || !strings.Contains(err.Error(), "TALLY_JWT_AUDIENCE") {
			t.Fatalf("err = %v", err)
		}
	})
}
