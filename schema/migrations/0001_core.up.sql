-- Tally core schema: the journal (events, postings) is the source of truth and is
-- append-only; every other table is a projection of it and may be rebuilt.

CREATE TABLE books (
    name       text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO books (name) VALUES ('main');

-- One row per journal event. Positions are gap-free per book and are assigned
-- by the sequencer under pg_advisory_xact_lock; never a bigserial.
CREATE TABLE events (
    book        text        NOT NULL REFERENCES books (name),
    position    bigint      NOT NULL CHECK (position > 0),
    id          text        NOT NULL UNIQUE,
    type        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    data        jsonb       NOT NULL,
    prev_hash   text        NOT NULL CHECK (length(prev_hash) = 64),
    hash        text        NOT NULL CHECK (length(hash) = 64),
    PRIMARY KEY (book, position)
);
CREATE INDEX events_by_type ON events (book, type, position);
CREATE INDEX events_by_time ON events (book, recorded_at, position);

-- The double-entry legs of each event. amount is signed (+ into the account);
-- balance_after is the account's running balance after this leg.
CREATE TABLE postings (
    book          text    NOT NULL,
    position      bigint  NOT NULL,
    seq           smallint NOT NULL,
    account_id    text    NOT NULL,
    currency      text    NOT NULL,
    amount        numeric NOT NULL CHECK (amount <> 0),
    balance_after numeric NOT NULL,
    PRIMARY KEY (book, position, seq),
    FOREIGN KEY (book, position) REFERENCES events (book, position)
);
CREATE INDEX postings_by_account ON postings (account_id, position, seq);

CREATE FUNCTION tally_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tally: % on % is refused: the journal is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION tally_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION tally_refuse_change();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION tally_refuse_change();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION tally_refuse_change();

-- Projection: accounts and their status (account.* events).
CREATE TABLE accounts (
    id              text PRIMARY KEY,
    book            text NOT NULL REFERENCES books (name),
    wallet_number   text UNIQUE,
    name            text,
    owner           text,
    currency        text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('wallet', 'system')),
    status          text NOT NULL CHECK (status IN ('active', 'frozen', 'closed')),
    metadata        jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    opened_position bigint NOT NULL,
    UNIQUE (book, currency, name)
);
CREATE INDEX accounts_by_owner ON accounts (owner, book, opened_position);
CREATE INDEX accounts_by_position ON accounts (book, opened_position);

-- Projection: current balance of each account, kept inline by the sequencer.
CREATE TABLE balances (
    account_id text PRIMARY KEY REFERENCES accounts (id),
    currency   text    NOT NULL,
    balance    numeric NOT NULL,
    position   bigint  NOT NULL
);

-- Projection: transfers (transfer.completed).
CREATE TABLE transfers (
    id              text PRIMARY KEY,
    book            text        NOT NULL,
    from_account    text        NOT NULL REFERENCES accounts (id),
    to_account      text        NOT NULL REFERENCES accounts (id),
    amount          numeric     NOT NULL CHECK (amount > 0),
    currency        text        NOT NULL,
    description     text        NOT NULL DEFAULT '',
    metadata        jsonb       NOT NULL DEFAULT '{}',
    status          text        NOT NULL,
    refunded_amount numeric     NOT NULL DEFAULT 0,
    position        bigint      NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX transfers_by_from ON transfers (from_account, position);
CREATE INDEX transfers_by_to ON transfers (to_account, position);
CREATE INDEX transfers_by_position ON transfers (book, position);

-- Projection: adjustments (adjustment.posted).
CREATE TABLE adjustments (
    id         text PRIMARY KEY,
    book       text        NOT NULL,
    account_id text        NOT NULL REFERENCES accounts (id),
    direction  text        NOT NULL CHECK (direction IN ('credit', 'debit')),
    amount     numeric     NOT NULL CHECK (amount > 0),
    currency   text        NOT NULL,
    reason     text        NOT NULL,
    position   bigint      NOT NULL,
    created_at timestamptz NOT NULL
);

-- Idempotency records, written in the same transaction as the events they
-- answer for, and kept forever.
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    fingerprint  text        NOT NULL,
    status       integer     NOT NULL,
    content_type text        NOT NULL,
    body         bytea       NOT NULL,
    position     bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
