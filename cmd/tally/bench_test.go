package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/paystack"
	"github.com/tallyledger/tally/httpapi"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/schema/testdb"
)

// tally bench runs end to end for a second per mode against an API on the
// test server and prints its table, the pgbench comparison, the rebuild
// timing and a chart. No figure is checked: timings belong in
// docs/benchmarks.md, not in assertions.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a load for several seconds")
	}
	url := testdb.New(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	var inline []pgjournal.Projection
	for _, p := range projections.Inline() {
		inline = append(inline, p)
	}
	journal := pgjournal.New(pool, pgjournal.Options{Inline: inline})
	const secret = "sk_test_bench"
	ps, err := paystack.New(paystack.Config{SecretKey: secret, BaseURL: "http://127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{
		Journal: journal, Store: pgjournal.NewStore(pool), AdminKey: "bench-key",
		Gateways: gateways.Set{paystack.Name: ps}, Logger: slog.New(slog.DiscardHandler),
	})
	srv := httptest.NewServer(api)
	t.Cleanup(func() { srv.Close(); journal.Close(); pool.Close() })

	var out bytes.Buffer
	chart := filepath.Join(t.TempDir(), "bench.svg")
	results := filepath.Join(t.TempDir(), "bench.json")
	args := []string{"-url", srv.URL, "-admin-key", "bench-key", "-database-url", url, "-paystack-secret", secret,
		"-sweep", "1,4", "-duration", "1s", "-warmup", "200ms", "-wallets", "10", "-pgbench-scale", "1",
		"-rebuild-events", "200", "-out", chart, "-json", results, "-mode", "uniform,hot,webhook,batch,hold", "-retries", "0.2"}
	cfg, err := parseBenchFlags(args, &out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := runBench(ctx, cfg); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	for _, want := range []string{"uniform", "hot", "webhook", "batch", "hold", "tally/pgbench", "load µs/op", "verify after the runs: OK", "rebuild of 200 events",
		"20.0% of the uniform, hot and webhook requests are sent again"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "first error:") { // retries included: each is answered 2xx
		t.Errorf("a request failed")
	}
	// PostgreSQL runs on this machine: its CPU time is measured in every run.
	var report struct {
		Results []struct {
			Mode             string `json:"mode"`
			CPUPostgresPerOp int64  `json:"cpu_postgres_per_op_ns"`
		} `json:"results"`
	}
	if b, err := os.ReadFile(results); err != nil || json.Unmarshal(b, &report) != nil || len(report.Results) == 0 {
		t.Errorf("no results written: %v", err)
	}
	for _, r := range report.Results {
		if r.CPUPostgresPerOp <= 0 {
			t.Errorf("%s: no PostgreSQL CPU measured", r.Mode)
		}
	}
	if svg, err := os.ReadFile(chart); err != nil || !bytes.HasPrefix(svg, []byte("<svg")) {
		t.Errorf("no chart written: %v", err)
	}
}
