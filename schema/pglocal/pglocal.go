// Package pglocal runs a private PostgreSQL server from the machine's server
// binaries, for Tally's local mode and for tests: no Docker, no system
// service, just initdb and postgres as child processes of this one.
//
// The cluster lives in Options.DataDir/pgdata and listens only on
// 127.0.0.1 with trust authentication for the superuser "tally", so it is
// meant for a developer machine or a test run, not for shared hosts. When the
// process runs as root, PostgreSQL (which refuses to run as root) runs as the
// "postgres" user, or "nobody" if there is none; DataDir is handed to that
// user, and Start refuses a DataDir that user cannot reach (for example one
// under /root) rather than silently putting the data somewhere else.
package pglocal

import (
	"context"
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
}

// Server is a running PostgreSQL started by Start.
type Server struct {
	port int
	cmd  *exec.Cmd
	log  *logSink

	exited  chan struct{} // closed once cmd.Wait returned
	exitErr error         // cmd.Wait's result, readable after exited is closed

	stopOnce sync.Once
	stopErr  error
}

// errPortInUse marks a start that failed because the port was taken between
// our probe and the server's bind; Start then retries on another port.
var errPortInUse = errors.New("port already in use")

// errOldBackends means a crashed server's backends still hold its shared
// memory: they exit once they notice the postmaster is gone, so a start
// right after a crash waits for them (up to oldBackendsWait).
var errOldBackends = errors.New("backends of a crashed server are still running")

const oldBackendsWait = 15 * time.Second

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
	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}
	if dataDir, err = prepareDataDir(dataDir, acct); err != nil {
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
	if err := clearStalePID(pgdata); err != nil {
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
	waitOld := time.Now().Add(oldBackendsWait)
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
		if errors.Is(err, errOldBackends) && time.Now().Before(waitOld) && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		log.close()
		return nil, err
	}
	if err := s.createDatabase(ctx, Database); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
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
			if strings.Contains(tail, "Address already in use") {
				return fmt.Errorf("pglocal: port %d: %w\n%s", s.port, errPortInUse, tail)
			}
			if strings.Contains(tail, "pre-existing shared memory block") {
				return fmt.Errorf("pglocal: %w\n%s", errOldBackends, tail)
			}
			return fmt.Errorf("pglocal: server exited during start-up (%v)\n%s", s.exitErr, tail)
		case <-ctx.Done():
			return fmt.Errorf("pglocal: server not ready on port %d: %w (last error: %v)\n%s", s.port, ctx.Err(), err, s.log.tail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) createDatabase(ctx context.Context, name string) error {
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

// clearStalePID removes the postmaster.pid a crashed server left behind.
// PostgreSQL itself ignores a lock file whose pid is dead, but refuses one
// whose pid was since reused by another process, which is common after a
// reboot or in containers. A live server on the directory is an error.
func clearStalePID(pgdata string) error {
	file := filepath.Join(pgdata, "postmaster.pid")
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	// Line 1 is the pid (negative for a single-user backend), line 4 the port.
	lines := strings.Split(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(lines[0]))
	if pid < 0 {
		pid = -pid
	}
	if pid > 0 && pidAlive(pid) && looksLikePostgres(pid) {
		port := "?"
		if len(lines) > 3 {
			port = strings.TrimSpace(lines[3])
		}
		return fmt.Errorf("pglocal: a PostgreSQL server (pid %d, port %s) is already running on %s; stop it first (or, if pid %d is not PostgreSQL, remove %s)",
			pid, port, pgdata, pid, file)
	}
	if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pglocal: remove stale %s: %w", file, err)
	}
	return nil
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
