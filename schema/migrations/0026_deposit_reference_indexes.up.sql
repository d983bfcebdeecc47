-- deposit_references (reference PRIMARY KEY) is written in the transaction
-- of every deposit that has a reference: it keeps references unique across
-- books and finds a deposit by its reference. The two indexes on
-- deposits.reference repeated it, two more index entries per deposit
-- written on the webhook path (issue 17); the lookups by reference now go
-- through deposit_references.
ALTER TABLE deposits DROP CONSTRAINT deposits_book_reference_key;
DROP INDEX deposits_by_reference;
