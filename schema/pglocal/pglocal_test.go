package pglocal

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// dataDir returns a fresh directory for a cluster. Not t.TempDir: its parent
// is 0700, which the user postgres runs as under root could not traverse.
func dataDir(t *testing.T) string {
	t.Helper()
	dir, err := TempDir("pglocal-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func start(t *testing.T, opt Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, opt)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec1(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func queryString(t *testing.T, conn *pgx.Conn, sql string, args ...any) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestStartServesStopsAndRestartsWithData(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	s := start(t, Options{DataDir: dir})

	wantURL := "postgres://tally@127.0.0.1:" + strconv.Itoa(s.Port()) + "/tally?sslmode=disable"
	if got := s.URL("tally"); got != wantURL {
		t.Errorf("URL = %q, want %q", got, wantURL)
	}
	conn := connect(t, s.URL("tally")) // the tally database exists
	if got := queryString(t, conn, "SELECT current_user"); got != "tally" {
		t.Errorf("current_user = %q, want tally", got)
	}
	if got := queryString(t, conn, "SHOW fsync"); got != "off" {
		t.Errorf("fsync = %q, want off for a non-durable server", got)
	}
	exec1(t, conn, "CREATE TABLE kv (k text PRIMARY KEY, v text)")
	exec1(t, conn, "INSERT INTO kv VALUES ('a', 'kept')")
	conn.Close(context.Background())

	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pgdata", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid after a clean stop: %v, want it gone", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c, err := pgx.Connect(ctx, s.URL("tally")); err == nil {
		c.Close(ctx)
		t.Fatal("the server still accepts connections after Stop")
	}

	s2 := start(t, Options{DataDir: dir, Durable: true})
	conn2 := connect(t, s2.URL("tally"))
	if got := queryString(t, conn2, "SELECT v FROM kv WHERE k = 'a'"); got != "kept" {
		t.Errorf("after restart v = %q, want kept", got)
	}
	if got := queryString(t, conn2, "SHOW fsync"); got != "on" {
		t.Errorf("fsync = %q, want on for a durable server", got)
	}
}

func TestStartAfterCrash(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	s := start(t, Options{DataDir: dir})
	conn := connect(t, s.URL("tally"))
	// This commit must reach the OS before we pull the plug.
	exec1(t, conn, "SET synchronous_commit = on")
	exec1(t, conn, "CREATE TABLE kv (k text PRIMARY KEY, v text)")
	exec1(t, conn, "INSERT INTO kv VALUES ('a', 'survived')")
	conn.Close(context.Background())

	// A crash: the postmaster dies without removing postmaster.pid.
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.exited
	pidFile := filepath.Join(dir, "pgdata", "postmaster.pid")
	if _, err := os.Stat(pidFile); err != nil {
		t.Fatalf("want a stale postmaster.pid after a crash: %v", err)
	}
	if err := s.Stop(); err == nil {
		t.Error("Stop of a crashed server returned nil, want its exit error")
	}

	s2 := start(t, Options{DataDir: dir})
	conn2 := connect(t, s2.URL("tally"))
	if got := queryString(t, conn2, "SELECT v FROM kv WHERE k = 'a'"); got != "survived" {
		t.Errorf("after crash v = %q, want survived", got)
	}
}

func TestStalePIDFile(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	s := start(t, Options{DataDir: dir})
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	// A pid that is certainly dead: a child we already waited for.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	pids := map[string]int{"dead pid": dead.Process.Pid}
	if runtime.GOOS == "linux" {
		// A pid reused by a live process that is not postgres (this test
		// binary): PostgreSQL itself would refuse to start.
		pids["reused pid"] = os.Getpid()
	}
	pidFile := filepath.Join(dir, "pgdata", "postmaster.pid")
	for name, pid := range pids {
		t.Run(name, func(t *testing.T) {
			content := strconv.Itoa(pid) + "\n" + filepath.Join(dir, "pgdata") + "\n1700000000\n5432\n\n127.0.0.1\n  5432001         0\nready   \n"
			if err := os.WriteFile(pidFile, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			s := start(t, Options{DataDir: dir})
			if err := s.Stop(); err != nil {
				t.Fatalf("Stop: %v", err)
			}
		})
	}
}

func TestStartRefusesRunningServerAndTakenPort(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	var log bytes.Buffer
	s := start(t, Options{DataDir: dir, Log: &log})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s2, err := Start(ctx, Options{DataDir: dir})
	if err == nil {
		s2.Stop()
		t.Fatal("a second Start on a running cluster succeeded")
	}
	if want := "already running"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	// Stop waited for the server and its output: the log is complete.
	if want := "ready to accept connections"; !strings.Contains(log.String(), want) {
		t.Errorf("Options.Log got %q, want it to contain %q", log.String(), want)
	}

	// A port someone else holds fails fast, with the server's log.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	s3, err := Start(ctx, Options{DataDir: dir, Port: port})
	if err == nil {
		s3.Stop()
		t.Fatalf("Start on taken port %d succeeded", port)
	}
	if !errors.Is(err, errPortInUse) || !strings.Contains(err.Error(), "server log:") {
		t.Errorf("error = %v, want errPortInUse with the server log", err)
	}
}

func TestNoBinaries(t *testing.T) {
	t.Setenv("PATH", "")
	saved1, saved2 := versionedDirs, fixedDirs
	defer func() { versionedDirs, fixedDirs = saved1, saved2 }()
	versionedDirs, fixedDirs = []string{"/nonexistent/*/bin"}, []string{"/nonexistent/bin"}

	_, err := Start(context.Background(), Options{DataDir: dataDir(t)})
	if err == nil {
		t.Fatal("Start without binaries succeeded")
	}
	for _, want := range []string{"apt-get install postgresql", "TALLY_DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// A clone under /root on a fresh machine: root's home is 0700, so the user
// PostgreSQL runs as cannot enter the data directory. The cluster moves to
// RelocatedDir, the data directory becomes a symlink to it, the data
// survives a restart, and Remove deletes both.
func TestRootRelocatesUnreachableDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root drops privileges")
	}
	t.Parallel()
	home := t.TempDir() // 0700 and root's, like /root
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, "clone", ".tally")
	target := RelocatedDir(dir)
	t.Cleanup(func() { os.RemoveAll(target) })

	s := start(t, Options{DataDir: dir})
	if !s.Relocated() || s.Dir() != target || !strings.HasPrefix(target, "/var/lib/tally/") {
		t.Fatalf("Relocated() = %v, Dir() = %s; want true and %s under /var/lib/tally", s.Relocated(), s.Dir(), target)
	}
	if link, err := os.Readlink(dir); err != nil || link != target {
		t.Fatalf("%s links to %q (%v), want %s", dir, link, err, target)
	}
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := serverAccount()
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != acct.uid || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: uid %d mode %v, want uid %d (%s) and 0700", target, st.Uid, fi.Mode().Perm(), acct.uid, acct.name)
	}
	if _, err := os.Stat(filepath.Join(dir, "pgdata", "PG_VERSION")); err != nil {
		t.Errorf("the cluster is not reachable through the link: %v", err)
	}
	conn := connect(t, s.URL("tally"))
	exec1(t, conn, "CREATE TABLE kv (k text PRIMARY KEY, v text)")
	exec1(t, conn, "INSERT INTO kv VALUES ('a', 'kept')")
	conn.Close(context.Background())
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	s2 := start(t, Options{DataDir: dir, ExistingOnly: true})
	if !s2.Relocated() {
		t.Error("second start: Relocated() = false")
	}
	if got := queryString(t, connect(t, s2.URL("tally")), "SELECT v FROM kv WHERE k = 'a'"); got != "kept" {
		t.Errorf("after restart v = %q, want kept", got)
	}
	if err := s2.Stop(); err != nil {
		t.Fatal(err)
	}

	if err := Remove(dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, target} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Remove, %s: %v; want it gone", p, err)
		}
	}
}

