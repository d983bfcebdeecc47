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
}
