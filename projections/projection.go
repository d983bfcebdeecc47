// Package projections owns every table derived from the journal. Each
// projection is one piece of code that applies journal events, in position
// order, to the tables it owns, and that same code runs in four ways:
//
//   - inline, inside the sequencer's append transaction, so its rows are
//     read-your-writes and can guard invariants (accounts, balances,
//     transfers, adjustments);
//   - async, by a Runner that tails each book's journal and moves the
//     projection's checkpoint in the same transaction as its rows (daily
//     account summaries);
//   - in Rebuild, which replays the journal into fresh copies of the tables
//     and swaps their contents in for the live ones in one transaction;
//   - in Verify, which replays the journal into fresh copies and compares
//     them with the live tables, after re-checking the journal itself.
//
// Fresh copies are temporary tables with the live tables' names: in the
// replaying session they come first in the search path, so Apply, which
// names its tables unqualified, writes to them without knowing.
package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
)

// Projection applies journal events to the tables it owns.
type Projection interface {
	// Name identifies the projection in checkpoints, reports and the CLI.
	// It never changes once released: async checkpoints are stored under it.
	Name() string
	// Tables lists the tables the projection owns, parents before the
	// tables that refer to them. No two projections own the same table.
	Tables() []Table
	// Apply applies a batch of events of one book, in position order, to
	// the projection's tables. It must be deterministic (the result may not
	// depend on how the journal is cut into batches, nor on the clock) and
	// must name its tables unqualified, so that rebuild and verify can run
	// it against fresh copies.
	Apply(ctx context.Context, tx pgx.Tx, events []ledger.Event) error
}

// Table is one table a projection owns. It must have a primary key: rebuild
// matches rows by it.
type Table struct {
	Name string
	// Book is an SQL condition on the table's columns that holds for the
	// rows of book $1 (it may name other live tables); verify compares one
	// book's rows through it.
	Book string
}

// Mode says how a projection runs next to the journal.
type Mode string

// Modes.
const (
	ModeInline Mode = "inline"
	ModeAsync  Mode = "async"
)

// Async returns the projections a Runner keeps, outside the append path.
func Async() []Projection { return []Projection{DailySummaries{}} }

// Set is a deployment's projections bound to its database: the inline ones
// the sequencer runs and the async ones a Runner tails. Verify and Rebuild
// work on all of them.
type Set struct {
	pool   *pgxpool.Pool
	inline []Projection
	async  []Projection
}

// NewSet binds projections to the database behind pool. Names must be
// unique and no table may have two owners.
func NewSet(pool *pgxpool.Pool, inline, async []Projection) (*Set, error) {
	names, tables := map[string]bool{}, map[string]string{}
	for _, p := range append(append([]Projection{}, inline...), async...) {
		if names[p.Name()] {
			return nil, fmt.Errorf("projections: two projections are named %q", p.Name())
		}
		names[p.Name()] = true
		for _, t := range p.Tables() {
			if owner, ok := tables[t.Name]; ok {
				return nil, fmt.Errorf("projections: table %s belongs to both %s and %s", t.Name, owner, p.Name())
			}
			if t.Book == "" {
				return nil, fmt.Errorf("projections: table %s of %s has no Book condition", t.Name, p.Name())
			}
			tables[t.Name] = p.Name()
		}
	}
	return &Set{pool: pool, inline: inline, async: async}, nil
}

// Default binds the standard projections, Inline() and Async(), to pool.
func Default(pool *pgxpool.Pool) *Set {
	s, err := NewSet(pool, Inline(), Async())
	if err != nil {
		panic(err) // the standard set is fixed at compile time; its tests catch this
	}
	return s
}

// Inline returns the projections the sequencer must run in every append.
func (s *Set) Inline() []Projection { return s.inline }

// Async returns the projections a Runner keeps.
func (s *Set) Async() []Projection { return s.async }

// Lookup finds a projection by name.
func (s *Set) Lookup(name string) (Projection, Mode, bool) {
	for _, p := range s.inline {
		if p.Name() == name {
			return p, ModeInline, true
		}
	}
	for _, p := range s.async {
		if p.Name() == name {
			return p, ModeAsync, true
		}
	}
	return nil, "", false
}

// Names lists every projection's name, inline ones first.
func (s *Set) Names() []string {
	var out []string
	for _, p := range s.all() {
		out = append(out, p.proj.Name())
	}
	return out
}

// member is a projection with its mode.
type member struct {
	proj Projection
	mode Mode
}

func (s *Set) all() []member {
	var out []member
	for _, p := range s.inline {
		out = append(out, member{p, ModeInline})
	}
	for _, p := range s.async {
		out = append(out, member{p, ModeAsync})
	}
	return out
}

// pick returns the named projections (all of them when names is empty), in
// the set's order, which keeps parents before children.
func (s *Set) pick(names []string) ([]member, error) {
	all := s.all()
	if len(names) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		if _, _, ok := s.Lookup(n); !ok {
			return nil, ledger.Errorf(ledger.ENotFound, "no projection is named %q (there are: %v)", n, s.Names())
		}
		want[n] = true
	}
	var out []member
	for _, m := range all {
		if want[m.proj.Name()] {
			out = append(out, m)
		}
	}
	return out, nil
}
