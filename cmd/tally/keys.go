package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/httpapi"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

const keysUsage = `Usage:
  tally keys create --name NAME --scopes SCOPE[,SCOPE…] [--owner OWNER] [--expires-in 720h]
  tally keys list [--owner OWNER]
  tally keys revoke KEY_ID

Scopes: accounts:read, accounts:write, transfers:write, deposits:write,
refunds:write, withdrawals:write, events:read, admin. A key with --owner sees and spends only that
owner's accounts and cannot hold admin or events:read. The secret is printed
once, by create; only its SHA-256 is stored.

Uses TALLY_DATABASE_URL, or in local mode the database in TALLY_DATA_DIR
(the running server's, if tally serve is up). See docs/auth.md.
`

// errUsage means the command line was wrong; main prints the usage.
var errUsage = errors.New("usage")

// keysCommand runs `tally keys …` against the configured database.
func keysCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, keysUsage)
		return nil
	}
	return withDatabase(ctx, func(pool *pgxpool.Pool) error {
		return runKeys(ctx, pgjournal.NewKeys(pool), args, stdout)
	})
}

// runKeys runs one keys subcommand against keys.
func runKeys(ctx context.Context, keys *pgjournal.Keys, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tally keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	switch args[0] {
	case "create":
		name := fs.String("name", "", "what the key is for")
		scopes := fs.String("scopes", "", "comma-separated scopes")
		owner := fs.String("owner", "", "bind the key to this owner")
		expiresIn := fs.String("expires-in", "", "lifetime, e.g. 720h; default: never")
		if err := parseFlags(fs, args[1:], 0); err != nil {
			return err
		}
		var list []string
		for s := range strings.SplitSeq(*scopes, ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
		k, secret, err := httpapi.IssueKey(ctx, keys, httpapi.KeyRequest{Name: *name, Scopes: list, Owner: *owner, ExpiresIn: *expiresIn})
		if err != nil {
			return cliError(err)
		}
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(w, "id:\t%s\n", k.ID)
		fmt.Fprintf(w, "key:\t%s\n", secret)
		fmt.Fprintf(w, "prefix:\t%s\n", k.Prefix)
		fmt.Fprintf(w, "scopes:\t%s\n", strings.Join(k.Scopes, ","))
		fmt.Fprintf(w, "owner:\t%s\n", orDash(k.Owner))
		fmt.Fprintf(w, "expires_at:\t%s\n", timeOrDash(k.ExpiresAt))
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "\nStore the key now: it is not shown again.")
		return nil

	case "list":
		owner := fs.String("owner", "", "only keys of this owner")
		if err := parseFlags(fs, args[1:], 0); err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tPREFIX\tOWNER\tSCOPES\tSTATUS\tCREATED\tEXPIRES")
		f := pgjournal.KeyFilter{Owner: *owner, Limit: 500}
		now := time.Now()
		for {
			page, err := keys.List(ctx, f)
			if err != nil {
				return cliError(err)
			}
			for _, k := range page {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, orDash(k.Owner),
					strings.Join(k.Scopes, ","), k.Status(now), timeOrDash(k.CreatedAt), timeOrDash(k.ExpiresAt))
			}
			if len(page) < f.Limit {
				break
			}
			f.After = page[len(page)-1].ID
		}
		return w.Flush()

	case "revoke":
		if err := parseFlags(fs, args[1:], 1); err != nil {
			return err
		}
		id := fs.Arg(0)
		if !ledger.HasPrefix(id, ledger.PrefixKey) {
			return fmt.Errorf("%q is not a key id (key_…)", id)
		}
		if err := keys.Revoke(ctx, id, ledger.Truncate(time.Now())); err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "revoked %s\n", id)
		return nil
	}
	return fmt.Errorf("%w: unknown keys command %q", errUsage, args[0])
}

// parseFlags parses flags and requires exactly positional arguments after them.
func parseFlags(fs *flag.FlagSet, args []string, positional int) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != positional {
		return fmt.Errorf("%w: %s takes %d argument(s), got %q", errUsage, fs.Name(), positional, fs.Args())
	}
	return nil
}

// cliError words a ledger error for a terminal: its message and the fields.
func cliError(err error) error {
	var le *ledger.Error
	if !errors.As(err, &le) {
		return err
	}
	msgs := []string{le.Message}
	for _, f := range le.Fields[min(1, len(le.Fields)):] {
		msgs = append(msgs, f.Message)
	}
	return errors.New(strings.Join(msgs, "; "))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
