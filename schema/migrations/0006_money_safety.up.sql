-- The lease on an in-progress idempotency record (a two-step request whose
-- gateway call is running): the process running it holds the lease and
-- renews it; a retry elsewhere answers 409 while it is held and resumes the
-- request once it has expired (the holder crashed).
ALTER TABLE idempotency_keys ADD COLUMN lease_holder text;
ALTER TABLE idempotency_keys ADD COLUMN lease_until timestamptz;

-- Closing a wallet reads its pending refunds.
CREATE INDEX refunds_pending_by_account ON refunds (book, account_id) WHERE status = 'pending';
