package pglocal

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// A postmaster killed together with its parent stays a zombie until init
// reaps it (in some containers never): kill(pid, 0) still succeeds and
// /proc still names it postgres. Its postmaster.pid must count as stale, or
// a supervisor restarting Tally at once finds "a server already running".
func TestZombiePostmasterIsNotRunning(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	s := start(t, Options{DataDir: dir})
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	// A process named postgres, killed and deliberately not reaped.
	exe := filepath.Join(t.TempDir(), "postgres")
	sleep, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Skip("no /bin/sleep to make a zombie from")
	}
	if err := os.WriteFile(exe, sleep, 0o755); err != nil {
		t.Fatal(err)
	}
	pid, err := syscall.ForkExec(exe, []string{"postgres", "60"}, &syscall.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
	})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !zombie(pid); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never became a zombie", pid)
		}
	}
	if !looksLikePostgres(pid) {
		t.Fatalf("the zombie is not named postgres; the test proves nothing")
	}
	content := strconv.Itoa(pid) + "\n" + filepath.Join(dir, "pgdata") + "\n1700000000\n5432\n\n127.0.0.1\n  5432001         0\nready   \n"
	if err := os.WriteFile(filepath.Join(dir, "pgdata", "postmaster.pid"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := start(t, Options{DataDir: dir})
	if err := s2.Stop(); err != nil {
		t.Fatal(err)
	}
}
