package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/projections"
)

func TestVerifyPassesAfterAMixedWorkload(t *testing.T) {
	f := newFixture(t)
	f.workload(1, 150)
	f.catchUp()
	for _, book := range []string{"main", "eu"} {
		rep := f.verify(book)
		if !rep.OK || rep.FirstBadPosition != nil || len(rep.Problems) != 0 {
			t.Fatalf("book %s: %s", book, dump(rep))
		}
		head, err := f.store.Head(context.Background(), book)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Events != head.Position || rep.LastPosition != head.Position || rep.LastHash != head.Hash {
			t.Fatalf("book %s: report covers %d events up to %d (%s), head is %d (%s)", book, rep.Events, rep.LastPosition, rep.LastHash, head.Position, head.Hash)
		}
		if len(rep.Projections) != len(f.set.Names()) {
			t.Fatalf("book %s: %d projections compared, want %d", book, len(rep.Projections), len(f.set.Names()))
		}
		for _, p := range rep.Projections {
			if !p.OK || p.Lag != 0 {
				t.Fatalf("book %s: projection %+v", book, p)
			}
		}
	}
	if _, err := f.set.Verify(context.Background(), "nope", projections.VerifyOptions{}); ledger.ErrorCode(err) != ledger.ENotFound {
		t.Fatalf("unknown book: %v", err)
	}
}

