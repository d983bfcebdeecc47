-- Back to id-only keys. Fails if two books hold the same id, wallet number
-- or reference, or the same Idempotency-Key (records copied into every book
-- by the up migration are merged back into one).
DROP TABLE deposit_references;
DROP TABLE wallet_numbers;

ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
DELETE FROM idempotency_keys k USING idempotency_keys o
WHERE k.scope = o.scope AND k.key = o.key AND k.book > o.book;
ALTER TABLE idempotency_keys DROP COLUMN book, ADD PRIMARY KEY (scope, key);

DROP INDEX holds_by_id, transactions_by_id;

ALTER TABLE account_daily DROP CONSTRAINT account_daily_pkey, ADD PRIMARY KEY (account_id, day);

DROP INDEX refunds_by_id;
ALTER TABLE refunds DROP CONSTRAINT refunds_book_deposit_id_fkey, DROP CONSTRAINT refunds_book_transfer_id_fkey,
    DROP CONSTRAINT refunds_book_account_id_fkey, DROP CONSTRAINT refunds_pkey, ADD PRIMARY KEY (id);
DROP INDEX deposits_by_id, deposits_by_reference;
ALTER TABLE deposits DROP CONSTRAINT deposits_book_account_id_fkey, DROP CONSTRAINT deposits_pkey, ADD PRIMARY KEY (id),
    DROP CONSTRAINT deposits_book_reference_key, ADD CONSTRAINT deposits_reference_key UNIQUE (reference);
ALTER TABLE adjustments DROP CONSTRAINT adjustments_book_account_id_fkey, DROP CONSTRAINT adjustments_pkey, ADD PRIMARY KEY (id);
DROP INDEX transfers_by_id;
ALTER TABLE transfers DROP CONSTRAINT transfers_book_from_account_fkey, DROP CONSTRAINT transfers_book_to_account_fkey,
    DROP CONSTRAINT transfers_pkey, ADD PRIMARY KEY (id);
ALTER TABLE balances DROP CONSTRAINT balances_book_account_id_fkey, DROP CONSTRAINT balances_pkey, ADD PRIMARY KEY (account_id);
DROP INDEX accounts_by_id;
ALTER TABLE accounts DROP CONSTRAINT accounts_pkey, ADD PRIMARY KEY (id),
    DROP CONSTRAINT accounts_book_wallet_number_key, ADD CONSTRAINT accounts_wallet_number_key UNIQUE (wallet_number);
ALTER TABLE events DROP CONSTRAINT events_book_id_key, ADD CONSTRAINT events_id_key UNIQUE (id);

ALTER TABLE balances ADD FOREIGN KEY (account_id) REFERENCES accounts (id), DROP COLUMN book;
ALTER TABLE transfers ADD FOREIGN KEY (from_account) REFERENCES accounts (id), ADD FOREIGN KEY (to_account) REFERENCES accounts (id);
ALTER TABLE adjustments ADD FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE deposits ADD FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE refunds ADD FOREIGN KEY (deposit_id) REFERENCES deposits (id), ADD FOREIGN KEY (transfer_id) REFERENCES transfers (id),
    ADD FOREIGN KEY (account_id) REFERENCES accounts (id);
