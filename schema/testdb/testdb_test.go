package testdb_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tallyledger/tally/schema/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func count(t *testing.T, conn *pgx.Conn, table string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// insertEvent appends the first event of book main, as the sequencer would.
func insertEvent(t *testing.T, conn *pgx.Conn, id string) {
	t.Helper()
	_, err := conn.Exec(context.Background(), `
		INSERT INTO events (book, position, id, type, occurred_at, recorded_at, data, prev_hash, hash)
		VALUES ('main', 1, $1, 'account.opened', now(), now(), '{}', repeat('0', 64), repeat('a', 64))`, id)
	if err != nil {
		t.Fatalf("insert event: %v", err)
	}
}

func TestNewGivesIsolatedMigratedDatabases(t *testing.T) {
	t.Parallel()
	urlA, urlB := testdb.New(t), testdb.New(t)
	if urlA == urlB {
		t.Fatalf("two calls returned the same database %s", urlA)
	}
	a, b := connect(t, urlA), connect(t, urlB)
	for _, conn := range []*pgx.Conn{a, b} {
		if n := count(t, conn, "events"); n != 0 {
			t.Errorf("events has %d rows, want an empty journal", n)
		}
		if n := count(t, conn, "books WHERE name = 'main'"); n != 1 {
			t.Errorf("book main: %d rows, want the migration's seed row", n)
		}
	}
	insertEvent(t, a, "ev_1")
	if n := count(t, a, "events"); n != 1 {
		t.Errorf("database A: %d events, want 1", n)
	}
	if n := count(t, b, "events"); n != 0 {
		t.Errorf("database B sees %d events written to A, want 0", n)
	}
}

func TestJournalIsAppendOnly(t *testing.T) {
	t.Parallel()
	conn := connect(t, testdb.New(t))
	insertEvent(t, conn, "ev_1")
	for _, sql := range []string{
		"UPDATE events SET type = 'forged'",
		"DELETE FROM events",
		"TRUNCATE events CASCADE",
	} {
		_, err := conn.Exec(context.Background(), sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.Contains(pgErr.Message, "append-only") {
			t.Errorf("%s: err = %v, want the append-only trigger's insufficient_privilege error", sql, err)
		}
	}
	var typ string
	if err := conn.QueryRow(context.Background(), "SELECT type FROM events WHERE id = 'ev_1'").Scan(&typ); err != nil || typ != "account.opened" {
		t.Errorf("event after refused changes: type %q, err %v; want it untouched", typ, err)
	}
}

func TestNewInParallel(t *testing.T) {
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			conn := connect(t, testdb.New(t))
			insertEvent(t, conn, fmt.Sprintf("ev_%d", i))
			if n := count(t, conn, "events"); n != 1 {
				t.Errorf("%d events, want only this test's 1", n)
			}
		})
	}
}

func TestDatabaseDroppedAfterTest(t *testing.T) {
	var name string
	t.Run("user", func(t *testing.T) {
		conn := connect(t, testdb.New(t))
		if err := conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		// The connection is left open on purpose: clean-up must still drop.
	})
	conn := connect(t, testdb.New(t))
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if name == "" || n != 0 {
		t.Errorf("database %q still exists after its test (%d), want it dropped", name, n)
	}
}
