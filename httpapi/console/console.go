// Package console is Tally's finance console: server-rendered pages at
// /console for finance staff and auditors, signed in with an API key that
// holds events:read or admin. Every figure comes from the API's own store
// and projection code (pgjournal.Store, projections.Set); the console only
// renders. Adjustments made here are four-eyes proposals (ledger/approval.go).
// Templates and assets are embedded; the pages work without JavaScript, and
// a few lines of it show verify's progress live.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
)

// SessionTTL is how long a console session lasts.
const SessionTTL = 12 * time.Hour

// Cookie names. The session cookie holds a random token; only its hash is stored.
const (
	sessionCookie = "tally_console"
	signInCookie  = "tally_console_signin" // the sign-in form's CSRF token
)

// Identity is who an API key belongs to, as the console needs it.
type Identity struct {
	KeyID string
	// Actor is the key's lineage (the first key of its rotation chain), or
	// "admin" for the bootstrap key: four-eyes decisions compare actors.
	Actor  string
	Admin  bool // holds the admin scope
	Reader bool // holds events:read (or admin)
	Owner  string
}

// Config wires the console to the ledger.
type Config struct {
	Journal     *pgjournal.Journal
	Store       *pgjournal.Store
	Projections *projections.Set
	Sessions    *pgjournal.Sessions
	// Identify returns the identity of the API key whose SHA-256 is keyHash.
	// Returns EUnauthenticated for an unknown, revoked or expired key.
	Identify func(ctx context.Context, keyHash []byte) (Identity, error)
	Logger   *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Console is the console's http.Handler, to be mounted at /console.
type Console struct {
	cfg   Config
	mux   *http.ServeMux
	pages map[string]*template.Template
	// verifying admits one console verify at a time per process.
	verifying chan struct{}
}

// New builds the console.
func New(cfg Config) *Console {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Console{cfg: cfg, mux: http.NewServeMux(), pages: parsePages(), verifying: make(chan struct{}, 1)}
	assets, _ := fs.Sub(assetFS, "assets")
	c.mux.Handle("GET /console/assets/", http.StripPrefix("/console/assets/", http.FileServerFS(assets)))
	c.mux.HandleFunc("GET /console", c.home)
	c.mux.HandleFunc("GET /console/{$}", c.home)
	c.mux.HandleFunc("GET /console/sign-in", c.signInPage)
	c.mux.HandleFunc("POST /console/sign-in", c.signIn)
	c.mux.HandleFunc("POST /console/sign-out", c.signedIn(false, c.signOut))
	c.mux.HandleFunc("GET /console/journal", c.signedIn(false, c.journal))
	c.mux.HandleFunc("GET /console/accounts", c.signedIn(false, c.accounts))
	c.mux.HandleFunc("GET /console/accounts/{id}", c.signedIn(false, c.account))
	c.mux.HandleFunc("GET /console/accounts/{id}/statement.csv", c.signedIn(false, c.statement))
	c.mux.HandleFunc("GET /console/trial-balance", c.signedIn(false, c.trialBalance))
	c.mux.HandleFunc("GET /console/verify", c.signedIn(false, c.verifyPage))
	c.mux.HandleFunc("POST /console/verify", c.signedIn(false, c.verify))
	c.mux.HandleFunc("GET /console/payments", c.signedIn(false, c.payments))
	c.mux.HandleFunc("GET /console/queue", c.signedIn(false, c.queue))
	c.mux.HandleFunc("GET /console/export", c.signedIn(false, c.export))
	c.mux.HandleFunc("GET /console/adjustments", c.signedIn(false, c.adjustments))
	c.mux.HandleFunc("POST /console/adjustments", c.signedIn(true, c.propose))
	c.mux.HandleFunc("POST /console/adjustments/{id}/approve", c.signedIn(true, c.approve))
	c.mux.HandleFunc("POST /console/adjustments/{id}/reject", c.signedIn(true, c.reject))
	return c
}

// ServeHTTP serves the console with headers that keep its pages private and
// unframeable: no inline scripts or styles, nothing cached.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/console/assets/") {
		h.Set("Cache-Control", "no-store")
	}
	c.mux.ServeHTTP(w, r)
}

// user is the signed-in person of a request.
type user struct {
	Identity
	CSRF      string
	ExpiresAt time.Time
	token     []byte // the session token's hash
}

type handler func(w http.ResponseWriter, r *http.Request, u *user)

// signedIn runs h for a signed-in user, else sends the browser to the
// sign-in page. Every POST must carry the session's CSRF token (403
// otherwise); admin routes refuse users without the admin scope.
func (c *Console) signedIn(admin bool, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := c.user(r)
		if err != nil {
			if ledger.ErrorCode(err) != ledger.EUnauthenticated {
				c.fail(w, r, nil, err)
				return
			}
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/sign-in?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, nil, err)
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, u, ledger.Errorf(ledger.EInvalidRequest, "the form could not be read"))
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(u.CSRF)) != 1 {
				c.fail(w, r, u, ledger.Errorf(ledger.EForbidden, "the form's security token is missing or stale: reload the page and try again"))
				return
			}
		}
		if admin && !u.Admin {
			c.fail(w, r, u, ledger.Errorf(ledger.EForbidden, "this needs an API key with the admin scope"))
			return
		}
		h(w, r, u)
	}
}

