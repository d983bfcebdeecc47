package pglocal

import (
	"context"
	"testing"
	"time"
)

// StartCitus starts a coordinator that knows both its workers, and whose
// distributed tables place shards on them.
func TestCitusClusterHasTwoWorkers(t *testing.T) {
	if err := CitusAvailable(); err != nil {
		t.Skipf("SKIPPED: Citus tests need the Citus extension: %v", err)
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := StartCitus(ctx, Options{DataDir: dataDir(t)}, 2)
	if err != nil {
		t.Fatalf("StartCitus: %v", err)
	}
	t.Cleanup(func() { c.Stop() })
	conn := connect(t, c.Coordinator.URL(Database))
	var workers int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM citus_get_active_worker_nodes()`).Scan(&workers); err != nil || workers != 2 {
		t.Fatalf("active workers: %d (%v), want 2", workers, err)
	}
	exec1(t, conn, `CREATE TABLE t (book text, n int, PRIMARY KEY (book, n))`)
	exec1(t, conn, `SELECT create_distributed_table('t', 'book')`)
	var nodes int
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT nodeport) FROM citus_shards WHERE table_name = 't'::regclass`).Scan(&nodes); err != nil || nodes != 2 {
		t.Fatalf("shards on %d nodes (%v), want 2", nodes, err)
	}
}
