package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/schema/testdb"
)

// shutdownTestKey is long enough for a server outside local mode.
const shutdownTestKey = "shutdown-test-key-0123456789abcdef"

// newTestMain runs the real service (Main) on a fresh database and a free port.
func newTestMain(t *testing.T) (*Main, string) {
	t.Helper()
	url := testdb.New(t)
	cfg, err := configFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL, cfg.HTTPAddr, cfg.AdminKey, cfg.RateLimit = url, "127.0.0.1:0", shutdownTestKey, 0
	m := NewMain(cfg)
	m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m, url
}

// Shutting down under a load of concurrent transfers loses no acknowledged
// request and leaves no committed request unanswered: the requests in flight
// are answered, the sequencer finishes its batch, and only then does the
// process let go of the database.
func TestShutdownUnderLoadLosesNoAcknowledgedRequest(t *testing.T) {
	m, url := newTestMain(t)
	base := "http://" + m.Addr()
	client := &http.Client{Timeout: 30 * time.Second}
	call := func(method, path, key string, body any) (int, map[string]any, error) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+shutdownTestKey)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var out map[string]any
		err = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, err
	}

	var wallets []string
	for i := range 8 {
		status, acc, err := call("POST", "/v1/accounts", "", map[string]any{"owner": fmt.Sprint("u", i), "currency": "NGN"})
		if err != nil || status != 201 {
			t.Fatalf("open: %d %v %v", status, acc, err)
		}
		wallets = append(wallets, acc["id"].(string))
		if status, _, err := call("POST", "/v1/adjustments", fmt.Sprint("fund-", i), map[string]any{
			"account": acc["id"], "direction": "credit", "amount": "1000000", "currency": "NGN", "reason": "float"}); err != nil || status != 201 {
			t.Fatalf("fund: %d %v", status, err)
		}
	}

	type answer struct {
		status int
		id     string
		at     time.Time
	}
	var (
		mu       sync.Mutex
		answered = map[string]answer{} // Idempotency-Key → what the client got
		failed   = map[string]error{}  // Idempotency-Key → transport error, no answer
		closing  atomic.Int64          // UnixNano when Close began
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(15 * time.Second)
	for c := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				from, to := rand.IntN(len(wallets)), rand.IntN(len(wallets)-1)
				if to >= from {
					to++
				}
				key := fmt.Sprintf("load-%d-%d", c, i)
				status, body, err := call("POST", "/v1/transfers", key, map[string]any{"from": wallets[from], "to": wallets[to], "amount": "0.01", "currency": "NGN"})
				mu.Lock()
				if err != nil {
					failed[key] = err
				} else {
					id, _ := body["id"].(string)
					answered[key] = answer{status, id, time.Now()}
				}
				mu.Unlock()
				// Once the listener is closed there is nobody left to talk to.
				if errors.Is(err, syscall.ECONNREFUSED) {
					return
				}
			}
		}()
	}
	time.Sleep(400 * time.Millisecond)
	closing.Store(time.Now().UnixNano())
	m.Close()
	wg.Wait()

	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	committed := map[string]bool{}
	rows, err := pool.Query(context.Background(), `SELECT key FROM idempotency_keys WHERE key LIKE 'load-%'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		committed[k] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	var ok, afterClose int
	for key, a := range answered {
		switch {
		case a.status == 201:
			ok++
			var n int
			if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM transfers WHERE id = $1`, a.id).Scan(&n); err != nil || n != 1 {
				t.Errorf("%s was acknowledged as %s but is not in the journal", key, a.id)
			}
			if a.at.UnixNano() > closing.Load() {
				afterClose++
			}
		case a.status == 503:
			// Refused during shutdown (the journal had closed): allowed, and
			// then the key must not have committed.
			if committed[key] {
				t.Errorf("%s was answered 503 but committed", key)
			}
		default:
			t.Errorf("%s: unexpected status %d", key, a.status)
		}
	}
	for key, err := range failed {
		if committed[key] {
			t.Errorf("%s committed, but its client got no answer: %v", key, err)
		}
	}
	for key := range committed {
		if _, ok := answered[key]; !ok {
			if _, f := failed[key]; !f {
				t.Errorf("%s committed but was never sent", key)
			}
		}
	}
	if ok < 50 || afterClose == 0 {
		t.Fatalf("%d transfers acknowledged, %d of them after shutdown began: the load did not overlap the shutdown", ok, afterClose)
	}
	t.Logf("%d acknowledged (%d after shutdown began), %d refused at the door", ok, afterClose, len(failed))
}
