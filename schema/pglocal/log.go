package pglocal

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// tailBytes is how much of the server log an error quotes.
const tailBytes = 4 << 10

// logSink is where the server's output goes, plus a way to quote the end of
// the current run's output in errors.
type logSink struct {
	w io.Writer
	// Either file (our own log file: handed to the server as its stderr, so
	// the log survives us and needs no copying goroutine) and the size it had
	// when the current run began, or ring (the caller's Log, teed).
	file  *os.File
	start int64
	ring  *ring
}

func openLog(dataDir string, w io.Writer) (*logSink, error) {
	if w != nil {
		r := &ring{}
		return &logSink{w: io.MultiWriter(w, r), ring: r}, nil
	}
	f, err := os.OpenFile(filepath.Join(dataDir, "postgres.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pglocal: open server log: %w", err)
	}
	return &logSink{w: f, file: f}, nil
}

// startRun marks the beginning of a server run, so tail quotes only it.
func (l *logSink) startRun() {
	if l.file == nil {
		l.ring.reset()
		return
	}
	if fi, err := l.file.Stat(); err == nil {
		l.start = fi.Size()
	}
}

// tail returns the last lines the server logged in the current run.
func (l *logSink) tail() string {
	var b []byte
	if l.file == nil {
		b = l.ring.bytes()
	} else if f, err := os.Open(l.file.Name()); err == nil {
		defer f.Close()
		from := l.start
		if fi, err := f.Stat(); err == nil && fi.Size()-from > tailBytes {
			from = fi.Size() - tailBytes
		}
		if _, err := f.Seek(from, io.SeekStart); err == nil {
			b, _ = io.ReadAll(io.LimitReader(f, tailBytes))
		}
	}
	if len(b) == tailBytes { // cut mid-line: start at the next full line
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "(the server logged nothing)"
	}
	return "server log:\n" + string(b)
}

func (l *logSink) close() error {
	if l.file == nil {
		return nil
	}
	return l.file.Close()
}

// ring keeps the last tailBytes written to it.
type ring struct {
	mu  sync.Mutex
	buf []byte
}

func (r *ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, p...)
	if over := len(r.buf) - tailBytes; over > 0 {
		r.buf = append(r.buf[:0], r.buf[over:]...)
	}
	return len(p), nil
}

func (r *ring) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf)
}

func (r *ring) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = r.buf[:0]
}
