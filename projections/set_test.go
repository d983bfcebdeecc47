package projections_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/projections"
)

type fake struct {
	name   string
	tables []projections.Table
}

func (f fake) Name() string                                        { return f.name }
func (f fake) Tables() []projections.Table                         { return f.tables }
func (f fake) Apply(context.Context, pgx.Tx, []ledger.Event) error { return nil }

func TestNewSetRules(t *testing.T) {
	a := fake{"a", []projections.Table{{Name: "ta", Book: "book = $1"}}}
	for _, tc := range []struct {
		name          string
		inline, async []projections.Projection
		err           string
	}{
		{"the standard projections form a set", projections.Inline(), projections.Async(), ""},
		{"two projections may not share a name", []projections.Projection{a}, []projections.Projection{fake{"a", nil}}, "named"},
		{"a table has one owner", []projections.Projection{a, fake{"b", a.tables}}, nil, "belongs to both"},
		{"every table says how to find a book's rows", []projections.Projection{fake{"c", []projections.Table{{Name: "tc"}}}}, nil, "no Book"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := projections.NewSet(nil, tc.inline, tc.async)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}
