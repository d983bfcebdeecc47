package main

import (
	"bytes"
	"context"
	"encoding/binary"
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
	// The fresh table a rebuild fills is made before the clock starts.
	if _, err := pool.Exec(ctx, `DROP TABLE IF EXISTS `+rebuildTable); err != nil {
		return r, err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE `+rebuildTable+` (
		account_id text PRIMARY KEY, currency text NOT NULL, balance numeric NOT NULL, position bigint NOT NULL)`); err != nil {
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
			SELECT count(*) FROM balances b JOIN accounts a ON a.book = b.book AND a.id = b.account_id
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

// runningBalance is one account's state during the replay: the sum of its
// postings as an integer count of 10^-scale units while it fits in an
// int64, and as an exact decimal after that.
type runningBalance struct {
	units    int64
	scale    int
	big      *apd.Decimal // non-nil once units overflowed or scales differed
	position int64
}

// add applies one posting amount, given as text ("-12.50").
func (b *runningBalance) add(amount []byte, arith *apd.Context) error {
	if b.big == nil {
		if units, scale, ok := parseUnits(amount); ok && (b.scale == scale || b.units == 0) {
			if sum, ok := addInt64(b.units, units); ok {
				b.units, b.scale = sum, scale
				return nil
			}
		}
		// Too large for an int64, or amounts of different precision:
		// continue exactly, in decimal.
		b.big = apd.New(b.units, -int32(b.scale))
	}
	var d apd.Decimal
	if _, _, err := d.SetString(string(amount)); err != nil {
		return err
	}
	_, err := arith.Add(b.big, b.big, &d)
	return err
}

// text is the balance as a decimal string.
func (b *runningBalance) text() string {
	if b.big != nil {
		return b.big.Text('f')
	}
	return apd.New(b.units, -int32(b.scale)).Text('f')
}

// parseUnits reads a decimal such as "-12.50" as -1250 units of 10^-2.
func parseUnits(s []byte) (units int64, scale int, ok bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 18 {
		return 0, 0, false
	}
	seenPoint := false
	for _, c := range s {
		switch {
		case c == '.' && !seenPoint:
			seenPoint = true
		case c >= '0' && c <= '9':
			units = units*10 + int64(c-'0')
			if seenPoint {
				scale++
			}
		default:
			return 0, 0, false
		}
	}
	if neg {
		units = -units
	}
	return units, scale, true
}

func addInt64(a, b int64) (int64, bool) {
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		return 0, false
	}
	return s, true
}

// replayBalances streams the postings in journal order and keeps one
// running balance per account, so its memory grows with the number of
// accounts, never with the number of events. It returns how many accounts
// it wrote.
func replayBalances(ctx context.Context, pool *pgxpool.Pool, book string, upto int64) (int, error) {
	// Exact, like the ledger's own arithmetic: wide enough for any sum, and
	// an error rather than a rounding.
	arith := apd.BaseContext.WithPrecision(60)
	arith.Traps |= apd.Inexact | apd.Rounded

	// Only what the balances projection needs, and the amount as text, which
	// is cheaper to turn into exact units than the binary NUMERIC. Rows are
	// read raw: the account is looked up by its bytes, without a string per row.
	balances := map[string]*runningBalance{}
	rows, err := pool.Query(ctx, `
		SELECT position, account_id, amount::text FROM postings
		WHERE book = $1 AND position <= $2 ORDER BY position, seq`, book, upto)
	if err != nil {
		return 0, err
	}
	var last *runningBalance
	var lastAccount []byte
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 3 || len(v[0]) != 8 {
			rows.Close()
			return 0, fmt.Errorf("bench: unexpected row shape from postings")
		}
		position := int64(binary.BigEndian.Uint64(v[0]))
		b := last
		if !bytes.Equal(v[1], lastAccount) {
			b = balances[string(v[1])]
			if b == nil {
				b = &runningBalance{}
				balances[string(v[1])] = b
			}
			last, lastAccount = b, append(lastAccount[:0], v[1]...)
		}
		if err := b.add(v[2], arith); err != nil {
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
	amounts := make([]string, 0, len(balances))
	positions := make([]int64, 0, len(balances))
	for id, b := range balances {
		ids, amounts, positions = append(ids, id), append(amounts, b.text()), append(positions, b.position)
	}
	// The currency is the account's: one lookup per account, not a column per posting.
	_, err = pool.Exec(ctx, `INSERT INTO `+rebuildTable+` (account_id, currency, balance, position)
		SELECT t.id, a.currency, t.amount::numeric, t.pos
		FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(id, amount, pos) JOIN accounts a ON a.book = $4 AND a.id = t.id`,
		ids, amounts, positions, book)
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
