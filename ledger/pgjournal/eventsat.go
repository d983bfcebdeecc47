package pgjournal

import (
	"context"
	"encoding/json"

	"github.com/tallyledger/tally/ledger"
)

// EventsAt reads the events of book at the given positions, in position
// order, exactly as Events reads them for GET /v1/events. Positions that do
// not exist are left out.
func (s *Store) EventsAt(ctx context.Context, book string, positions []int64) ([]ledger.Event, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT position, id, type, occurred_at, recorded_at, data::text, prev_hash, hash
		FROM events WHERE book = $1 AND position = ANY($2) ORDER BY position`, book, positions)
	if err != nil {
		return nil, classify(err)
	}
	var out []ledger.Event
	var found []int64
	for rows.Next() {
		e := ledger.Event{Book: book}
		var data string
		if err := rows.Scan(&e.Position, &e.ID, &e.Type, &e.OccurredAt, &e.RecordedAt, &data, &e.PrevHash, &e.Hash); err != nil {
			rows.Close()
			return nil, err
		}
		e.Data = json.RawMessage(data)
		out = append(out, e)
		found = append(found, e.Position)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, s.attachPostings(ctx, book, found, out)
}
