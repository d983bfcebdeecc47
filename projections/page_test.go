package projections

import (
	"testing"

	"github.com/tallyledger/tally/ledger"
)

// A page read for one projection serves another only from its next event
// on, in the same book, and only while it holds that event.
func TestSharedPageServesOnlyTheNextEvents(t *testing.T) {
	pg := &page{book: "main", events: []ledger.Event{{Position: 11}, {Position: 12}, {Position: 13}}}
	for _, tc := range []struct {
		name  string
		book  string
		at    int64
		first int64 // position of the first event served; 0: not served
	}{
		{"a projection at the page's start gets all of it", "main", 10, 11},
		{"a projection further on gets the rest", "main", 12, 13},
		{"a projection at the page's end reads anew", "main", 13, 0},
		{"a projection behind the page reads anew", "main", 9, 0},
		{"another book's projection reads anew", "eu", 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := pg.after(tc.book, tc.at)
			switch {
			case tc.first == 0 && ok:
				t.Fatalf("served %d events", len(got))
			case tc.first != 0 && (!ok || len(got) == 0 || got[0].Position != tc.first || got[len(got)-1].Position != 13):
				t.Fatalf("served %v (ok %v), want %d–13", got, ok, tc.first)
			}
		})
	}
	var none *page
	if _, ok := none.after("main", 10); ok {
		t.Fatal("no page served events")
	}
}
