package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
)

// benchVerify runs tally verify's checks on every book the bench appended
// to: the chain, gap-free positions, zero-sum postings, running balances
// and every projection. A benchmark that left the ledger wrong measured
// nothing, so a failed check fails the bench.
func benchVerify(ctx context.Context, databaseURL string, out io.Writer) error {
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	heads, err := pgjournal.Heads(ctx, pool)
	if err != nil {
		return err
	}
	set := projections.Default(pool)
	// The async projections lag the journal by a pass: let them catch up,
	// so that verify compares them with all of it.
	if err := set.Runner(projections.RunnerOptions{NoListen: true}).CatchUp(ctx); err != nil {
		return err
	}
	start := time.Now()
	var events int64
	for _, h := range heads {
		rep, err := set.Verify(ctx, h.Book, projections.VerifyOptions{})
		if err != nil {
			return err
		}
		if !rep.OK {
			printReport(out, rep)
			return fmt.Errorf("bench: tally verify failed on book %s after the runs", h.Book)
		}
		events += rep.Events
	}
	fmt.Fprintf(out, "verify after the runs: OK, %d events in %d book(s) (%s)\n", events, len(heads), time.Since(start).Round(time.Millisecond))
	return nil
}
