package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/gateways/sandbox"
	"github.com/tallyledger/tally/httpapi"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/schema"
	"github.com/tallyledger/tally/schema/pglocal"
)

// Main is the running service: it owns every resource and closes them in order.
type Main struct {
	cfg      Config
	log      *slog.Logger
	pg       *pglocal.Server
	cluster  localCluster // with --local-cluster
	pool     *pgxpool.Pool
	readPool *pgxpool.Pool // the read replica's, if any
	journal  *pgjournal.Journal
	runner   *projections.Runner
	outbox   *outbox
	http     *http.Server
	listener net.Listener
	addr     string
	sandbox  *sandbox.Gateway
	jwt      *httpapi.JWTVerifier
	serving  chan error
	// stopExpirer stops the hold expirer; expired is closed once it has.
	stopExpirer context.CancelFunc
	expired     chan struct{}
	// stopReconciler ends the refund and payout reconcilers; reconciled says they have.
	stopReconciler context.CancelFunc
	reconciled     chan struct{}
}

// NewMain returns an unstarted service.
func NewMain(cfg Config) *Main {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	return &Main{cfg: cfg, log: log}
}

// Run starts the database (in local mode), migrates it and starts serving.
// It returns once the listener is up (or migration is done, for migrate).
func (m *Main) Run(ctx context.Context) error {
	if !m.cfg.migrateOnly {
		if err := m.cfg.checkAdminKey(); err != nil {
			return err
		}
	}
	url, err := m.openDatabase(ctx)
	if err != nil {
		return err
	}
	if err := schema.Migrate(url); err != nil {
		return err
	}
	if m.cfg.Citus {
		if err := schema.Distribute(ctx, url); err != nil {
			return err
		}
	}
	if m.cfg.migrateOnly {
		m.log.Info("migrations applied")
		return nil
	}
	latest, err := schema.Latest()
	if err != nil {
		return err
	}
	poolCfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("TALLY_DATABASE_URL: %w", err)
	}
	poolCfg.MaxConns = 32
	if m.pool, err = pgxpool.NewWithConfig(ctx, poolCfg); err != nil {
		return err
	}
	set := projections.Default(m.pool)
	var inline []pgjournal.Projection
	for _, p := range set.Inline() {
		inline = append(inline, p)
	}
	store := pgjournal.NewStore(m.pool)
	metrics := httpapi.NewMetrics(store.PoolStats)
	if err := m.openReplica(ctx, store, metrics); err != nil {
		return err
	}
	if m.outbox, err = openOutbox(m.cfg, m.pool, metrics.Registerer(), m.log); err != nil {
		return err
	}
	m.runner = set.Runner(projections.RunnerOptions{Logger: m.log, Lag: metrics.SetProjectionLag, Sinks: m.outbox.sinks})
	m.runner.Start(context.Background())
	m.outbox.start(set, projections.RunnerOptions{Logger: m.log, Lag: metrics.SetProjectionLag})
	appended := func(book string, events []ledger.Event) { m.runner.Committed(book, events); m.outbox.notify(book) }
	m.journal = pgjournal.New(m.pool, pgjournal.Options{Inline: inline, Logger: m.log, Observer: metrics, Appended: appended, Citus: m.cfg.Citus})
	m.startExpirer(store)
	ln, err := net.Listen("tcp", m.cfg.HTTPAddr)
	if err != nil {
		return err
	}
	m.listener = ln
	m.addr = ln.Addr().String()
	self := "http://127.0.0.1" + portOf(m.addr)
	gws, sb, err := openGateways(m.cfg, store, self, m.log)
	if err != nil {
		return err
	}
	m.sandbox = sb
	var sandboxPages http.Handler
	if sb != nil {
		sandboxPages = sb.Handler()
	}
	if m.cfg.JWT != nil {
		jwtCfg := *m.cfg.JWT
		jwtCfg.Logger = m.log
		if m.jwt, err = httpapi.NewJWTVerifier(jwtCfg); err != nil {
			return err
		}
		m.log.Info("end-user JWTs accepted", "issuers", m.cfg.JWT.Issuers, "jwks_url", m.cfg.JWT.JWKSURL, "hs256", len(m.cfg.JWT.HS256Secret) > 0)
	}
	api := httpapi.New(httpapi.Config{
		Journal: m.journal, Store: store, AdminKey: m.cfg.AdminKey, Logger: m.log, Projections: set,
		Gateways: gws, Sandbox: sandboxPages, JWT: m.jwt,
		Keys: pgjournal.NewKeys(m.pool), Metrics: metrics, Subscriptions: m.outbox.subscriptions,
		RateLimit: m.cfg.RateLimit, RateBurst: m.cfg.RateBurst, RequestTimeout: m.cfg.RequestTimeout,
		AdjustmentApproval: m.cfg.AdjustmentApproval, Sessions: pgjournal.NewSessions(m.pool),
		UnauthRateLimit: m.cfg.UnauthRateLimit, UnauthRateBurst: m.cfg.UnauthRateBurst, TrustedProxies: m.cfg.TrustedProxies,
		Version:         Version(),
		InProgressLease: m.cfg.IdempotencyLease,
		Ready: func(ctx context.Context) error {
			var version int64
			var dirty bool
			if err := m.pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty); err != nil {
				return err
			}
			if dirty || uint(version) != latest {
				return fmt.Errorf("schema at version %d (dirty=%v), want %d", version, dirty, latest)
			}
			return nil
		},
	})
	m.http = &http.Server{
		Addr:              m.cfg.HTTPAddr,
		Handler:           api,
		ReadHeaderTimeout: min(5*time.Second, m.cfg.ReadTimeout),
		ReadTimeout:       m.cfg.ReadTimeout,
		WriteTimeout:      m.cfg.WriteTimeout,
		IdleTimeout:       m.cfg.IdleTimeout,
	}
	m.serving = make(chan error, 1)
	go func() { m.serving <- m.http.Serve(ln) }()
	if m.cfg.ReconcileInterval > 0 {
		var rctx context.Context
		rctx, m.stopReconciler = context.WithCancel(context.WithoutCancel(ctx))
		m.reconciled = make(chan struct{})
		go func() {
			defer close(m.reconciled)
			var wg sync.WaitGroup
			wg.Go(func() { api.RunRefundReconciler(rctx, m.cfg.ReconcileInterval, httpapi.ReconcileOptions{}) })
			wg.Go(func() { api.RunPayoutReconciler(rctx, m.cfg.ReconcileInterval, httpapi.ReconcileOptions{}) })
			wg.Wait()
		}()
	}
	m.log.Info("tally is serving", "addr", m.addr, "public_url", m.cfg.PublicURL, "console_url", m.cfg.PublicURL+httpapi.ConsolePath, "local_mode", m.cfg.LocalMode())
	return nil
}

