-- Audit and replay: the checkpoints of async projections and the first async
-- projection, daily summaries per account. (0002 is reserved for deposits;
-- golang-migrate tolerates the gap.)

-- Where each async projection stands in each book's journal. A runner moves
-- the row forward in the same transaction as the projection's rows, so a
-- crash can neither apply an event twice nor skip one.
CREATE TABLE projection_checkpoints (
    projection text        NOT NULL,
    book       text        NOT NULL REFERENCES books (name),
    position   bigint      NOT NULL CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, book)
);

-- Async projection: one row per account and UTC day (of recorded_at) with
-- postings. opening is the balance before the day's first posting, closing
-- the balance after its last; debits and credits are the day's outgoing and
-- incoming sums, both positive. Monthly statements read from here.
CREATE TABLE account_daily (
    account_id     text    NOT NULL,
    day            date    NOT NULL,
    book           text    NOT NULL,
    currency       text    NOT NULL,
    opening        numeric NOT NULL,
    credits        numeric NOT NULL CHECK (credits >= 0),
    debits         numeric NOT NULL CHECK (debits >= 0),
    closing        numeric NOT NULL,
    entries        integer NOT NULL CHECK (entries > 0),
    first_position bigint  NOT NULL,
    last_position  bigint  NOT NULL,
    PRIMARY KEY (account_id, day),
    CHECK (closing = opening + credits - debits)
);
CREATE INDEX account_daily_by_book ON account_daily (book, day);
