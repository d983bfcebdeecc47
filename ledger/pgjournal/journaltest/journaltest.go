// Package journaltest checks a PostgreSQL journal's invariants from the
// outside, for tests at any layer (the API's integration tests, the model
// test, the crash and outage tests): it reads the journal and the inline
// projections and re-derives what must hold, whatever happened before.
package journaltest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// moving are the event types that move money: each must carry postings.
var moving = map[ledger.EventType]bool{
	ledger.TransferCompleted: true, ledger.AdjustmentPosted: true, ledger.DepositSucceededEvent: true,
	ledger.TransferRefunded: true, ledger.RefundRequested: true, ledger.RefundSucceededEvent: true,
	ledger.RefundFailedEvent: true, ledger.HoldCreated: true, ledger.HoldCaptured: true, ledger.HoldVoided: true,
	ledger.HoldExpired: true, ledger.HoldRefunded: true, ledger.TransactionPosted: true,
}

// Check re-derives the book's invariants from the journal itself and fails
// tb on the first one broken:
//
//   - positions are gap-free and the hash chain verifies;
//   - every event's postings sum to zero per currency, and every event that
//     moves money has postings (no partial event);
//   - every posting's balance_after equals the replayed running balance, and
//     every balance row equals the replay (the balances projection is caught up);
//   - no wallet is below minus its overdraft limit, and each wallet's held
//     amount is the sum of its pending holds;
//   - the transfers projection holds exactly the journal's transfers;
//   - no deposit was credited twice;
//   - every idempotency record that names a position names an existing event;
//   - the book's head row (book_heads), its append lock, names its last event.
//
// It returns the book's events in position order.
func Check(tb testing.TB, pool *pgxpool.Pool, book string) []ledger.Event {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store := pgjournal.NewStore(pool)
	var all []ledger.Event
	prevPos, prevHash := int64(0), ledger.GenesisHash
	replayed := map[string]ledger.Money{}
	transfers := map[string]int64{} // id → position
	credited := map[string]int64{}  // deposit id → position of its deposit.succeeded
	for {
		page, err := store.Events(ctx, pgjournal.EventFilter{Book: book, After: prevPos, Limit: 1000})
		if err != nil {
			tb.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if err := ledger.CheckLink(prevPos, prevHash, e); err != nil {
				tb.Fatal(err)
			}
			if err := ledger.CheckBalanced(e.Postings); err != nil {
				tb.Fatalf("position %d: %v", e.Position, err)
			}
			if moving[e.Type] && len(e.Postings) < 2 {
				tb.Fatalf("position %d: %s has %d postings: a partial event", e.Position, e.Type, len(e.Postings))
			}
			for _, p := range e.Postings {
				b, ok := replayed[p.Account]
				if !ok {
					b = ledger.Zero(p.Amount.Currency())
				}
				replayed[p.Account] = b.Add(p.Amount)
				if replayed[p.Account].Cmp(p.BalanceAfter) != 0 {
					tb.Fatalf("position %d: balance_after %s of %s, replay gives %s", e.Position, p.BalanceAfter, p.Account, replayed[p.Account])
				}
			}
			switch e.Type {
			case ledger.TransferCompleted:
				var d ledger.TransferCompletedData
				if err := ledger.DecodeData(&e, &d); err != nil {
					tb.Fatalf("position %d: %v", e.Position, err)
				}
				transfers[d.TransferID] = e.Position
			case ledger.DepositSucceededEvent:
				var d ledger.DepositOutcomeData
				if err := ledger.DecodeData(&e, &d); err != nil {
					tb.Fatalf("position %d: %v", e.Position, err)
				}
				if first, ok := credited[d.DepositID]; ok {
					tb.Fatalf("deposit %s credited twice: positions %d and %d", d.DepositID, first, e.Position)
				}
				credited[d.DepositID] = e.Position
			}
			prevPos, prevHash = e.Position, e.Hash
		}
		all = append(all, page...)
	}
	checkHead(ctx, tb, pool, book, prevPos, prevHash)
	checkBalances(ctx, tb, pool, book, replayed)
	checkTransfers(ctx, tb, pool, book, transfers)
	var dangling int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM idempotency_keys k
		WHERE k.book = $1 AND k.position IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM events e WHERE e.book = k.book AND e.position = k.position)`, book).Scan(&dangling); err != nil {
		tb.Fatal(err)
	}
	if dangling > 0 {
		tb.Fatalf("%d idempotency records name a position no event has", dangling)
	}
	return all
}

func checkHead(ctx context.Context, tb testing.TB, pool *pgxpool.Pool, book string, position int64, hash string) {
	tb.Helper()
	if position == 0 {
		return // a book without events may have no head row yet
	}
	var pos int64
	var h string
	if err := pool.QueryRow(ctx, `SELECT position, hash FROM book_heads WHERE book = $1`, book).Scan(&pos, &h); err != nil {
		tb.Fatalf("book_heads of %s: %v", book, err)
	}
	if pos != position || h != hash {
		tb.Fatalf("book_heads of %s is at %d (%.8s…), its journal at %d (%.8s…)", book, pos, h, position, hash)
	}
}

func checkBalances(ctx context.Context, tb testing.TB, pool *pgxpool.Pool, book string, replayed map[string]ledger.Money) {
	tb.Helper()
	rows, err := pool.Query(ctx, `SELECT a.id, a.kind, b.balance::text, a.currency, a.overdraft_limit::text, b.held::text,
		       coalesce((SELECT sum(h.amount) FROM holds h WHERE h.book = a.book AND h.from_account = a.id AND h.status = 'pending'), 0)::text
		FROM accounts a JOIN balances b ON b.book = a.book AND b.account_id = a.id WHERE a.book = $1`, book)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, kind, bal, cur, limit, held, pending string
		if err := rows.Scan(&id, &kind, &bal, &cur, &limit, &held, &pending); err != nil {
			tb.Fatal(err)
		}
		live := ledger.MustMoney(bal, cur)
		want, ok := replayed[id]
		if !ok {
			want = ledger.Zero(ledger.Currency(cur))
		}
		if live.Cmp(want) != 0 {
			tb.Fatalf("balance of %s is %s, the journal replays to %s", id, live, want)
		}
		if kind == string(ledger.KindWallet) && live.Add(ledger.MustMoney(limit, cur)).Sign() < 0 {
			tb.Fatalf("wallet %s is below minus its overdraft limit %s: %s", id, limit, live)
		}
		if ledger.MustMoney(held, cur).Cmp(ledger.MustMoney(pending, cur)) != 0 {
			tb.Fatalf("wallet %s holds %s in pending holds, but its held is %s", id, pending, held)
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
}

func checkTransfers(ctx context.Context, tb testing.TB, pool *pgxpool.Pool, book string, journal map[string]int64) {
	tb.Helper()
	rows, err := pool.Query(ctx, `SELECT id, position FROM transfers WHERE book = $1`, book)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var id string
		var pos int64
		if err := rows.Scan(&id, &pos); err != nil {
			tb.Fatal(err)
		}
		want, ok := journal[id]
		if !ok {
			tb.Fatalf("the transfers projection holds %s, which the journal does not", id)
		}
		if pos != want {
			tb.Fatalf("transfer %s is at position %d in the projection, %d in the journal", id, pos, want)
		}
		seen++
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	if seen != len(journal) {
		tb.Fatalf("the journal has %d transfers, the transfers projection %d", len(journal), seen)
	}
}
