package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/jackc/pgx/v5/pgxpool"
)

// rebuildResult compares a replay of the journal into fresh balances with
// the floor any replay has: PostgreSQL summing the same postings itself.
type rebuildResult struct {
	Events          int64         `json:"events"`
	Postings        int64         `json:"postings"`
	Accounts        int           `json:"accounts"`
	Replay          time.Duration `json:"replay_ns"`
	ReplayRowsPerS  float64       `json:"replay_rows_per_s"`
	ReplayEventsPS  float64       `json:"replay_events_per_s"`
	Floor           time.Duration `json:"floor_ns"`
	FloorRowsPerS   float64       `json:"floor_rows_per_s"`
	Ratio           float64       `json:"ratio"`
	PeakHeapBytes   uint64        `json:"peak_heap_bytes"` // live heap growth during the replay
	MatchesBalances bool          `json:"matches_balances"`
}

// rebuildTable is the scratch table the replay writes, dropped afterwards.
const rebuildTable = "bench_rebuild_balances"

// timeRebuild replays the postings of book's first upto positions into a
// scratch balances table the way a rebuild does — stream the journal in
// position order, apply each posting to its account's running balance in
// memory, write the balances — and times it against
// SELECT account_id, sum(amount) FROM postings … GROUP BY account_id over
// the same rows.
//
// It stands in for `tally rebuild` until that command exists on this branch;
// see docs/benchmarks.md for how to switch.
func timeRebuild(ctx context.Context, pool *pgxpool.Pool, book string, upto int64) (rebuildResult, error) {
	var r rebuildResult
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events WHERE book = $1 AND position <= $2),
		(SELECT count(*) FROM postings WHERE book = $1 AND position <= $2)`, book, upto).Scan(&r.Events, &r.Postings); err != nil {
		return r, err
	}
	// Untimed pass, so both timed passes find the rows in shared buffers.
	if _, err := floorSums(ctx, pool, book, upto); err != nil {
		return r, err
	}

	peak := watchHeap()
	start := time.Now()
	accounts, err := replayBalances(ctx, pool, book, upto)
	r.Replay = time.Since(start)
	r.PeakHeapBytes = peak()
	if err != nil {
		return r, err
	}
	r.Accounts = accounts

	start = time.Now()
	if _, err := floorSums(ctx, pool, book, upto); err != nil {
		return r, err
	}
	r.Floor = time.Since(start)

	r.ReplayRowsPerS = float64(r.Postings) / r.Replay.Seconds()
	r.ReplayEventsPS = float64(r.Events) / r.Replay.Seconds()
	r.FloorRowsPerS = float64(r.Postings) / r.Floor.Seconds()
	r.Ratio = r.ReplayRowsPerS / r.FloorRowsPerS

	// When the replay covered the whole book, its balances must be the live ones.
	var head int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events WHERE book = $1`, book).Scan(&head); err != nil {
		return r, err
	}
	if head <= upto {
		var differ int64
		if err := pool.QueryRow(ctx, `
			SELECT count(*) FROM balances b JOIN accounts a ON a.id = b.account_id
			LEFT JOIN `+rebuildTable+` r ON r.account_id = b.account_id
			WHERE a.book = $1 AND coalesce(r.balance, 0) <> b.balance`, book).Scan(&differ); err != nil {
			return r, err
		}
		r.MatchesBalances = differ == 0
		if differ != 0 {
			return r, fmt.Errorf("bench: the replay disagrees with the live balances of %d accounts", differ)
		}
	}
	_, err = pool.Exec(ctx, `DROP TABLE IF EXISTS `+rebuildTable)
	return r, err
}

// runningBalance is one account's state during the replay.
type runningBalance struct {
	currency string
	balance  apd.Decimal
	position int64
}

// replayBalances streams the postings in journal order and keeps one
// running balance per account, so its memory grows with the number of
// accounts, never with the number of events. It returns how many accounts
// it wrote.
func replayBalances(ctx context.Context, pool *pgxpool.Pool, book string, upto int64) (int, error) {
	if _, err := pool.Exec(ctx, `DROP TABLE IF EXISTS `+rebuildTable); err != nil {
		return 0, err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE `+rebuildTable+` (
		account_id text PRIMARY KEY, currency text NOT NULL, balance numeric NOT NULL, position bigint NOT NULL)`); err != nil {
		return 0, err
	}
	// Exact, like the ledger's own arithmetic: wide enough for any sum, and
	// an error rather than a rounding.
	arith := apd.BaseContext.WithPrecision(60)
	arith.Traps |= apd.Inexact | apd.Rounded

	balances := map[string]*runningBalance{}
	rows, err := pool.Query(ctx, `
		SELECT position, account_id, currency, amount::text FROM postings
		WHERE book = $1 AND position <= $2 ORDER BY position, seq`, book, upto)
	if err != nil {
		return 0, err
	}
	var (
		position        int64
		account, cur    string
		amount          []byte
		d               apd.Decimal
		lastAccount     string
		lastBalanceSlot *runningBalance
	)
	for rows.Next() {
		if err := rows.Scan(&position, &account, &cur, &amount); err != nil {
			rows.Close()
			return 0, err
		}
		if _, _, err := d.SetString(string(amount)); err != nil {
			rows.Close()
			return 0, fmt.Errorf("bench: posting at %d: %w", position, err)
		}
		b := lastBalanceSlot
		if account != lastAccount {
			b = balances[account]
			if b == nil {
				b = &runningBalance{currency: cur}
				balances[account] = b
			}
			lastAccount, lastBalanceSlot = account, b
		}
		if _, err := arith.Add(&b.balance, &b.balance, &d); err != nil {
			rows.Close()
			return 0, fmt.Errorf("bench: posting at %d: %w", position, err)
		}
		b.position = position
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}

	ids := make([]string, 0, len(balances))
	curs := make([]string, 0, len(balances))
	amounts := make([]string, 0, len(balances))
	positions := make([]int64, 0, len(balances))
	for id, b := range balances {
		ids, curs = append(ids, id), append(curs, b.currency)
		amounts, positions = append(amounts, b.balance.Text('f')), append(positions, b.position)
	}
	_, err = pool.Exec(ctx, `INSERT INTO `+rebuildTable+` (account_id, currency, balance, position)
		SELECT id, cur, amount::numeric, pos FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS t(id, cur, amount, pos)`,
		ids, curs, amounts, positions)
	return len(balances), err
}

// floorSums is the floor: PostgreSQL sums the same postings without sending
// more than one row per account. It returns the number of accounts.
func floorSums(ctx context.Context, pool *pgxpool.Pool, book string, upto int64) (int, error) {
	rows, err := pool.Query(ctx, `
		SELECT account_id, sum(amount)::text FROM postings WHERE book = $1 AND position <= $2 GROUP BY account_id`, book, upto)
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	return n, rows.Err()
}

// watchHeap samples the live heap (as of each garbage collection) every few
// milliseconds until the returned function is called, which reports the
// largest growth seen over the live heap at the start: how much memory the
// measured work held at once, garbage excluded.
func watchHeap() func() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	var mu sync.Mutex
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			v := read()
			mu.Lock()
			peak = max(peak, v)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		if peak < base {
			return 0
		}
		return peak - base
	}
}
