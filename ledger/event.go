package ledger

import (
	"encoding/json"
	"time"
)

// EventType names what happened. Types are part of the journal forever: never rename one.
type EventType string

// Each kind of record declares its own event types, in its own file
// (account.go, transfer.go, hold.go, …).

// Event is one immutable journal entry. Its JSON form (MarshalJSON) is exactly
// what GET /v1/events returns and what the hash chain covers.
type Event struct {
	Book       string
	Position   int64
	ID         string
	Type       EventType
	OccurredAt time.Time
	RecordedAt time.Time
	Data       json.RawMessage
	Postings   []Posting
	PrevHash   string
	Hash       string

	// dataValue is the value Data was encoded from, kept by the process
	// that decided the event when decoding Data gives it back (keepData),
	// for as long as Data is the encoding it was kept with (dataOf).
	dataValue any
	dataOf    *byte
}

// Posting is one leg of an event: a signed amount into (+) or out of (-) an
// account. BalanceAfter is the account's running balance after the leg; it is
// derived, so it is stored but not hashed.
type Posting struct {
	Account      string
	Amount       Money
	BalanceAfter Money
}

// TimeFormat renders journal times: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Truncate brings t to the journal's precision (UTC milliseconds), so that a
// time renders the same way forever.
func Truncate(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// postingJSON is the hashed wire form of a posting.
type postingJSON struct {
	Account  string   `json:"account"`
	Amount   string   `json:"amount"`
	Currency Currency `json:"currency"`
}

// eventJSON is the wire form of an event. Hash is omitted while hashing.
type eventJSON struct {
	Position   int64           `json:"position"`
	ID         string          `json:"id"`
	Book       string          `json:"book"`
	Type       EventType       `json:"type"`
	OccurredAt string          `json:"occurred_at"`
	RecordedAt string          `json:"recorded_at"`
	Data       json.RawMessage `json:"data"`
	Postings   []postingJSON   `json:"postings"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash,omitempty"`
}

func (e Event) wire() eventJSON {
	ps := make([]postingJSON, len(e.Postings))
	for i, p := range e.Postings {
		ps[i] = postingJSON{Account: p.Account, Amount: p.Amount.String(), Currency: p.Amount.Currency()}
	}
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return eventJSON{
		Position: e.Position, ID: e.ID, Book: e.Book, Type: e.Type,
		OccurredAt: e.OccurredAt.UTC().Format(TimeFormat), RecordedAt: e.RecordedAt.UTC().Format(TimeFormat),
		Data: data, Postings: ps, PrevHash: e.PrevHash, Hash: e.Hash,
	}
}

// MarshalJSON renders the event as GET /v1/events shows it.
func (e Event) MarshalJSON() ([]byte, error) { return json.Marshal(e.wire()) }
