DROP TABLE IF EXISTS idempotency_keys, adjustments, transfers, balances, accounts, postings, events, books;
DROP FUNCTION IF EXISTS tally_refuse_change();
