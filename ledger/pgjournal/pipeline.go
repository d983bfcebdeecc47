package pgjournal

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pipeline queues statements and sends them in one round trip (pgx's batch:
// the extended protocol's pipelining), then reads their results in order.
// An append is two or three such round trips instead of one per statement:
// on a busy machine every round trip costs two context switches, and they,
// not PostgreSQL's work, used to dominate a batch's time.
type pipeline struct {
	batch pgx.Batch
	steps []step
}

// step reads one statement's result; label names it in errors.
type step struct {
	label string
	read  func(pgx.BatchResults) error
}

// exec queues a statement whose result is only success or failure.
func (p *pipeline) exec(label, sql string, args ...any) {
	p.batch.Queue(sql, args...)
	p.steps = append(p.steps, step{label, func(br pgx.BatchResults) error {
		_, err := br.Exec()
		return err
	}})
}

// query queues a statement whose rows scan reads, one call per row.
func (p *pipeline) query(label, sql string, args []any, scan func(pgx.Rows) error) {
	p.batch.Queue(sql, args...)
	p.steps = append(p.steps, step{label, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}})
}

// send sends the queued statements and reads every result, returning the
// first failure, labelled. After a failure PostgreSQL skips the rest of the
// pipeline, so nothing after it took effect; an open transaction is left
// aborted, for the caller to roll back.
func (p *pipeline) send(ctx context.Context, conn *pgx.Conn) error {
	if len(p.steps) == 0 {
		return nil
	}
	br := conn.SendBatch(ctx, &p.batch)
	var first error
	for _, s := range p.steps {
		if err := s.read(br); err != nil {
			first = fmt.Errorf("%s: %w", s.label, err)
			break
		}
	}
	if err := br.Close(); err != nil && first == nil {
		first = err
	}
	p.batch, p.steps = pgx.Batch{}, nil
	return first
}

// pipelineTx is the pgx.Tx inline projections write through during an
// append. Exec is queued into the write pipeline, so a projection's
// statements travel with the events in one round trip; it returns an empty
// command tag, and its error, if any, is reported when the pipeline is sent.
// Anything that needs an answer (Query, QueryRow, CopyFrom, SendBatch,
// Prepare) sends what is queued first, so it sees every earlier write. The
// transaction itself belongs to the sequencer: Begin, Commit and Rollback
// are refused.
type pipelineTx struct {
	conn  *pgx.Conn
	p     *pipeline
	label string // the projection writing, for errors
}

var errOwnedBySequencer = errors.New("pgjournal: the append transaction belongs to the sequencer")

var _ pgx.Tx = (*pipelineTx)(nil)

// Exec queues the statement; see pipelineTx.
func (t *pipelineTx) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	t.p.exec(t.label, sql, args...)
	return pgconn.CommandTag{}, nil
}

// errNoReads refuses a projection's read in an optimistic append, whose
// writes go on the chain with nothing read back; the batch is then appended
// carefully.
var errNoReads = errors.New("pgjournal: inline projections cannot read in an optimistic append")

// flush sends the queued statements before a statement that needs an answer.
func (t *pipelineTx) flush(ctx context.Context) error {
	if t.conn == nil {
		return errNoReads
	}
	return t.p.send(ctx, t.conn)
}

// Query implements pgx.Tx.
func (t *pipelineTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.conn.Query(ctx, sql, args...)
}

// QueryRow implements pgx.Tx.
func (t *pipelineTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.flush(ctx); err != nil {
		return errRow{err}
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

// CopyFrom implements pgx.Tx.
func (t *pipelineTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.flush(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

// SendBatch implements pgx.Tx.
func (t *pipelineTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := t.flush(ctx); err != nil {
		return errBatch{err}
	}
	return t.conn.SendBatch(ctx, b)
}

// Prepare implements pgx.Tx.
func (t *pipelineTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.conn.Prepare(ctx, name, sql)
}

// Conn implements pgx.Tx. It is nil in an optimistic append.
func (t *pipelineTx) Conn() *pgx.Conn { return t.conn }

// Begin is refused: see pipelineTx.
func (t *pipelineTx) Begin(context.Context) (pgx.Tx, error) { return nil, errOwnedBySequencer }

// Commit is refused: see pipelineTx.
func (t *pipelineTx) Commit(context.Context) error { return errOwnedBySequencer }

// Rollback is refused: see pipelineTx.
func (t *pipelineTx) Rollback(context.Context) error { return errOwnedBySequencer }

// LargeObjects is not available in an append: using the zero value it
// returns panics. No projection stores large objects.
func (t *pipelineTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }

// genericPlans is how the sequencer's writes are planned: inserts and
// updates from arrays of a batch's rows, the same shape whatever the batch,
// planned once per connection. PostgreSQL's default (custom plans for such
// parameters) would plan them anew at each execution, 0.5 to 2 ms each.
const genericPlans = "SET LOCAL plan_cache_mode = force_generic_plan"

// customPlans is how the sequencer's reads are planned (and, on Citus,
// whose planner must see a statement's parameters to route it to the shard
// of its book, everything). A read looks rows up by key, and a generic plan
// of it is made once per connection with the statistics of that moment:
// planned while a table was empty (a new deployment's first minutes), where
// every index costs the same, the lookup of deposits by gateway reference
// kept scanning the book's whole index by book as it grew — 20 ms per batch
// once there were 7,000 deposits, with the book locked. A custom plan sees
// the table as it is now, for a fraction of a millisecond per batch.
const customPlans = "SET LOCAL plan_cache_mode = force_custom_plan"

// keyedLookups are the other settings of the sequencer's reads: each looks
// rows up by key, a few hundred at most, and its right plan always looks
// each up in an index — never a sequential scan, nor a hash or merge join
// that reads a whole table or index to meet a batch's array, which
// PostgreSQL picks for small tables. (One statement, as a pipeline's
// statements must be: set_config's last argument is SET LOCAL's LOCAL.)
const keyedLookups = `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
	set_config('enable_mergejoin', 'off', true)`

// plannedWrites undoes keyedLookups for the writes that follow the reads.
// There the planner's own choice was measured better: updating a batch's
// balances by hashing its ids against a scan of 1,000 balance rows cost
// PostgreSQL about 40 µs less per transfer than an index lookup per id;
// with many accounts it chooses the lookups itself.
const plannedWrites = `SELECT set_config('enable_seqscan', 'on', true), set_config('enable_hashjoin', 'on', true),
	set_config('enable_mergejoin', 'on', true)`

// begin queues the start of a transaction whose reads come first:
// customPlans and keyedLookups. A transaction that then writes switches
// with writePlans.
func (p *pipeline) begin(readOnly bool) {
	if readOnly {
		p.exec("begin", "BEGIN READ ONLY")
	} else {
		p.exec("begin", "BEGIN")
	}
	p.exec("plan cache mode", customPlans)
	p.exec("keyed lookups", keyedLookups)
}

// writePlans queues the switch to genericPlans (not on Citus, see
// customPlans) and plannedWrites for the writes after a transaction's reads.
func (p *pipeline) writePlans(citus bool) {
	if !citus {
		p.exec("plan cache mode", genericPlans)
	}
	p.exec("planned writes", plannedWrites)
}

// commit queues COMMIT; done is set once PostgreSQL has acknowledged it.
func (p *pipeline) commit(done *bool) {
	p.batch.Queue("COMMIT")
	p.steps = append(p.steps, step{"commit", func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		*done = true
		return nil
	}})
}