// Files of someone else's in an unreachable directory are not moved: Start
// refuses, says why and what to do.
func TestRootRefusesUnreachableNonEmptyDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root drops privileges")
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(RelocatedDir(dir)) })
	_, err := Start(context.Background(), Options{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "cannot reach") || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("error = %v, want one saying the server's user cannot reach the non-empty directory", err)
	}
	if _, err := os.Stat(RelocatedDir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s was created: %v", RelocatedDir(dir), err)
	}
}

// Commands that only read a database must never make one.
func TestExistingOnlyCreatesNothing(t *testing.T) {
	t.Parallel()
	parent := dataDir(t)
	for name, prepare := range map[string]func(dir string){
		"missing directory": func(string) {},
		"empty directory":   func(dir string) { os.Mkdir(dir, 0o755) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(parent, strings.ReplaceAll(name, " ", "-"))
			prepare(dir)
			before, _ := os.ReadDir(parent)
			s, err := Start(context.Background(), Options{DataDir: dir, ExistingOnly: true})
			if err == nil {
				s.Stop()
				t.Fatal("Start with ExistingOnly made a cluster")
			}
			if !errors.Is(err, ErrNoCluster) || !strings.Contains(err.Error(), dir) {
				t.Errorf("error = %v, want ErrNoCluster naming %s", err, dir)
			}
			after, _ := os.ReadDir(parent)
			if len(after) != len(before) {
				t.Errorf("entries in %s: %d before, %d after", parent, len(before), len(after))
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("%s holds %d entries, want none", dir, len(entries))
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		sign int
	}{{"9.6", "15", -1}, {"15", "15", 0}, {"16", "15", 1}, {"10", "9.6", 1}} {
		got := compareVersions(c.a, c.b)
		if (got < 0 && c.sign >= 0) || (got > 0 && c.sign <= 0) || (got == 0 && c.sign != 0) {
			t.Errorf("compareVersions(%s, %s) = %d, want sign %d", c.a, c.b, got, c.sign)
		}
	}
}

func TestFindBinariesWithoutPATH(t *testing.T) {
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres"); len(m) == 0 {
		t.Skip("no Debian-style /usr/lib/postgresql/<version>/bin here")
	}
	t.Setenv("PATH", "")
	bin, err := findBinaries("")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(bin.dir, "/usr/lib/postgresql/") {
		t.Errorf("found %s, want a /usr/lib/postgresql/<version>/bin", bin.dir)
	}
	major := strings.TrimPrefix(strings.TrimSuffix(bin.dir, "/bin"), "/usr/lib/postgresql/")
	if got, err := findBinaries(major); err != nil || got != bin {
		t.Errorf("findBinaries(%q) = %v, %v; want %v", major, got, err, bin)
	}
	if _, err := findBinaries("8.4"); err == nil || !strings.Contains(err.Error(), "PostgreSQL 8.4") {
		t.Errorf("findBinaries(8.4) error = %v, want one naming the missing version", err)
	}
}

func TestStartWaitsForStoppingServer(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	old := start(t, Options{DataDir: dir})
	conn := connect(t, old.URL("tally"))
	// A smart shutdown waits for our session, and meanwhile postmaster.pid
	// says "stopping": the state a restart finds right after our
	// parent-death signal.
	if err := old.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "pgdata", "postmaster.pid")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(pidFile)
		if strings.Contains(string(b), "stopping") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("postmaster.pid never said stopping: %q", b)
		}
	}

	started := make(chan error, 1)
	var s *Server
	go func() {
		var err error
		s, err = Start(context.Background(), Options{DataDir: dir})
		started <- err
	}()
	select {
	case err := <-started:
		t.Fatalf("Start returned (%v) while the old server was still running", err)
	case <-time.After(300 * time.Millisecond):
	}
	conn.Close(context.Background()) // lets the old server finish
	if err := <-started; err != nil {
		t.Fatalf("Start after the old server stopped: %v", err)
	}
	t.Cleanup(func() { s.Stop() })
	if err := old.Stop(); err != nil {
		t.Errorf("Stop of the cleanly shut down old server: %v", err)
	}
	connect(t, s.URL("tally"))
}
