package pgjournal

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// AppendChannel is the PostgreSQL notification channel on which every
// journal announces, after commit, the books it appended to; the payload is
// the book's name. Readers of the journal in other processes LISTEN on it
// (projections.Runner does) instead of polling each book.
const AppendChannel = "tally_appends"

// notifyEvery is the shortest time between two announcements: appends to a
// book in between are announced once. A busy server thus sends a few dozen
// tiny transactions a second, whatever its append rate, and a listener
// learns of an append within about this long.
const notifyEvery = 25 * time.Millisecond

// notifier announces appends on AppendChannel. It runs beside the append
// transactions rather than inside them: a NOTIFY in a transaction takes a
// database-wide lock at commit, which would serialize the commits of all
// books. A crash may lose an announcement; listeners poll slowly to catch it.
type notifier struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu    sync.Mutex
	books map[string]bool // appended to since the last announcement
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}
}

func newNotifier(pool *pgxpool.Pool, log *slog.Logger) *notifier {
	n := &notifier{pool: pool, log: log, books: map[string]bool{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go n.run()
	return n
}

// appended records that book was appended to; it never blocks.
func (n *notifier) appended(book string) {
	n.mu.Lock()
	n.books[book] = true
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) run() {
	defer close(n.done)
	for {
		select {
		case <-n.wake:
		case <-n.stop:
			n.announce() // the last appends before Close
			return
		}
		n.announce()
		select {
		case <-time.After(notifyEvery):
		case <-n.stop:
			n.announce()
			return
		}
	}
}

func (n *notifier) announce() {
	n.mu.Lock()
	books := make([]string, 0, len(n.books))
	for b := range n.books {
		books = append(books, b)
	}
	clear(n.books)
	n.mu.Unlock()
	if len(books) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := n.pool.Exec(ctx, `SELECT pg_notify($1, b) FROM unnest($2::text[]) AS b`, AppendChannel, books); err != nil {
		// Listeners' slow poll finds these appends.
		n.log.Debug("announcing appends failed", "books", len(books), "err", err)
	}
}

// close announces what is left and stops.
func (n *notifier) close() {
	close(n.stop)
	<-n.done
}
