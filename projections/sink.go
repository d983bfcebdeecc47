package projections

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
)

// Sink sends the journal out of Tally: to a broker, or into the queue of
// webhook deliveries. The Runner tails a sink exactly like an async
// projection: it reads each book's events after the sink's checkpoint, in
// position order, a page at a time, calls Send, and moves the checkpoint in
// the same transaction. So a sink sees every event at least once and never
// skips one; a crash between Send and the commit sends the page again,
// which consumers absorb by de-duplicating on the event id. The checkpoint
// row stays locked while Send runs, so one process at a time sends a book.
//
// A sink owns no tables of the ledger's state: rebuild and verify leave it
// alone (replaying the journal must not send it out again).
type Sink interface {
	// Name identifies the sink's checkpoint; it never changes once released.
	Name() string
	// Send delivers a page of one book's events, in position order. It
	// returns only once they are safely out (acknowledged by the broker, or
	// written to tx); an error rolls the page back, to be sent again.
	Send(ctx context.Context, tx pgx.Tx, events []ledger.Event) error
}

// TakesCommitted marks a Sink that never sends an event's data as it is
// stored: it looks at ids, positions, types, times and postings, or decodes
// the data. The Runner may then give it the events this process committed,
// from memory (Runner.Committed), as it gives the async projections. The
// others are given the journal's own text of each event's data.
type TakesCommitted interface {
	Sink
	TakesCommitted()
}

// sinkProjection lets the Runner drive a Sink like an async projection.
type sinkProjection struct{ sink Sink }

func (p sinkProjection) Name() string    { return p.sink.Name() }
func (p sinkProjection) Tables() []Table { return nil }
func (p sinkProjection) Apply(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	return p.sink.Send(ctx, tx, events)
}

func asProjections(sinks []Sink) []Projection {
	out := make([]Projection, len(sinks))
	for i, s := range sinks {
		out[i] = sinkProjection{s}
	}
	return out
}
