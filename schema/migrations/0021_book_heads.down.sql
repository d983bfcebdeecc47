DROP TABLE book_heads;
