package pglocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// CitusCluster is a local Citus cluster: a coordinator and its workers,
// each a PostgreSQL server of its own on this machine, for tests and demos
// of Tally distributed by book. It needs the Citus extension installed into
// the machine's PostgreSQL (see CitusAvailable).
type CitusCluster struct {
	Coordinator *Server
	Workers     []*Server
}

// CitusAvailable reports, as an error that says what to do, whether the
// Citus extension is installed for the PostgreSQL server binaries Start
// would use.
func CitusAvailable() error {
	bin, err := findBinaries("")
	if err != nil {
		return err
	}
	lib := filepath.Join(filepath.Dir(bin.dir), "lib")
	if out, err := exec.Command(bin.path("pg_config"), "--pkglibdir").Output(); err == nil {
		lib = strings.TrimSpace(string(out))
	}
	if _, err := os.Stat(filepath.Join(lib, "citus.so")); err != nil {
		return fmt.Errorf("pglocal: the Citus extension is not installed for the PostgreSQL in %s (no citus.so in %s): install Citus's packages for this PostgreSQL version (https://docs.citusdata.com/en/stable/installation/single_node.html)", bin.dir, lib)
	}
	return nil
}

// citusSettings go into each node's postgresql.conf when it is created:
// Citus must be preloaded, and the coordinator commits a transaction that
// spans workers with two-phase commit.
var citusSettings = []string{
	"shared_preload_libraries = 'citus'",
	"max_prepared_transactions = 100",
	// Few shards per table: a development cluster has few books, and every
	// shard of every table is a table on a worker to create and migrate.
	"citus.shard_count = 16",
	// The nodes talk over loopback, like the clients of a pglocal server.
	"citus.node_conninfo = 'sslmode=disable'",
}

// StartCitus starts a coordinator (in opt.DataDir/coordinator) and workers
// (opt.DataDir/worker1, …), creating each cluster with Citus preloaded on
// first use, and prepares the database "tally" on them (CreateDatabase).
// opt.Port, if set, is the coordinator's port; the workers take free ports.
// Stop ends them all.
func StartCitus(ctx context.Context, opt Options, workers int) (*CitusCluster, error) {
	if err := CitusAvailable(); err != nil {
		return nil, err
	}
	if opt.DataDir == "" {
		return nil, errors.New("pglocal: Options.DataDir is required")
	}
	// The nodes' directories sit in this one, which the server's account
	// must be able to traverse (see prepareDataDir).
	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}
	if opt.DataDir, _, err = prepareDataDir(opt.DataDir, acct); err != nil {
		return nil, err
	}
	c := &CitusCluster{}
	for i := 0; i <= workers; i++ {
		node := opt
		node.DataDir = filepath.Join(opt.DataDir, "coordinator")
		if i > 0 {
			node.DataDir = filepath.Join(opt.DataDir, "worker"+strconv.Itoa(i))
			node.Port = 0
		}
		if err := initWithSettings(ctx, node, citusSettings); err != nil {
			c.Stop()
			return nil, err
		}
		s, err := Start(ctx, node)
		if err != nil {
			c.Stop()
			return nil, err
		}
		if i == 0 {
			c.Coordinator = s
		} else {
			c.Workers = append(c.Workers, s)
		}
	}
	if err := c.CreateDatabase(ctx, Database); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// CreateDatabase makes database name a distributed database: it creates it
// on every node (if missing) with the citus extension, and registers the
// coordinator and the workers in the coordinator's metadata. Citus keeps
// its metadata per database, so every database needs this once.
func (c *CitusCluster) CreateDatabase(ctx context.Context, name string) error {
	nodes := append([]*Server{c.Coordinator}, c.Workers...)
	for _, n := range nodes {
		if err := n.createDatabase(ctx, name, true); err != nil {
			return err
		}
		if err := execOn(ctx, n.URL(name), `CREATE EXTENSION IF NOT EXISTS citus`); err != nil {
			return err
		}
	}
	conn, err := pgx.Connect(ctx, c.Coordinator.URL(name))
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT citus_set_coordinator_host('127.0.0.1', $1)`, c.Coordinator.Port()); err != nil {
		return fmt.Errorf("pglocal: citus_set_coordinator_host: %w", err)
	}
	for _, w := range c.Workers {
		if _, err := conn.Exec(ctx, `SELECT citus_add_node('127.0.0.1', $1)
			WHERE NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodename = '127.0.0.1' AND nodeport = $1)`, w.Port()); err != nil {
			return fmt.Errorf("pglocal: citus_add_node: %w", err)
		}
	}
	return nil
}

// DropDatabase drops database name from every node.
func (c *CitusCluster) DropDatabase(ctx context.Context, name string) error {
	var errs []error
	for _, n := range append([]*Server{c.Coordinator}, c.Workers...) {
		errs = append(errs, execOn(ctx, n.URL("postgres"), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"))
	}
	return errors.Join(errs...)
}

// Stop stops the workers, then the coordinator.
func (c *CitusCluster) Stop() error {
	var errs []error
	for _, w := range c.Workers {
		errs = append(errs, w.Stop())
	}
	if c.Coordinator != nil {
		errs = append(errs, c.Coordinator.Stop())
	}
	return errors.Join(errs...)
}

// initWithSettings creates the cluster in opt.DataDir, if there is none
// yet, with settings appended to its postgresql.conf, so that its first
// start already has them.
func initWithSettings(ctx context.Context, opt Options, settings []string) error {
	dataDir, err := filepath.Abs(opt.DataDir)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	acct, err := serverAccount()
	if err != nil {
		return err
	}
	if dataDir, _, err = prepareDataDir(dataDir, acct); err != nil {
		return err
	}
	pgdata := filepath.Join(dataDir, "pgdata")
	if major, err := clusterVersion(pgdata); err != nil || major != "" {
		return err
	}
	bin, err := findBinaries("")
	if err != nil {
		return err
	}
	log, err := openLog(dataDir, opt.Log)
	if err != nil {
		return err
	}
	defer log.close()
	if err := initdb(ctx, bin, dataDir, acct, opt.Durable, log); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(pgdata, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	_, err = f.WriteString("\n# Added by Tally's pglocal\n" + strings.Join(settings, "\n") + "\n")
	return errors.Join(err, f.Close())
}

func execOn(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pglocal: %s: %w", sql, err)
	}
	return nil
}
