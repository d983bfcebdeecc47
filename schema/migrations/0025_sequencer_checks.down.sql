ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_book_position_fkey FOREIGN KEY (book, position) REFERENCES events (book, position);
ALTER TABLE deposit_references ADD CONSTRAINT deposit_references_book_fkey FOREIGN KEY (book) REFERENCES books (name);
ALTER TABLE deposits ADD CONSTRAINT deposits_book_account_id_fkey FOREIGN KEY (book, account_id) REFERENCES accounts (book, id);
ALTER TABLE transfers
    ADD CONSTRAINT transfers_book_from_account_fkey FOREIGN KEY (book, from_account) REFERENCES accounts (book, id),
    ADD CONSTRAINT transfers_book_to_account_fkey FOREIGN KEY (book, to_account) REFERENCES accounts (book, id);
ALTER TABLE events ADD CONSTRAINT events_book_fkey FOREIGN KEY (book) REFERENCES books (name);
ALTER TABLE postings ADD CONSTRAINT postings_book_position_fkey FOREIGN KEY (book, position) REFERENCES events (book, position);
