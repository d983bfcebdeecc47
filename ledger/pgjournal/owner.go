package pgjournal

import "context"

// TransfersOfOwner lists, in journal order after the given position
// (cursor), the transfers that touch any account of owner: those it sent and
// those it received. API keys bound to an owner list transfers through it.
func (s *Store) TransfersOfOwner(ctx context.Context, owner string, afterPosition int64, limit int) ([]Transfer, error) {
	rows, err := s.pool.Query(ctx, `
		WITH mine AS (SELECT id FROM accounts WHERE owner = $1)
		SELECT `+transferColumns+` FROM transfers
		WHERE (from_account IN (SELECT id FROM mine) OR to_account IN (SELECT id FROM mine)) AND position > $2
		ORDER BY position LIMIT $3`, owner, afterPosition, limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []Transfer
	for rows.Next() {
		t, err := scanTransfer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, classify(rows.Err())
}
