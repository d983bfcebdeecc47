package pgjournal_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/schema/testdb"
)

type batchCounter struct{ batches, commands atomic.Int64 }

func (b *batchCounter) BatchCommitted(book string, commands int, elapsed time.Duration) {
	if book != ledger.DefaultBook || elapsed <= 0 {
		panic("observer called with a wrong book or elapsed time")
	}
	b.batches.Add(1)
	b.commands.Add(int64(commands))
}

// Close while many goroutines submit: every Submit is answered (committed or
// ErrClosed), none panics on a closed queue, and every acknowledged command
// is in the journal.
func TestCloseUnderConcurrentSubmits(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var inline []pgjournal.Projection
	for _, p := range projections.Inline() {
		inline = append(inline, p)
	}
	obs := &batchCounter{}
	j := pgjournal.New(pool, pgjournal.Options{Inline: inline, Observer: obs})

	var acked atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := j.Submit(context.Background(), pgjournal.Request{
					Book: ledger.DefaultBook,
					Command: ledger.OpenAccount{AccountID: ledger.NewID(ledger.PrefixAccount), Book: ledger.DefaultBook, Owner: "o",
						Currency: "NGN", Kind: ledger.KindWallet, WalletNumber: ledger.NewWalletNumber()},
					Render: outcome,
				})
				if errors.Is(err, pgjournal.ErrClosed) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				acked.Add(1)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	j.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	events, err := pgjournal.NewStore(pool).EventCount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if acked.Load() == 0 || events != acked.Load() {
		t.Fatalf("%d commands acknowledged, %d events in the journal", acked.Load(), events)
	}
	if obs.commands.Load() != acked.Load() || obs.batches.Load() == 0 {
		t.Fatalf("observer saw %d commands in %d batches, want %d commands", obs.commands.Load(), obs.batches.Load(), acked.Load())
	}
}
