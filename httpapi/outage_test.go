package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/schema"
	"github.com/tallyledger/tally/schema/pglocal"
	"github.com/tallyledger/tally/schema/testdb"
)

// outageTimeout is the request timeout of the API under test: short, so that
// a hung database shows up in seconds.
const outageTimeout = time.Second

// outageDB is a private PostgreSQL the test may stop, start, freeze and thaw,
// always on the same port so that the API's pool finds it again.
type outageDB struct {
	t    *testing.T
	dir  string
	port int
	srv  *pglocal.Server
}

func newOutageDB(t *testing.T) *outageDB {
	t.Helper()
	dir, err := pglocal.TempDir("tally-outage-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	db := &outageDB{t: t, dir: dir, port: port}
	db.start()
	t.Cleanup(func() {
		db.thaw() // a failed test may leave it frozen; Stop would then wait a minute
		if db.srv != nil {
			db.srv.Stop()
		}
	})
	if err := schema.Migrate(db.srv.URL("tally")); err != nil {
		t.Fatal(err)
	}
	return db
}

func (db *outageDB) start() {
	db.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := pglocal.Start(ctx, pglocal.Options{DataDir: db.dir, Port: db.port})
	if err != nil {
		db.t.Fatal(err)
	}
	db.srv = srv
}

func (db *outageDB) stop() {
	db.t.Helper()
	if err := db.srv.Stop(); err != nil {
		db.t.Fatal(err)
	}
	db.srv = nil
}

// signal sends sig to the postmaster and all its children (each backend
// is its own process group, so a group signal would miss them): with SIGSTOP
// the database hangs as a whole, as behind a dead network link.
func (db *outageDB) signal(sig syscall.Signal) {
	b, err := os.ReadFile(filepath.Join(db.dir, "pgdata", "postmaster.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 0 {
		return
	}
	// The postmaster first, so that it forks no backend we would miss.
	if err := syscall.Kill(pid, sig); err != nil {
		db.t.Logf("signal %v to postmaster %d: %v", sig, pid, err)
	}
	for _, child := range testdb.ChildrenOf(pid) {
		_ = syscall.Kill(child, sig)
	}
}

func (db *outageDB) freeze() { db.signal(syscall.SIGSTOP) }
func (db *outageDB) thaw()   { db.signal(syscall.SIGCONT) }

// outcome is what one request of the load got.
type outcome struct {
	key, body   string
	from, to    string
	status      int
	code        string
	replayed    bool
	transportOK bool
	took        time.Duration
	phase       int32 // when the request was sent
	endPhase    int32 // when its answer came
}

const (
	phaseHealthy int32 = iota
	phaseDown
	phaseRecovering
)

// TestDatabaseOutage takes PostgreSQL away under a transfer load, in the two
// ways a database goes away: it stops (connections are refused) or it hangs
// (connections are accepted and never answered). Either way every request
// answers within the request timeout, with 503 unavailable if it could not
// be served; /readyz turns red; and once the database is back Tally serves
// again without a restart, and nothing it acknowledged is lost or doubled.
func TestDatabaseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test: stops and restarts PostgreSQL; skipped with -short")
	}
	for _, tc := range []struct {
		name     string
		down, up func(*outageDB)
	}{
		{"a stopped database fails requests fast and is found again when it restarts", (*outageDB).stop, (*outageDB).start},
		{"a hung database fails requests at the request timeout and is found again when it resumes", (*outageDB).freeze, (*outageDB).thaw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := newOutageDB(t)
			h := newHarnessAt(t, db.srv.URL("tally"), func(cfg *Config) { cfg.RequestTimeout = outageTimeout })
			runOutage(t, h, db, tc.down, tc.up)
		})
	}
}

