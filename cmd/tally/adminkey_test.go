package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tallyledger/tally/schema/testdb"
)

// Outside local mode (TALLY_DATABASE_URL set) tally serve refuses an admin
// key that is short or printed in the docs, saying why and how to make one.
func TestServeRefusesWeakAdminKeysOutsideLocalMode(t *testing.T) {
	long := strings.Repeat("k", MinAdminKeyLength)
	cases := []struct {
		name, url, key string
		refused        string // "" when accepted
	}{
		{"the documented development key is refused", "postgres://db.invalid/tally", "dev-admin-key", "development key"},
		{"a key of 31 characters is refused", "postgres://db.invalid/tally", long[1:], "at least 32"},
		{"a key of 32 characters is accepted", "postgres://db.invalid/tally", long, ""},
		{"no key is refused in local mode too", "", "", "not set"},
		{"the development key is accepted in local mode", "", "dev-admin-key", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{DatabaseURL: c.url, AdminKey: c.key}
			err := cfg.checkAdminKey()
			if c.refused == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.refused) || !strings.Contains(err.Error(), "openssl rand -hex 32") {
				t.Fatalf("err = %v, want one saying %q and how to make a key", err, c.refused)
			}
			// serve refuses before it touches the database.
			m := NewMain(cfg)
			m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
			if err := m.Run(context.Background()); err == nil || !strings.Contains(err.Error(), c.refused) {
				t.Fatalf("Run: %v", err)
			}
		})
	}
}

// lockedBuffer is a log destination safe for the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

// The sandbox stays possible outside local mode (staging, tests), but it
// is logged as a warning at start and on every sandbox deposit.
func TestSandboxOutsideLocalModeWarns(t *testing.T) {
	cfg, err := configFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL, cfg.HTTPAddr, cfg.AdminKey, cfg.Sandbox = testdb.New(t), "127.0.0.1:0", shutdownTestKey, true
	cfg.PublicURL = "http://127.0.0.1"
	logs := &lockedBuffer{}
	m := NewMain(cfg)
	m.log = slog.New(slog.NewJSONHandler(logs, nil))
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	const atStart = "the sandbox gateway is on outside local mode"
	const onDeposit = "sandbox deposit outside local mode"
	if logs.count(atStart) != 1 {
		t.Fatalf("no warning at start:\n%s", logs.buf.String())
	}
	post := func(path, key string, body any) map[string]any {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", "http://"+m.Addr()+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+shutdownTestKey)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 201 {
			t.Fatalf("POST %s: %d %v", path, resp.StatusCode, out)
		}
		return out
	}
	acc := post("/v1/accounts", "", map[string]any{"owner": "u1", "currency": "NGN"})
	for i, key := range []string{"dep-1", "dep-2"} {
		post("/v1/deposits", key, map[string]any{"account": acc["id"], "amount": "100.00", "currency": "NGN", "gateway": "sandbox"})
		if n := logs.count(onDeposit); n != i+1 {
			t.Fatalf("after %d sandbox deposits, %d warnings:\n%s", i+1, n, logs.buf.String())
		}
	}
}
