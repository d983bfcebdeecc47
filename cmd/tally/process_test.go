package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/tallyledger/tally/schema/testdb"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/schema/pglocal"
)

// The end-to-end tests run the real binary, as an operator would: built
// from this package, started as `tally serve` in local mode, killed and
// started again on the same data directory.

// TestMain removes the binary the end-to-end tests built. Started again by
// tally bench, the test binary is its load generator instead.
func TestMain(m *testing.M) {
	if os.Getenv(loadChildEnv) != "" {
		// tally bench's load generator, when a test runs the bench.
		os.Exit(loadChild(context.Background(), os.Stdin, os.Stdout))
	}
	code := testdb.Run(m)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// e2eAdminKey is long enough for serve outside local mode (32 characters at least).
const e2eAdminKey = "e2e-admin-key-for-the-process-tests-0001"

// e2eVersion is what the test binary's tally version prints (the Makefile
// sets git describe's answer the same way).
const e2eVersion = "v0.0.0-e2e"

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// tallyBinary builds cmd/tally once per test run, with the race detector
// when the tests have it, so that the server under load is checked for data
// races as well.
func tallyBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("the go tool is not on PATH: %w", err)
			return
		}
		if binDir, err = os.MkdirTemp("", "tally-e2e-bin-"); err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(binDir, "tally")
		args := []string{"build", "-o", binPath, "-ldflags", "-X main.version=" + e2eVersion}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command(goTool, append(args, ".")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// tallyProcess is `tally serve` in local mode on a data directory and HTTP
// port that stay the same across restarts.
type tallyProcess struct {
	t       testing.TB
	bin     string
	env     []string
	dataDir string
	base    string // http://127.0.0.1:<port>
	logPath string // the server's stderr, all runs appended

	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

// newTallyProcess prepares (but does not start) a server. extraEnv adds
// variables such as a gateway's secrets.
func newTallyProcess(t testing.TB, extraEnv ...string) *tallyProcess {
	t.Helper()
	// Not t.TempDir: under root, PostgreSQL runs as another user, which
	// must be able to reach the data directory.
	dataDir, err := pglocal.TempDir("tally-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := &tallyProcess{
		t: t, bin: tallyBinary(t), dataDir: dataDir, base: "http://" + addr,
		logPath: filepath.Join(t.TempDir(), "tally.log"),
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TALLY_") && !strings.HasPrefix(kv, "PG") {
			p.env = append(p.env, kv)
		}
	}
	p.env = append(p.env, "TALLY_DATA_DIR="+dataDir, "TALLY_ADMIN_KEY="+e2eAdminKey, "TALLY_HTTP_ADDR="+addr,
		"TALLY_LOG_LEVEL=warn", "GORACE=halt_on_error=0",
		// The load comes from one key; its rate limit is not what these tests are about.
		"TALLY_RATE_LIMIT=0")
	p.env = append(p.env, extraEnv...)
	t.Cleanup(func() {
		p.stop()
		if b, err := os.ReadFile(p.logPath); err == nil && bytes.Contains(b, []byte("WARNING: DATA RACE")) {
			t.Errorf("the server reported a data race:\n%s", b)
		}
		os.RemoveAll(dataDir)
	})
	return p
}

// start runs the server and waits until /readyz answers 200, which after a
// crash includes PostgreSQL's recovery.
func (p *tallyProcess) start() time.Duration {
	p.t.Helper()
	began := time.Now()
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(logFile, "--- start %d\n", p.starts+1)
	cmd := exec.Command(p.bin, "serve")
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		p.t.Fatal(err)
	}
	p.starts++
	p.cmd, p.exited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := client.Get(p.base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(began)
			}
		}
		select {
		case <-p.exited:
			p.t.Fatalf("tally exited during start-up:\n%s", p.logTail())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("tally not ready after 90 s:\n%s", p.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill SIGKILLs the server: no shutdown code runs. PostgreSQL then gets
// SIGINT from the kernel (pglocal sets the parent-death signal) and shuts
// down fast; withDatabase SIGKILLs the postmaster and its backends as well,
// so the next start needs PostgreSQL's crash recovery.
func (p *tallyProcess) kill(withDatabase bool) {
	p.t.Helper()
	// The database first: killed after tally, it might already have
	// finished the clean shutdown the parent-death signal starts.
	if pgPID := p.postmasterPID(); withDatabase && pgPID > 0 {
		children := testdb.ChildrenOf(pgPID)
		_ = syscall.Kill(pgPID, syscall.SIGKILL)
		for _, child := range children {
			_ = syscall.Kill(child, syscall.SIGKILL)
		}
	}
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatal(err)
	}
	<-p.exited
	p.cmd = nil
}

// stop ends the server gracefully (SIGTERM), as an operator would.
func (p *tallyProcess) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// goroutines ends the server with SIGQUIT, on which the Go runtime prints
// every goroutine's stack (with GOTRACEBACK=all in its environment), and
// counts them: Tally has no debug endpoint to ask while it runs.
func (p *tallyProcess) goroutines() int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		p.t.Fatal(err)
	}
	<-p.exited
	p.cmd = nil
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		p.t.Fatal(err)
	}
	b = b[bytes.LastIndex(b, []byte("--- start")):]
	return len(goroutineHeader.FindAll(b, -1))
}

// goroutineHeader starts each goroutine of a dump: "goroutine 7 [select]:",
// or with GOTRACEBACK=all on SIGQUIT "goroutine 7 gp=0x… m=nil [select]:".
var goroutineHeader = regexp.MustCompile(`(?m)^goroutine [0-9]+ [^\n]*\[[^\n]*\]:$`)

// postmasterPID reads the running cluster's postmaster.pid (0 if none).
func (p *tallyProcess) postmasterPID() int {
	pid, _ := strconv.Atoi(p.postmasterLine(1))
	return pid
}

// postmasterLine returns line n of postmaster.pid: 1 is the pid, 4 the port.
func (p *tallyProcess) postmasterLine(n int) string {
	b, err := os.ReadFile(filepath.Join(p.dataDir, "pgdata", "postmaster.pid"))
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < n {
		return ""
	}
	return strings.TrimSpace(lines[n-1])
}

// pool connects to the running server's database directly, for the checks
// an API cannot make (the journal's invariants). Close it before a restart.
func (p *tallyProcess) pool() *pgxpool.Pool {
	p.t.Helper()
	port := p.postmasterLine(4)
	if port == "" {
		p.t.Fatal("no postmaster.pid: PostgreSQL is not running")
	}
	url := fmt.Sprintf("postgres://%s@127.0.0.1:%s/%s?sslmode=disable", pglocal.Superuser, port, pglocal.Database)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		p.t.Fatal(err)
	}
	return pool
}

func (p *tallyProcess) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

// apiReply is one HTTP answer; status 0 means none came (the connection
// was lost, as when the server is killed mid-request).
type apiReply struct {
	status int
	header http.Header
	body   []byte
}

// call sends one request to the API with the admin key (unless headers set
// Authorization to ""), reporting a lost connection as status 0.
func call(client *http.Client, base, method, path string, body []byte, headers ...string) apiReply {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return apiReply{}
	}
	req.Header.Set("Authorization", "Bearer "+e2eAdminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return apiReply{}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return apiReply{}
	}
	return apiReply{status: resp.StatusCode, header: resp.Header, body: raw}
}
