package pgjournal_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

func TestCheckRunningBalancesOverRanges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.open(t, "USD"), f.open(t, "USD")
	f.credit(t, a, "50", "USD")
	for range 6 {
		if got, err := f.submit(t, ledger.Transfer{TransferID: ledger.NewID(ledger.PrefixTransfer), From: a, To: b, Amount: ledger.MustMoney("2.50", "USD")}); err != nil || got != "ok" {
			t.Fatal(got, err)
		}
	}
	head, err := pgjournal.BookHead(ctx, f.pool, ledger.DefaultBook)
	if err != nil {
		t.Fatal(err)
	}
	check := func(after, upto int64) []int64 {
		var at []int64
		if err := pgjournal.CheckRunningBalances(ctx, f.pool, ledger.DefaultBook, after, upto, func(m pgjournal.BalanceMismatch) error {
			at = append(at, m.Position)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return at
	}
	for after := int64(0); after < head.Position; after++ {
		if bad := check(after, head.Position); len(bad) != 0 {
			t.Fatalf("sound journal, from %d: mismatches at %v", after, bad)
		}
	}
	p := head.Position - 2
	for _, s := range []string{
		`ALTER TABLE postings DISABLE TRIGGER USER`,
		fmt.Sprintf(`UPDATE postings SET amount = amount * 2 WHERE book = 'main' AND position = %d`, p),
		`ALTER TABLE postings ENABLE TRIGGER USER`,
	} {
		if _, err := f.pool.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name        string
		after, upto int64
		want        int // mismatching postings
	}{
		{"the whole journal names both legs", 0, head.Position, 2},
		{"a range starting just before it, seeded from the stored balances", p - 1, head.Position, 2},
		{"a range after it", p, head.Position, 0},
		{"a range before it", 0, p - 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := check(tc.after, tc.upto)
			if len(bad) != tc.want {
				t.Fatalf("mismatches at %v, want %d", bad, tc.want)
			}
			for _, at := range bad {
				if at != p {
					t.Fatalf("mismatch at %d, the tampered position is %d", at, p)
				}
			}
		})
	}
}
