package pgjournal

import (
	"context"
	"time"
)

// An in-progress idempotency record (the first step of a two-step request
// committed, the gateway call running) is leased to the request running it,
// so that the record in PostgreSQL is the lock across processes: a retry
// that finds the record leased answers "in use", and one that finds the
// lease expired (its holder crashed) takes it over and resumes the request.
// Times are the database's, so the processes' clocks do not matter.

// ClaimInProgress leases book's in-progress record of (scope, key) to
// holder for ttl. It reports false when another holder's lease is still running or
// the record is no longer in progress.
func (s *Store) ClaimInProgress(ctx context.Context, book, scope, key, holder string, ttl time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE idempotency_keys SET lease_holder = $4, lease_until = now() + $5 * interval '1 millisecond'
		WHERE book = $1 AND scope = $2 AND key = $3 AND status = 0
		  AND (lease_until IS NULL OR lease_until < now() OR lease_holder = $4)`,
		book, scope, key, holder, ttl.Milliseconds())
	if err != nil {
		return false, classify(err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseInProgress gives up holder's lease, so that a retry can resume the
// request at once (the request ended without finishing its record).
func (s *Store) ReleaseInProgress(ctx context.Context, book, scope, key, holder string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE idempotency_keys SET lease_holder = NULL, lease_until = NULL
		WHERE book = $1 AND scope = $2 AND key = $3 AND lease_holder = $4`, book, scope, key, holder)
	return classify(err)
}