// The conformance rule every projection must meet: replaying the journal
// gives exactly the rows the live projection holds. Rebuilding over live
// tables that are already right changes nothing; rebuilding into emptied
// tables restores them row for row.
func TestRebuildEqualsLive(t *testing.T) {
	f := newFixture(t)
	f.workload(2, 120)
	f.catchUp()
	live := f.tables()
	for table, rows := range live {
		if len(rows) == 0 {
			t.Fatalf("table %s is empty after the workload: the test proves nothing", table)
		}
	}

	rep, err := f.set.Rebuild(context.Background(), nil, projections.RebuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Projections {
		for _, tb := range p.Tables {
			if tb.Deleted != 0 || tb.Written != 0 {
				t.Errorf("rebuild over a sound %s changed rows: %+v", p.Name, tb)
			}
		}
	}
	if got := f.tables(); !reflect.DeepEqual(got, live) {
		t.Fatal("a rebuild over sound tables changed them")
	}

	f.wipe()
	if _, err := f.set.Rebuild(context.Background(), nil, projections.RebuildOptions{}); err != nil {
		t.Fatal(err)
	}
	got := f.tables()
	for table := range live {
		if !reflect.DeepEqual(got[table], live[table]) {
			t.Errorf("table %s rebuilt from the journal differs from live:\nlive    %v\nrebuilt %v", table, live[table], got[table])
		}
	}
	for _, book := range []string{"main", "eu"} {
		if rep := f.verify(book); !rep.OK {
			t.Fatalf("after rebuild, book %s: %s", book, dump(rep))
		}
	}
	// The journal keeps working on rebuilt tables.
	a := f.open("main", "after", "NGN")
	if got := f.adjust("main", a, ledger.Credit, "1.00", "NGN"); got != "ok" {
		t.Fatalf("adjust after rebuild: %s", got)
	}
	f.catchUp()
	if rep := f.verify("main"); !rep.OK {
		t.Fatalf("after rebuild and more appends: %s", dump(rep))
	}
}

func TestVerifyNamesADamagedProjectionRowAndRebuildRepairsIt(t *testing.T) {
	f := newFixture(t)
	f.workload(3, 40)
	f.catchUp()
	var victim string
	if err := f.pool.QueryRow(context.Background(), `SELECT b.account_id FROM balances b JOIN accounts a ON a.id = b.account_id WHERE a.book = 'main' AND a.kind = 'wallet' ORDER BY 1 LIMIT 1`).Scan(&victim); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE balances SET balance = balance + 1 WHERE account_id = '` + victim + `'`,
		`UPDATE account_daily SET entries = entries + 1 WHERE account_id = '` + victim + `'`,
		`DELETE FROM transfers WHERE id = (SELECT id FROM transfers WHERE book = 'main' ORDER BY position LIMIT 1)`,
	} {
		if _, err := f.pool.Exec(context.Background(), stmt); err != nil {
			t.Fatal(err)
		}
	}
	rep := f.verify("main")
	if rep.OK || !rep.ChainOK || !rep.Balanced || !rep.RunningBalancesOK || rep.FirstBadPosition != nil {
		t.Fatalf("damaged projections must fail verify without blaming the journal: %s", dump(rep))
	}
	bad := map[string]projections.ProjectionReport{}
	for _, p := range rep.Projections {
		if !p.OK {
			bad[p.Name] = p
		}
	}
	if len(bad) != 3 {
		t.Fatalf("want balances, daily_summaries and transfers to fail, got %s", dump(rep.Projections))
	}
	if m := bad["balances"].Mismatches; len(m) != 1 || m[0].Key["account_id"] != victim || m[0].Live == nil || m[0].Rebuilt == nil {
		t.Fatalf("balances mismatch must name the row with both versions: %s", dump(m))
	}
	if m := bad["transfers"].Mismatches; len(m) != 1 || m[0].Live != nil || m[0].Rebuilt == nil {
		t.Fatalf("a deleted transfer is a row only the replay has: %s", dump(m))
	}

	rb, err := f.set.Rebuild(context.Background(), []string{"balances", "transfers", "daily_summaries"}, projections.RebuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	written := 0
	for _, p := range rb.Projections {
		for _, tb := range p.Tables {
			written += int(tb.Written)
		}
	}
	if len(rb.Projections) != 3 || written < 3 {
		t.Fatalf("rebuild report: %s", dump(rb))
	}
	if rep := f.verify("main"); !rep.OK {
		t.Fatalf("after rebuild: %s", dump(rep))
	}
	if _, err := f.set.Rebuild(context.Background(), []string{"nope"}, projections.RebuildOptions{}); ledger.ErrorCode(err) != ledger.ENotFound {
		t.Fatalf("unknown projection: %v", err)
	}
}

func TestVerifyNamesTheTamperedPosition(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stmt   string // %d is the tampered position
		checks []string
		wantAt func(pos int64) int64 // the first bad position reported
	}{
		{"a changed posting amount breaks the chain, the sum and the running balance",
			`UPDATE postings SET amount = amount * 2 WHERE book = 'main' AND position = %d AND amount > 0`,
			[]string{projections.CheckChain, projections.CheckBalanced, projections.CheckRunningBalance}, func(p int64) int64 { return p }},
		{"a changed posting account breaks the chain and the running balances",
			`UPDATE postings SET account_id = (SELECT min(id) FROM accounts WHERE book = 'main' AND kind = 'wallet' AND currency = postings.currency AND id <> postings.account_id) WHERE book = 'main' AND position = %d AND seq = 1`,
			[]string{projections.CheckChain, projections.CheckRunningBalance}, func(p int64) int64 { return p }},
		{"a changed balance_after (not hashed) fails the running balance",
			`UPDATE postings SET balance_after = balance_after + 1 WHERE book = 'main' AND position = %d AND seq = 0`,
			[]string{projections.CheckRunningBalance}, func(p int64) int64 { return p }},
		{"edited event data breaks the chain",
			`UPDATE events SET data = jsonb_set(data, '{description}', '"edited"') WHERE book = 'main' AND position = %d`,
			[]string{projections.CheckChain}, func(p int64) int64 { return p }},
		{"a recorded time moved back breaks the chain and the order",
			`UPDATE events SET recorded_at = recorded_at - interval '1 hour' WHERE book = 'main' AND position = %d`,
			[]string{projections.CheckChain, projections.CheckRecordedOrder}, func(p int64) int64 { return p }},
		{"a deleted event is a gap at the next position",
			`DELETE FROM postings WHERE book = 'main' AND position = %[1]d; DELETE FROM events WHERE book = 'main' AND position = %[1]d`,
			[]string{projections.CheckContiguity, projections.CheckChain}, func(p int64) int64 { return p + 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.workload(4, 60)
			f.catchUp()
			var pos int64
			if err := f.pool.QueryRow(context.Background(), `
				SELECT position FROM events WHERE book = 'main' AND type = 'transfer.completed' ORDER BY position OFFSET 5 LIMIT 1`).Scan(&pos); err != nil {
				t.Fatal(err)
			}
			f.tamper(fmt.Sprintf(tc.stmt, pos))
			rep := f.verify("main")
			if rep.OK || rep.FirstBadPosition == nil || *rep.FirstBadPosition != tc.wantAt(pos) {
				t.Fatalf("tampered at %d: %s", pos, dump(rep))
			}
			failed := map[string]bool{}
			for _, p := range rep.Problems {
				failed[p.Check] = true
			}
			for _, c := range tc.checks {
				if !failed[c] {
					t.Errorf("check %s did not fail: %s", c, dump(rep.Problems))
				}
			}
			// The other book is untouched.
			if other := f.verify("eu"); !other.OK {
				t.Fatalf("book eu: %s", dump(other))
			}
		})
	}
}

func TestVerifyReportsUnreadableRowsInsteadOfFailing(t *testing.T) {
	f := newFixture(t)
	f.workload(5, 20)
	var pos int64
	if err := f.pool.QueryRow(context.Background(), `SELECT max(position) FROM postings WHERE book = 'main' AND currency = 'USD'`).Scan(&pos); err != nil {
		t.Fatal(err)
	}
	// A third decimal is not money in USD.
	f.tamper(fmt.Sprintf(`UPDATE postings SET amount = amount + 0.001 WHERE book = 'main' AND position = %d AND seq = 0`, pos))
	rep := f.verify("main")
	if rep.OK || rep.FirstBadPosition == nil || *rep.FirstBadPosition != pos || rep.RunningBalancesOK {
		t.Fatalf("unreadable posting at %d: %s", pos, dump(rep))
	}
}

func TestVerifyListsNegativeWalletsWithoutFailing(t *testing.T) {
	f := newFixture(t)
	f.workload(6, 10)
	w := f.open("main", "debtor", "NGN")
	if got := f.adjust("main", w, ledger.Credit, "5.00", "NGN"); got != "ok" {
		t.Fatal(got)
	}
	if rep := f.verify("main"); !rep.OK || len(rep.NegativeWallets) != 0 {
		t.Fatalf("%s", dump(rep))
	}
	// No request can take a wallet below zero; a refund a gateway reports
	// that Tally did not ask for can. Append such a fact, correctly chained.
	var sys string
	if err := f.pool.QueryRow(context.Background(), `SELECT id FROM accounts WHERE book = 'main' AND name = 'adjustments' AND currency = 'NGN'`).Scan(&sys); err != nil {
		t.Fatal(err)
	}
	f.forge("main", ledger.AdjustmentPosted, ledger.AdjustmentPostedData{AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: w,
		Direction: ledger.Debit, Amount: "50.00", Currency: "NGN", Reason: "unsolicited gateway refund"},
		ledger.Posting{Account: w, Amount: ledger.MustMoney("-50.00", "NGN")}, ledger.Posting{Account: sys, Amount: ledger.MustMoney("50.00", "NGN")})
	f.catchUp()
	rep := f.verify("main")
	if !rep.OK || len(rep.NegativeWallets) != 1 {
		t.Fatalf("%s", dump(rep))
	}
	if nw := rep.NegativeWallets[0]; nw.Account != w || nw.Balance != "-45.00" || nw.Currency != "NGN" || nw.Owner != "debtor" {
		t.Fatalf("negative wallet %+v", nw)
	}
}

func TestRunnersInSeveralProcessesApplyEachEventOnce(t *testing.T) {
	f := newFixture(t)
	f.workload(7, 80)
	ctx := context.Background()
	var runners []*projections.Runner
	for range 3 {
		r := f.set.Runner(projections.RunnerOptions{PageSize: 7, Poll: 5 * time.Millisecond})
		r.Start(ctx)
		runners = append(runners, r)
	}
	// Appends go on while they run.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a, b := f.open("main", "x", "USD"), f.open("main", "y", "USD")
		f.adjust("main", a, ledger.Credit, "100", "USD")
		for range 20 {
			f.transfer("main", a, b, "1.25", "USD")
		}
	}()
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		head, err := f.store.Head(ctx, "main")
		if err != nil {
			t.Fatal(err)
		}
		var at int64
		if err := f.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM projection_checkpoints WHERE projection = 'daily_summaries' AND book = 'main'`).Scan(&at); err != nil {
			t.Fatal(err)
		}
		if at == head.Position {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runners stuck at %d of %d", at, head.Position)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, r := range runners {
		r.Stop()
	}
	for _, book := range []string{"main", "eu"} {
		rep := f.verify(book)
		if !rep.OK {
			t.Fatalf("book %s: %s", book, dump(rep))
		}
		for _, p := range rep.Projections {
			if p.Mode == projections.ModeAsync && p.Lag != 0 {
				t.Fatalf("book %s: %s lags by %d", book, p.Name, p.Lag)
			}
		}
	}
}

