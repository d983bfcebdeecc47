package pgjournal

// API keys live in this package because it is Tally's one PostgreSQL storage
// package, not because they are journal events: keys are configuration, so
// they are plain rows (never deleted, only revoked) outside the sequencer.

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
)

// Keys stores API keys.
type Keys struct {
	pool *pgxpool.Pool
}

// NewKeys returns a key store using pool.
func NewKeys(pool *pgxpool.Pool) *Keys { return &Keys{pool: pool} }

const keyColumns = `id, name, prefix, scopes, coalesce(owner, ''), created_at, expires_at, revoked_at, coalesce(replaced_by, ''), lineage`

func scanKey(row pgx.Row) (ledger.APIKey, error) {
	var k ledger.APIKey
	var expires, revoked *time.Time
	err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.Scopes, &k.Owner, &k.CreatedAt, &expires, &revoked, &k.ReplacedBy, &k.Lineage)
	if expires != nil {
		k.ExpiresAt = *expires
	}
	if revoked != nil {
		k.RevokedAt = *revoked
	}
	return k, err
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Create stores a new key with the hash of its secret; it starts its own
// rotation lineage. Returns
// EKeyLimitReached if its owner already holds ledger.MaxActiveKeys active keys.
func (ks *Keys) Create(ctx context.Context, k ledger.APIKey, hash []byte) error {
	return ks.inTx(ctx, k.Owner, func(tx pgx.Tx) error {
		if err := checkKeyLimit(ctx, tx, k.Owner); err != nil {
			return err
		}
		k.Lineage = k.ID
		return insertKey(ctx, tx, k, hash)
	})
}

// Rotate replaces the key oldID by next in one transaction: from the commit
// on, the old secret no longer authenticates. The caller builds next from the
// old key (Get), keeping its owner, scopes and lineage. Returns ENotFound if
// oldID is unknown or already revoked.
func (ks *Keys) Rotate(ctx context.Context, oldID string, next ledger.APIKey, hash []byte) error {
	return ks.inTx(ctx, next.Owner, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $2
			WHERE id = $1 AND revoked_at IS NULL AND owner IS NOT DISTINCT FROM $3`, oldID, next.CreatedAt, nullString(next.Owner))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ledger.Errorf(ledger.ENotFound, "key %s not found or already revoked", oldID)
		}
		// The old key no longer counts, so rotating at the limit works.
		if err := checkKeyLimit(ctx, tx, next.Owner); err != nil {
			return err
		}
		if err := insertKey(ctx, tx, next, hash); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE api_keys SET replaced_by = $2 WHERE id = $1`, oldID, next.ID)
		return err
	})
}

// Revoke revokes a key at once. Revoking a revoked key changes nothing.
// Returns ENotFound for an unknown key.
func (ks *Keys) Revoke(ctx context.Context, id string, at time.Time) error {
	tag, err := ks.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, id, at)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return ledger.Errorf(ledger.ENotFound, "key %s not found", id)
	}
	return nil
}

// Get finds a key by id. Returns ENotFound if there is none.
func (ks *Keys) Get(ctx context.Context, id string) (ledger.APIKey, error) {
	k, err := scanKey(ks.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, ledger.Errorf(ledger.ENotFound, "key %s not found", id)
	}
	return k, classify(err)
}

// KeyFilter selects keys for a list.
type KeyFilter struct {
	Owner string // empty: every owner
	Period
	After string // cursor: the last id of the previous page
	Limit int
}

// List lists keys, revoked ones included, in id (creation) order.
func (ks *Keys) List(ctx context.Context, f KeyFilter) ([]ledger.APIKey, error) {
	rows, err := ks.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys
		WHERE ($1 = '' OR owner = $1) AND id > $2
		  AND ($4::timestamptz IS NULL OR created_at >= $4) AND ($5::timestamptz IS NULL OR created_at < $5)
		ORDER BY id LIMIT $3`, f.Owner, f.After, f.Limit, f.From, f.To)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []ledger.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, classify(rows.Err())
}

// Authenticate finds the active key whose secret has this hash. It reads the
// database every time, with no cache, so that a revocation is in force for
// every process the moment it commits. Returns EUnauthenticated if no active
// key matches, EUnavailable if the database cannot be reached.
func (ks *Keys) Authenticate(ctx context.Context, hash []byte) (ledger.APIKey, error) {
	var expired bool
	var k ledger.APIKey
	var expires, revoked *time.Time
	// Expiry is judged by the database clock, the same one the key limit uses.
	err := ks.pool.QueryRow(ctx, `SELECT `+keyColumns+`, coalesce(expires_at <= now(), false)
		FROM api_keys WHERE secret_hash = $1`, hash).Scan(
		&k.ID, &k.Name, &k.Prefix, &k.Scopes, &k.Owner, &k.CreatedAt, &expires, &revoked, &k.ReplacedBy, &k.Lineage, &expired)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return k, ledger.Errorf(ledger.EUnauthenticated, "the API key is not valid")
	case err != nil:
		return k, classify(err)
	case revoked != nil:
		return k, ledger.Errorf(ledger.EUnauthenticated, "the API key %s was revoked", k.Prefix)
	case expired:
		return k, ledger.Errorf(ledger.EUnauthenticated, "the API key %s has expired", k.Prefix)
	}
	if expires != nil {
		k.ExpiresAt = *expires
	}
	return k, nil
}

// inTx runs fn in a transaction holding the owner's key lock, so that two
// concurrent creations cannot both pass the limit check.
func (ks *Keys) inTx(ctx context.Context, owner string, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, ks.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, LockKey("keys/"+owner)); err != nil {
			return err
		}
		return fn(tx)
	})
	return classify(err)
}

func checkKeyLimit(ctx context.Context, tx pgx.Tx, owner string) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM api_keys
		WHERE owner IS NOT DISTINCT FROM $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
		nullString(owner)).Scan(&n); err != nil {
		return err
	}
	if n >= ledger.MaxActiveKeys {
		who := "owner " + owner
		if owner == "" {
			who = "keys without an owner"
		}
		return ledger.Errorf(ledger.EKeyLimitReached, "%s already has %d active keys, the most allowed: revoke one first", who, ledger.MaxActiveKeys)
	}
	return nil
}

func insertKey(ctx context.Context, tx pgx.Tx, k ledger.APIKey, hash []byte) error {
	_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, name, prefix, secret_hash, scopes, owner, created_at, expires_at, lineage)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		k.ID, k.Name, k.Prefix, hash, k.Scopes, nullString(k.Owner), k.CreatedAt, nullTime(k.ExpiresAt), k.Lineage)
	return err
}
