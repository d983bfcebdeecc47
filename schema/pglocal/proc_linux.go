package pglocal

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// setPdeathsig makes the kernel send postgres SIGINT (a fast shutdown) when
// we die without stopping it, so no server outlives a killed test binary.
// (Strictly: when the OS thread that started it exits; Go keeps its threads
// unless a goroutine exits while locked to one.) SIGINT rather than SIGTERM:
// SIGTERM would wait for every client to disconnect first.
func setPdeathsig(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGINT }

// looksLikePostgres reports whether pid runs postgres, so a stale
// postmaster.pid whose pid was reused by another program is recognised.
// If we cannot tell, it says yes: refusing to start is the safe mistake.
func looksLikePostgres(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return true
	}
	comm := strings.TrimSpace(string(b))
	return comm == "postgres" || comm == "postmaster"
}

// zombie reports whether pid has exited and waits to be reaped (state Z or
// X in /proc/<pid>/stat). Such a process holds no port, no shared memory
// and no data directory, though kill(pid, 0) still finds it: a postmaster
// killed together with its parent stays a zombie until init reaps it, which
// in some containers takes seconds, or never happens.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// "pid (comm) state …": comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	state := b[i+2]
	return state == 'Z' || state == 'X'
}
