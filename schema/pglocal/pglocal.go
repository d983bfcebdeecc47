// Package pglocal runs a private PostgreSQL server from the machine's server
// binaries, for Tally's local mode and for tests: no Docker, no system
// service, just initdb and postgres as child processes of this one.
//
// The cluster lives in Options.DataDir/pgdata and listens only on
// 127.0.0.1 with trust authentication for the superuser "tally", so it is
// meant for a developer machine or a test run, not for shared hosts. When the
// process runs as root, PostgreSQL (which refuses to run as root) runs as the
// "postgres" user, or "nobody" if there is none, and DataDir is handed to that
// user. A DataDir that user cannot reach (for example one under /root, 0700
// on most systems) is made a symlink to /var/lib/tally/<hash of its path>,
// owned by that user: Server.Relocated reports it, so the caller can say
// where the data is, and Remove deletes both.
package pglocal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the cluster's superuser, created by initdb.
const Superuser = "tally"

// Database is the database Start creates for the application.
const Database = "tally"

const (
	readyTimeout = 60 * time.Second // a crash recovery can take a while
	stopTimeout  = 60 * time.Second // a fast shutdown still writes a checkpoint
	portAttempts = 5
)

// Options configure Start.
type Options struct {
	// DataDir holds the cluster (in DataDir/pgdata) and, unless Log is set,
	// the server log (DataDir/postgres.log). It is created if missing.
	DataDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one at each start.
	Port int
	// Durable keeps PostgreSQL's crash safety. When false (for tests),
	// initdb runs with --no-sync and the server with fsync, synchronous_commit
	// and full_page_writes off: much faster, and a machine crash can lose or
	// corrupt the cluster.
	Durable bool
	// Log receives the server's log; nil appends to DataDir/postgres.log.
	Log io.Writer
	// ExistingOnly makes Start fail with ErrNoCluster, creating nothing,
	// when DataDir holds no cluster (or the cluster no database "tally"):
	// for commands that read a database and must never make an empty one.
	ExistingOnly bool
}

// ErrNoCluster is Start's error, with Options.ExistingOnly, for a DataDir
// without a cluster.
var ErrNoCluster = errors.New("no PostgreSQL cluster")

// relocationRoot holds the clusters of data directories the server's user
// cannot reach (see RelocatedDir).
const relocationRoot = "/var/lib/tally"

// RelocatedDir is where the cluster of dataDir lives when, running as root,
// PostgreSQL's user cannot reach dataDir: /var/lib/tally/ and the first 16
// hex digits of the SHA-256 of dataDir's absolute path, so each directory
// gets its own.
func RelocatedDir(dataDir string) string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(relocationRoot, hex.EncodeToString(sum[:8]))
}

// Remove deletes a data directory Start used and, when dataDir is the
// symlink to its relocated cluster (see RelocatedDir), that cluster too.
// The server must be stopped.
func Remove(dataDir string) error {
	if target, err := os.Readlink(dataDir); err == nil && target == RelocatedDir(dataDir) {
		if err := os.RemoveAll(target); err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
	}
	return os.RemoveAll(dataDir)
}

// Server is a running PostgreSQL started by Start.
type Server struct {
	port      int
	cmd       *exec.Cmd
	log       *logSink
	dir       string // the data directory, symlinks resolved
	relocated bool   // dir is RelocatedDir of Options.DataDir

	exited  chan struct{} // closed once cmd.Wait returned
	exitErr error         // cmd.Wait's result, readable after exited is closed

	stopOnce sync.Once
	stopErr  error
}

var (
	// errPortInUse marks a start that failed because the port was taken
	// between our probe and the server's bind; Start then retries on another
	// port.
	errPortInUse = errors.New("port already in use")
	// errShmemInUse marks a start refused because processes of a crashed
	// server still hold its shared memory. They exit as soon as they notice
	// the postmaster is gone, so Start retries for a while.
	errShmemInUse = errors.New("a crashed server's processes are still exiting")
)

// shmemRetry bounds how long Start waits for a crashed server's processes.
const shmemRetry = 10 * time.Second

