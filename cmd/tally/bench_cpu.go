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
type cpuMeter struct {
	databaseURL string
	pids        []int
}

// cpuSample is CPU time spent so far.
type cpuSample struct{ self, postgres time.Duration }

// start finds the server's processes: every backend and auxiliary process
// pg_stat_activity lists (the pool's connections stay open through a run).
func (m *cpuMeter) start(ctx context.Context) cpuSample {
	m.pids = nil
	if m.databaseURL != "" {
		if conn, err := pgx.Connect(ctx, m.databaseURL); err == nil {
			rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()`)
			if err == nil {
				for rows.Next() {
					var pid int
					if rows.Scan(&pid) == nil {
						m.pids = append(m.pids, pid)
					}
				}
				rows.Close()
			}
			conn.Close(ctx)
		}
	}
	return m.sample()
}

func (m *cpuMeter) sample() cpuSample {
	s := cpuSample{self: processCPU()}
	for _, pid := range m.pids {
		s.postgres += procCPU(pid)
	}
	return s
}

// procCPU is a process's user and system time from /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}
