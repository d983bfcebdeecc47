DROP INDEX IF EXISTS refunds_pending_by_account;
ALTER TABLE idempotency_keys DROP COLUMN IF EXISTS lease_until;
ALTER TABLE idempotency_keys DROP COLUMN IF EXISTS lease_holder;
