package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgbench runs PostgreSQL's own TPC-B-like benchmark on a scratch database
// of the server Tally uses, as the reference Tally's throughput is compared with.
type pgbench struct {
	bin      string
	url      string // the scratch database
	database string
}

// defaultPGBenchScale is pgbench's -s: 10 branches, 1,000,000 accounts.
const defaultPGBenchScale = 10

// newPGBench creates a scratch database next to the one at serverURL and
// initialises it with pgbench -i -s scale.
func newPGBench(ctx context.Context, serverURL string, scale int) (*pgbench, error) {
	bin, err := findPGBench()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("bench: database URL: %w", err)
	}
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return nil, fmt.Errorf("bench: connect for pgbench's database: %w", err)
	}
	defer conn.Close(ctx)
	// A name of its own, so that two benches on one server never meet.
	database := "tally_bench_pgbench_" + randomHex(4)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{database}.Sanitize()); err != nil {
		return nil, fmt.Errorf("bench: create %s: %w", database, err)
	}
	u.Path = "/" + database
	p := &pgbench{bin: bin, url: u.String(), database: database}
	if _, err := p.command(ctx, "-i", "-q", "-s", strconv.Itoa(scale)); err != nil {
		return nil, errors.Join(err, p.drop(ctx, serverURL))
	}
	return p, nil
}

// run runs the TPC-B-like script with clients connections (prepared
// statements, two threads) for d and returns its transactions per second.
func (p *pgbench) run(ctx context.Context, clients int, d time.Duration) (float64, error) {
	threads := min(2, clients)
	out, err := p.command(ctx, "-c", strconv.Itoa(clients), "-j", strconv.Itoa(threads),
		"-T", strconv.Itoa(max(1, int(d.Round(time.Second).Seconds()))), "-M", "prepared", "-n")
	if err != nil {
		return 0, err
	}
	m := tpsLine.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("bench: no tps in pgbench's output:\n%s", out)
	}
	return strconv.ParseFloat(m[1], 64)
}

// drop removes the scratch database.
func (p *pgbench) drop(ctx context.Context, serverURL string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{p.database}.Sanitize())
	return err
}

var tpsLine = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)

func (p *pgbench) command(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, p.bin, append(args, p.url)...)
	// pgbench reads PG* variables; ours must not redirect it elsewhere.
	cmd.Env = childEnvWithoutPG()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("bench: pgbench %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// findPGBench looks for pgbench on PATH, then next to the server binaries
// local mode uses (newest major version first).
func findPGBench() (string, error) {
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	var found []string
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin/pgbench", "/usr/local/pgsql/bin/pgbench"} {
		m, _ := filepath.Glob(pattern)
		found = append(found, m...)
	}
	if len(found) == 0 {
		return "", errors.New("bench: pgbench not found (Debian/Ubuntu: apt-get install postgresql-contrib or postgresql; it ships with the server)")
	}
	sort.Slice(found, func(i, j int) bool { return majorOf(found[i]) > majorOf(found[j]) })
	return found[0], nil
}

func majorOf(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

func childEnvWithoutPG() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}