func runOutage(t *testing.T, h *harness, db *outageDB, down, up func(*outageDB)) {
	a, b := h.open("a", "NGN"), h.open("b", "NGN")
	h.fund(a, "100000.00", "NGN")
	h.fund(b, "100000.00", "NGN")
	client := &http.Client{Timeout: 30 * time.Second} // a hang fails the test instead of stalling it

	var phase atomic.Int32
	var mu sync.Mutex
	var outcomes []outcome
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients = 8
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				from, to := a, b
				if (c+i)%2 == 1 {
					from, to = b, a
				}
				o := outcome{key: fmt.Sprintf("outage-%d-%d", c, i), from: from, to: to, phase: phase.Load()}
				o.body = fmt.Sprintf(`{"from":%q,"to":%q,"amount":"1.00","currency":"NGN"}`, from, to)
				start := time.Now()
				r, err := send(client, h.srv.URL, "POST", "/v1/transfers", o.body, o.key)
				o.took, o.endPhase = time.Since(start), phase.Load()
				if err == nil {
					o.transportOK, o.status, o.replayed = true, r.status, r.header.Get("Idempotent-Replayed") == "true"
					var p struct{ Code string }
					_ = json.Unmarshal(r.body, &p)
					o.code = p.Code
				}
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}

	time.Sleep(500 * time.Millisecond)
	phase.Store(phaseDown)
	down(db)
	// /readyz turns red while the database is away.
	redBy := time.Now().Add(5 * time.Second)
	for {
		r, err := send(client, h.srv.URL, "GET", "/readyz", "", "")
		if err == nil && r.status == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(redBy) {
			t.Fatalf("/readyz still answers %d (%v) with the database away", r.status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // a while of outage under load
	phase.Store(phaseRecovering)
	upAt := time.Now()
	up(db)
	// Back without a restart: /readyz turns green, then writes succeed.
	greenBy := time.Now().Add(30 * time.Second)
	for {
		r, err := send(client, h.srv.URL, "GET", "/readyz", "", "")
		if err == nil && r.status == http.StatusOK {
			break
		}
		if time.Now().After(greenBy) {
			t.Fatalf("/readyz still answers %d (%v) with the database back", r.status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	recovery := time.Since(upAt)
	time.Sleep(500 * time.Millisecond) // load continues on the recovered database
	close(stop)
	wg.Wait()

	// Every request answered in time, and anything but success was 503 unavailable.
	counts := map[string]int{}
	for _, o := range outcomes {
		if !o.transportOK {
			t.Fatalf("request %s got no HTTP answer", o.key)
		}
		if limit := outageTimeout + 2*time.Second; o.took > limit {
			t.Errorf("request %s took %v, past the request timeout (%v) and some slack", o.key, o.took, outageTimeout)
		}
		switch {
		case o.status == http.StatusCreated:
			counts["201"]++
		case o.status == http.StatusServiceUnavailable && o.code == string(ledger.EUnavailable):
			counts["503"]++
			if o.phase == phaseHealthy && o.endPhase == phaseHealthy {
				t.Errorf("request %s answered 503 before the outage", o.key)
			}
		default:
			t.Errorf("request %s answered %d %s; want 201, or 503 unavailable", o.key, o.status, o.code)
		}
	}
	if counts["503"] == 0 {
		t.Error("no request met the outage: the test proves nothing")
	}
	// After /readyz turned green, writes succeed at once.
	for i := range 10 {
		r, err := send(client, h.srv.URL, "POST", "/v1/transfers", fmt.Sprintf(`{"from":%q,"to":%q,"amount":"1.00","currency":"NGN"}`, a, b), fmt.Sprint("after-", i))
		if err != nil || r.status != http.StatusCreated {
			t.Fatalf("transfer %d after recovery: %v %d %s", i, err, r.status, r.body)
		}
		outcomes = append(outcomes, outcome{key: fmt.Sprint("after-", i), from: a, to: b, status: 201, transportOK: true})
	}

	// Retries settle every request: acknowledged ones replay, the others
	// either had committed (and replay) or are performed now, once.
	var committedDespite503 atomic.Int64
	retries := make(chan int)
	var rg sync.WaitGroup
	for range clients {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for i := range retries {
				o := outcomes[i]
				r, err := send(client, h.srv.URL, "POST", "/v1/transfers", o.body, o.key)
				if err != nil || r.status != http.StatusCreated {
					t.Errorf("retry of %s: %v %d %s", o.key, err, r.status, r.body)
					continue
				}
				if r.header.Get("Idempotent-Replayed") == "true" {
					committedDespite503.Add(1)
				}
				outcomes[i].status = http.StatusCreated
			}
		}()
	}
	for i, o := range outcomes {
		if o.status == http.StatusServiceUnavailable {
			retries <- i
		}
	}
	close(retries)
	rg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d requests: %d acknowledged, %d answered 503 (%d of those had committed and replayed on retry); ready again %v after the database was brought back",
		len(outcomes), counts["201"], counts["503"], committedDespite503.Load(), recovery.Round(time.Millisecond))

	// Exact accounting: each wallet moved by exactly the transfers that
	// were acknowledged (now or on retry), each once.
	want := map[string]int64{a: 100000_00, b: 100000_00}
	for _, o := range outcomes {
		want[o.from] -= 100
		want[o.to] += 100
	}
	for _, acc := range []string{a, b} {
		if got, w := h.balance(acc), fmt.Sprintf("%d.%02d", want[acc]/100, want[acc]%100); got != w {
			t.Errorf("balance of %s is %s, the acknowledged transfers make it %s", acc, got, w)
		}
	}
	events := h.checkJournal("main")
	transfers := 0
	for _, e := range events {
		if e.Type == ledger.TransferCompleted {
			transfers++
		}
	}
	if transfers != len(outcomes) {
		t.Errorf("the journal holds %d transfers for %d acknowledged requests", transfers, len(outcomes))
	}
}

// send is a request that reports transport errors instead of failing the
// test, for use from load goroutines.
func send(client *http.Client, base, method, path, body, key string) (reply, error) {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: raw}, err
}
