package schema

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/schema/pglocal"
)

// Migrations 0021 and 0022 carry an existing database forward: each book's
// head row names its last event, balances learn their book, the lookup
// tables are filled, and each idempotency record lands in the book of the
// event it names, or in every book when it names none.
func TestBookKeysMigrationCarriesDataForward(t *testing.T) {
	dir, err := pglocal.TempDir("tally-schema-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	srv, err := pglocal.Start(ctx, pglocal.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	url := srv.URL(pglocal.Database)
	m, err := open(url)
	if err != nil {
		t.Fatal(err)
	}
	// The last release before book heads and book keys.
	if err := m.Migrate(5); err != nil {
		t.Fatal(err)
	}
	m.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		`INSERT INTO books (name) VALUES ('eu')`,
		`INSERT INTO events (book, position, id, type, occurred_at, recorded_at, data, prev_hash, hash) VALUES
			('main', 1, 'evt_1', 'account.opened', now(), now() - interval '1 hour', '{}', repeat('0', 64), repeat('a', 64)),
			('eu', 1, 'evt_2', 'account.opened', now(), now(), '{}', repeat('0', 64), repeat('b', 64))`,
		`INSERT INTO accounts (id, book, wallet_number, currency, kind, status, created_at, opened_position) VALUES
			('acc_m', 'main', '1111111111', 'NGN', 'wallet', 'active', now(), 1),
			('acc_e', 'eu', '2222222222', 'EUR', 'wallet', 'active', now(), 1)`,
		`INSERT INTO balances (account_id, currency, balance, position) VALUES ('acc_m', 'NGN', 0, 1), ('acc_e', 'EUR', 0, 1)`,
		`INSERT INTO deposits (id, book, account_id, reference, gateway, amount, currency, status, created_position, position, created_at, updated_at)
			VALUES ('dep_1', 'eu', 'acc_e', 'ref-1', 'sandbox', 5, 'EUR', 'pending', 1, 1, now(), now())`,
		`INSERT INTO idempotency_keys (scope, key, fingerprint, status, content_type, body, position, created_at) VALUES
			('o', 'k-eu', 'f', 201, 'application/json', '', 1, now()),
			('o', 'k-refused', 'f', 422, 'application/problem+json', '', NULL, now())`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := Migrate(url); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, sql string }{
		{"each book's head names its last event", `SELECT array_agg(book || ':' || position || ':' || left(hash, 1) ORDER BY book) = '{eu:1:b,main:1:a}' FROM book_heads`},
		{"balances learn their book", `SELECT count(*) = 2 FROM balances b JOIN accounts a ON a.book = b.book AND a.id = b.account_id`},
		{"wallet numbers are in the lookup table", `SELECT count(*) = 2 FROM wallet_numbers w JOIN accounts a ON a.book = w.book AND a.id = w.account_id AND a.wallet_number = w.wallet_number`},
		{"deposit references are in the lookup table", `SELECT count(*) = 1 FROM deposit_references WHERE reference = 'ref-1' AND book = 'eu' AND deposit_id = 'dep_1'`},
		{"a record goes to the book of the event it names, recorded closest to it", `SELECT array_agg(book) = '{eu}' FROM idempotency_keys WHERE key = 'k-eu'`},
		{"a record that names no event goes to every book", `SELECT array_agg(book ORDER BY book) = '{eu,main}' FROM idempotency_keys WHERE key = 'k-refused'`},
		{"a wallet number stays unique across books", `SELECT NOT EXISTS (SELECT 1 FROM wallet_numbers GROUP BY wallet_number HAVING count(*) > 1)`},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			var ok bool
			if err := conn.QueryRow(ctx, c.sql).Scan(&ok); err != nil || !ok {
				t.Fatalf("%s: %v %v", c.sql, ok, err)
			}
		})
	}
	if _, err := conn.Exec(ctx, `INSERT INTO wallet_numbers (wallet_number, book, account_id) VALUES ('1111111111', 'eu', 'acc_x')`); err == nil {
		t.Fatal("a wallet number of another book was accepted")
	}
	t.Run("every table of a book has book in every key", func(t *testing.T) {
		checkBookInEveryKey(t, conn)
	})
}

// checkBookInEveryKey fails for each primary key, unique index and foreign
// key (to another book table) of a book table (one with a book column, not
// one of globalTables) that leaves book out: Citus could not distribute the
// table by book, or an append would reach beyond its book's shard. Tables
// added by later migrations are checked too.
func checkBookInEveryKey(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	rows, err := conn.Query(context.Background(), `
		WITH book_tables AS (
			SELECT c.oid, c.relname, a.attnum
			FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'book' AND NOT a.attisdropped
			WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND c.relname <> ALL($1))
		SELECT b.relname || ': ' || i.indexrelid::regclass::text
		FROM book_tables b JOIN pg_index i ON i.indrelid = b.oid
		WHERE (i.indisprimary OR i.indisunique) AND NOT b.attnum = ANY(i.indkey::int2[])
		UNION ALL
		SELECT b.relname || ': ' || f.conname
		FROM book_tables b JOIN pg_constraint f ON f.conrelid = b.oid AND f.contype = 'f'
		WHERE f.confrelid IN (SELECT oid FROM book_tables) AND NOT b.attnum = ANY(f.conkey)
		ORDER BY 1`, globalTables)
	if err != nil {
		t.Fatal(err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("a key without book: %s", m)
	}
	var n int
	if err := conn.QueryRow(context.Background(), `
		SELECT count(*) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'book'
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND c.relname <> ALL($1)`, globalTables).Scan(&n); err != nil || n < 10 {
		t.Fatalf("%d book tables checked (%v): the check missed them", n, err)
	}
}
