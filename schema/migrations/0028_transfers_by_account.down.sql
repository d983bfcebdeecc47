CREATE INDEX transfers_by_from ON transfers (from_account, position);
CREATE INDEX transfers_by_to ON transfers (to_account, position);
