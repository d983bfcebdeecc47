package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections/sinks"
)

const subscriptionsUsage = `Usage:
  tally subscriptions list
  tally subscriptions deliveries SUBSCRIPTION_ID [--status pending|succeeded|failed] [--limit 50]
  tally subscriptions replay SUBSCRIPTION_ID --from POSITION [--book BOOK]

Webhook subscriptions are made through the API (POST /v1/subscriptions),
which shows the signing secret once; this command never prints secrets.
replay queues the subscription's events again from POSITION, to be sent in
order by the running server. See docs/events-out.md.

Uses TALLY_DATABASE_URL, or in local mode the database in TALLY_DATA_DIR
(the running server's, if tally serve is up).
`

// subscriptionsCommand runs "tally subscriptions …" against the configured database.
func subscriptionsCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, subscriptionsUsage)
		return nil
	}
	return withDatabase(ctx, func(pool *pgxpool.Pool) error {
		return runSubscriptions(ctx, sinks.NewSubscriptions(pool, sinks.URLRules{}), args, stdout)
	})
}

// runSubscriptions runs one subscriptions subcommand.
func runSubscriptions(ctx context.Context, subs *sinks.Subscriptions, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tally subscriptions "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	switch args[0] {
	case "list":
		if err := parseFlags(fs, args[1:], 0); err != nil {
			return err
		}
		fmt.Fprintln(w, "ID\tURL\tEVENTS\tBOOK\tOWNER\tCREATED\tPENDING\tFAILED")
		after := ""
		for {
			page, err := subs.List(ctx, after, pgjournal.Period{}, 500)
			if err != nil {
				return cliError(err)
			}
			for _, s := range page {
				counts, err := subs.Counts(ctx, s.ID)
				if err != nil {
					return cliError(err)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", s.ID, s.URL, strings.Join(s.Events, ","), orDash(s.Book), orDash(s.Owner),
					timeOrDash(s.CreatedAt), counts[sinks.StatusPending], counts[sinks.StatusFailed])
			}
			if len(page) < 500 {
				return w.Flush()
			}
			after = page[len(page)-1].ID
		}

	case "deliveries":
		status := fs.String("status", "", "only deliveries with this status: pending, succeeded or failed")
		limit := fs.Int("limit", 50, "how many, oldest first")
		id, err := idAndFlags(fs, args[1:])
		if err != nil {
			return err
		}
		ds, err := subs.Deliveries(ctx, id, *status, "", pgjournal.Period{}, *limit)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintln(w, "ID\tEVENT\tBOOK\tPOSITION\tSTATUS\tATTEMPTS\tLAST_STATUS\tNEXT_ATTEMPT\tLAST_ERROR")
		for _, d := range ds {
			code, next := "-", "-"
			if d.LastStatusCode != 0 {
				code = fmt.Sprint(d.LastStatusCode)
			}
			if d.NextAttemptAt != nil {
				next = timeOrDash(*d.NextAttemptAt)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\n", d.ID, d.EventID, d.Book, d.Position, d.Status, d.Attempts, code, next, orDash(d.LastError))
		}
		return w.Flush()

	case "replay":
		from := fs.Int64("from", 0, "the first journal position to send again")
		book := fs.String("book", "", "the book (default: the subscription's, else main)")
		id, err := idAndFlags(fs, args[1:])
		if err != nil {
			return err
		}
		b, n, err := subs.Replay(ctx, id, *book, *from)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "queued %d deliveries of book %s from position %d for %s\n", n, b, *from, id)
		return nil
	}
	return fmt.Errorf("%w: unknown subscriptions command %q", errUsage, args[0])
}

// idAndFlags parses a subscription id and flags, in either order.
func idAndFlags(fs *flag.FlagSet, args []string) (string, error) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], parseFlags(fs, args[1:], 0)
	}
	if err := parseFlags(fs, args, 1); err != nil {
		return "", err
	}
	return fs.Arg(0), nil
}
