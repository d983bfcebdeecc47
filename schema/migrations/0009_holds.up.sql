-- Holds, multi-leg transactions and overdraft limits (issue 12). Every new
-- table belongs to a book: book is in its primary key, unique keys and
-- foreign keys, so the tables can be distributed by book.

-- Projection (accounts): how far below zero requests may take a wallet.
ALTER TABLE accounts ADD COLUMN overdraft_limit numeric NOT NULL DEFAULT 0 CHECK (overdraft_limit >= 0);

-- Projection (balances): the sum of the account's pending holds.
ALTER TABLE balances ADD COLUMN held numeric NOT NULL DEFAULT 0 CHECK (held >= 0);

-- Projection: holds (hold.* events).
CREATE TABLE holds (
    book             text        NOT NULL,
    id               text        NOT NULL,
    from_account     text        NOT NULL,
    to_account       text        NOT NULL,
    amount           numeric     NOT NULL CHECK (amount > 0),
    currency         text        NOT NULL,
    captured_amount  numeric     NOT NULL DEFAULT 0,
    refunded_amount  numeric     NOT NULL DEFAULT 0,
    status           text        NOT NULL CHECK (status IN ('pending', 'captured', 'voided', 'expired')),
    expires_at       timestamptz NOT NULL,
    description      text        NOT NULL DEFAULT '',
    metadata         jsonb       NOT NULL DEFAULT '{}',
    created_position bigint      NOT NULL, -- lists are in this (journal) order
    position         bigint      NOT NULL, -- the last event that changed it
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (book, id)
);
CREATE INDEX holds_by_from ON holds (from_account, created_position);
CREATE INDEX holds_by_to ON holds (to_account, created_position);
CREATE INDEX holds_by_position ON holds (book, created_position);
-- The expirer's work list.
CREATE INDEX holds_due ON holds (expires_at) WHERE status = 'pending';

-- Projection: transactions (transaction.posted) and their legs.
CREATE TABLE transactions (
    book        text        NOT NULL,
    id          text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    metadata    jsonb       NOT NULL DEFAULT '{}',
    reverses    text,
    reversed_by text,
    position    bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (book, id)
);
CREATE INDEX transactions_by_position ON transactions (book, position);

CREATE TABLE transaction_legs (
    book           text    NOT NULL,
    transaction_id text    NOT NULL,
    seq            smallint NOT NULL,
    from_account   text    NOT NULL,
    to_account     text    NOT NULL,
    amount         numeric NOT NULL CHECK (amount > 0),
    currency       text    NOT NULL,
    position       bigint  NOT NULL,
    PRIMARY KEY (book, transaction_id, seq)
);
CREATE INDEX transaction_legs_by_from ON transaction_legs (from_account, position);
CREATE INDEX transaction_legs_by_to ON transaction_legs (to_account, position);

-- Projection (refunds): a captured hold is refundable like a transfer.
ALTER TABLE refunds ADD COLUMN hold_id text;
ALTER TABLE refunds DROP CONSTRAINT refunds_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_one_original CHECK (num_nonnulls(deposit_id, transfer_id, hold_id) = 1);
CREATE INDEX refunds_by_hold ON refunds (hold_id, created_position);
