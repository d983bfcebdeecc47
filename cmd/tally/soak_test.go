package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoak runs TALLY_SOAK (a duration, such as 5m) of mixed load against
// the real binary and checks that the server's memory, threads, open files
// and database connections stay flat: after a warm-up they may wobble but
// not climb. `make soak` runs it; `make test` skips it.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("TALLY_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("soak test: set TALLY_SOAK to a duration (make soak runs 5m)")
	}
	paystack := fakePaystack(t)
	p := newTallyProcess(t, "TALLY_PAYSTACK_SECRET_KEY="+e2ePaystackSecret, "TALLY_PAYSTACK_BASE_URL="+paystack.URL, "GOTRACEBACK=all")
	p.start()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

	var wallets []string
	for i := range 32 {
		r := call(client, p.base, "POST", "/v1/accounts", []byte(fmt.Sprintf(`{"owner":"soak-%d","currency":"NGN"}`, i)))
		var a struct{ ID string }
		if r.status != 201 || json.Unmarshal(r.body, &a) != nil {
			t.Fatalf("open: %d %s", r.status, r.body)
		}
		wallets = append(wallets, a.ID)
		if r := call(client, p.base, "POST", "/v1/adjustments", []byte(fmt.Sprintf(`{"account":%q,"direction":"credit","amount":"1000000.00","currency":"NGN","reason":"float"}`, a.ID)),
			"Idempotency-Key", "fund-"+a.ID); r.status != 201 {
			t.Fatalf("fund: %d %s", r.status, r.body)
		}
	}

	pool := p.pool()
	defer pool.Close()
	var counts sync.Map // "kind status" → *atomic.Int64
	var total atomic.Int64
	count := func(kind string, status int) {
		v, _ := counts.LoadOrStore(fmt.Sprintf("%s %d", kind, status), new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		total.Add(1)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				soakStep(client, p.base, rng, wallets, fmt.Sprintf("soak-%d-%d", c, i), count)
			}
		}()
	}

	type sample struct {
		at                  time.Duration
		rssKB, threads, fds int
		dbConns, events     int64
		requests            int64
		perSecond           float64 // requests since the last sample
	}
	var samples []sample
	began := time.Now()
	every := d / 30
	if every < time.Second {
		every = time.Second
	}
	pid := p.cmd.Process.Pid
	var last int64
	lastAt := began
	for time.Since(began) < d {
		time.Sleep(every)
		s := sample{at: time.Since(began).Round(time.Second), requests: total.Load()}
		s.rssKB, s.threads = procStatus(t, pid)
		s.fds = openFiles(pid)
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE datname = 'tally' AND pid <> pg_backend_pid()`).Scan(&s.dbConns); err != nil {
			t.Fatal(err)
		}
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&s.events); err != nil {
			t.Fatal(err)
		}
		s.perSecond = float64(s.requests-last) / time.Since(lastAt).Seconds()
		last, lastAt = s.requests, time.Now()
		samples = append(samples, s)
		t.Logf("%6v  rss %6.1f MB  threads %3d  fds %4d  db conns %2d  events %8d  requests %8d (%.0f/s)",
			s.at, float64(s.rssKB)/1024, s.threads, s.fds, s.dbConns, s.events, s.requests, s.perSecond)
	}
	close(stop)
	wg.Wait()
	// Idle again, the server should be back to its few long-lived
	// goroutines (listener, sequencers, pool upkeep): a goroutine left
	// behind by a request would show here.
	client.CloseIdleConnections()
	time.Sleep(2 * time.Second)
	idle := p.goroutines()
	t.Logf("goroutines alive once the load stopped: %d", idle)
	if idle > 50 {
		t.Errorf("%d goroutines alive once the load stopped and its connections closed", idle)
	}

	var kinds []string
	counts.Range(func(k, v any) bool {
		kinds = append(kinds, fmt.Sprintf("%s ×%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(kinds)
	t.Logf("requests by kind and status:\n%s", strings.Join(kinds, "\n"))
	for _, k := range kinds {
		if strings.Contains(k, " 5") {
			t.Errorf("server errors under load: %s", k)
		}
	}

	// Flat: the peak of the last fifth is within bounds of the peak of the
	// warmed-up second fifth.
	window := func(from, to float64) (rss, threads, fds int, conns int64) {
		for _, s := range samples {
			if f := float64(s.at) / float64(d); f >= from && f <= to {
				rss, threads, fds, conns = max(rss, s.rssKB), max(threads, s.threads), max(fds, s.fds), max(conns, s.dbConns)
			}
		}
		return
	}
	r0, t0, f0, c0 := window(0.2, 0.4)
	r1, t1, f1, c1 := window(0.8, 1.0)
	t.Logf("warmed up (20–40%%): rss %.1f MB, threads %d, fds %d, db conns %d; end (80–100%%): rss %.1f MB, threads %d, fds %d, db conns %d; %d requests, %.0f/s",
		float64(r0)/1024, t0, f0, c0, float64(r1)/1024, t1, f1, c1, total.Load(), float64(total.Load())/d.Seconds())
	if float64(r1) > float64(r0)*1.25+16*1024 {
		t.Errorf("memory grew from %.1f MB to %.1f MB", float64(r0)/1024, float64(r1)/1024)
	}
	if t1 > t0+4 {
		t.Errorf("threads grew from %d to %d", t0, t1)
	}
	if f1 > f0+16 {
		t.Errorf("open files grew from %d to %d", f0, f1)
	}
	if c1 > c0+4 || c1 > 32 {
		t.Errorf("database connections grew from %d to %d (the pool's maximum is 32)", c0, c1)
	}
}

// soakStep sends one request of the mix (a few, for retries, deposits and
// refunds), counting answers by kind and status.
func soakStep(client *http.Client, base string, rng *rand.Rand, wallets []string, key string, count func(string, int)) {
	w := func() string { return wallets[rng.IntN(len(wallets))] }
	do := func(kind, method, path string, body []byte, headers ...string) apiReply {
		r := call(client, base, method, path, body, headers...)
		count(kind, r.status)
		return r
	}
	switch n := rng.IntN(100); {
	case n < 45:
		from, to := w(), w()
		do("transfer", "POST", "/v1/transfers", []byte(fmt.Sprintf(`{"from":%q,"to":%q,"amount":"%d.%02d","currency":"NGN"}`, from, to, 1+rng.IntN(100), rng.IntN(100))), "Idempotency-Key", key)
	case n < 50:
		// A retry: the same request under the same key.
		body := []byte(fmt.Sprintf(`{"from":%q,"to":%q,"amount":"1.00","currency":"NGN"}`, wallets[0], wallets[1]))
		do("transfer", "POST", "/v1/transfers", body, "Idempotency-Key", key)
		do("retry", "POST", "/v1/transfers", body, "Idempotency-Key", key)
	case n < 70:
		paths := []string{"/v1/accounts/" + w(), "/v1/accounts/" + w() + "/balance", "/v1/accounts/" + w() + "/entries?limit=20",
			"/v1/transfers?limit=20&account=" + w(), "/v1/events?limit=50", "/readyz"}
		do("read", "GET", paths[rng.IntN(len(paths))], nil)
	case n < 80:
		// A deposit, paid by a webhook delivered twice.
		r := do("deposit", "POST", "/v1/deposits", []byte(fmt.Sprintf(`{"account":%q,"amount":"%d.00","currency":"NGN","gateway":"paystack","email":"p@example.com"}`, w(), 1+rng.IntN(500))), "Idempotency-Key", key)
		var v struct {
			Reference string
			Amount    string
		}
		if r.status != 201 || json.Unmarshal(r.body, &v) != nil {
			return
		}
		units, _ := strconv.ParseFloat(v.Amount, 64)
		d := &crashDeposit{reference: v.Reference, minor: int64(units * 100)}
		body := d.chargeSuccess(0)
		for range 2 {
			do("webhook", "POST", "/v1/webhooks/paystack", body, "Authorization", "", "x-paystack-signature", paystackSignature(body))
		}
	case n < 88:
		from, to := w(), w()
		r := do("transfer", "POST", "/v1/transfers", []byte(fmt.Sprintf(`{"from":%q,"to":%q,"amount":"5.00","currency":"NGN"}`, from, to)), "Idempotency-Key", key)
		var v struct{ ID string }
		if r.status == 201 && json.Unmarshal(r.body, &v) == nil {
			do("refund", "POST", "/v1/refunds", []byte(fmt.Sprintf(`{"transfer":%q,"amount":"2.00"}`, v.ID)), "Idempotency-Key", key+"-refund")
		}
	case n < 95:
		do("adjustment", "POST", "/v1/adjustments", []byte(fmt.Sprintf(`{"account":%q,"direction":"credit","amount":"10.00","currency":"NGN","reason":"soak"}`, w())), "Idempotency-Key", key)
	default:
		do("open", "POST", "/v1/accounts", []byte(fmt.Sprintf(`{"owner":%q,"currency":"NGN"}`, key)))
	}
}

// procStatus reads a process's resident memory (kB) and thread count.
func procStatus(t *testing.T, pid int) (rssKB, threads int) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			rssKB, _ = strconv.Atoi(fields[0])
		case "Threads":
			threads, _ = strconv.Atoi(fields[0])
		}
	}
	return rssKB, threads
}

// openFiles counts a process's open file descriptors (sockets included).
func openFiles(pid int) int {
	entries, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	return len(entries)
}
