package pgjournal_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/ledger/pgjournal/journaltest"
	"github.com/tallyledger/tally/schema/testdb"
)

// statements records what a pool sends in pgx batches (the careful append's
// pipelines).
type statements struct {
	mu  sync.Mutex
	on  bool
	got []captured
}

type captured struct {
	sql  string
	args []any
}

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (s *statements) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (s *statements) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.on {
		s.got = append(s.got, captured{d.SQL, d.Args})
	}
}
func (s *statements) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

var (
	taskCount = regexp.MustCompile(`Task Count: (\d+)`)
	taskNode  = regexp.MustCompile(`Node: host=\S+ port=(\d+)`)
)

// explain returns the Citus plan of a statement: its task counts and the
// ports of the nodes its tasks run on.
func explain(t *testing.T, conn *pgxpool.Pool, sql string, args ...any) (plan string) {
	t.Helper()
	rows, err := conn.Query(context.Background(), "EXPLAIN "+sql, args...)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", sql, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func onCitus(o *pgjournal.Options) { o.Citus = true }

// workerOf returns the port of the worker holding book's shard.
func workerOf(t *testing.T, pool *pgxpool.Pool, book string) int {
	t.Helper()
	var port int
	if err := pool.QueryRow(context.Background(), `
		SELECT nodeport FROM citus_shards
		WHERE shardid = get_shard_id_for_distribution_column('events', $1::text)`, book).Scan(&port); err != nil {
		t.Fatalf("worker of book %s: %v", book, err)
	}
	return port
}

// twoPhaseNodes returns, for the coordinator's records of two-phase commits
// not yet cleaned up, the port of the worker that took part, by the
// record's gid. (Citus's maintenance daemon removes records as it pleases,
// so a test compares gids, not counts.)
func twoPhaseNodes(t *testing.T, pool *pgxpool.Pool) map[string]int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT x.gid, n.nodeport FROM pg_dist_transaction x JOIN pg_dist_node n ON n.groupid = x.groupid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ports := map[string]int{}
	for rows.Next() {
		var gid string
		var port int
		if err := rows.Scan(&gid, &port); err != nil {
			t.Fatal(err)
		}
		ports[gid] = port
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ports
}

// On Citus, an append is a single-shard transaction on the worker that
// holds its book: every statement of a transfer's careful append that
// EXPLAIN can route runs as one task on that worker (the inserts of
// unnested rows are pulled to the coordinator and sent to the shard of
// their book), the optimistic append's head move and row locks too, and the
// transaction commits on that one worker, without two-phase commit.
func TestCitusAppendIsSingleShard(t *testing.T) {
	db := testdb.NewCitus(t)
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	trace := &statements{}
	cfg.ConnConfig.Tracer = trace
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	f := &fixture{pool: pool, journal: newJournal(pool, onCitus), store: pgjournal.NewStore(pool)}
	a, b := f.open(t, "NGN"), f.open(t, "NGN")
	f.credit(t, a, "10", "NGN")
	// A fresh journal has no cache of the book: its first batch is careful.
	f.journal.Close()
	f.journal = newJournal(pool, onCitus)
	defer f.journal.Close()
	worker := workerOf(t, pool, ledger.DefaultBook)
	before := twoPhaseNodes(t, pool)
	trace.mu.Lock()
	trace.on = true
	trace.mu.Unlock()
	transfer := func() {
		t.Helper()
		if got, err := f.submit(t, ledger.Transfer{TransferID: ledger.NewID(ledger.PrefixTransfer), From: a, To: b, Amount: ledger.MustMoney("1", "NGN")}); err != nil || got != "ok" {
			t.Fatalf("transfer: %s %v", got, err)
		}
	}
	transfer()
	trace.mu.Lock()
	trace.on = false
	got := trace.got
	trace.mu.Unlock()
	for i := 0; i < 3; i++ {
		transfer() // optimistic, on the chain
	}
	// Citus may commit in two phases on that one worker (the pulled inserts
	// can take a second connection to it), but never with another node.
	for gid, port := range twoPhaseNodes(t, pool) {
		if _, old := before[gid]; !old && port != worker {
			t.Fatalf("a transfer's commit took in the worker on port %d; its book lives on %d", port, worker)
		}
	}
	// A payment notification (an unsolicited deposit to a): its read of
	// deposits by reference, through deposit_references, is checked too.
	// (Its commit writes a row of deposit_references, a reference table, so
	// it is a multi-node transaction: docs/scale-out.md.)
	trace.mu.Lock()
	trace.on = true
	trace.mu.Unlock()
	optimistic := f.journal.Stats().Optimistic
	paid, err := f.journal.Submit(context.Background(), pgjournal.Request{Book: ledger.DefaultBook, SoleBook: true, Render: outcome,
		Command: ledger.GatewayNotification{Gateway: "paystack", Kind: ledger.NotifyPaymentSucceeded, EventID: "evt-citus", Reference: "PAY-CITUS",
			GatewayReference: "4099", Account: a, Amount: "5.00", Currency: "NGN", Payload: "{}"}})
	if err != nil || string(paid.Body) != "ok" {
		t.Fatalf("notification: %s %v", paid.Body, err)
	}
	// Its deposit is read without the book's lock and it is appended on
	// the chain, with the check that the book is the only one.
	if f.journal.Stats().Optimistic != optimistic+1 {
		t.Fatalf("the notification was not appended optimistically on Citus: %+v", f.journal.Stats())
	}
	trace.mu.Lock()
	trace.on = false
	got = append(got, trace.got[len(got):]...)
	trace.mu.Unlock()

	routed, pulled := 0, 0
	check := func(sql string, args ...any) {
		t.Helper()
		plan := explain(t, pool, sql, args...)
		switch {
		case strings.Contains(plan, "INSERT/SELECT method: pull to coordinator"):
			pulled++ // rows of one book: sent to its one shard
		case taskCount.MatchString(plan):
			for _, m := range taskCount.FindAllStringSubmatch(plan, -1) {
				if m[1] != "1" {
					t.Fatalf("%d tasks, want 1:\n%s\n%s", len(m), sql, plan)
				}
			}
			for _, m := range taskNode.FindAllStringSubmatch(plan, -1) {
				if m[1] != fmt.Sprint(worker) {
					t.Fatalf("a task on port %s, not on the book's worker (%d):\n%s\n%s", m[1], worker, sql, plan)
				}
			}
			routed++
		default:
			t.Fatalf("not routed to a shard:\n%s\n%s", sql, plan)
		}
	}
	for _, c := range got {
		if strings.HasPrefix(c.sql, "BEGIN") || strings.HasPrefix(c.sql, "SET") || strings.HasPrefix(c.sql, "SELECT set_config(") || c.sql == "COMMIT" { // settings, not statements on rows
			continue
		}
		check(c.sql, c.args...)
	}
	if routed < 4 || pulled < 3 {
		t.Fatalf("checked %d routed and %d pulled statements: the trace missed the append", routed, pulled)
	}
	head, err := f.store.Head(context.Background(), ledger.DefaultBook)
	if err != nil {
		t.Fatal(err)
	}
	check(pgjournal.MoveHeadSQL, ledger.DefaultBook, head.Position, head.Hash, head.Position+1, head.Hash, nil)
	check(`SELECT account_id FROM balances WHERE book = $2 AND account_id = ANY($1) ORDER BY account_id FOR UPDATE`, []string{a, b}, ledger.DefaultBook)
	journaltest.Check(t, pool, ledger.DefaultBook)
}
