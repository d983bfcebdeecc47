package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws a progress bar on a terminal for long runs: it stays
// silent for the first half second, redraws at most ten times a second, and
// draws nothing at all when its writer is not a terminal (a pipe, a file, a
// CI log), so output meant for machines stays clean.
type progress struct {
	w     io.Writer
	label string
	on    bool

	mu    sync.Mutex
	start time.Time
	drawn time.Time
	shown bool
}

func newProgress(w io.Writer, label string, enabled bool) *progress {
	return &progress{w: w, label: label, on: enabled && isTerminal(w), start: time.Now()}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// update reports done of total events; it is safe from any goroutine.
func (p *progress) update(done, total int64) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.start) < 500*time.Millisecond || now.Sub(p.drawn) < 100*time.Millisecond {
		return
	}
	p.drawn, p.shown = now, true
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	n := int(frac * width)
	rate := float64(done) / now.Sub(p.start).Seconds()
	fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%% %s/%s events  %s events/s ", p.label,
		strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*frac, group(done), group(total), group(int64(rate)))
}

// finish clears the bar, if one was drawn.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 100))
		p.shown = false
	}
}

// group renders n with thousands separators: 1,000,000.
func group(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
