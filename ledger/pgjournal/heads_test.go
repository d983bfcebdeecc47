package pgjournal_test

import (
	"context"
	"testing"
	"time"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal/journaltest"
)

// The book's head row is its append lock: while another transaction holds
// it, no append of the book commits; once it lets go, the append does, and
// the head row moves with the journal.
func TestBookHeadRowSerializesAppends(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, "NGN")
	release := holdBook(t, f.pool, ledger.DefaultBook)
	done := make(chan error, 1)
	go func() {
		_, err := f.submit(t, ledger.Adjust{AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: a, Direction: ledger.Credit, Amount: ledger.MustMoney("5", "NGN"), Reason: "r"})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("an append committed while its book's head row was locked (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	journaltest.Check(t, f.pool, ledger.DefaultBook)
	var advisory int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'`).Scan(&advisory); err != nil || advisory != 0 {
		t.Fatalf("advisory locks held: %d (%v)", advisory, err)
	}
}

// A head row left behind by a writer that does not move it (an older Tally
// during a rolling upgrade) is repaired by the next append, which then
// chains from the real last event.
func TestBookHeadBehindIsRepaired(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, "NGN")
	f.credit(t, a, "10", "NGN")
	ctx := context.Background()
	before := len(journaltest.Check(t, f.pool, ledger.DefaultBook))
	// Put the head one event back, as if the last append had not moved it.
	if _, err := f.pool.Exec(ctx, `UPDATE book_heads h SET position = e.position, hash = e.hash, recorded_at = e.recorded_at
		FROM events e WHERE h.book = 'main' AND e.book = 'main' AND e.position = h.position - 1`); err != nil {
		t.Fatal(err)
	}
	f.journal.Close() // a fresh journal: no cache of the book
	f = &fixture{pool: f.pool, journal: newJournal(f.pool), store: f.store}
	t.Cleanup(f.journal.Close)
	f.credit(t, a, "5", "NGN")
	events := journaltest.Check(t, f.pool, ledger.DefaultBook)
	if last := events[len(events)-1]; len(events) <= before || last.Type != ledger.AdjustmentPosted {
		t.Fatalf("%d events after %d, the last %s: the credit was not appended after the real head", len(events), before, last.Type)
	}
}
