package projections_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/projections"
)

// days builds postings for one account over several UTC days, as the
// journal would record them: each with its running balance.
func dailyEvents(account string, start int64) []ledger.Event {
	type leg struct {
		at     string
		amount string
	}
	legs := []leg{
		{"2026-01-30T09:00:00Z", "100.00"},
		{"2026-01-30T23:59:59.999Z", "-30.00"},
		{"2026-01-31T00:00:00Z", "-20.00"}, // a new UTC day
		{"2026-02-02T12:00:00Z", "55.50"},  // 1 February has nothing
		{"2026-02-02T13:00:00Z", "-0.50"},
		{"2026-02-03T08:00:00Z", "10.00"},
	}
	balance := ledger.Zero("USD")
	var out []ledger.Event
	for i, l := range legs {
		at, _ := time.Parse(time.RFC3339Nano, l.at)
		amount := ledger.MustMoney(l.amount, "USD")
		balance = balance.Add(amount)
		out = append(out, ledger.Event{
			Book: "main", Position: start + int64(i), Type: ledger.AdjustmentPosted, RecordedAt: at, OccurredAt: at,
			Postings: []ledger.Posting{{Account: account, Amount: amount, BalanceAfter: balance}},
		})
	}
	return out
}

func TestDailySummariesDoNotDependOnBatching(t *testing.T) {
	ctx := context.Background()
	var results [][]string
	for _, size := range []int{1, 2, 4, 6} {
		f := newFixture(t)
		acc := f.open("main", "u", "USD")
		events := dailyEvents(acc, 100)
		for i := 0; i < len(events); i += size {
			tx, err := f.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := (projections.DailySummaries{}).Apply(ctx, tx, events[i:min(i+size, len(events))]); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := f.pool.Query(ctx, `SELECT concat_ws(' ', day, opening, credits, debits, closing, entries, first_position, last_position) FROM account_daily ORDER BY day`)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			got = append(got, s)
		}
		rows.Close()
		results = append(results, got)
	}
	want := []string{
		"2026-01-30 0.00 100.00 30.00 70.00 2 100 101",
		"2026-01-31 70.00 0.00 20.00 50.00 1 102 102",
		"2026-02-02 50.00 55.50 0.50 105.00 2 103 104",
		"2026-02-03 105.00 10.00 0.00 115.00 1 105 105",
	}
	for i, got := range results {
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("batching %d gives\n%v\nwant\n%v", i, got, want)
		}
	}
}

func TestStatements(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	acc := f.open("main", "u", "USD")
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := (projections.DailySummaries{}).Apply(ctx, tx, dailyEvents(acc, 2)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	day := func(s string) time.Time {
		d, _ := time.Parse(time.DateOnly, s)
		return d
	}
	for _, tc := range []struct {
		name, from, to                    string
		opening, credits, debits, closing string
		days                              int
	}{
		{"a month's statement sums its days", "2026-01-01", "2026-01-31", "0.00", "100.00", "50.00", "50.00", 2},
		{"a statement opens with the closing balance of the last earlier day", "2026-02-01", "2026-02-28", "50.00", "65.50", "0.50", "115.00", 2},
		{"a range without postings opens and closes at the balance then", "2026-02-01", "2026-02-01", "50.00", "0.00", "0.00", "50.00", 0},
		{"a range before any activity is all zero", "2025-12-01", "2025-12-31", "0.00", "0.00", "0.00", "0.00", 0},
		{"a single day", "2026-01-31", "2026-01-31", "70.00", "0.00", "20.00", "50.00", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := f.set.Statement(ctx, acc, day(tc.from), day(tc.to))
			if err != nil {
				t.Fatal(err)
			}
			got := []string{st.Opening.String(), st.Credits.String(), st.Debits.String(), st.Closing.String()}
			if want := []string{tc.opening, tc.credits, tc.debits, tc.closing}; !reflect.DeepEqual(got, want) || len(st.Days) != tc.days {
				t.Fatalf("opening, credits, debits, closing = %v with %d days, want %v with %d", got, len(st.Days), want, tc.days)
			}
		})
	}
	if _, err := f.set.Statement(ctx, "acc_nope", day("2026-01-01"), day("2026-01-02")); ledger.ErrorCode(err) != ledger.ENotFound {
		t.Fatalf("unknown account: %v", err)
	}
}
