package httpapi

import (
	"context"
	"testing"
	"time"

	"github.com/tallyledger/tally/ledger/pgjournal"
)

// A full page of due holds whose expiry changes nothing (here the
// expirer's clock is an hour ahead of the journal's, so the journal finds
// them not due yet) must not hold the expirer on that page: a pass moves on
// past them, leaves them pending for the next pass, and ends.
func TestExpirerMovesPastHoldsThatStayPending(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("a", "NGN"), h.open("b", "NGN")
	h.fund(a, "100", "NGN")
	var notDue, due []string
	for range 2 {
		due = append(due, h.hold(a, b, "1.00", "expires_in", "1s")["id"].(string))
	}
	for range 4 {
		notDue = append(notDue, h.hold(a, b, "1.00", "expires_in", "30m")["id"].(string))
	}
	time.Sleep(1100 * time.Millisecond)

	// Pages of two: the due holds, then two full pages the journal refuses to expire.
	x := &pgjournal.Expirer{Journal: h.api.journal, Store: h.store, PageSize: 2, Now: func() time.Time { return time.Now().Add(time.Hour) }}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := x.Pass(ctx)
	t.Run("the pass ends, having expired the holds the journal finds due", func(t *testing.T) {
		if err != nil || n != 2 {
			t.Fatalf("expired %d, %v; want 2 and no error", n, err)
		}
		for _, id := range due {
			if got := h.must(h.do("GET", "/v1/holds/"+id, nil), 200).str(t, "status"); got != "expired" {
				t.Fatalf("hold %s is %s", id, got)
			}
		}
	})
	t.Run("the holds the journal found not due stay pending for the next pass", func(t *testing.T) {
		for _, id := range notDue {
			if got := h.must(h.do("GET", "/v1/holds/"+id, nil), 200).str(t, "status"); got != "pending" {
				t.Fatalf("hold %s is %s", id, got)
			}
		}
		if n, err := x.Pass(ctx); err != nil || n != 0 {
			t.Fatalf("a second pass expired %d (%v)", n, err)
		}
	})
	h.checkJournal("main")
}
