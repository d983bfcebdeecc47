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
    position          bigint      NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    CHECK ((deposit_id IS NULL) <> (transfer_id IS NULL))
);
CREATE INDEX refunds_by_deposit ON refunds (deposit_id, id);
CREATE INDEX refunds_by_transfer ON refunds (transfer_id, id);