// Start initialises the cluster in opt.DataDir on first use, starts
// PostgreSQL on it, waits until it accepts connections and makes sure the
// database "tally" exists. ctx bounds the start, not the server's life: call
// Stop to end it. On Linux the server is also stopped if this process dies.
func Start(ctx context.Context, opt Options) (*Server, error) {
	if opt.DataDir == "" {
		return nil, errors.New("pglocal: Options.DataDir is required")
	}
	dataDir, err := filepath.Abs(opt.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	if opt.ExistingOnly {
		// Before prepareDataDir, which would create the directory.
		if major, err := clusterVersion(filepath.Join(dataDir, "pgdata")); err != nil {
			return nil, err
		} else if major == "" {
			return nil, fmt.Errorf("pglocal: %w in %s", ErrNoCluster, dataDir)
		}
	}
	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}
	var relocated bool
	if dataDir, relocated, err = prepareDataDir(dataDir, acct); err != nil {
		return nil, err
	}
	pgdata := filepath.Join(dataDir, "pgdata")
	major, err := clusterVersion(pgdata)
	if err != nil {
		return nil, err
	}
	bin, err := findBinaries(major)
	if err != nil {
		return nil, err
	}
	if err := checkPIDFile(ctx, pgdata); err != nil {
		return nil, err
	}
	log, err := openLog(dataDir, opt.Log)
	if err != nil {
		return nil, err
	}
	if major == "" {
		if err := initdb(ctx, bin, dataDir, acct, opt.Durable, log); err != nil {
			log.close()
			return nil, err
		}
	}

	var s *Server
	shmemDeadline := time.Now().Add(shmemRetry)
	for attempt := 1; ; attempt++ {
		port := opt.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				log.close()
				return nil, err
			}
		}
		s, err = launch(ctx, bin, pgdata, port, acct, opt.Durable, log)
		if err == nil {
			break
		}
		// Another process can take a probed port before postgres binds it.
		if opt.Port == 0 && errors.Is(err, errPortInUse) && attempt < portAttempts {
			continue
		}
		if errors.Is(err, errShmemInUse) && time.Now().Before(shmemDeadline) && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		log.close()
		return nil, err
	}
	s.dir, s.relocated = dataDir, relocated
	if err := s.createDatabase(ctx, Database, !opt.ExistingOnly); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Dir returns the directory the cluster lives in (Options.DataDir with
// symlinks resolved): RelocatedDir(Options.DataDir) when Relocated.
func (s *Server) Dir() string { return s.dir }

// Relocated reports whether Options.DataDir is out of reach of PostgreSQL's
// user, so that it is a symlink to Dir, a directory under /var/lib/tally.
func (s *Server) Relocated() bool { return s.relocated }

// TempDir creates a new directory for a disposable cluster (one for tests,
// with Durable false), which an unprivileged user can traverse to: in
// /dev/shm on Linux when that is a tmpfs with a gigabyte free, since a
// cluster in memory initialises and clones databases many times faster;
// else in the system temp directory. pattern is as for os.MkdirTemp. The
// caller removes it.
func TempDir(pattern string) (string, error) {
	return os.MkdirTemp(tmpRoot(), pattern)
}

// URL returns the connection URL of database on this server, as the
// superuser "tally".
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, s.port, database)
}

// Port returns the TCP port the server listens on (on 127.0.0.1).
func (s *Server) Port() int { return s.port }

// Stop shuts the server down (a fast shutdown: open sessions are ended and
// their transactions rolled back, then a checkpoint is written) and waits
// for it to exit. It is safe to call more than once; later calls return the
// first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = s.stop()
		if err := s.log.close(); err != nil && s.stopErr == nil {
			s.stopErr = fmt.Errorf("pglocal: close log: %w", err)
		}
	})
	return s.stopErr
}

func (s *Server) stop() error {
	select {
	case <-s.exited:
		return s.exitError("server had already exited")
	default:
	}
	if err := fastShutdown(s.cmd.Process); err != nil {
		return fmt.Errorf("pglocal: signal server: %w", err)
	}
	select {
	case <-s.exited:
		return s.exitError("server exited badly")
	case <-time.After(stopTimeout):
	}
	// Still there: an immediate shutdown needs crash recovery at the next
	// start, which beats leaving a server behind.
	_ = immediateShutdown(s.cmd.Process)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	return fmt.Errorf("pglocal: server did not stop within %v; killed it\n%s", stopTimeout, s.log.tail())
}

// exitError reports a non-zero exit of the server, with the log's tail.
func (s *Server) exitError(what string) error {
	if s.exitErr == nil {
		return nil
	}
	return fmt.Errorf("pglocal: %s: %v\n%s", what, s.exitErr, s.log.tail())
}

// launch starts postgres on pgdata and waits until it accepts connections.
func launch(ctx context.Context, bin binaries, pgdata string, port int, acct *account, durable bool, log *logSink) (*Server, error) {
	// Settings go on the command line rather than in postgresql.conf so that
	// each start uses this start's port and durability.
	args := []string{"-D", pgdata,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(port),
		// TCP only: no socket file, so no 107-byte socket path limit and no
		// clash with a system server's /var/run/postgresql.
		"-c", "unix_socket_directories=",
		"-c", "max_connections=200",
		"-c", "shared_buffers=128MB",
	}
	if !durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(bin.path("postgres"), args...)
	cmd.Dir = pgdata
	cmd.Env = childEnv()
	cmd.SysProcAttr = procAttr(acct)
	log.startRun()
	cmd.Stdout, cmd.Stderr = log.w, log.w
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pglocal: start %s: %w", cmd.Path, err)
	}
	s := &Server{port: port, cmd: cmd, log: log, exited: make(chan struct{})}
	go func() {
		s.exitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.stop() // no-op if it already exited
		return nil, err
	}
	return s, nil
}

