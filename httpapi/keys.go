package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// keyRoutes registers key management; every key route needs admin.
//
// Keys are not journal events and do not go through the sequencer, so
// Idempotency-Key is not honoured here: a replay would have to store the
// secret it answered with. A retried creation makes a second key, which the
// per-owner limit bounds and which can be revoked.
func (s *Server) keyRoutes(v1 func(method, path string, h echo.HandlerFunc, scope Scope)) {
	v1("POST", "/keys", s.createKey, ScopeAdmin)
	v1("GET", "/keys", s.listKeys, ScopeAdmin)
	v1("DELETE", "/keys/:id", s.revokeKey, ScopeAdmin)
	v1("POST", "/keys/:id/rotate", s.rotateKey, ScopeAdmin)
}

// allScopes are the scopes a key may carry, in the order responses list them.
var allScopes = []Scope{ScopeAccountsRead, ScopeAccountsWrite, ScopeTransfersWrite, ScopeDepositsWrite, ScopeRefundsWrite, ScopeHoldsWrite, ScopeWithdrawalsWrite, ScopeEventsRead, ScopeAdmin}

// ownerlessScopes reach across every owner (the whole journal, every
// account's status, other keys), so a key bound to an owner cannot hold them.
var ownerlessScopes = []Scope{ScopeAdmin, ScopeEventsRead}

// Limits on what a key creation accepts.
const (
	maxKeyName     = 100
	maxKeyOwner    = 128
	maxKeyLifetime = 10 * 365 * 24 * time.Hour
)

// KeyRequest is what creating an API key takes, from the API or from
// `tally keys create`.
type KeyRequest struct {
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	Owner     string   `json:"owner"`
	ExpiresIn string   `json:"expires_in"` // a Go duration such as "720h"; empty: never
}

// check validates the request and returns the key it describes, with its
// scopes de-duplicated in canonical order.
func (r KeyRequest) check(now time.Time) (ledger.APIKey, error) {
	var v checker
	v.text("name", r.Name, true, maxKeyName)
	v.text("owner", r.Owner, false, maxKeyOwner)
	k := ledger.APIKey{ID: ledger.NewID(ledger.PrefixKey), Name: r.Name, Owner: r.Owner, CreatedAt: ledger.Truncate(now)}
	if len(r.Scopes) == 0 {
		v.add(ledger.EInvalidRequest, "scopes", "scopes is required: a list such as [\"accounts:read\", \"transfers:write\"]")
	}
	for _, sc := range r.Scopes {
		if !slices.Contains(allScopes, Scope(sc)) {
			v.add(ledger.EInvalidRequest, "scopes", "unknown scope %q: use %s", sc, scopeList(allScopes))
		} else if r.Owner != "" && slices.Contains(ownerlessScopes, Scope(sc)) {
			v.add(ledger.EInvalidRequest, "scopes", "a key bound to an owner cannot hold %s: it reaches every owner", sc)
		}
	}
	for _, sc := range allScopes {
		if slices.Contains(r.Scopes, string(sc)) {
			k.Scopes = append(k.Scopes, string(sc))
		}
	}
	if r.ExpiresIn != "" {
		d, err := time.ParseDuration(r.ExpiresIn)
		switch {
		case err != nil:
			v.add(ledger.EInvalidRequest, "expires_in", "expires_in must be a duration such as \"720h\" or \"30m\"")
		case d < time.Second || d > maxKeyLifetime:
			v.add(ledger.EInvalidRequest, "expires_in", "expires_in must be from 1s to %s", maxKeyLifetime)
		default:
			k.ExpiresAt = k.CreatedAt.Add(d)
		}
	}
	if v.err != nil {
		return ledger.APIKey{}, v.err
	}
	return k, nil
}

func scopeList(scopes []Scope) string {
	s := make([]string, len(scopes))
	for i, sc := range scopes {
		s[i] = string(sc)
	}
	return strings.Join(s, ", ")
}

// IssueKey checks req and stores a new key. The returned secret exists
// nowhere else: only its SHA-256 is stored. Returns EInvalidRequest for a bad
// request and EKeyLimitReached when the owner already has the most active keys.
func IssueKey(ctx context.Context, keys *pgjournal.Keys, req KeyRequest) (ledger.APIKey, string, error) {
	k, err := req.check(time.Now())
	if err != nil {
		return k, "", err
	}
	secret, prefix := ledger.NewAPIKeySecret()
	k.Prefix = prefix
	if err := keys.Create(ctx, k, ledger.HashAPIKey(secret)); err != nil {
		return ledger.APIKey{}, "", err
	}
	return k, secret, nil
}

