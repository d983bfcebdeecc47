package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/tallyledger/tally/schema/pglocal"
)

// parseServeFlags reads tally serve's flags: --local-cluster, "" when
// absent. Any other argument is a usage error (errUsage).
func parseServeFlags(args []string) (string, error) {
	var localCluster string
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&localCluster, "local-cluster", "", "replica or citus")
	if err := fs.Parse(args); err != nil {
		return "", fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	switch localCluster {
	case "", "replica", "citus":
		return localCluster, nil
	}
	return "", fmt.Errorf("%w: --local-cluster is replica or citus, not %q", errUsage, localCluster)
}

// localCluster is what --local-cluster started, stopped by Close.
type localCluster struct {
	primary, standby *pglocal.Server
	citus            *pglocal.CitusCluster
}

// openLocalCluster starts the servers --local-cluster asks for, in
// TALLY_DATA_DIR/replica or TALLY_DATA_DIR/citus, and returns the URL to
// write to: the primary (reads going to its standby), or the Citus
// coordinator (the schema distributed by book).
func (m *Main) openLocalCluster(ctx context.Context) (string, error) {
	dir, err := filepath.Abs(m.cfg.DataDir)
	if err != nil {
		return "", err
	}
	switch m.cfg.LocalCluster {
	case "replica":
		dir = filepath.Join(dir, "replica")
		m.log.Info("local mode: starting a PostgreSQL primary and a streaming standby", "data_dir", dir)
		if m.cluster.primary, err = pglocal.Start(ctx, pglocal.Options{DataDir: filepath.Join(dir, "primary"), Durable: true}); err != nil {
			return "", fmt.Errorf("local cluster: %w", err)
		}
		if m.cluster.standby, err = pglocal.StartStandby(ctx, m.cluster.primary, "tally_local", pglocal.Options{DataDir: filepath.Join(dir, "standby"), Durable: true}); err != nil {
			return "", fmt.Errorf("local cluster: %w", err)
		}
		m.cfg.ReadDatabaseURL = m.cluster.standby.URL(pglocal.Database)
		return m.cluster.primary.URL(pglocal.Database), nil
	default: // citus
		dir = filepath.Join(dir, "citus")
		m.log.Info("local mode: starting a Citus coordinator and two workers", "data_dir", dir)
		if m.cluster.citus, err = pglocal.StartCitus(ctx, pglocal.Options{DataDir: dir, Durable: true}, 2); err != nil {
			return "", fmt.Errorf("local cluster: %w", err)
		}
		m.cfg.Citus = true
		return m.cluster.citus.Coordinator.URL(pglocal.Database), nil
	}
}

// stopLocalCluster stops what openLocalCluster started: the standby before
// its primary.
func (m *Main) stopLocalCluster() {
	for _, s := range []*pglocal.Server{m.cluster.standby, m.cluster.primary} {
		if s != nil {
			if err := s.Stop(); err != nil {
				m.log.Warn("stopping local PostgreSQL", "err", err)
			}
		}
	}
	if m.cluster.citus != nil {
		if err := m.cluster.citus.Stop(); err != nil {
			m.log.Warn("stopping the local Citus cluster", "err", err)
		}
	}
}
