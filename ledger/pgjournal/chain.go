package pgjournal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// chain is the connection a sequencer sends its optimistic transactions on,
// back to back, in pipeline mode. Each transaction is a run of statements
// ended by a Sync, which PostgreSQL runs as one implicit transaction: it
// commits at the Sync, or rolls back at the first error and skips the rest
// up to the Sync. A transaction can be sent before the one before it has
// finished, and one backend runs them strictly in order, so the book's lock
// passes from one to the next without a round trip or a wake-up, and never
// to them out of order.
//
// The connection is the chain's own (taken out of the pool), so its session
// can use generic plans throughout (see genericPlans), and it is closed, not
// returned, at the end.
type chain struct {
	j     *Journal
	conn  *pgx.Conn
	pipe  *pgconn.Pipeline
	stmts map[string]*pgconn.StatementDescription // by SQL text
	enc   params
	sent  []int // statements of each transaction sent and not yet received, oldest first
}

// params encodes a statement's arguments into buffers kept from one
// statement to the next. (pgx's ExtendedQueryBuilder gives its buffers up
// after each statement, so every batch grew them again from 256 bytes.)
type params struct {
	buf     []byte
	values  [][]byte
	formats []int16
}

func (e *params) encode(m *pgtype.Map, sd *pgconn.StatementDescription, args []any) error {
	if len(sd.ParamOIDs) != len(args) {
		return fmt.Errorf("pgjournal: chain: %d arguments for %d parameters", len(args), len(sd.ParamOIDs))
	}
	e.buf, e.values, e.formats = e.buf[:0], e.values[:0], e.formats[:0]
	for i, arg := range args {
		oid := sd.ParamOIDs[i]
		format := m.FormatCodeForOID(oid)
		if _, text := arg.(string); text {
			format = pgtype.TextFormatCode // as pgx does: a string is sent as typed
		}
		start := len(e.buf)
		out, err := m.Encode(oid, format, arg, e.buf)
		if err != nil {
			return fmt.Errorf("pgjournal: chain: argument %d: %w", i+1, err)
		}
		if out == nil { // NULL
			e.values = append(e.values, nil)
		} else {
			e.buf = out
			e.values = append(e.values, out[start:len(out):len(out)])
		}
		e.formats = append(e.formats, format)
	}
	return nil
}

// sessionGenericPlans is genericPlans for the chain's whole session.
const sessionGenericPlans = "SET plan_cache_mode = force_generic_plan"

// sessionCustomPlans is customPlans for the chain's whole session.
const sessionCustomPlans = "SET plan_cache_mode = force_custom_plan"

// ready opens the connection if it is not open.
func (c *chain) ready(ctx context.Context) error {
	if c.conn != nil && !c.conn.IsClosed() {
		return nil
	}
	c.shut()
	pc, err := c.j.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack()
	plans := sessionGenericPlans
	if c.j.opt.Citus {
		plans = sessionCustomPlans
	}
	if _, err := conn.Exec(ctx, plans); err != nil {
		conn.Close(ctx)
		return err
	}
	c.conn, c.stmts = conn, map[string]*pgconn.StatementDescription{}
	return nil
}

// prepared reports whether every statement p holds is prepared on the
// connection; preparing needs the pipeline closed (see prepare).
func (c *chain) prepared(p *pipeline) bool {
	for _, q := range p.batch.QueuedQueries {
		if c.stmts[q.SQL] == nil {
			return false
		}
	}
	return true
}

// prepare prepares p's new statements. Nothing may be in flight: it happens
// in the first batches only, the statements being few and fixed.
func (c *chain) prepare(ctx context.Context, p *pipeline) error {
	if len(c.sent) > 0 {
		return errors.New("pgjournal: chain: prepare with transactions in flight")
	}
	c.closePipe()
	for _, q := range p.batch.QueuedQueries {
		if c.stmts[q.SQL] != nil {
			continue
		}
		sum := sha256.Sum256([]byte(q.SQL))
		sd, err := c.conn.Prepare(ctx, "tally_chain_"+hex.EncodeToString(sum[:12]), q.SQL)
		if err != nil {
			return err
		}
		c.stmts[q.SQL] = sd
	}
	return nil
}

