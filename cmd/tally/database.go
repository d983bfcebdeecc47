package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/schema"
	"github.com/tallyledger/tally/schema/pglocal"
)

// withDatabase runs one command against the configured database (in local
// mode the existing cluster's; see openDatabase), closing it afterwards.
func withDatabase(ctx context.Context, run func(*pgxpool.Pool) error) error {
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	pool, closeDB, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeDB()
	return run(pool)
}

// openDatabase connects an operations command (tally keys, …) to Tally's
// database, migrated: TALLY_DATABASE_URL if set; else, in local mode, the
// PostgreSQL a running `tally serve` started in TALLY_DATA_DIR, or one this
// command starts on the cluster there and stops again when done. It never
// creates a cluster: see localModeError.
func openDatabase(ctx context.Context, cfg Config) (*pgxpool.Pool, func(), error) {
	url, stop := cfg.DatabaseURL, func() {}
	if cfg.LocalMode() {
		dir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return nil, nil, err
		}
		if url = runningLocalServer(ctx, dir); url == "" {
			pg, err := pglocal.Start(ctx, pglocal.Options{DataDir: dir, Durable: true, ExistingOnly: true})
			if err != nil {
				return nil, nil, localModeError(dir, err)
			}
			url, stop = pg.URL(pglocal.Database), func() { _ = pg.Stop() }
		}
	}
	if err := schema.Migrate(url); err != nil {
		stop()
		return nil, nil, err
	}
	if cfg.Citus {
		if err := schema.Distribute(ctx, url); err != nil {
			stop()
			return nil, nil, err
		}
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return pool, func() { pool.Close(); stop() }, nil
}

// localModeError words a failed start of the local-mode PostgreSQL in dir.
// No cluster there usually means the command runs from another directory
// than `make run` did: an empty ledger created here would pass every check.
func localModeError(dir string, err error) error {
	if errors.Is(err, pglocal.ErrNoCluster) {
		return fmt.Errorf("no Tally database in %s (TALLY_DATA_DIR), and TALLY_DATABASE_URL is not set: "+
			"run this from the directory where you ran make run or tally serve, or set TALLY_DATA_DIR or TALLY_DATABASE_URL", dir)
	}
	return fmt.Errorf("local mode: %w", err)
}

// runningLocalServer returns the URL of the local-mode PostgreSQL already
// running on dir (its postmaster.pid names the port), or "" if none answers.
func runningLocalServer(ctx context.Context, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "pgdata", "postmaster.pid"))
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return ""
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil {
		return ""
	}
	url := fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", pglocal.Superuser, port, pglocal.Database)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return ""
	}
	_ = conn.Close(ctx)
	return url
}
