package pgjournal_test

import (
	"context"
	"testing"
	"time"

	"github.com/tallyledger/tally/ledger"
)

// PositionAt searches positions by their recorded times (no index on the
// time): for every recorded time of a book of several hundred events —
// several rounds of probes, times shared by a batch's events — and the
// microsecond before each, it finds what a scan of the whole book finds.
func TestPositionAtFindsWhatAScanFinds(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if pos, err := f.store.PositionAt(ctx, ledger.DefaultBook, time.Now()); err != nil || pos != 0 {
		t.Fatalf("an empty book: position %d (%v), want 0", pos, err)
	}
	a := f.open(t, "NGN")
	for range 300 {
		f.credit(t, a, "1", "NGN")
	}
	rows, err := f.pool.Query(ctx, `SELECT DISTINCT recorded_at FROM events WHERE book = $1`, ledger.DefaultBook)
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			t.Fatal(err)
		}
		times = append(times, at, at.Add(-time.Microsecond))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	times = append(times, time.Time{}, time.Now().Add(time.Hour))
	for _, at := range times {
		var want int64
		if err := f.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events WHERE book = $1 AND recorded_at <= $2`,
			ledger.DefaultBook, at).Scan(&want); err != nil {
			t.Fatal(err)
		}
		got, err := f.store.PositionAt(ctx, ledger.DefaultBook, at)
		if err != nil || got != want {
			t.Errorf("at %s: position %d (%v), want %d", at.Format(time.RFC3339Nano), got, err, want)
		}
	}
	if len(times) < 100 {
		t.Fatalf("only %d distinct times to look up", len(times)/2)
	}
}