// send sends p's statements and a Sync: one transaction. Its outcome is
// read, in order, by receive.
func (c *chain) send(p *pipeline) error {
	if c.pipe == nil {
		c.pipe = c.conn.PgConn().StartPipeline(context.Background())
	}
	for _, q := range p.batch.QueuedQueries {
		sd := c.stmts[q.SQL]
		if err := c.enc.encode(c.conn.TypeMap(), sd, q.Arguments); err != nil {
			// What is queued must not run with the next transaction: drop
			// the connection (anything in flight is then reported lost).
			c.shut()
			return err
		}
		// By name, with a Describe of each portal, rather than with the cached
		// description (SendQueryStatement): after an error pgconn skips the
		// rest of the transaction's requests but not their queued
		// descriptions, which then misalign the next transaction's results.
		c.pipe.SendQueryPrepared(sd.Name, c.enc.values, c.enc.formats, nil)
	}
	if err := c.pipe.Sync(); err != nil {
		c.shut()
		return err
	}
	c.sent = append(c.sent, len(p.batch.QueuedQueries))
	return nil
}

// receive waits for the oldest transaction sent: nil if it committed, its
// first error (labelled with steps) if PostgreSQL rolled it back. Any other
// failure leaves the outcome unknown: it is reported as errLost (which
// Unavailable recognizes, so nothing is appended again), the chain closes,
// and the transactions still in flight are lost with it.
func (c *chain) receive(steps []step, timeout time.Duration) error {
	if len(c.sent) == 0 {
		return errors.New("pgjournal: chain: nothing in flight")
	}
	n := c.sent[0]
	c.sent = c.sent[1:]
	if c.pipe == nil {
		return errLost
	}
	// The pipeline's context lives as long as the connection; a deadline
	// on the socket bounds each wait instead.
	netConn := c.conn.PgConn().Conn()
	_ = netConn.SetReadDeadline(time.Now().Add(timeout))
	defer netConn.SetReadDeadline(time.Time{}) //nolint:errcheck // best effort

	var first error
	for i := 0; ; i++ {
		res, err := c.pipe.GetResults()
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr):
			if first == nil {
				first = labelled(steps, i, err)
			}
			continue
		case err != nil:
			c.shut()
			return fmt.Errorf("%w: %v", errLost, err)
		}
		switch r := res.(type) {
		case *pgconn.ResultReader:
			if _, err := r.Close(); err != nil && first == nil {
				if !errors.As(err, &pgErr) {
					c.shut()
					return fmt.Errorf("%w: %v", errLost, err)
				}
				first = labelled(steps, i, err)
			}
		case *pgconn.PipelineSync:
			if i < n && first == nil {
				c.shut()
				return fmt.Errorf("%w: the transaction ended after %d of %d statements", errLost, i, n)
			}
			return first
		case nil:
			c.shut()
			return errLost
		}
	}
}

// errLost reports a transaction whose connection closed before its outcome
// was known.
var errLost = fmt.Errorf("pgjournal: the append's connection closed before it answered: %w", io.ErrUnexpectedEOF)

func labelled(steps []step, i int, err error) error {
	if i < len(steps) {
		return fmt.Errorf("%s: %w", steps[i].label, err)
	}
	return err
}

func (c *chain) closePipe() {
	if c.pipe != nil {
		_ = c.pipe.Close()
		c.pipe = nil
	}
}

// shut closes the connection; the next ready opens another.
func (c *chain) shut() {
	if c.pipe != nil {
		_ = c.pipe.Close()
		c.pipe = nil
	}
	if c.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.conn.Close(ctx)
		cancel()
		c.conn = nil
	}
}
