package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
)

// TestFillJournal appends about TALLY_FILL_EVENTS events to book main of the
// database at TALLY_DATABASE_URL through the journal (the real write path:
// chain, running balances, inline projections), then brings the async
// projections up to date. It is how the verify and rebuild figures in
// docs/audit.md were measured; it is skipped unless the variable is set.
//
//	TALLY_DATABASE_URL=postgres://… TALLY_FILL_EVENTS=1000000 go test -run TestFillJournal -timeout 2h ./cmd/tally
func TestFillJournal(t *testing.T) {
	target, _ := strconv.Atoi(os.Getenv("TALLY_FILL_EVENTS"))
	url := os.Getenv("TALLY_DATABASE_URL")
	if target <= 0 || url == "" {
		t.Skip("set TALLY_FILL_EVENTS and TALLY_DATABASE_URL to fill a database")
	}
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	set := projections.Default(pool)
	var inline []pgjournal.Projection
	for _, p := range set.Inline() {
		inline = append(inline, p)
	}
	journal := pgjournal.New(pool, pgjournal.Options{Inline: inline, MaxBatch: 512})
	defer journal.Close()
	render := func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return pgjournal.Response{Body: []byte(o.Err.Code)}
		}
		return pgjournal.Response{Body: []byte("ok")}
	}
	submit := func(cmd ledger.Command) string {
		r, err := journal.Submit(ctx, pgjournal.Request{Book: ledger.DefaultBook, Command: cmd, Render: render})
		if err != nil {
			t.Fatal(err)
		}
		return string(r.Body)
	}

	const wallets, clients = 1000, 128
	start := time.Now()
	ids := make([]string, wallets)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < wallets; i += clients {
				ids[i] = ledger.NewID(ledger.PrefixAccount)
				submit(ledger.OpenAccount{AccountID: ids[i], Book: ledger.DefaultBook, Owner: fmt.Sprint("owner-", i%97), Currency: "NGN", Kind: ledger.KindWallet, WalletNumber: ledger.NewWalletNumber()})
				submit(ledger.Adjust{AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: ids[i], Direction: ledger.Credit, Amount: ledger.MustMoney("1000000.00", "NGN"), Reason: "float"})
			}
		}()
	}
	wg.Wait()

	var done atomic.Int64
	done.Store(2*wallets + 1)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 3))
			for done.Load() < int64(target) {
				i, j := rng.IntN(wallets), rng.IntN(wallets-1)
				if j >= i {
					j++
				}
				amount := ledger.MustMoney(fmt.Sprintf("%d.%02d", rng.IntN(100), 1+rng.IntN(99)), "NGN")
				var cmd ledger.Command = ledger.Transfer{TransferID: ledger.NewID(ledger.PrefixTransfer), From: ids[i], To: ids[j], Amount: amount, Description: "load"}
				if rng.IntN(50) == 0 {
					cmd = ledger.Adjust{AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: ids[i], Direction: ledger.Debit, Amount: amount, Reason: "fee"}
				}
				if submit(cmd) == "ok" {
					if n := done.Add(1); n%100_000 == 0 {
						t.Logf("%d events, %.0f events/s", n, float64(n)/time.Since(start).Seconds())
					}
				}
			}
		}()
	}
	wg.Wait()
	st := journal.Stats()
	t.Logf("appended %d events in %s (%.0f events/s, %.1f commands per transaction)", done.Load(), time.Since(start).Round(time.Second),
		float64(done.Load())/time.Since(start).Seconds(), float64(st.Commands)/float64(st.Batches))

	start = time.Now()
	if err := set.Runner(projections.RunnerOptions{PageSize: 2000}).CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("async projections caught up in %s (%.0f events/s)", time.Since(start).Round(time.Millisecond), float64(done.Load())/time.Since(start).Seconds())
}
