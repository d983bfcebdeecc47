CREATE INDEX deposits_by_reference ON deposits (reference);
ALTER TABLE deposits ADD CONSTRAINT deposits_book_reference_key UNIQUE (book, reference);
