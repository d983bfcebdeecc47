-- API keys. Keys are configuration, not money: they are not journal events,
-- but a key is never deleted, so created_at and revoked_at stay as its record.
-- Only the SHA-256 of the secret is stored; the secret is shown once.
CREATE TABLE api_keys (
    id          text        PRIMARY KEY,
    name        text        NOT NULL,
    prefix      text        NOT NULL UNIQUE,
    secret_hash bytea       NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    scopes      text[]      NOT NULL CHECK (cardinality(scopes) > 0),
    owner       text,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz,
    revoked_at  timestamptz,
    replaced_by text        REFERENCES api_keys (id),
    -- The first key of a rotation chain: owner-less keys scope their
    -- Idempotency-Keys to it, so that a retry still replays after a rotation.
    lineage     text        NOT NULL
);
-- Counting an owner's active keys (at most 5) and listing them.
CREATE INDEX api_keys_by_owner ON api_keys (owner, id) WHERE revoked_at IS NULL;