// waitReady polls with real connections until the server accepts them: that
// also covers crash recovery, during which it answers "starting up".
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	// Connection attempts also end when the server exits: whatever holds the
	// port it failed to bind may accept our connection and never answer.
	connCtx, cancelConn := context.WithCancel(ctx)
	defer cancelConn()
	go func() {
		select {
		case <-s.exited:
			cancelConn()
		case <-connCtx.Done():
		}
	}()
	for {
		attempt, cancelAttempt := context.WithTimeout(connCtx, time.Second)
		conn, err := pgx.Connect(attempt, s.URL("postgres"))
		cancelAttempt()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-s.exited:
			tail := s.log.tail()
			switch {
			case strings.Contains(tail, "Address already in use"):
				return fmt.Errorf("pglocal: port %d: %w\n%s", s.port, errPortInUse, tail)
			case strings.Contains(tail, "pre-existing shared memory block"):
				return fmt.Errorf("pglocal: %w\n%s", errShmemInUse, tail)
			}
			return fmt.Errorf("pglocal: server exited during start-up (%v)\n%s", s.exitErr, tail)
		case <-ctx.Done():
			return fmt.Errorf("pglocal: server not ready on port %d: %w (last error: %v)\n%s", s.port, ctx.Err(), err, s.log.tail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// createDatabase makes sure database name exists; when it does not and
// create is false, that is ErrNoCluster.
func (s *Server) createDatabase(ctx context.Context, name string, create bool) error {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pglocal: connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("pglocal: look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if !create {
		return fmt.Errorf("pglocal: %w with a database %s in %s", ErrNoCluster, name, s.dir)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("pglocal: create database %s: %w", name, err)
	}
	return nil
}

// clusterVersion returns the major version of the cluster in pgdata, or ""
// if there is none yet.
func clusterVersion(pgdata string) (string, error) {
	b, err := os.ReadFile(filepath.Join(pgdata, "PG_VERSION"))
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	if _, err := os.Stat(pgdata); err == nil {
		return "", fmt.Errorf("pglocal: %s exists but holds no PostgreSQL cluster (no PG_VERSION); move it away", pgdata)
	}
	return "", nil
}

// initdb creates the cluster in a scratch directory and renames it into
// place, so an interrupted initdb never leaves a half-made pgdata behind.
func initdb(ctx context.Context, bin binaries, dataDir string, acct *account, durable bool, log *logSink) error {
	scratch := filepath.Join(dataDir, "pgdata.initdb")
	if err := os.RemoveAll(scratch); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	args := []string{"-D", scratch, "-U", Superuser, "--auth=trust", "-E", "UTF8", "--locale=C"}
	if !durable {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, bin.path("initdb"), args...)
	cmd.Dir = dataDir
	cmd.Env = childEnv()
	cmd.SysProcAttr = procAttr(acct)
	out, err := cmd.CombinedOutput()
	log.w.Write(out)
	if err != nil {
		os.RemoveAll(scratch)
		return fmt.Errorf("pglocal: initdb failed: %v\n%s", err, out)
	}
	if err := os.Rename(scratch, filepath.Join(dataDir, "pgdata")); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	return nil
}

// checkPIDFile deals with the postmaster.pid of an earlier server on pgdata.
// One whose process is gone (a crash) is removed: PostgreSQL itself ignores
// a dead pid, but refuses one since reused by another process, which is
// common after a reboot or in containers. One that is shutting down (say,
// stopped by our parent-death signal just before a restart) is waited for.
// A live server is an error.
func checkPIDFile(ctx context.Context, pgdata string) error {
	file := filepath.Join(pgdata, "postmaster.pid")
	ctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	for {
		b, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		// Line 1: pid (negative for a single-user backend); 4: port;
		// 8: status (starting, stopping, ready, standby).
		lines := strings.Split(string(b), "\n")
		line := func(n int) string {
			if len(lines) < n {
				return ""
			}
			return strings.TrimSpace(lines[n-1])
		}
		pid, _ := strconv.Atoi(line(1))
		if pid < 0 {
			pid = -pid
		}
		if pid <= 0 || !pidAlive(pid) || !looksLikePostgres(pid) {
			if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("pglocal: remove stale %s: %w", file, err)
			}
			return nil
		}
		if line(8) != "stopping" {
			return fmt.Errorf("pglocal: a PostgreSQL server (pid %d, port %s) is already running on %s; stop it first (or, if pid %d is not PostgreSQL, remove %s)",
				pid, line(4), pgdata, pid, file)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pglocal: the PostgreSQL server (pid %d) on %s is still shutting down: %w", pid, pgdata, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freePort asks the kernel for a free port on 127.0.0.1. It is free only
// until someone else takes it, hence the retry in Start.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pglocal: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// childEnv is our environment without PG* variables, which initdb and
// postgres would otherwise read (PGDATA, PGPORT, PGOPTIONS, …).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}
