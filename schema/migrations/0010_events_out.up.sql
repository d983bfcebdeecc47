-- Events out: webhook subscriptions and their deliveries. The broker sinks
-- (NATS, Kafka) and the webhook fan-out keep their checkpoints in
-- projection_checkpoints, like every async consumer of the journal.

-- Subscriptions are global configuration (a reference table on Citus). The
-- signing secret is kept as is: Tally signs with it on every delivery. A
-- deleted subscription keeps its row, so its deliveries stay explained.
CREATE TABLE webhook_subscriptions (
    id          text        PRIMARY KEY,
    url         text        NOT NULL,
    events      text[]      NOT NULL CHECK (cardinality(events) > 0),
    book        text        REFERENCES books (name),
    owner       text,
    description text        NOT NULL DEFAULT '',
    secret      text        NOT NULL,
    created_at  timestamptz NOT NULL,
    deleted_at  timestamptz
);

-- One row per (subscription, event) to send, in the order the subscription
-- receives them: seq grows with position within a book (the fan-out writes
-- under the book's checkpoint lock), and a replay adds rows after the rest.
CREATE SEQUENCE webhook_delivery_seq;
CREATE TABLE webhook_deliveries (
    book             text        NOT NULL,
    subscription_id  text        NOT NULL REFERENCES webhook_subscriptions (id),
    seq              bigint      NOT NULL,
    id               text        NOT NULL,
    position         bigint      NOT NULL,
    event_id         text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL,
    first_attempt_at timestamptz,
    next_attempt_at  timestamptz NOT NULL,
    delivered_at     timestamptz,
    PRIMARY KEY (book, subscription_id, seq),
    UNIQUE (book, id),
    FOREIGN KEY (book, position) REFERENCES events (book, position)
);
-- The delivery loop's queue: the oldest pending row of each book.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (subscription_id, book, seq) WHERE status = 'pending';
-- Listing a subscription's deliveries, newest first.
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id);