// user finds the request's session and re-checks its key, so that a revoked
// or expired key ends its sessions at once.
func (c *Console) user(r *http.Request) (*user, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, ledger.Errorf(ledger.EUnauthenticated, "not signed in")
	}
	token := hash(ck.Value)
	sess, err := c.cfg.Sessions.Find(r.Context(), token)
	if err != nil {
		return nil, err
	}
	id, err := c.cfg.Identify(r.Context(), sess.KeyHash)
	if err == nil && (!id.Reader || id.Owner != "") {
		err = ledger.Errorf(ledger.EUnauthenticated, "the key no longer may use the console")
	}
	if ledger.ErrorCode(err) == ledger.EUnauthenticated {
		// The key was revoked or has expired: its sessions end with it.
		_ = c.cfg.Sessions.End(r.Context(), token)
	}
	if err != nil {
		return nil, err
	}
	return &user{Identity: id, CSRF: sess.CSRF, ExpiresAt: sess.ExpiresAt, token: token}, nil
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	if _, err := c.user(r); err != nil {
		http.Redirect(w, r, "/console/sign-in", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/console/journal", http.StatusSeeOther)
}

// secure reports whether the browser reached us over https (directly, or
// through a proxy that says so): cookies are then marked Secure.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: "/console", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r)}
	if maxAge > 0 {
		ck.MaxAge = int(maxAge / time.Second)
	} else {
		ck.MaxAge = -1
	}
	http.SetCookie(w, ck)
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	token := randomToken()
	setCookie(w, r, signInCookie, token, 30*time.Minute)
	c.render(w, r, http.StatusOK, "sign-in", nil, map[string]any{"CSRF": token, "Next": safeNext(r.URL.Query().Get("next"))})
}

// signIn exchanges an API key for a session. Keys without events:read or
// admin, and keys bound to an owner, cannot sign in.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(signInCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(ck.Value)) != 1 {
		c.fail(w, r, nil, ledger.Errorf(ledger.EForbidden, "the sign-in form's security token is missing or stale: reload the page and try again"))
		return
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	next := safeNext(r.PostFormValue("next"))
	again := func(status int, msg string) {
		token := randomToken()
		setCookie(w, r, signInCookie, token, 30*time.Minute)
		c.render(w, r, status, "sign-in", nil, map[string]any{"CSRF": token, "Next": next, "Error": msg})
	}
	if key == "" {
		again(http.StatusBadRequest, "Enter an API key.")
		return
	}
	keyHash := ledger.HashAPIKey(key)
	id, err := c.cfg.Identify(r.Context(), keyHash)
	switch {
	case ledger.ErrorCode(err) == ledger.EUnauthenticated:
		again(http.StatusUnauthorized, "That API key is not valid (unknown, revoked or expired).")
		return
	case err != nil:
		c.fail(w, r, nil, err)
		return
	case !id.Reader:
		again(http.StatusForbidden, "That API key may not use the console: it needs the events:read or admin scope.")
		return
	case id.Owner != "":
		again(http.StatusForbidden, "That API key is bound to an owner; the console shows whole books and needs an owner-less key.")
		return
	}
	token := randomToken()
	if _, err := c.cfg.Sessions.Open(r.Context(), hash(token), pgjournal.Session{KeyHash: keyHash, KeyID: id.KeyID, CSRF: randomToken()}, SessionTTL); err != nil {
		c.fail(w, r, nil, err)
		return
	}
	setCookie(w, r, signInCookie, "", 0)
	setCookie(w, r, sessionCookie, token, SessionTTL)
	c.cfg.Logger.Info("console sign-in", "key_id", id.KeyID)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, u *user) {
	if err := c.cfg.Sessions.End(r.Context(), u.token); err != nil {
		c.fail(w, r, u, err)
		return
	}
	setCookie(w, r, sessionCookie, "", 0)
	http.Redirect(w, r, "/console/sign-in", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "/console//") || strings.ContainsAny(next, "\\\r\n") {
		return "/console/journal"
	}
	return next
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// fail renders an error page: the code's status and its client-safe
// message; anything else is logged and shown as a bare internal error.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, u *user, err error) {
	var le *ledger.Error
	status, msg := http.StatusInternalServerError, "Something went wrong on our side; it has been logged."
	if errors.As(err, &le) {
		status, msg = StatusOf(le.Code), le.Message
	} else {
		c.cfg.Logger.Error("console", "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		setCookie(w, r, sessionCookie, "", 0)
	}
	c.render(w, r, status, "error", u, map[string]any{"Status": status, "Message": msg})
}

// StatusOf maps an error code to the console's HTTP status.
func StatusOf(code ledger.Code) int {
	switch code {
	case ledger.EInvalidRequest, ledger.EInvalidAmount, ledger.EUnknownCurrency:
		return http.StatusBadRequest
	case ledger.EUnauthenticated:
		return http.StatusUnauthorized
	case ledger.EForbidden, ledger.EApproverIsProposer:
		return http.StatusForbidden
	case ledger.ENotFound:
		return http.StatusNotFound
	case ledger.ERateLimited:
		return http.StatusTooManyRequests
	case ledger.EUnavailable:
		return http.StatusServiceUnavailable
	case ledger.EInternal:
		return http.StatusInternalServerError
	}
	return http.StatusUnprocessableEntity
}
