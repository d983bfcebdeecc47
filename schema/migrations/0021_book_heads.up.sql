-- The head of each book's journal: its last position, hash and recorded
-- time. Every appending transaction locks its book's row (FOR UPDATE, or by
-- updating it) before it writes and moves it forward in the same
-- transaction, so each book has one writer at a time. This replaces
-- pg_advisory_xact_lock, which Citus keeps per node, with a row lock that
-- lives where the book's rows live. events stays the truth: the sequencer
-- repairs a row found behind its events (see pgjournal's repairHead).
CREATE TABLE book_heads (
    book        text        PRIMARY KEY REFERENCES books (name),
    position    bigint      NOT NULL CHECK (position >= 0),
    hash        text        NOT NULL CHECK (length(hash) = 64),
    recorded_at timestamptz, -- NULL while the book has no events
    CHECK ((position = 0) = (recorded_at IS NULL))
);

INSERT INTO book_heads (book, position, hash, recorded_at)
SELECT b.name, coalesce(e.position, 0), coalesce(e.hash, repeat('0', 64)), e.recorded_at
FROM books b
LEFT JOIN LATERAL (SELECT position, hash, recorded_at FROM events WHERE book = b.name ORDER BY position DESC LIMIT 1) e ON true;
