package schema

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// globalTables are the tables that belong to no book, or that keep keys
// unique across books (the lookup tables): on Citus they are reference
// tables, copied to every node. Every other table with a book column
// belongs to a book.
// (webhook_subscriptions, from the events work, has an optional book: a
// subscription may cover every book.)
var globalTables = []string{"books", "api_keys", "wallet_numbers", "deposit_references", "webhook_subscriptions"}

// localTables stay on the coordinator: golang-migrate's bookkeeping.
var localTables = []string{"schema_migrations"}

// anchor is the table the book tables are co-located with.
const anchor = "events"

// Distribute makes the migrated schema at databaseURL, on a Citus
// coordinator, a distributed one: every table that belongs to a book (it
// has a book column and is not a lookup table) is distributed by book and
// co-located with events, so that one book's rows of every table live in
// one shard on one worker and an append is a single-shard transaction;
// every other table is a reference table. It is idempotent: run it after
// every Migrate (tally does, with TALLY_CITUS=true), so that tables added by
// later migrations are distributed too. Tables holding rows are copied into
// their shards, under a lock that blocks writes meanwhile.
func Distribute(ctx context.Context, databaseURL string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("schema: citus: %w", err)
	}
	defer conn.Close(ctx)
	var citus bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&citus); err != nil {
		return fmt.Errorf("schema: citus: %w", err)
	}
	if !citus {
		return fmt.Errorf("schema: TALLY_CITUS is set, but the database has no citus extension: connect to a Citus coordinator (CREATE EXTENSION citus, and add the workers with citus_add_node)")
	}
	// The journal's append-only triggers only refuse changes, row by row,
	// within their shard: safe on distributed tables.
	if _, err := conn.Exec(ctx, `SET citus.enable_unsafe_triggers TO on`); err != nil {
		return fmt.Errorf("schema: citus: %w", err)
	}
	tables, err := citusPlan(ctx, conn)
	if err != nil || len(tables) == 0 {
		return err
	}
	// Citus distributes a table only if no local table refers to it, so the
	// foreign keys between the book tables to distribute are dropped, and
	// added again once they are all distributed: in one transaction, so that
	// they are never missing for anyone else.
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("schema: citus: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if _, err := tx.Exec(ctx, `SET LOCAL citus.multi_shard_modify_mode TO 'sequential'`); err != nil {
		return fmt.Errorf("schema: citus: %w", err)
	}
	var books []string
	for _, t := range tables {
		if !t.reference {
			books = append(books, t.name)
		}
	}
	type foreignKey struct{ table, name, def string }
	var keys []foreignKey
	rows, err := tx.Query(ctx, `
		SELECT c.relname, f.conname, pg_get_constraintdef(f.oid)
		FROM pg_constraint f JOIN pg_class c ON c.oid = f.conrelid JOIN pg_class r ON r.oid = f.confrelid
		WHERE f.contype = 'f' AND c.relname = ANY($1) AND r.relname = ANY($1)
		  AND c.relnamespace = current_schema()::regnamespace
		ORDER BY c.relname, f.conname`, books)
	if err != nil {
		return fmt.Errorf("schema: citus: %w", err)
	}
	for rows.Next() {
		var k foreignKey
		if err := rows.Scan(&k.table, &k.name, &k.def); err != nil {
			return err
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+pgx.Identifier{k.table}.Sanitize()+` DROP CONSTRAINT `+pgx.Identifier{k.name}.Sanitize()); err != nil {
			return fmt.Errorf("schema: citus: %w", err)
		}
	}
	for _, t := range tables {
		var sql string
		switch {
		case t.reference:
			sql = `SELECT create_reference_table($1)`
		case t.name == anchor:
			sql = `SELECT create_distributed_table($1, 'book')`
		default:
			sql = `SELECT create_distributed_table($1, 'book', colocate_with => '` + anchor + `')`
		}
		if _, err := tx.Exec(ctx, sql, t.name); err != nil {
			return fmt.Errorf("schema: citus: distribute %s: %w", t.name, err)
		}
	}
	for _, k := range keys {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+pgx.Identifier{k.table}.Sanitize()+` ADD CONSTRAINT `+pgx.Identifier{k.name}.Sanitize()+` `+k.def); err != nil {
			return fmt.Errorf("schema: citus: foreign key %s of %s: %w", k.name, k.table, err)
		}
	}
	return tx.Commit(ctx)
}

type citusTable struct {
	name      string
	reference bool
}

// citusPlan lists the tables not distributed yet, in an order Citus
// accepts: reference tables first, then the book tables, each after the
// tables its foreign keys reference (events first of all).
func citusPlan(ctx context.Context, conn *pgx.Conn) ([]citusTable, error) {
	rows, err := conn.Query(ctx, `
		SELECT c.relname,
		       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'book' AND NOT a.attisdropped),
		       coalesce((SELECT array_agg(DISTINCT r.relname) FROM pg_constraint f JOIN pg_class r ON r.oid = f.confrelid
		                 WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.confrelid <> c.oid), '{}')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		  AND NOT EXISTS (SELECT 1 FROM pg_dist_partition d WHERE d.logicalrelid = c.oid)
		ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("schema: citus: %w", err)
	}
	type table struct {
		name    string
		book    bool
		parents []string
	}
	var pending []table
	for rows.Next() {
		var t table
		if err := rows.Scan(&t.name, &t.book, &t.parents); err != nil {
			return nil, err
		}
		if !slices.Contains(localTables, t.name) {
			pending = append(pending, t)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var plan []citusTable
	placed := map[string]bool{}
	for _, t := range pending {
		if !t.book || slices.Contains(globalTables, t.name) {
			plan = append(plan, citusTable{name: t.name, reference: true})
			placed[t.name] = true
		}
	}
	// The anchor goes first; then any table whose parents are placed (or
	// were distributed before this run).
	slices.SortStableFunc(pending, func(a, b table) int {
		switch {
		case a.name == anchor:
			return -1
		case b.name == anchor:
			return 1
		}
		return 0
	})
	for len(plan) < len(pending) {
		progress := false
		for _, t := range pending {
			if placed[t.name] {
				continue
			}
			ready := true
			for _, p := range t.parents {
				if slices.ContainsFunc(pending, func(x table) bool { return x.name == p }) && !placed[p] {
					ready = false
				}
			}
			if ready {
				plan = append(plan, citusTable{name: t.name})
				placed[t.name] = true
				progress = true
			}
		}
		if !progress {
			return nil, fmt.Errorf("schema: citus: the foreign keys of the remaining tables form a cycle")
		}
	}
	return plan, nil
}
