-- Withdrawals (issue 18): payouts from wallets to bank accounts. Both tables
-- belong to a book: book is in every primary and unique key, so they can be
-- distributed by book.

-- Projection: withdrawals (withdrawal.* events). It holds the masked
-- account number only, as the events do.
CREATE TABLE withdrawals (
    book              text        NOT NULL,
    id                text        NOT NULL,
    account_id        text        NOT NULL,
    amount            numeric     NOT NULL CHECK (amount > 0),
    currency          text        NOT NULL,
    gateway           text        NOT NULL,
    destination_id    text        NOT NULL,
    bank_code         text        NOT NULL,
    masked_number     text        NOT NULL,
    reason            text        NOT NULL DEFAULT '',
    status            text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'reversed')),
    gateway_reference text,
    failure_reason    text        NOT NULL DEFAULT '',
    created_position  bigint      NOT NULL, -- lists are in this (journal) order
    position          bigint      NOT NULL, -- the last event that changed it
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (book, id)
);
CREATE INDEX withdrawals_by_id ON withdrawals (id);
CREATE INDEX withdrawals_by_position ON withdrawals (book, created_position);
CREATE INDEX withdrawals_by_account ON withdrawals (book, account_id, created_position);
-- Closing a wallet reads its pending withdrawals.
CREATE INDEX withdrawals_pending_by_account ON withdrawals (book, account_id) WHERE status = 'pending';

-- Bank accounts withdrawals pay out to. Personal data, so not in the
-- journal and not a projection: an operator may erase a row's details
-- (tally destinations erase), which leaves the masked number and erased_at.
CREATE TABLE withdrawal_destinations (
    book           text        NOT NULL,
    id             text        NOT NULL,
    bank_code      text        NOT NULL,
    account_number text,
    account_name   text,
    masked_number  text        NOT NULL,
    -- The gateway's id for this bank account (Paystack's recipient_code),
    -- reused by later payouts to it.
    gateway        text        NOT NULL,
    recipient_code text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    erased_at      timestamptz,
    PRIMARY KEY (book, id),
    CHECK ((erased_at IS NULL) = (account_number IS NOT NULL AND account_name IS NOT NULL))
);
CREATE INDEX withdrawal_destinations_by_id ON withdrawal_destinations (id);
-- A later payout to the same bank account reuses its gateway recipient.
CREATE INDEX withdrawal_destinations_by_account ON withdrawal_destinations (book, gateway, bank_code, account_number)
    WHERE recipient_code IS NOT NULL;
