-- transfers_by_from and transfers_by_to cost every transfer two index
-- entries, each on a random leaf (issue 17). A transfer posts to both its
-- accounts at its own position, so GET /v1/transfers?account= finds an
-- account's transfers through its postings (postings_by_account) and the
-- transfers at those positions (transfers_by_position) instead.
DROP INDEX transfers_by_from;
DROP INDEX transfers_by_to;
