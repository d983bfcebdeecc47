-- Webhook delivery retention: the dispatcher deletes finished deliveries
-- (succeeded after TALLY_WEBHOOK_RETENTION, failed after
-- TALLY_WEBHOOK_FAILED_RETENTION) a small batch at a time, book by book,
-- oldest first; this index finds them without reading the pending queue or
-- the whole table.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (book, created_at) WHERE status <> 'pending';
