package testdb_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/schema/testdb"
)

// On Citus, every table with a book column (lookup tables aside) is
// distributed by book and co-located with events; the others are reference
// tables; schema_migrations stays on the coordinator.
func TestCitusDistributesBookTablesByBook(t *testing.T) {
	db := testdb.NewCitus(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT c.relname, coalesce(p.partmethod::text, 'local'), coalesce(p.colocationid, 0),
		       coalesce(column_to_column_name(p.logicalrelid, p.partkey), ''),
		       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'book')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
		LEFT JOIN pg_dist_partition p ON p.logicalrelid = c.oid
		WHERE c.relkind = 'r'`)
	if err != nil {
		t.Fatal(err)
	}
	type placement struct {
		method, column string
		colocation     int
		book           bool
	}
	tables := map[string]placement{}
	for rows.Next() {
		var name string
		var p placement
		if err := rows.Scan(&name, &p.method, &p.colocation, &p.column, &p.book); err != nil {
			t.Fatal(err)
		}
		tables[name] = p
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	events := tables["events"]
	if events.method != "h" || events.column != "book" {
		t.Fatalf("events: %+v, want hash-distributed by book", events)
	}
	global := map[string]bool{"books": true, "api_keys": true, "wallet_numbers": true, "deposit_references": true, "webhook_subscriptions": true}
	for name, p := range tables {
		t.Run(name, func(t *testing.T) {
			switch {
			case name == "schema_migrations":
				if p.method != "local" {
					t.Fatalf("schema_migrations is %s, want local to the coordinator", p.method)
				}
			case global[name] || !p.book:
				if p.method != "n" {
					t.Fatalf("a global table is %s, want a reference table (n)", p.method)
				}
			default:
				if p.method != "h" || p.column != "book" || p.colocation != events.colocation {
					t.Fatalf("a book table is %+v, want distributed by book, co-located with events (%d)", p, events.colocation)
				}
			}
		})
	}
}
