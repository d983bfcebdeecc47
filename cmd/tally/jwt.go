package main

import (
	"errors"
	"os"
	"strings"

	"github.com/tallyledger/tally/httpapi"
)

// jwtFromEnv reads the TALLY_JWT_* settings (docs/auth.md). It returns nil
// when none is set: end-user JWTs are then not accepted.
func jwtFromEnv() (*httpapi.JWTConfig, error) {
	issuer, audience := envOr("TALLY_JWT_ISSUER", ""), envOr("TALLY_JWT_AUDIENCE", "")
	jwks, secret := envOr("TALLY_JWT_JWKS_URL", ""), os.Getenv("TALLY_JWT_HS256_SECRET")
	if issuer == "" && audience == "" && jwks == "" && secret == "" {
		return nil, nil
	}
	if issuer == "" || audience == "" {
		return nil, errors.New("TALLY_JWT_ISSUER and TALLY_JWT_AUDIENCE are both required when JWTs are enabled")
	}
	cfg := &httpapi.JWTConfig{
		Issuers: list(issuer), Audiences: list(audience), JWKSURL: jwks, HS256Secret: []byte(secret),
		OwnerClaim: envOr("TALLY_JWT_OWNER_CLAIM", "sub"),
	}
	if s := envOr("TALLY_JWT_DEFAULT_SCOPES", ""); s != "" {
		for _, f := range strings.Fields(strings.ReplaceAll(s, ",", " ")) {
			cfg.DefaultScopes = append(cfg.DefaultScopes, httpapi.Scope(f))
		}
	}
	return cfg, nil
}

// list splits a comma-separated setting.
func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
