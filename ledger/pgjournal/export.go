package pgjournal

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"

	"github.com/tallyledger/tally/ledger"
)

// The journal's export formats, shared by `tally export` and the console's
// download: JSON Lines, each line exactly the event GET /v1/events returns
// (so its hash can be re-checked), or CSV, one row per posting.

// ExportCSVHeader is the header row of the CSV export.
var ExportCSVHeader = []string{"book", "position", "event_id", "type", "occurred_at", "recorded_at", "posting", "account", "amount", "currency", "balance_after", "data", "prev_hash", "hash"}

// WriteJSONL writes e as one line of JSON.
func WriteJSONL(w io.Writer, e ledger.Event) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = w.Write(append(line, '\n'))
	return err
}

// WriteCSV writes e's rows: one per posting, or one without a posting.
func WriteCSV(cw *csv.Writer, e ledger.Event) error {
	base := []string{e.Book, strconv.FormatInt(e.Position, 10), e.ID, string(e.Type),
		e.OccurredAt.UTC().Format(ledger.TimeFormat), e.RecordedAt.UTC().Format(ledger.TimeFormat)}
	var compact bytes.Buffer
	if err := json.Compact(&compact, e.Data); err != nil {
		return err
	}
	data := compact.String()
	if len(e.Postings) == 0 {
		return cw.Write(append(base, "", "", "", "", "", data, e.PrevHash, e.Hash))
	}
	for i, p := range e.Postings {
		row := append(append([]string{}, base...), strconv.Itoa(i), p.Account, p.Amount.String(), string(p.Amount.Currency()), p.BalanceAfter.String(), data, e.PrevHash, e.Hash)
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	return nil
}

// ReadEvents reads up to limit events of book after position after (and at
// most upto, when upto > 0), with their postings: ReadEvents on the store's pool.
func (s *Store) ReadEvents(ctx context.Context, book string, after, upto int64, limit int) ([]ledger.Event, error) {
	return ReadEvents(ctx, s.pool, book, after, upto, limit)
}
