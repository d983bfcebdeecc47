package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/tallyledger/tally/ledger/pgjournal"
)

// benchTarget is the Tally under test and how to reach its database.
type benchTarget struct {
	base        *url.URL
	databaseURL string // "" when unknown: pgbench and rebuild are skipped
	main        *Main  // the in-process server, if any
	close       func()
	logs        func(io.Writer) // writes the tails of the in-process server's logs
}

// startBenchTarget connects to -url, or starts a durable local-mode Tally
// in a temporary directory on this process, on a loopback port.
func startBenchTarget(ctx context.Context, cfg *benchConfig) (*benchTarget, error) {
	if cfg.target != "" {
		u, err := url.Parse(cfg.target)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("-url: %q is not an http URL", cfg.target)
		}
		return &benchTarget{base: u, databaseURL: cfg.databaseURL, close: func() {}}, nil
	}
	// On disk, not in /dev/shm: the server must pay for its fsyncs like a
	// production one does.
	dir, err := os.MkdirTemp("", "tally-bench-")
	if err != nil {
		return nil, err
	}
	cfg.adminKey = randomHex(24)
	cfg.paystackSecret = "sk_test_" + randomHex(20)
	// The in-process server is configured like any other, by its environment:
	// webhooks are signed with this Paystack secret; its API is never called.
	os.Setenv("TALLY_PAYSTACK_SECRET_KEY", cfg.paystackSecret)
	os.Setenv("TALLY_PAYSTACK_BASE_URL", "http://127.0.0.1:9")
	logFile, err := os.Create(filepath.Join(dir, "tally.log"))
	if err != nil {
		return nil, err
	}
	tuneGC() // as tally serve does
	m := NewMain(Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", AdminKey: cfg.adminKey, PublicURL: "http://127.0.0.1", WebhookAllowPrivate: true})
	// Request logs go to a file, at the production default level (info), so
	// the server pays for them as a deployed one does.
	m.log = slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cleanup := func() {
		m.Close()
		logFile.Close()
		os.RemoveAll(dir)
	}
	if err := m.Run(ctx); err != nil {
		cleanup()
		return nil, err
	}
	base, _ := url.Parse("http://" + m.listener.Addr().String())
	logs := func(w io.Writer) {
		for _, name := range []string{"tally.log", "postgres.log"} {
			b, _ := os.ReadFile(filepath.Join(dir, name))
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			fmt.Fprintf(w, "--- end of %s:\n%s\n", name, b)
		}
	}
	return &benchTarget{base: base, databaseURL: m.pg.URL("tally"), main: m, close: cleanup, logs: logs}, nil
}

// stats are the in-process journal's counters (zero for a remote target).
func (t *benchTarget) stats() pgjournal.Stats {
	if t.main != nil && t.main.journal != nil {
		return t.main.journal.Stats()
	}
	return pgjournal.Stats{}
}

// writeAllocProfile writes every allocation made so far (go tool pprof
// -sample_index=alloc_space shows where the garbage comes from).
func writeAllocProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
