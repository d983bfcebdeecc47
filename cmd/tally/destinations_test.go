package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/schema/testdb"
)

func TestDestinationsEraseCommand(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var inline []pgjournal.Projection
	for _, p := range projections.Inline() {
		inline = append(inline, p)
	}
	journal := pgjournal.New(pool, pgjournal.Options{Inline: inline})
	defer journal.Close()
	store := pgjournal.NewStore(pool)
	dest := ledger.NewID(ledger.PrefixDestination)
	if err := store.SaveDestination(ctx, pgjournal.Destination{Book: "main", ID: dest, Gateway: "sandbox", BankCode: "058",
		AccountNumber: "0123456789", AccountName: "Ada Obi", MaskedNumber: "******6789"}); err != nil {
		t.Fatal(err)
	}

	for i, want := range []string{"erased the bank details of " + dest, dest + " was already erased"} {
		var out bytes.Buffer
		if err := eraseDestination(ctx, journal, store, dest, "request 42", &out); err != nil || !strings.Contains(out.String(), want) {
			t.Fatalf("run %d: %q, %v", i+1, out.String(), err)
		}
	}
	var events int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'destination.erased' AND data->>'destination_id' = $1`, dest).Scan(&events); err != nil || events != 1 {
		t.Fatalf("%d destination.erased events (%v), want 1", events, err)
	}

	refused := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"erase needs an id", []string{"erase"}, true, "takes 1"},
		{"unknown subcommands are refused", []string{"show", dest}, true, "unknown destinations command"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			err := destinationsCommand(ctx, c.args, &bytes.Buffer{})
			if err == nil || errors.Is(err, errUsage) != c.usage || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	t.Run("an unknown destination is not found", func(t *testing.T) {
		err := eraseDestination(ctx, journal, store, ledger.NewID(ledger.PrefixDestination), "", &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("err = %v", err)
		}
	})
}
