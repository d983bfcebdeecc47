package testdb

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestExistingServer exercises the TALLY_TEST_DATABASE_URL mode against
// the private server, standing in for an existing one.
func TestExistingServer(t *testing.T) {
	New(t) // make sure the private server runs
	e, err := setup()
	if err != nil {
		t.Fatal(err)
	}
	if e.server == nil {
		t.Skip("already running against " + EnvURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	ext, err := setupExisting(ctx, e.server.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ext.template, "tally_template_") || ext.template == localTemplate {
		t.Errorf("template %q, want a unique tally_template_<pid>_<random>", ext.template)
	}
	t.Run("clone", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, ext.newDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n != 0 {
			t.Errorf("events: %d rows, err %v; want an empty, migrated database", n, err)
		}
	})
	if err := ext.close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	conn, err := pgx.Connect(ctx, e.server.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tmpl int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", ext.template).Scan(&tmpl); err != nil || tmpl != 0 {
		t.Errorf("template %s: %d left (err %v), want it dropped", ext.template, tmpl, err)
	}
}
