package httpapi

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/schema/testdb"
)

// replicated is a harness on a real primary whose Store reads from a real
// streaming standby.
type replicated struct {
	*harness
	db      *testdb.Replicated
	standby *pgxpool.Pool // for pausing replay
}

func newReplicated(t *testing.T) *replicated {
	t.Helper()
	db := testdb.NewReplicated(t)
	h := newHarnessAt(t, db.PrimaryURL)
	pool, err := pgxpool.New(context.Background(), db.StandbyURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	h.store.UseReplica(pool, pgjournal.ReplicaOptions{MaxWait: 2 * time.Second, Retry: time.Minute})
	h.api.metrics.WatchReplica(h.store)
	return &replicated{harness: h, db: db, standby: pool}
}

func (r *replicated) exec(sql string) {
	r.t.Helper()
	if _, err := r.standby.Exec(context.Background(), sql); err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
}

// caughtUp waits until the standby shows position p.
func (r *replicated) caughtUp(p string) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r.do("GET", "/v1/events?book=main&limit=1", nil, HeaderMinPosition, p).status == 200 {
			rep, _ := r.store.ReplicaReads()
			if rep > 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the standby never reached %s", p)
		}
	}
}

func (r *replicated) reads() (replica, primary int64) { return r.store.ReplicaReads() }

func position(t *testing.T, rep reply) pgjournal.Position {
	t.Helper()
	p, err := pgjournal.ParsePosition(rep.header.Get(HeaderPosition))
	if err != nil {
		t.Fatalf("write answer without a valid %s (%v): %d %s", HeaderPosition, err, rep.status, rep.body)
	}
	return p
}

// With replay paused, a read without a position is answered by the stale
// standby; one that sends the write's Tally-Position waits up to 2 s for the
// standby, then is answered by the primary, and sees the write. Once replay
// resumes, such reads are answered by the standby again.
func TestReplicaReadYourWritesWithReplayPaused(t *testing.T) {
	r := newReplicated(t)
	a, b := r.open("alice", "NGN"), r.open("bob", "NGN")
	r.fund(a, "100.00", "NGN")
	funded := r.must(r.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "10.00", "currency": "NGN"},
		"Idempotency-Key", ledger.NewID("t")), 201)
	r.caughtUp(position(t, funded).String())

	r.exec(`SELECT pg_wal_replay_pause()`)
	t.Cleanup(func() { r.standby.Exec(context.Background(), `SELECT pg_wal_replay_resume()`) })
	// A pause takes effect between records: wait until the standby says so.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var state string
		if err := r.standby.QueryRow(context.Background(), `SELECT pg_get_wal_replay_pause_state()`).Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "paused" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay is still %q", state)
		}
	}
	moved := r.must(r.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "25.00", "currency": "NGN"},
		"Idempotency-Key", ledger.NewID("t")), 201)
	p := position(t, moved)
	if p.Book != "main" || p.Position <= position(t, funded).Position {
		t.Fatalf("Tally-Position %v does not move past %v", p, position(t, funded))
	}

	replica0, primary0 := r.reads()
	if got := r.must(r.do("GET", "/v1/accounts/"+b+"/balance", nil), 200).str(t, "balance"); got != "10.00" {
		t.Fatalf("read without a position: balance %s, want the standby's stale 10.00", got)
	}
	if rep, _ := r.reads(); rep != replica0+1 {
		t.Fatalf("a read without a position did not go to the standby")
	}

	start := time.Now()
	if got := r.must(r.do("GET", "/v1/accounts/"+b+"/balance", nil, HeaderMinPosition, p.String()), 200).str(t, "balance"); got != "35.00" {
		t.Fatalf("read with Tally-Min-Position %s: balance %s, want 35.00 (read-your-writes)", p, got)
	}
	if waited := time.Since(start); waited < 2*time.Second {
		t.Fatalf("the read went to the primary after %v, before the standby had 2 s to catch up", waited)
	}
	if _, prim := r.reads(); prim != primary0+1 {
		t.Fatalf("the read that needed an unreplayed position was not answered by the primary")
	}
	lag := r.metric(t, "tally_replica_lag_bytes")
	if lag == "" || lag == "0" {
		t.Fatalf("tally_replica_lag_bytes = %q with replay paused, want > 0", lag)
	}

	r.exec(`SELECT pg_wal_replay_resume()`)
	r.caughtUp(p.String())
	replica1, primary1 := r.reads()
	if got := r.must(r.do("GET", "/v1/accounts/"+b+"/entries", nil, HeaderMinPosition, p.String()), 200); !strings.Contains(string(got.body), "25.00") {
		t.Fatalf("entries after resume miss the transfer: %s", got.body)
	}
	if rep, prim := r.reads(); rep <= replica1 || prim != primary1 {
		t.Fatalf("once caught up, the standby did not answer the read (replica %d→%d, primary %d→%d)", replica1, rep, primary1, prim)
	}
}

