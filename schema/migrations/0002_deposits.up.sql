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
    position          bigint      NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX deposits_by_account ON deposits (account_id, id);
CREATE INDEX deposits_by_gateway_reference ON deposits (gateway, gateway_reference);