// Verify compares an async projection at its checkpoint, not at the head:
// lagging is not a failure.
func TestVerifyComparesAsyncProjectionsAtTheirCheckpoint(t *testing.T) {
	f := newFixture(t)
	f.workload(8, 30)
	f.catchUp()
	a := f.open("main", "late", "NGN")
	f.adjust("main", a, ledger.Credit, "3.00", "NGN")
	rep := f.verify("main")
	if !rep.OK {
		t.Fatalf("%s", dump(rep))
	}
	for _, p := range rep.Projections {
		if p.Name == "daily_summaries" && (p.Lag == 0 || p.Position+p.Lag != rep.LastPosition) {
			t.Fatalf("async projection report: %+v (head %d)", p, rep.LastPosition)
		}
	}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// Appends go on while verify runs; the report describes the book as of its
// last position, which the catch-up reaches.
func TestVerifyWhileAppending(t *testing.T) {
	f := newFixture(t)
	f.workload(9, 200)
	f.catchUp()
	a, b := f.open("main", "busy", "USD"), f.open("main", "bee", "USD")
	f.adjust("main", a, ledger.Credit, "1000", "USD")
	start, err := f.store.Head(context.Background(), "main")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				f.transfer("main", a, b, "0.01", "USD")
			}
		}
	}()
	var reps []*projections.Report
	for range 3 {
		reps = append(reps, f.verify("main"))
	}
	close(stop)
	<-done
	for _, rep := range reps {
		if !rep.OK || rep.LastPosition < start.Position || rep.Events != rep.LastPosition {
			t.Fatalf("%s", dump(rep))
		}
	}
	if reps[len(reps)-1].LastPosition == start.Position {
		t.Fatal("nothing was appended while verifying: the test proves nothing")
	}
}

// The runner reports each async projection's lag: the events it had not
// applied when a pass began, falling to zero once it has caught up.
func TestRunnerReportsLag(t *testing.T) {
	f := newFixture(t)
	f.workload(3, 30)
	var mu sync.Mutex
	var reports []int64
	r := f.set.Runner(projections.RunnerOptions{PageSize: 10, Poll: 5 * time.Millisecond, Lag: func(name string, events int64) {
		if name == "daily_summaries" {
			mu.Lock()
			reports = append(reports, events)
			mu.Unlock()
		}
	}})
	r.Start(context.Background())
	defer r.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(reports)
		first, last := int64(-1), int64(-1)
		if n > 0 {
			first, last = reports[0], reports[n-1]
		}
		mu.Unlock()
		if n > 1 && last == 0 {
			if first <= 0 {
				t.Fatalf("the first pass reported lag %d; the workload left events to apply", first)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag reports %d, last %d: never caught up", n, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
