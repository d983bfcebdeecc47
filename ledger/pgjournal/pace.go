package pgjournal

import "time"

// pacer decides when the next optimistic batch forms while one runs.
//
// Formed the moment the batch in front lands, the next batch holds only the
// commands that arrived while two batches ran, and the callers just
// answered come back too late for it: with C clients each batch carries
// about C/3 commands. Formed as late as possible — just before the running
// batch ends, minus the time to decide and send — it also takes the callers
// answered one batch earlier, about C/2 per batch, with the lock never left
// waiting. The pacer waits for as many commands as the batch just answered
// (under a steady load, those callers coming back), but never past a
// deadline estimated from how long recent batches took per command, so a
// lighter load costs no more latency than a fraction of one batch, and no
// wait at all once a wait has found nothing coming.
type pacer struct {
	perCommand time.Duration // running estimate of a command's share of a batch's time
	lastLanded time.Time
	lastSize   int
	// idle is set when the last wait saw no command come: the callers are
	// all waiting for answers (one client, say), so waiting again would
	// only delay them. The next batch then forms at once; once commands
	// are seen arriving while a batch runs, the pacer waits again.
	idle bool
}

// Bounds of the pacer's wait.
const (
	paceShare = 0.6                   // of the running batch's estimated time
	maxLinger = 20 * time.Millisecond // never wait longer than this
)

// landed records that f landed.
func (p *pacer) landed(f *flight) {
	now := time.Now()
	// f ran from when the batch before it landed (or from when it was sent,
	// if that was later) until now.
	start := f.sent
	if p.lastLanded.After(start) {
		start = p.lastLanded
	}
	if n := len(f.batch); n > 0 {
		sample := now.Sub(start) / time.Duration(n)
		if p.perCommand == 0 {
			p.perCommand = sample
		} else {
			p.perCommand = (3*p.perCommand + sample) / 4
		}
	}
	p.lastLanded, p.lastSize = now, len(f.batch)
}

// wait returns how many commands to wait for and until when, while
// running runs.
func (p *pacer) wait(running *flight) (target int, deadline time.Time) {
	start := running.sent
	if p.lastLanded.After(start) {
		start = p.lastLanded
	}
	if p.idle {
		return 1, time.Now()
	}
	linger := time.Duration(float64(p.perCommand) * float64(len(running.batch)) * paceShare)
	linger = min(linger, maxLinger)
	return max(1, p.lastSize), start.Add(linger)
}

// collected records how many commands a wait gathered.
func (p *pacer) collected(n int) { p.idle = n == 0 }