// A standby that stops costs the reads nothing: they go to the primary,
// answer right, and the metrics say the replica is down.
func TestReplicaLossDegradesToThePrimary(t *testing.T) {
	r := newReplicated(t)
	a := r.open("alice", "NGN")
	r.fund(a, "42.00", "NGN")
	if r.metric(t, "tally_replica_up") != "1" {
		t.Fatal("tally_replica_up is not 1 with the standby running")
	}
	if err := r.db.Standby.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/accounts/" + a + "/balance", "/v1/accounts/" + a, "/v1/accounts/" + a + "/entries", "/v1/events?book=main", "/v1/accounts", "/v1/audit/trial-balance?book=main"} {
		t.Run("GET "+path+" answers from the primary", func(t *testing.T) {
			got := r.do("GET", path, nil)
			if got.status != 200 {
				t.Fatalf("status %d after the standby stopped: %s", got.status, got.body)
			}
		})
	}
	if got := r.balance(a); got != "42.00" {
		t.Fatalf("balance %s, want 42.00", got)
	}
	if r.metric(t, "tally_replica_up") != "0" {
		t.Fatal("tally_replica_up is not 0 with the standby stopped")
	}
	moved := r.do("POST", "/v1/accounts", map[string]any{"owner": "carol", "currency": "NGN"})
	r.must(r.do("GET", "/v1/accounts/"+moved.str(t, "id"), nil, HeaderMinPosition, position(t, moved).String()), 200)
}

// Every answer the ledger decides carries the book's position, a replayed
// one and a refusal included; a malformed Tally-Min-Position is refused.
func TestTallyPositionHeaders(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("alice", "NGN"), h.open("bob", "NGN")
	key := ledger.NewID("t")
	first := h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "5.00", "currency": "NGN"}, "Idempotency-Key", key)
	if first.status != 422 {
		t.Fatalf("transfer from an empty wallet: %d, want 422", first.status)
	}
	refused := position(t, first)
	h.fund(a, "9.00", "NGN")
	ok := h.must(h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "5.00", "currency": "NGN"}, "Idempotency-Key", ledger.NewID("t")), 201)
	if p := position(t, ok); p.Book != "main" || p.Position <= refused.Position {
		t.Fatalf("position %v after %v", p, refused)
	}
	replay := h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "5.00", "currency": "NGN"}, "Idempotency-Key", key)
	if p := position(t, replay); p.Position < position(t, ok).Position {
		t.Fatalf("a replayed answer's position %v is behind the book's %v", p, position(t, ok))
	}
	for name, header := range map[string]string{"no book": ":5", "no position": "main", "negative": "main:-1", "not a number": "main:x"} {
		t.Run("Tally-Min-Position "+name+" is invalid_request", func(t *testing.T) {
			got := h.do("GET", "/v1/accounts/"+a, nil, HeaderMinPosition, header)
			if got.status != 400 || got.str(t, "code") != "invalid_request" {
				t.Fatalf("%q: %d %s", header, got.status, got.body)
			}
		})
	}
	// Without a replica the header is accepted and changes nothing.
	h.must(h.do("GET", "/v1/accounts/"+a, nil, HeaderMinPosition, position(t, ok).String()), 200)
}

// metric returns the value of an unlabelled metric on /metrics, or "".
func (h *harness) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.Get(h.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}
