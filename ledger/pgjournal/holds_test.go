package pgjournal_test

import (
	"context"
	"testing"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// A capture or void of a hold the sequencer's cache holds is appended
// optimistically, and stays exactly-once across processes: a hold another
// process voided moved the book's head, so this process's capture, decided
// on its stale cache, is refused by PostgreSQL and decided again carefully,
// where the hold is found voided.
func TestHoldCapturesAreOptimisticAndSafeAcrossProcesses(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.open(t, "EUR"), f.open(t, "EUR")
	f.credit(t, a, "100", "EUR")
	hold := func(j *pgjournal.Journal) string {
		id := ledger.NewID(ledger.PrefixHold)
		got, err := j.Submit(ctx, pgjournal.Request{Command: ledger.CreateHold{HoldID: id, From: a, To: b, Amount: ledger.MustMoney("10", "EUR")}, Render: outcome})
		if err != nil || string(got.Body) != "ok" {
			t.Fatalf("hold: %s %v", got.Body, err)
		}
		return id
	}
	decide := func(j *pgjournal.Journal, cmd ledger.Command) string {
		got, err := j.Submit(ctx, pgjournal.Request{Book: ledger.DefaultBook, Command: cmd, Render: outcome})
		if err != nil {
			t.Fatal(err)
		}
		return string(got.Body)
	}

	h1 := hold(f.journal)
	before := f.journal.Stats().Optimistic
	if got := decide(f.journal, ledger.CaptureHold{HoldID: h1}); got != "ok" {
		t.Fatalf("capture: %s", got)
	}
	if f.journal.Stats().Optimistic != before+1 {
		t.Fatalf("the capture of a cached hold was not optimistic: %+v", f.journal.Stats())
	}

	h2 := hold(f.journal)
	other := newJournal(f.pool) // another process
	defer other.Close()
	if got := decide(other, ledger.VoidHold{HoldID: h2}); got != "ok" {
		t.Fatalf("void in the other process: %s", got)
	}
	if got := decide(f.journal, ledger.CaptureHold{HoldID: h2}); got != string(ledger.EHoldNotPending) {
		t.Fatalf("capture of a hold the other process voided: %s, want %s", got, ledger.EHoldNotPending)
	}
	events, err := f.store.Events(ctx, pgjournal.EventFilter{Book: ledger.DefaultBook, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	count := map[ledger.EventType]int{}
	for _, e := range events {
		count[e.Type]++
	}
	if count[ledger.HoldCaptured] != 1 || count[ledger.HoldVoided] != 1 {
		t.Fatalf("events %v: want one capture (h1) and one void (h2)", count)
	}
	if acc, err := f.store.Account(ctx, b); err != nil || acc.Balance.String() != "10.00" {
		t.Fatalf("recipient %v %v, want 10.00", acc.Balance, err)
	}
}
