package pgjournal

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Position is a place in one book's journal: a write's answer names the
// book's position once the write is in (Tally-Position), and a read can ask
// to see at least that position (Tally-Min-Position).
type Position struct {
	Book     string
	Position int64
}

// String renders the position as the HTTP headers carry it, "book:position".
func (p Position) String() string { return p.Book + ":" + strconv.FormatInt(p.Position, 10) }

// ParsePosition parses "book:position".
func ParsePosition(s string) (Position, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return Position{}, fmt.Errorf("%q is not book:position", s)
	}
	n, err := strconv.ParseInt(s[i+1:], 10, 64)
	if err != nil || n < 0 {
		return Position{}, fmt.Errorf("%q is not book:position (the position is a whole number ≥ 0)", s)
	}
	return Position{Book: s[:i], Position: n}, nil
}

// ReplicaOptions tune how the Store uses a read replica.
type ReplicaOptions struct {
	// MaxWait is how long a read that needs a position waits for the
	// replica to replay it before it goes to the primary (default 2s).
	MaxWait time.Duration
	// Retry is how long the replica rests after it failed to answer before
	// reads try it again (default 5s); meanwhile they go to the primary.
	Retry time.Duration
}

// replica is a streaming replica the Store may read from.
type replica struct {
	pool *pgxpool.Pool
	opt  ReplicaOptions
	// downUntil (unix nanoseconds) is when the replica may be tried again
	// after a failure.
	downUntil atomic.Int64
	// reached is, per book, the highest position seen replayed: positions
	// at or below it need no check.
	reached sync.Map
	// served counts reads by where they went, for tests and metrics.
	replicaReads, primaryReads atomic.Int64
}

// UseReplica makes the Store answer the reads of a context marked by
// OnReplica from the replica at pool: at once if the read needs no position,
// once the replica has replayed it if it needs one (else, after MaxWait,
// from the primary). Reads not so marked, and every read while the replica
// does not answer, go to the primary. Call it before the Store is used.
func (s *Store) UseReplica(pool *pgxpool.Pool, opt ReplicaOptions) {
	if opt.MaxWait <= 0 {
		opt.MaxWait = 2 * time.Second
	}
	if opt.Retry <= 0 {
		opt.Retry = 5 * time.Second
	}
	s.replica = &replica{pool: pool, opt: opt}
}

type replicaKey struct{}

// replicaRead is what OnReplica puts in a context.
type replicaRead struct {
	min *Position // nil: any replayed state will do
}

// OnReplica marks ctx so that the Store's reads made with it may be
// answered by the read replica (see UseReplica); min, if not nil, is a
// position they must see. Only read-only requests should be marked: a
// replica can be behind, so a write must never decide on what it reads.
func OnReplica(ctx context.Context, min *Position) context.Context {
	return context.WithValue(ctx, replicaKey{}, replicaRead{min: min})
}

// reader is where a read made with ctx goes: the primary, or the replica
// falling back to the primary.
func (s *Store) reader(ctx context.Context) Querier {
	r := s.replica
	read, marked := ctx.Value(replicaKey{}).(replicaRead)
	if r == nil || !marked || !r.up() {
		if r != nil {
			r.primaryReads.Add(1)
		}
		return s.pool
	}
	if read.min != nil && !r.caughtUp(ctx, *read.min) {
		r.primaryReads.Add(1)
		return s.pool
	}
	r.replicaReads.Add(1)
	return &fallback{r: r, primary: s.pool}
}

func (r *replica) up() bool { return time.Now().UnixNano() >= r.downUntil.Load() }

// fail takes the replica out of use for opt.Retry.
func (r *replica) fail() { r.downUntil.Store(time.Now().Add(r.opt.Retry).UnixNano()) }

