-- The finance console's sessions, and four-eyes adjustment proposals.

-- Console sessions: an API key exchanged for a cookie. Global (sessions are
-- not a book's data), in PostgreSQL so that every process behind a load
-- balancer knows them. Only hashes are stored: the SHA-256 of the session
-- cookie, and of the API key it was opened with (re-checked on every
-- request, so a revoked key ends its sessions).
CREATE TABLE console_sessions (
    token_hash  bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    key_hash    bytea       NOT NULL CHECK (length(key_hash) = 32),
    key_id      text        NOT NULL,
    csrf_token  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

-- Projection: adjustment proposals (adjustment.proposed, and the
-- adjustment.posted or adjustment.rejected that decides each). A proposal
-- keeps its id (adj_…) when it posts, so the adjustment and its proposal
-- share one id.
CREATE TABLE adjustment_proposals (
    book              text        NOT NULL,
    id                text        NOT NULL,
    account_id        text        NOT NULL,
    direction         text        NOT NULL CHECK (direction IN ('credit', 'debit')),
    amount            numeric     NOT NULL CHECK (amount > 0),
    currency          text        NOT NULL,
    reason            text        NOT NULL,
    proposed_by       text        NOT NULL,
    proposed_position bigint      NOT NULL,
    proposed_at       timestamptz NOT NULL,
    status            text        NOT NULL CHECK (status IN ('pending', 'posted', 'rejected')),
    decided_by        text,
    decision_reason   text,
    decided_position  bigint,
    decided_at        timestamptz,
    PRIMARY KEY (book, id)
);
CREATE INDEX adjustment_proposals_by_status ON adjustment_proposals (book, status, proposed_position);
CREATE INDEX adjustment_proposals_by_id ON adjustment_proposals (id);
