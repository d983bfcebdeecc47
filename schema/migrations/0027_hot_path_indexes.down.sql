CREATE INDEX events_by_time ON events (book, recorded_at, position);
CREATE INDEX deposits_by_id ON deposits (id);
CREATE INDEX transfers_by_id ON transfers (id);
