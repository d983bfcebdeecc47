package pgjournal

import "context"

// BookExists reports whether book exists: the default book always does,
// any other once its first account has been opened.
func (s *Store) BookExists(ctx context.Context, book string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM books WHERE name = $1)`, book).Scan(&ok)
	return ok, classify(err)
}