// Addr is the address the API listens on, once Run has returned.
func (m *Main) Addr() string { return m.addr }

// Close stops accepting requests, answers those in flight, lets the
// sequencers finish their batches and the async projections their page, then
// closes the pool and the local database.
func (m *Main) Close() {
	// The sandbox posts its webhooks to this server: let it finish first.
	if m.sandbox != nil {
		_ = m.sandbox.Close()
	}
	if m.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ShutdownTimeout)
		if err := m.http.Shutdown(ctx); err != nil {
			m.log.Warn("http shutdown", "err", err)
		}
		cancel()
	} else if m.listener != nil {
		_ = m.listener.Close()
	}
	if m.stopExpirer != nil {
		m.stopExpirer()
		<-m.expired
	}
	if m.stopReconciler != nil {
		m.stopReconciler()
		<-m.reconciled
	}
	m.jwt.Close()
	if m.journal != nil {
		m.journal.Close()
	}
	if m.runner != nil {
		m.runner.Stop()
	}
	if m.outbox != nil {
		m.outbox.close()
	}
	if m.pool != nil {
		m.pool.Close()
	}
	if m.readPool != nil {
		m.readPool.Close()
	}
	if m.pg != nil {
		if err := m.pg.Stop(); err != nil {
			m.log.Warn("stopping local PostgreSQL", "err", err)
		}
	}
	m.stopLocalCluster()
	m.log.Info("tally stopped")
}

// startExpirer starts the hold expirer: it voids holds past their
// expires_at within a pass (every HoldExpiryInterval), and its first pass
// catches up with those that expired while the service was down.
func (m *Main) startExpirer(store *pgjournal.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	m.stopExpirer, m.expired = cancel, make(chan struct{})
	x := &pgjournal.Expirer{Journal: m.journal, Store: store, Interval: m.cfg.HoldExpiryInterval}
	go func() {
		defer close(m.expired)
		x.Run(ctx)
	}()
}

// openDatabase returns the database URL: TALLY_DATABASE_URL, or in local
// mode that of the PostgreSQL it starts from TALLY_DATA_DIR (stopped by Close).
func (m *Main) openDatabase(ctx context.Context) (string, error) {
	if !m.cfg.LocalMode() {
		return m.cfg.DatabaseURL, nil
	}
	if m.cfg.LocalCluster != "" {
		return m.openLocalCluster(ctx)
	}
	dir, err := filepath.Abs(m.cfg.DataDir)
	if err != nil {
		return "", err
	}
	m.log.Info("local mode: starting PostgreSQL", "data_dir", dir)
	m.pg, err = pglocal.Start(ctx, pglocal.Options{DataDir: dir, Durable: true, ExistingOnly: m.cfg.existingOnly})
	if err != nil {
		return "", localModeError(dir, err)
	}
	if m.pg.Relocated() {
		m.log.Info("local mode: PostgreSQL's user cannot enter "+dir+", so the cluster lives in "+m.pg.Dir()+" ("+dir+" links there; make clean removes both)",
			"data_dir", dir, "cluster_dir", m.pg.Dir())
	}
	return m.pg.URL(pglocal.Database), nil
}
