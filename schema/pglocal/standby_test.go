package pglocal

import (
	"context"
	"testing"
	"time"
)

// A standby made by StartStandby is a hot standby that replays what the
// primary commits, and stops replaying while paused.
func TestStandbyStreamsFromThePrimary(t *testing.T) {
	t.Parallel()
	primary := start(t, Options{DataDir: dataDir(t)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	standby, err := StartStandby(ctx, primary, "test_standby", Options{DataDir: dataDir(t)})
	if err != nil {
		t.Fatalf("StartStandby: %v", err)
	}
	t.Cleanup(func() { standby.Stop() })

	p := connect(t, primary.URL(Database))
	s := connect(t, standby.URL(Database))
	var recovering bool
	if err := s.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&recovering); err != nil || !recovering {
		t.Fatalf("the standby is not in recovery (%v, %v)", recovering, err)
	}
	var slotActive bool
	waitFor(t, func() bool {
		return p.QueryRow(ctx, `SELECT active FROM pg_replication_slots WHERE slot_name = 'test_standby'`).Scan(&slotActive) == nil && slotActive
	}, "the standby streams from its slot")

	exec1(t, p, `CREATE TABLE seen (n int)`)
	exec1(t, p, `INSERT INTO seen VALUES (1)`)
	count := func() int {
		var n int
		if err := s.QueryRow(ctx, `SELECT count(*) FROM seen`).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	waitFor(t, func() bool { return count() == 1 }, "the standby replays the first row")

	exec1(t, s, `SELECT pg_wal_replay_pause()`)
	waitFor(t, func() bool {
		var state string
		return s.QueryRow(ctx, `SELECT pg_get_wal_replay_pause_state()`).Scan(&state) == nil && state == "paused"
	}, "replay pauses")
	exec1(t, p, `INSERT INTO seen VALUES (2)`)
	time.Sleep(200 * time.Millisecond)
	if n := count(); n != 1 {
		t.Fatalf("a paused standby shows %d rows, want 1", n)
	}
	exec1(t, s, `SELECT pg_wal_replay_resume()`)
	waitFor(t, func() bool { return count() == 2 }, "the standby catches up once resumed")
	if _, err := s.Exec(ctx, `INSERT INTO seen VALUES (3)`); err == nil {
		t.Fatal("the standby accepted a write")
	}
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