// caughtUp waits, up to MaxWait, until the replica has replayed min. The
// event at that position is on the replica once it has replayed the
// transaction that appended it, and with it everything that transaction
// wrote (projections included).
func (r *replica) caughtUp(ctx context.Context, min Position) bool {
	if min.Position == 0 {
		return true
	}
	if v, ok := r.reached.Load(min.Book); ok && v.(int64) >= min.Position {
		return true
	}
	deadline := time.Now().Add(r.opt.MaxWait)
	for wait := 5 * time.Millisecond; ; wait = min2(2*wait, 100*time.Millisecond) {
		var found bool
		err := r.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE book = $1 AND position = $2)`,
			min.Book, min.Position).Scan(&found)
		switch {
		case err != nil:
			if Unavailable(err) && ctx.Err() == nil {
				r.fail()
			}
			return false
		case found:
			r.note(min)
			return true
		case !time.Now().Before(deadline):
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(min2(wait, time.Until(deadline))):
		}
	}
}

func min2(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// note records that the replica has replayed p.
func (r *replica) note(p Position) {
	for {
		v, loaded := r.reached.LoadOrStore(p.Book, p.Position)
		if !loaded || v.(int64) >= p.Position || r.reached.CompareAndSwap(p.Book, v, p.Position) {
			return
		}
	}
}

// fallback reads from the replica and, if the replica cannot be reached,
// takes it out of use and reads from the primary instead, so that a lost
// replica costs a failed connection attempt, not an error.
type fallback struct {
	r       *replica
	primary *pgxpool.Pool
}

func (f *fallback) failed(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || !Unavailable(err) {
		return false
	}
	f.r.fail()
	f.r.replicaReads.Add(-1)
	f.r.primaryReads.Add(1)
	return true
}

// Query implements Querier.
func (f *fallback) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := f.r.pool.Query(ctx, sql, args...)
	if f.failed(ctx, err) {
		return f.primary.Query(ctx, sql, args...)
	}
	return rows, err
}

// QueryRow implements Querier.
func (f *fallback) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return fallbackRow{f: f, ctx: ctx, sql: sql, args: args}
}

type fallbackRow struct {
	f    *fallback
	ctx  context.Context
	sql  string
	args []any
}

func (r fallbackRow) Scan(dest ...any) error {
	err := r.f.r.pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	if r.f.failed(r.ctx, err) {
		return r.f.primary.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	}
	return err
}

// ReplicaReads counts the reads the replica and the primary answered among
// those that could have gone to the replica.
func (s *Store) ReplicaReads() (replica, primary int64) {
	if s.replica == nil {
		return 0, 0
	}
	return s.replica.replicaReads.Load(), s.replica.primaryReads.Load()
}

// ReplicaStatus is how far the read replica is behind the primary.
type ReplicaStatus struct {
	Up bool // it answered
	// LagBytes is the WAL the primary has written and the replica not yet
	// replayed; LagSeconds, how long ago the replica replayed its last
	// transaction while WAL waits to be replayed (0 when all is replayed).
	LagBytes   int64
	LagSeconds float64
}

// ErrNoReplica is returned by Store.ReplicaStatus when no replica is in use.
var ErrNoReplica = errors.New("pgjournal: no read replica configured")

// ReplicaStatus measures the replica's lag (for metrics). A replica that
// does not answer is reported down, not as an error.
func (s *Store) ReplicaStatus(ctx context.Context) (ReplicaStatus, error) {
	r := s.replica
	if r == nil {
		return ReplicaStatus{}, ErrNoReplica
	}
	var st ReplicaStatus
	var replayed string
	err := r.pool.QueryRow(ctx, `
		SELECT coalesce(pg_last_wal_replay_lsn()::text, '0/0'),
		       CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
		            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8`).
		Scan(&replayed, &st.LagSeconds)
	if err != nil {
		if Unavailable(err) {
			r.fail()
		}
		return st, nil
	}
	st.Up = true
	if err := s.pool.QueryRow(ctx, `SELECT greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn), 0)::bigint`, replayed).Scan(&st.LagBytes); err != nil {
		return st, classify(err)
	}
	return st, nil
}
