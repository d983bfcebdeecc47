package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/schema/pglocal"
)

// citusBenchConfig is tally bench -citus.
type citusBenchConfig struct {
	books, wallets, clients int
	duration, warmup        time.Duration
}

// benchCitus is `tally bench -citus`: the same transfer load over several
// books, first against one local PostgreSQL, then against a local Citus
// coordinator with two workers (books spread over them), each through an
// in-process Tally; it prints transfers/s per book and in total for both.
// On one machine the workers share its cores and disk with the coordinator
// and the load generator: docs/scale-out.md says what that can and cannot
// show.
func benchCitus(ctx context.Context, args []string, stdout io.Writer) error {
	var c citusBenchConfig
	fs := flag.NewFlagSet("tally bench -citus", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Bool("citus", true, "compare one server with a local Citus cluster (this mode)")
	fs.IntVar(&c.books, "books", 8, "books, spread over the workers")
	fs.IntVar(&c.wallets, "wallets", 20, "wallets per book")
	fs.IntVar(&c.clients, "clients", 16, "concurrent HTTP clients")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time per target")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured load before each measurement")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := pglocal.CitusAvailable(); err != nil {
		return err
	}
	// Citus first: it picks book names that spread evenly over the workers;
	// the single server then carries the same books.
	citus, err := benchCitusTarget(ctx, c, true, nil)
	if err != nil {
		return fmt.Errorf("citus: %w", err)
	}
	single, err := benchCitusTarget(ctx, c, false, citus.books)
	if err != nil {
		return fmt.Errorf("single server: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "book\tworker\tone server (transfers/s)\tcitus (transfers/s)\t\n")
	for _, book := range single.books {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t\n", book, citus.worker[book], single.perBook[book], citus.perBook[book])
	}
	fmt.Fprintf(tw, "total\t\t%.0f\t%.0f\t\n", single.total, citus.total)
	fmt.Fprintf(tw, "errors\t\t%d\t%d\t\n", single.errors, citus.errors)
	return tw.Flush()
}

type citusBenchResult struct {
	books   []string
	worker  map[string]string
	perBook map[string]float64
	total   float64
	errors  int64
}

// benchCitusTarget starts a durable local server (or Citus cluster), an
// in-process Tally on it, funds the books and measures.
func benchCitusTarget(ctx context.Context, c citusBenchConfig, citus bool, books []string) (*citusBenchResult, error) {
	dir, err := os.MkdirTemp("", "tally-bench-citus-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	var dbURL string
	if citus {
		cl, err := pglocal.StartCitus(ctx, pglocal.Options{DataDir: filepath.Join(dir, "citus"), Durable: true}, 2)
		if err != nil {
			return nil, err
		}
		defer cl.Stop()
		dbURL = cl.Coordinator.URL(pglocal.Database)
	} else {
		pg, err := pglocal.Start(ctx, pglocal.Options{DataDir: filepath.Join(dir, "pg"), Durable: true})
		if err != nil {
			return nil, err
		}
		defer pg.Stop()
		dbURL = pg.URL(pglocal.Database)
	}
	key := randomHex(24)
	m := NewMain(Config{DatabaseURL: dbURL, Citus: citus, HTTPAddr: "127.0.0.1:0", AdminKey: key, PublicURL: "http://127.0.0.1"})
	m.log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	if err := m.Run(ctx); err != nil {
		return nil, err
	}
	defer m.Close()
	base := "http://" + m.listener.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.clients}, Timeout: 30 * time.Second}
	post := func(path string, body any, idem string) (map[string]any, error) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, "POST", base+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			return nil, fmt.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
		return out, json.Unmarshal(b, &out)
	}
	r := &citusBenchResult{worker: map[string]string{}, perBook: map[string]float64{}, books: books}
	if citus {
		if err := spreadBooks(ctx, dbURL, c.books, r); err != nil {
			return nil, err
		}
	}
	wallets := map[string][]string{}
	for _, book := range r.books {
		for range c.wallets {
			acc, err := post("/v1/accounts", map[string]any{"owner": "bench", "currency": "USD", "book": book}, "")
			if err != nil {
				return nil, err
			}
			id := acc["id"].(string)
			wallets[book] = append(wallets[book], id)
			if _, err := post("/v1/adjustments", map[string]any{"account": id, "direction": "credit", "amount": "1000000.00", "currency": "USD", "reason": "bench float"}, "fund-"+id); err != nil {
				return nil, err
			}
		}
	}
	var counting atomic.Bool
	done := make([]atomic.Int64, len(r.books))
	var errs atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for cl := range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(cl), uint64(time.Now().UnixNano())))
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				b := rng.IntN(len(r.books))
				ws := wallets[r.books[b]]
				from := rng.IntN(len(ws))
				to := (from + 1 + rng.IntN(len(ws)-1)) % len(ws)
				_, err := post("/v1/transfers", map[string]any{"from": ws[from], "to": ws[to], "amount": "0.01", "currency": "USD"}, fmt.Sprintf("c%d-%d-%s", cl, n, randomHex(4)))
				if !counting.Load() {
					continue
				}
				if err != nil {
					errs.Add(1)
				} else {
					done[b].Add(1)
				}
			}
		}()
	}
	time.Sleep(c.warmup)
	counting.Store(true)
	time.Sleep(c.duration)
	counting.Store(false)
	close(stop)
	wg.Wait()
	for i, book := range r.books {
		r.perBook[book] = float64(done[i].Load()) / c.duration.Seconds()
		r.total += r.perBook[book]
	}
	sort.Strings(r.books)
	r.errors = errs.Load()
	return r, nil
}

// spreadBooks names n books, alternating between the workers their shards
// live on, and records each one's worker.
func spreadBooks(ctx context.Context, dbURL string, n int, r *citusBenchResult) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	perWorker := map[int]int{}
	var workers int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM citus_get_active_worker_nodes()`).Scan(&workers); err != nil {
		return err
	}
	for i := 0; len(r.books) < n && i < 100*n; i++ {
		book := fmt.Sprintf("bench%d", i)
		var port int
		if err := conn.QueryRow(ctx, `SELECT nodeport FROM citus_shards WHERE shardid = get_shard_id_for_distribution_column('events', $1::text)`, book).Scan(&port); err != nil {
			return err
		}
		if perWorker[port] < (n+workers-1)/workers {
			perWorker[port]++
			r.books = append(r.books, book)
			r.worker[book] = fmt.Sprint(port)
		}
	}
	return nil
}
