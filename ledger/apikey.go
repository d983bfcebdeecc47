package ledger

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"time"
)

// MaxActiveKeys is how many unrevoked, unexpired API keys one owner may hold.
// Owner-less keys count together, as if they had one owner of their own.
const MaxActiveKeys = 5

// APIKeyPrefix starts every API key, so that a leaked key is easy to spot
// (secret scanners, logs) and easy to tell from the bootstrap admin key.
const APIKeyPrefix = "tally_"

// APIKey is an API key as stored: never its secret, only the secret's hash.
// Keys are configuration, not money, so they are rows rather than journal
// events; they are never deleted, only revoked.
type APIKey struct {
	ID         string // key_…
	Name       string
	Prefix     string // the visible start of the secret, "tally_" and 8 characters
	Scopes     []string
	Owner      string // empty: the key acts for every owner
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	RevokedAt  time.Time // zero: not revoked
	ReplacedBy string    // the key that replaced this one by rotation
	Lineage    string    // the first key of its rotation chain (its own id if never rotated)
}

// Status is "revoked", "expired" or "active" as of now.
func (k APIKey) Status(now time.Time) string {
	switch {
	case !k.RevokedAt.IsZero():
		return "revoked"
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return "expired"
	}
	return "active"
}

// keyEncoding is lower-case base32 without padding: URL- and header-safe and
// unambiguous to read out.
var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewAPIKeySecret returns a fresh secret "tally_<8 chars>_<52 chars>" (40
// random bytes in all) and its visible prefix "tally_<8 chars>".
func NewAPIKeySecret() (secret, prefix string) {
	b := make([]byte, 5+32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	prefix = APIKeyPrefix + keyEncoding.EncodeToString(b[:5])
	return prefix + "_" + keyEncoding.EncodeToString(b[5:]), prefix
}

// LooksLikeAPIKey reports whether s has the shape of a secret NewAPIKeySecret
// makes, so that garbage is refused without a database lookup.
func LooksLikeAPIKey(s string) bool {
	rest, ok := strings.CutPrefix(s, APIKeyPrefix)
	if !ok || len(rest) != 8+1+52 || rest[8] != '_' {
		return false
	}
	_, err1 := keyEncoding.DecodeString(rest[:8])
	_, err2 := keyEncoding.DecodeString(rest[9:])
	return err1 == nil && err2 == nil
}

// HashAPIKey is what the key store keeps and looks keys up by. A fast hash is
// right here: the secret has 256 bits of entropy, so there is nothing to
// brute-force that a slow password hash would protect.
func HashAPIKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
