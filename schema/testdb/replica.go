package testdb

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/tallyledger/tally/schema"
	"github.com/tallyledger/tally/schema/pglocal"
)

// Replicated is a primary and a streaming standby of its own, for one test.
type Replicated struct {
	Primary, Standby *pglocal.Server
	// PrimaryURL and StandbyURL point at the migrated database "tally" on each.
	PrimaryURL, StandbyURL string
}

// NewReplicated starts a private primary, migrates its database, and starts
// a streaming standby of it (pglocal.StartStandby); both stop when the test
// ends. It takes a few seconds, and the standby serves only this test, which
// may pause its replay or stop it. It ignores TALLY_TEST_DATABASE_URL: an
// existing server cannot be given a standby from here.
func NewReplicated(t testing.TB) *Replicated {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := pglocal.TempDir("tally-replicated-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The servers' directories sit inside: whoever runs them must get in.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	primary, err := pglocal.Start(ctx, pglocal.Options{DataDir: dir + "/primary"})
	if err != nil {
		t.Fatalf("testdb: primary: %v", err)
	}
	t.Cleanup(func() { primary.Stop() })
	r := &Replicated{Primary: primary, PrimaryURL: primary.URL(pglocal.Database)}
	if err := schema.Migrate(r.PrimaryURL); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	if r.Standby, err = pglocal.StartStandby(ctx, primary, "tally_test", pglocal.Options{DataDir: dir + "/standby"}); err != nil {
		t.Fatalf("testdb: standby: %v", err)
	}
	t.Cleanup(func() { r.Standby.Stop() })
	r.StandbyURL = r.Standby.URL(pglocal.Database)
	return r
}
