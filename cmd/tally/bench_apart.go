package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// The load generator runs in a process of its own, so that the CPU the
// bench reports for Tally is the server's alone: on two cores the load
// generator's goroutines, in the same process, were a tenth of its CPU and
// could only be told apart by sampling. The child is this binary again,
// started with loadChildEnv set; it reads a loadJob on stdin, prints
// windowOpen and windowClosed as its measured window opens and closes (the
// parent reads the server's and PostgreSQL's CPU then), and last its
// loadReport as one JSON line.
const loadChildEnv = "TALLY_BENCH_LOAD_CHILD"

const (
	windowOpen   = "window open"
	windowClosed = "window closed"
)

// loadJob is a loadSpec as it travels to the child.
type loadJob struct {
	Target   string        `json:"target"`
	AdminKey string        `json:"admin_key"`
	Mode     string        `json:"mode"`
	Clients  int           `json:"clients"`
	Warmup   time.Duration `json:"warmup"`
	Duration time.Duration `json:"duration"`
	Wallets  []string      `json:"wallets"`
	Currency string        `json:"currency"`
	Secret   string        `json:"secret"`
	Run      string        `json:"run"`
	Retries  float64       `json:"retries"`
}

// loadReport is what the child measured: the run, its own CPU over the
// window, or why it failed.
type loadReport struct {
	Result loadResult    `json:"result"`
	CPU    time.Duration `json:"cpu"`
	Err    string        `json:"error,omitempty"`
}

// runLoadApart runs spec in a child process and measures, over its
// window, the CPU of this process (the in-process server, when the bench
// started one: server is true) and of PostgreSQL.
func runLoadApart(ctx context.Context, spec loadSpec, meter *cpuMeter, server bool) (loadResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return loadResult{}, fmt.Errorf("bench: cannot start the load generator: %w", err)
	}
	job, _ := json.Marshal(loadJob{
		Target: spec.target.String(), AdminKey: spec.adminKey, Mode: spec.mode, Clients: spec.clients,
		Warmup: spec.warmup, Duration: spec.duration, Wallets: spec.wallets, Currency: spec.currency,
		Secret: spec.secret, Run: spec.run, Retries: spec.retries,
	})
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), loadChildEnv+"=1")
	cmd.Stdin = strings.NewReader(string(job))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return loadResult{}, err
	}
	if err := cmd.Start(); err != nil {
		return loadResult{}, fmt.Errorf("bench: start the load generator: %w", err)
	}
	var before, after cpuSample
	var report loadReport
	lines := bufio.NewScanner(out)
	lines.Buffer(make([]byte, 64<<10), 16<<20)
	for lines.Scan() {
		switch line := lines.Text(); line {
		case windowOpen:
			before = meter.start(ctx)
		case windowClosed:
			after = meter.sample()
		default:
			if err := json.Unmarshal([]byte(line), &report); err != nil {
				return loadResult{}, fmt.Errorf("bench: the load generator said %q", line)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		return loadResult{}, fmt.Errorf("bench: the load generator failed: %w: %s", err, stderr.String())
	}
	res := report.Result
	if res.Ops > 0 {
		ops := time.Duration(res.Ops)
		if server {
			res.CPUServerPerOp = (after.self - before.self) / ops
		}
		res.CPUPostgresPerOp = (after.postgres - before.postgres) / ops
		res.CPULoadPerOp = report.CPU / ops
	}
	if report.Err != "" {
		return res, errors.New(report.Err)
	}
	return res, nil
}

// loadChild is the child's side of runLoadApart: main runs it when
// loadChildEnv is set.
func loadChild(ctx context.Context, in io.Reader, out io.Writer) int {
	var job loadJob
	if err := json.NewDecoder(in).Decode(&job); err != nil {
		fmt.Fprintln(os.Stderr, "bench load generator:", err)
		return 2
	}
	target, err := url.Parse(job.Target)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench load generator:", err)
		return 2
	}
	var cpu0 time.Duration
	var report loadReport
	spec := loadSpec{
		target: target, adminKey: job.AdminKey, mode: job.Mode, clients: job.Clients, warmup: job.Warmup,
		duration: job.Duration, wallets: job.Wallets, currency: job.Currency, secret: job.Secret, run: job.Run,
		retries: job.Retries,
		mark: func(open bool) {
			if open {
				cpu0 = processCPU()
				fmt.Fprintln(out, windowOpen)
			} else {
				report.CPU = processCPU() - cpu0
				fmt.Fprintln(out, windowClosed)
			}
		},
	}
	report.Result, err = runLoad(ctx, spec)
	if err != nil {
		report.Err = err.Error()
	}
	b, _ := json.Marshal(report)
	fmt.Fprintln(out, string(b))
	return 0
}

// processCPU is this process's user and system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
