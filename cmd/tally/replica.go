package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/httpapi"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// openReplica points the store's reads at TALLY_DATABASE_READ_URL, if set.
// The replica need not be up: until it answers, reads go to the primary.
func (m *Main) openReplica(ctx context.Context, store *pgjournal.Store, metrics *httpapi.Metrics) error {
	if m.cfg.ReadDatabaseURL == "" {
		return nil
	}
	cfg, err := pgxpool.ParseConfig(m.cfg.ReadDatabaseURL)
	if err != nil {
		return fmt.Errorf("TALLY_DATABASE_READ_URL: %w", err)
	}
	cfg.MaxConns = 32
	// A replica that is gone must cost a read little before it falls back.
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 2*time.Second {
		cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	}
	if m.readPool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return fmt.Errorf("TALLY_DATABASE_READ_URL: %w", err)
	}
	store.UseReplica(m.readPool, pgjournal.ReplicaOptions{})
	metrics.WatchReplica(store)
	m.log.Info("reads may go to the replica", "max_wait", "2s")
	return nil
}
