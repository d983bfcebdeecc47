package testdb

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ChildrenOf lists the processes whose parent is pid, from /proc (empty
// where there is no /proc). Fault-injection tests use it to reach a test
// server's PostgreSQL backends: each leads its own process group, so a group
// signal would miss them.
func ChildrenOf(pid int) []int {
	dirs, _ := os.ReadDir("/proc")
	var out []int
	for _, d := range dirs {
		child, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid …": comm may hold spaces, so split after ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}
