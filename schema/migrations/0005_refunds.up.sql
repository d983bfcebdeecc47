-- Projection: refunds of deposits (through their gateway) and of transfers.
CREATE TABLE refunds (
    id                text PRIMARY KEY,
    book              text        NOT NULL,
    deposit_id        text REFERENCES deposits (id),
    transfer_id       text REFERENCES transfers (id),
    account_id        text        NOT NULL REFERENCES accounts (id),
    amount            numeric     NOT NULL CHECK (amount > 0),
    currency          text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    gateway           text,
    gateway_refund_id text,
    gateway_initiated boolean     NOT NULL DEFAULT false,
    reason            text        NOT NULL DEFAULT '',
    created_position  bigint      NOT NULL, -- lists are in this (journal) order
    position          bigint      NOT NULL, -- the last event that changed it
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    CHECK ((deposit_id IS NULL) <> (transfer_id IS NULL))
);
CREATE INDEX refunds_by_deposit ON refunds (deposit_id, created_position);
CREATE INDEX refunds_by_transfer ON refunds (transfer_id, created_position);
CREATE INDEX refunds_by_position ON refunds (book, created_position);