// principalOf is who a stored key lets act.
func principalOf(k ledger.APIKey) *Principal {
	p := &Principal{KeyID: k.ID, Owner: k.Owner, Lineage: k.Lineage, Scopes: make(map[Scope]bool, len(k.Scopes))}
	for _, sc := range k.Scopes {
		p.Scopes[Scope(sc)] = true
	}
	return p
}

// keyView is a key as lists show it: never the secret.
type keyView struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Prefix     string   `json:"prefix"`
	Scopes     []string `json:"scopes"`
	Owner      *string  `json:"owner"`
	Status     string   `json:"status"`
	CreatedAt  string   `json:"created_at"`
	ExpiresAt  *string  `json:"expires_at"`
	RevokedAt  *string  `json:"revoked_at"`
	ReplacedBy *string  `json:"replaced_by"`
}

// newKeyView is a key just made: the one response that carries the secret.
type newKeyView struct {
	ID        string   `json:"id"`
	Key       string   `json:"key"`
	Name      string   `json:"name"`
	Prefix    string   `json:"prefix"`
	Scopes    []string `json:"scopes"`
	Owner     *string  `json:"owner"`
	CreatedAt string   `json:"created_at"`
	ExpiresAt *string  `json:"expires_at"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optionalTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	return optional(formatTime(t))
}

func viewKey(k ledger.APIKey) keyView {
	return keyView{
		ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes, Owner: optional(k.Owner),
		Status: k.Status(time.Now()), CreatedAt: formatTime(k.CreatedAt), ExpiresAt: optionalTime(k.ExpiresAt),
		RevokedAt: optionalTime(k.RevokedAt), ReplacedBy: optional(k.ReplacedBy),
	}
}

func writeNewKey(c echo.Context, k ledger.APIKey, secret string) error {
	// The secret must not linger in caches between here and the client.
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, newKeyView{
		ID: k.ID, Key: secret, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes, Owner: optional(k.Owner),
		CreatedAt: formatTime(k.CreatedAt), ExpiresAt: optionalTime(k.ExpiresAt),
	})
}

func (s *Server) createKey(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var req KeyRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	k, secret, err := IssueKey(c.Request().Context(), s.auth.keys, req)
	if err != nil {
		return err
	}
	// key_id is always the caller, as in the request log.
	s.log.Info("api key created", "request_id", requestID(c), "key_id", principal(c).KeyID, "new_key_id", k.ID, "prefix", k.Prefix, "owner", k.Owner)
	return writeNewKey(c, k, secret)
}

func (s *Server) listKeys(c echo.Context) error {
	q, err := idListQuery(c, "owner")
	if err != nil {
		return err
	}
	f := pgjournal.KeyFilter{Owner: c.QueryParam("owner"), Limit: q.limit + 1, Period: q.period, After: q.after}
	keys, err := s.auth.keys.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page(keys, q.limit, viewKey, func(k ledger.APIKey) string { return k.ID }))
}

func keyID(c echo.Context) (string, error) {
	id := c.Param("id")
	if !ledger.HasPrefix(id, ledger.PrefixKey) {
		return "", ledger.Errorf(ledger.ENotFound, "key %s not found", id)
	}
	return id, nil
}

func (s *Server) revokeKey(c echo.Context) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	if err := s.auth.keys.Revoke(c.Request().Context(), id, ledger.Truncate(time.Now())); err != nil {
		return err
	}
	s.limiter.forget(id)
	s.log.Info("api key revoked", "request_id", requestID(c), "key_id", principal(c).KeyID, "revoked_key_id", id)
	return c.NoContent(http.StatusNoContent)
}

// rotateKey replaces a key with a new secret of the same name, owner and
// scopes. A key with an expiry keeps its lifetime, counted from now, so that
// rotating is also how an expiring key is renewed.
func (s *Server) rotateKey(c echo.Context) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	old, err := s.auth.keys.Get(ctx, id)
	if err != nil {
		return err
	}
	now := ledger.Truncate(time.Now())
	next := ledger.APIKey{ID: ledger.NewID(ledger.PrefixKey), Name: old.Name, Scopes: old.Scopes, Owner: old.Owner, CreatedAt: now, Lineage: old.Lineage}
	if !old.ExpiresAt.IsZero() {
		next.ExpiresAt = now.Add(old.ExpiresAt.Sub(old.CreatedAt))
	}
	secret, prefix := ledger.NewAPIKeySecret()
	next.Prefix = prefix
	if err := s.auth.keys.Rotate(ctx, id, next, ledger.HashAPIKey(secret)); err != nil {
		return err
	}
	s.limiter.forget(id)
	s.log.Info("api key rotated", "request_id", requestID(c), "key_id", principal(c).KeyID, "revoked_key_id", id, "new_key_id", next.ID)
	return writeNewKey(c, next, secret)
}
