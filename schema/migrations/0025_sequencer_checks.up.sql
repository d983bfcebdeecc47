-- Foreign keys that only repeat what the sequencer guarantees, dropped for
-- throughput (issue 17). Each was a query PostgreSQL ran per row inserted,
-- about a fifth of its time in a transfer. What still protects each fact:
--
-- * postings → events: the sequencer writes an event and its postings in
--   one transaction, and neither table can be updated or deleted (the
--   append-only triggers); tally verify replays the journal and reports a
--   posting without an event as corruption.
-- * events → books: the sequencer inserts the book row before a new
--   book's first event, in the same transaction.
-- * transfers → accounts (both sides), deposits → accounts: a transfer or
--   a deposit is decided against the accounts it names, read in the
--   append's transaction under the book's lock, and accounts are never
--   deleted; both projections are rebuilt and verified from the journal.
-- * deposit_references → books: written with the deposit, in its book.
-- * webhook_deliveries → events: the webhook queue is filled from events
--   read from the journal, which are never deleted.
--
-- The keys that protect money stay: primary and unique keys (positions,
-- event ids, idempotency keys, wallet numbers), balances → accounts, the
-- CHECKs on amounts and held balances, and the append-only triggers.
ALTER TABLE postings DROP CONSTRAINT postings_book_position_fkey;
ALTER TABLE events DROP CONSTRAINT events_book_fkey;
ALTER TABLE transfers DROP CONSTRAINT transfers_book_from_account_fkey,
    DROP CONSTRAINT transfers_book_to_account_fkey;
ALTER TABLE deposits DROP CONSTRAINT deposits_book_account_id_fkey;
ALTER TABLE deposit_references DROP CONSTRAINT deposit_references_book_fkey;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_book_position_fkey;
