package ledger

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

func TestNewAPIKeySecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		secret, prefix := NewAPIKeySecret()
		if !strings.HasPrefix(secret, prefix+"_") || len(prefix) != len(APIKeyPrefix)+8 || !LooksLikeAPIKey(secret) {
			t.Fatalf("secret %q, prefix %q", secret, prefix)
		}
		if seen[secret] || seen[prefix] {
			t.Fatalf("%q repeated", secret)
		}
		seen[secret], seen[prefix] = true, true
	}
}

func TestLooksLikeAPIKey(t *testing.T) {
	good, _ := NewAPIKeySecret()
	cases := []struct {
		name string
		key  string
		want bool
	}{
		{"a fresh key has the shape", good, true},
		{"the admin key's shape is not a stored key's", "dev-admin-key", false},
		{"the prefix alone is not a key", good[:len(APIKeyPrefix)+8], false},
		{"a truncated key is refused", good[:len(good)-1], false},
		{"a lengthened key is refused", good + "a", false},
		{"upper case is not the alphabet", strings.ToUpper(good[:6]) + good[6:], false},
		{"digits outside base32 are refused", good[:len(good)-1] + "1", false},
		{"a missing separator is refused", strings.Replace(good, "_", "-", 2), false},
		{"empty is refused", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := LooksLikeAPIKey(c.key); got != c.want {
				t.Fatalf("LooksLikeAPIKey(%q) = %v", c.key, got)
			}
		})
	}
}

func TestHashAPIKeyIsSHA256(t *testing.T) {
	secret, _ := NewAPIKeySecret()
	want := sha256.Sum256([]byte(secret))
	if got := HashAPIKey(secret); string(got) != string(want[:]) {
		t.Fatal("HashAPIKey is not the SHA-256 of the secret")
	}
}

func TestAPIKeyStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		key  APIKey
		want string
	}{
		{"a key without expiry is active", APIKey{}, "active"},
		{"a key before its expiry is active", APIKey{ExpiresAt: now.Add(time.Second)}, "active"},
		{"a key at its expiry has expired", APIKey{ExpiresAt: now}, "expired"},
		{"a revoked key is revoked", APIKey{RevokedAt: now.Add(-time.Hour)}, "revoked"},
		{"revocation outranks expiry", APIKey{RevokedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)}, "revoked"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.key.Status(now); got != c.want {
				t.Fatalf("status %s", got)
			}
		})
	}
}
