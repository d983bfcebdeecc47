package testdb

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tallyledger/tally/schema"
	"github.com/tallyledger/tally/schema/pglocal"
)

var (
	citusOnce    sync.Once
	citusCluster *pglocal.CitusCluster
	citusDir     string
	citusErr     error
)

// Citus is a database distributed over a local Citus cluster.
type Citus struct {
	Cluster *pglocal.CitusCluster
	URL     string // the database on the coordinator
	Name    string
}

// NewCitus returns a fresh database on a local Citus cluster (a coordinator
// and two workers, started with the first call and shared by the test
// binary), migrated and distributed by book as with TALLY_CITUS=true; it is
// dropped from every node when the test ends. The test is skipped, saying
// why, when the Citus extension is not installed. Each call takes seconds
// (Citus keeps its metadata per database), so tests share one where they can.
func NewCitus(t testing.TB) *Citus {
	t.Helper()
	if err := pglocal.CitusAvailable(); err != nil {
		t.Skipf("SKIPPED (Citus not installed): %v", err)
	}
	citusOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if citusDir, citusErr = pglocal.TempDir("tally-citus-"); citusErr != nil {
			return
		}
		citusCluster, citusErr = pglocal.StartCitus(ctx, pglocal.Options{DataDir: citusDir}, 2)
	})
	if citusErr != nil {
		t.Fatalf("testdb: citus cluster: %v", citusErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := "c_" + randomHex(6)
	if err := citusCluster.CreateDatabase(ctx, name); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := citusCluster.DropDatabase(ctx, name); err != nil {
			t.Logf("testdb: drop citus database %s: %v", name, err)
		}
	})
	url := citusCluster.Coordinator.URL(name)
	if err := schema.Migrate(url); err != nil {
		t.Fatalf("testdb: migrate on citus: %v", err)
	}
	if err := schema.Distribute(ctx, url); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	return &Citus{Cluster: citusCluster, URL: url, Name: name}
}

// closeCitus stops the Citus cluster, if a test started it.
func closeCitus() error {
	if citusCluster == nil {
		return nil
	}
	err := citusCluster.Stop()
	if rmErr := os.RemoveAll(citusDir); rmErr != nil && err == nil {
		err = fmt.Errorf("remove %s: %w", citusDir, rmErr)
	}
	return err
}
