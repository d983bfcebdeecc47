package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/httpapi"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
)

const destinationsUsage = `Usage:
  tally destinations erase [--reason TEXT] DESTINATION_ID

Erases a withdrawal destination's bank details (account number and holder's
name), for a data-erasure request. The journal never held them: its events
carry the destination's id and the masked number, which stay. The erasure is
recorded as a destination.erased event that carries only the id. Running it
again changes nothing. Payouts not yet sent to an erased destination fail,
with the money back in the wallet.

Uses TALLY_DATABASE_URL, or in local mode the database in TALLY_DATA_DIR
(the running server's, if tally serve is up). See docs/withdrawals.md.
`

// destinationsCommand runs `tally destinations …` against the configured database.
func destinationsCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, destinationsUsage)
		return nil
	}
	if args[0] != "erase" {
		return fmt.Errorf("%w: unknown destinations command %q", errUsage, args[0])
	}
	fs := flag.NewFlagSet("tally destinations erase", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	reason := fs.String("reason", "", "why, for the record (no personal data)")
	if err := parseFlags(fs, args[1:], 1); err != nil {
		return err
	}
	return withDatabase(ctx, func(pool *pgxpool.Pool) error {
		var inline []pgjournal.Projection
		for _, p := range projections.Inline() {
			inline = append(inline, p)
		}
		journal := pgjournal.New(pool, pgjournal.Options{Inline: inline})
		defer journal.Close()
		return eraseDestination(ctx, journal, pgjournal.NewStore(pool), fs.Arg(0), *reason, stdout)
	})
}

func eraseDestination(ctx context.Context, journal *pgjournal.Journal, store *pgjournal.Store, id, reason string, stdout io.Writer) error {
	erased, err := httpapi.EraseDestination(ctx, journal, store, id, reason)
	if err != nil {
		return cliError(err)
	}
	if erased {
		fmt.Fprintf(stdout, "erased the bank details of %s; recorded destination.erased\n", id)
	} else {
		fmt.Fprintf(stdout, "%s was already erased\n", id)
	}
	return nil
}
