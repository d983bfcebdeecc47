-- Projection: deposits through payment gateways (deposit.* events).
CREATE TABLE deposits (
    id                text PRIMARY KEY,
    book              text        NOT NULL,
    account_id        text        NOT NULL REFERENCES accounts (id),
    reference         text UNIQUE,
    gateway           text        NOT NULL,
    amount            numeric     NOT NULL CHECK (amount > 0),
    currency          text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'expired', 'flagged')),
    checkout_url      text,
    gateway_reference text,
    refunded_amount   numeric     NOT NULL DEFAULT 0,
    unsolicited       boolean     NOT NULL DEFAULT false,
    received_amount   text,
    received_currency text,
    reason            text,
    created_position  bigint      NOT NULL, -- lists are in this (journal) order
    position          bigint      NOT NULL, -- the last event that changed it
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX deposits_by_account ON deposits (account_id, created_position);
CREATE INDEX deposits_by_position ON deposits (book, created_position);
CREATE INDEX deposits_by_gateway_reference ON deposits (gateway, gateway_reference);
