-- Indexes that cost every append an entry for reads that can do without
-- them (issue 17). The chain's backend, which writes every optimistic batch
-- of a book one after another, spends 40% of its time inserting index
-- entries; a deposit wrote 15 and a transfer 14.
--
-- * transfers_by_id, deposits_by_id: GET /v1/transfers/{id} and
--   GET /v1/deposits/{id} probe the primary key (book, id) once per book
--   instead, a few microseconds each.
-- * events_by_time: the position recorded at a moment (balances and trial
--   balances as of a time) is searched for by position on the primary key,
--   since recorded times never go backwards within a book.
DROP INDEX transfers_by_id;
DROP INDEX deposits_by_id;
DROP INDEX events_by_time;
