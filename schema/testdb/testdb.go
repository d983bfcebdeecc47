// Package testdb is the shared test-database helper: New gives each test a
// fresh, fully migrated, empty database of its own, cloned in milliseconds
// from a template migrated once per test binary.
//
// By default the first New starts one private PostgreSQL for the whole test
// binary with pglocal, without durability, in a temporary directory (see
// pglocal.TempDir: in memory when it can). Set TALLY_TEST_DATABASE_URL (a
// postgres:// URL of a role allowed to create databases) to use an existing
// server instead; testdb then creates a uniquely named template there and
// drops it at the end.
//
// A package using New should call Main from its TestMain, which stops the
// server and removes the temporary directory (or drops the template):
//
//	func TestMain(m *testing.M) { testdb.Main(m) }
//
// Without it the server still stops when the test binary exits (on Linux),
// but its directory is left behind.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tallyledger/tally/schema"
	"github.com/tallyledger/tally/schema/pglocal"
)

// EnvURL names the variable that points tests at an existing server.
const EnvURL = "TALLY_TEST_DATABASE_URL"

// localTemplate is the template's name on our own private server.
const localTemplate = "tally_template"

var (
	mu      sync.Mutex
	current *env // set by the first New; nil until then
	closed  bool // Main has torn down: New must not start another server
)

// env is one test binary's database setup.
type env struct {
	err      error           // why setup failed; reported by every New
	server   *pglocal.Server // nil when using an existing server
	dir      string          // the private server's directory
	base     *url.URL        // the server, any database: New swaps the path
	admin    *pgxpool.Pool   // connected to a maintenance database, never the template
	template string
}

// Main runs the tests, then stops the server New started (or drops the
// template it made on an existing server) and exits with m.Run's code.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain with clean-up of its own: it runs the tests,
// stops the server it started and returns the exit code.
func Run(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	e := current
	closed = true
	mu.Unlock()
	if e != nil && e.err == nil {
		if err := e.close(); err != nil {
			fmt.Fprintf(os.Stderr, "testdb: clean-up: %v\n", err)
		}
	}
	if err := closeCitus(); err != nil {
		fmt.Fprintf(os.Stderr, "testdb: clean-up: %v\n", err)
	}
	return code
}

// New returns the URL of a fresh database for this test, with every
// migration applied and no data, and drops it when the test ends. The
// first call also sets up the server and the template, so it takes a second
// or two; later calls take milliseconds. It is safe in parallel tests.
func New(t testing.TB) string {
	t.Helper()
	e, err := setup()
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	return e.newDatabase(t)
}

// setup runs once per test binary; parallel callers wait for the first, and
// all of them see its error if it failed.
func setup() (*env, error) {
	mu.Lock()
	defer mu.Unlock()
	if closed {
		return nil, errors.New("New called after Main finished the tests")
	}
	if current == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var err error
		if u := os.Getenv(EnvURL); u != "" {
			current, err = setupExisting(ctx, u)
		} else {
			current, err = setupLocal(ctx)
		}
		if err != nil {
			current = &env{err: err}
		}
	}
	return current, current.err
}

// setupLocal starts a private server and migrates the template on it.
func setupLocal(ctx context.Context) (*env, error) {
	// Not under t.TempDir, which belongs to one test.
	dir, err := pglocal.TempDir("tally-testdb-")
	if err != nil {
		return nil, err
	}
	srv, err := pglocal.Start(ctx, pglocal.Options{DataDir: dir})
	if err != nil {
		pglocal.Remove(dir)
		return nil, fmt.Errorf("%w\n(or set %s to an existing server)", err, EnvURL)
	}
	e := &env{server: srv, dir: dir, template: localTemplate}
	if err := e.init(ctx, srv.URL("postgres")); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// setupExisting uses the server at rawURL, under a template name no other
// test binary (running at the same time, in another package) uses.
func setupExisting(ctx context.Context, rawURL string) (*env, error) {
	e := &env{template: fmt.Sprintf("tally_template_%d_%s", os.Getpid(), randomHex(4))}
	if err := e.init(ctx, rawURL); err != nil {
		e.close()
		return nil, fmt.Errorf("%s: %w", EnvURL, err)
	}
	return e, nil
}

// init connects to the maintenance database at adminURL and creates and
// migrates the template next to it.
func (e *env) init(ctx context.Context, adminURL string) error {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("want a postgres:// URL, got %q", adminURL)
	}
	e.base = u
	if e.admin, err = pgxpool.New(ctx, adminURL); err != nil {
		return err
	}
	if _, err := e.admin.Exec(ctx, "CREATE DATABASE "+ident(e.template)); err != nil {
		e.admin.Close()
		e.admin = nil // nothing of ours to drop
		return fmt.Errorf("create template: %w", err)
	}
	if err := schema.Migrate(e.url(e.template)); err != nil {
		return err
	}
	// CREATE DATABASE … TEMPLATE fails while anyone is connected to the
	// template, so nobody may connect any more, and the migration's own
	// sessions, closed by now, must have ended on the server side too.
	if _, err := e.admin.Exec(ctx, "ALTER DATABASE "+ident(e.template)+" ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("lock template: %w", err)
	}
	for {
		var n int
		err := e.admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", e.template).Scan(&n)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("template still has %d sessions: %w", n, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// newDatabase clones the template into a database for t.
func (e *env) newDatabase(t testing.TB) string {
	t.Helper()
	name := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.admin.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(e.template)); err != nil {
		t.Fatalf("testdb: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE ends sessions the test left open instead of failing.
		if _, err := e.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("testdb: drop database %s: %v", name, err)
		}
	})
	return e.url(name)
}

// close undoes setup: drops the template on an existing server, or stops
// the private server and removes its directory.
func (e *env) close() error {
	var errs []error
	if e.admin != nil {
		if e.server == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, err := e.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(e.template)+" WITH (FORCE)")
			cancel()
			errs = append(errs, err)
		}
		e.admin.Close()
	}
	if e.server != nil {
		// Remove, not os.RemoveAll: under root, a temporary directory
		// PostgreSQL's user cannot reach (TMPDIR=/root/tmp) has its cluster
		// relocated, and that goes too.
		errs = append(errs, e.server.Stop(), pglocal.Remove(e.dir))
	}
	return errors.Join(errs...)
}

// url returns the URL of database name on e's server.
func (e *env) url(name string) string {
	u := *e.base
	u.Path, u.RawPath = "/"+name, ""
	return u.String()
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}
