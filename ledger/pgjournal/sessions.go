package pgjournal

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
)

// Sessions stores the finance console's sign-in sessions. They are global
// (not a book's data) and live in PostgreSQL so that every process behind a
// load balancer knows them. Only hashes are stored: of the session cookie,
// and of the API key the session was opened with.
type Sessions struct {
	pool *pgxpool.Pool
}

// NewSessions returns the session store of pool's database.
func NewSessions(pool *pgxpool.Pool) *Sessions { return &Sessions{pool: pool} }

// Session is one console sign-in.
type Session struct {
	KeyHash   []byte // SHA-256 of the API key, re-checked on every request
	KeyID     string
	CSRF      string // the token every form of the session must carry
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Open records a session for ttl, by the database clock, and forgets
// sessions that have expired. Returns EUnavailable if the database cannot be
// reached.
func (s *Sessions) Open(ctx context.Context, tokenHash []byte, sess Session, ttl time.Duration) (Session, error) {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM console_sessions WHERE expires_at <= now()`)
	b.Queue(`INSERT INTO console_sessions (token_hash, key_hash, key_id, csrf_token, expires_at)
		VALUES ($1, $2, $3, $4, now() + $5::interval) RETURNING created_at, expires_at`,
		tokenHash, sess.KeyHash, sess.KeyID, sess.CSRF, ttl.String()).QueryRow(func(row pgx.Row) error {
		return row.Scan(&sess.CreatedAt, &sess.ExpiresAt)
	})
	return sess, classify(s.pool.SendBatch(ctx, b).Close())
}

// Find returns the unexpired session of tokenHash. Returns EUnauthenticated
// if there is none, EUnavailable if the database cannot be reached.
func (s *Sessions) Find(ctx context.Context, tokenHash []byte) (Session, error) {
	var sess Session
	err := s.pool.QueryRow(ctx, `SELECT key_hash, key_id, csrf_token, created_at, expires_at
		FROM console_sessions WHERE token_hash = $1 AND expires_at > now()`, tokenHash).Scan(
		&sess.KeyHash, &sess.KeyID, &sess.CSRF, &sess.CreatedAt, &sess.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return sess, ledger.Errorf(ledger.EUnauthenticated, "the session has ended; sign in again")
	}
	return sess, classify(err)
}

// End forgets a session (sign-out). Ending an unknown session is not an error.
func (s *Sessions) End(ctx context.Context, tokenHash []byte) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE token_hash = $1`, tokenHash)
	return classify(err)
}
