package projections_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/projections"
)

// downSink is a sink whose broker is unreachable: every Send fails.
type downSink struct{ calls atomic.Int64 }

func (*downSink) Name() string { return "a-down" }
func (s *downSink) Send(context.Context, pgx.Tx, []ledger.Event) error {
	s.calls.Add(1)
	return errors.New("broker unreachable")
}

// upSink records the positions it was sent.
type upSink struct {
	mu   sync.Mutex
	last int64
}

func (*upSink) Name() string { return "b-up" }
func (s *upSink) Send(_ context.Context, _ pgx.Tx, events []ledger.Event) error {
	s.mu.Lock()
	s.last = events[len(events)-1].Position
	s.mu.Unlock()
	return nil
}

func (s *upSink) at() int64 { s.mu.Lock(); defer s.mu.Unlock(); return s.last }

// A sink that keeps failing backs off alone: the other sinks (and async
// projections) of the runner still get each append at once, while the
// failing one is retried less and less often.
func TestAFailingSinkBacksOffAlone(t *testing.T) {
	f := newFixture(t)
	down, up := &downSink{}, &upSink{}
	r := f.set.Runner(projections.RunnerOptions{Poll: time.Minute, NoListen: true, MaxBackoff: 30 * time.Second,
		Logger: slog.New(slog.DiscardHandler), Sinks: []projections.Sink{down, up}})
	r.Start(context.Background())
	t.Cleanup(r.Stop)
	account := f.open("main", "u", "USD")
	start := time.Now()
	for i := range 6 {
		f.adjust("main", account, ledger.Credit, "1", "USD")
		head, err := f.store.Head(context.Background(), "main")
		if err != nil {
			t.Fatal(err)
		}
		r.Notify("main")
		appended := time.Now()
		for up.at() < head.Position {
			if time.Since(appended) > 1500*time.Millisecond {
				t.Fatalf("append %d: the healthy sink got position %d within 1.5 s, want %d (it waits for the failing sink's backoff)", i, up.at(), head.Position)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(400 * time.Millisecond)
	}
	// In about 3 to 10 s the failing sink was tried at 0, 1, 3 and maybe 7 s
	// (backoff 1 s, 2 s, 4 s): not at each of the 7 wake-ups.
	if n := down.calls.Load(); n < 2 || n > 5 {
		t.Errorf("the failing sink was tried %d times in %s, want 2 to 5 (backing off)", n, time.Since(start).Round(time.Millisecond))
	}
}
