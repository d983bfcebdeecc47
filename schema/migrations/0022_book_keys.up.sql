-- Book in every key: every table that belongs to a book has `book` in its
-- primary key, in each unique key and in each foreign key, so that Citus can
-- distribute them by book, co-located (docs/scale-out.md), and every lookup
-- and row lock can name its book. Wallet numbers and deposit references stay
-- unique across books through lookup tables, written in the same
-- transaction as the row they name.

-- balances learns its book.
ALTER TABLE balances ADD COLUMN book text;
UPDATE balances b SET book = a.book FROM accounts a WHERE a.id = b.account_id;
ALTER TABLE balances ALTER COLUMN book SET NOT NULL;

-- Foreign keys by id alone hang on the id-only keys: they go first.
ALTER TABLE balances DROP CONSTRAINT balances_account_id_fkey;
ALTER TABLE transfers DROP CONSTRAINT transfers_from_account_fkey, DROP CONSTRAINT transfers_to_account_fkey;
ALTER TABLE adjustments DROP CONSTRAINT adjustments_account_id_fkey;
ALTER TABLE deposits DROP CONSTRAINT deposits_account_id_fkey;
ALTER TABLE refunds DROP CONSTRAINT refunds_deposit_id_fkey, DROP CONSTRAINT refunds_transfer_id_fkey,
    DROP CONSTRAINT refunds_account_id_fkey;

ALTER TABLE events DROP CONSTRAINT events_id_key, ADD CONSTRAINT events_book_id_key UNIQUE (book, id);

ALTER TABLE accounts DROP CONSTRAINT accounts_pkey, ADD PRIMARY KEY (book, id),
    DROP CONSTRAINT accounts_wallet_number_key, ADD CONSTRAINT accounts_book_wallet_number_key UNIQUE (book, wallet_number);
-- Lookups by id alone (GET /v1/accounts/{id}, finding a command's book).
CREATE INDEX accounts_by_id ON accounts (id);

ALTER TABLE balances DROP CONSTRAINT balances_pkey, ADD PRIMARY KEY (book, account_id),
    ADD FOREIGN KEY (book, account_id) REFERENCES accounts (book, id);

ALTER TABLE transfers DROP CONSTRAINT transfers_pkey, ADD PRIMARY KEY (book, id),
    ADD FOREIGN KEY (book, from_account) REFERENCES accounts (book, id),
    ADD FOREIGN KEY (book, to_account) REFERENCES accounts (book, id);
CREATE INDEX transfers_by_id ON transfers (id);

ALTER TABLE adjustments DROP CONSTRAINT adjustments_pkey, ADD PRIMARY KEY (book, id),
    ADD FOREIGN KEY (book, account_id) REFERENCES accounts (book, id);

ALTER TABLE deposits DROP CONSTRAINT deposits_pkey, ADD PRIMARY KEY (book, id),
    DROP CONSTRAINT deposits_reference_key, ADD CONSTRAINT deposits_book_reference_key UNIQUE (book, reference),
    ADD FOREIGN KEY (book, account_id) REFERENCES accounts (book, id);
CREATE INDEX deposits_by_id ON deposits (id);
CREATE INDEX deposits_by_reference ON deposits (reference);

ALTER TABLE refunds DROP CONSTRAINT refunds_pkey, ADD PRIMARY KEY (book, id),
    ADD FOREIGN KEY (book, deposit_id) REFERENCES deposits (book, id),
    ADD FOREIGN KEY (book, transfer_id) REFERENCES transfers (book, id),
    ADD FOREIGN KEY (book, account_id) REFERENCES accounts (book, id);
CREATE INDEX refunds_by_id ON refunds (id);

ALTER TABLE account_daily DROP CONSTRAINT account_daily_pkey, ADD PRIMARY KEY (book, account_id, day);

-- Holds and transactions (0009), the webhook deliveries (0010), the
-- adjustment proposals (0012) and the withdrawals and their destinations
-- (0020) were made with book in every key; holds and transactions are also
-- found by id alone.
CREATE INDEX holds_by_id ON holds (id);
CREATE INDEX transactions_by_id ON transactions (id);

-- Idempotency records are kept per book: a retry is the same request, so it
-- goes to the same book. An existing record that names a position belongs
-- to the book whose event at that position was recorded closest to it; one
-- that names none (a refusal) is copied into every book, so that a retry
-- finds it whichever book it goes to.
ALTER TABLE idempotency_keys ADD COLUMN book text, DROP CONSTRAINT idempotency_keys_pkey;
UPDATE idempotency_keys k SET book = m.book
FROM (SELECT DISTINCT ON (k.scope, k.key) k.scope, k.key, e.book
      FROM idempotency_keys k JOIN events e ON e.position = k.position
      ORDER BY k.scope, k.key, abs(extract(epoch FROM e.recorded_at - k.created_at))) m
WHERE k.scope = m.scope AND k.key = m.key;
INSERT INTO idempotency_keys (book, scope, key, fingerprint, status, content_type, body, position, created_at)
SELECT b.name, k.scope, k.key, k.fingerprint, k.status, k.content_type, k.body, k.position, k.created_at
FROM idempotency_keys k CROSS JOIN books b WHERE k.book IS NULL;
DELETE FROM idempotency_keys WHERE book IS NULL;
ALTER TABLE idempotency_keys ALTER COLUMN book SET NOT NULL, ADD PRIMARY KEY (book, scope, key);

-- The lookup tables: global keys, and the book they live in.
CREATE TABLE wallet_numbers (
    wallet_number text PRIMARY KEY,
    book          text NOT NULL REFERENCES books (name),
    account_id    text NOT NULL
);
INSERT INTO wallet_numbers (wallet_number, book, account_id)
SELECT wallet_number, book, id FROM accounts WHERE wallet_number IS NOT NULL;

CREATE TABLE deposit_references (
    reference  text PRIMARY KEY,
    book       text NOT NULL REFERENCES books (name),
    deposit_id text NOT NULL
);
INSERT INTO deposit_references (reference, book, deposit_id)
SELECT reference, book, id FROM deposits WHERE reference IS NOT NULL;
