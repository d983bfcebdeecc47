package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// cpuMeter measures the CPU time this process and the PostgreSQL server
// spend over a run. On a shared machine CPU per operation is steadier than
// throughput, and it shows where the cost lies. It reads /proc, so it
// measures nothing (zero) where there is none, and PostgreSQL only when the
// server runs on this machine.
//
// PostgreSQL's time is that of the postmaster and every process it has
// started: the live ones, read one by one, and those that ended, which the
// kernel adds to the postmaster's children's time once it reaps them. So
// the backends and autovacuum workers that start or end during a run count
// too. (A fixed list of the processes alive when the window opened missed
// them: the third webhook run of three sets read 84–88 µs of PostgreSQL per
// operation against 121–143 µs in the first two.)
type cpuMeter struct {
	databaseURL string
	postmaster  int
}

// cpuSample is CPU time spent so far.
type cpuSample struct{ self, postgres time.Duration }

// start finds the postmaster (the parent of a backend it connects to) and
// takes the first sample.
func (m *cpuMeter) start(ctx context.Context) cpuSample {
	if m.databaseURL != "" && m.postmaster == 0 {
		if conn, err := pgx.Connect(ctx, m.databaseURL); err == nil {
			var pid int
			// The pid is this machine's only if a postgres process has it
			// here, and its parent is a postgres process too (not a
			// stranger's, nor init for a server elsewhere).
			if conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid) == nil {
				if st, ok := readStat(pid); ok && st.postgres {
					if pm, ok := readStat(st.ppid); ok && pm.postgres {
						m.postmaster = st.ppid
					}
				}
			}
			conn.Close(ctx)
		}
	}
	return m.sample()
}

func (m *cpuMeter) sample() cpuSample {
	s := cpuSample{self: processCPU()}
	if m.postmaster == 0 {
		return s
	}
	if st, ok := readStat(m.postmaster); ok {
		s.postgres = st.cpu + st.children
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok && st.ppid == m.postmaster {
			s.postgres += st.cpu
		}
	}
	return s
}

// procStat is what cpuMeter reads of a process's /proc/<pid>/stat: its
// parent, its user and system time, that of its children it has reaped,
// and whether it is a postgres process.
type procStat struct {
	ppid          int
	cpu, children time.Duration
	postgres      bool
}

func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	end := strings.LastIndexByte(string(b), ')')
	if end < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 15 {
		return procStat{}, false
	}
	n := func(i int) time.Duration {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		const ticks = 100 // USER_HZ on Linux
		return time.Duration(v) * time.Second / ticks
	}
	ppid, _ := strconv.Atoi(f[1])
	name := string(b[strings.IndexByte(string(b), '(')+1 : end])
	return procStat{ppid: ppid, cpu: n(11) + n(12), children: n(13) + n(14), postgres: name == "postgres"}, true
}
