// Package sinks sends the journal out of Tally: signed webhooks to client
// apps, and the whole journal to NATS JetStream and Kafka. Each way out is a
// projections.Sink, tailed by the async projection runner from a checkpoint
// in PostgreSQL, so nothing is skipped across restarts or kill -9; consumers
// de-duplicate by event id. Webhooks take one more step: the sink queues one
// delivery row per matching subscription and event, and a Dispatcher sends
// them, each subscription in order, from one process at a time.
package sinks

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// Prefixes of the ids this package makes.
const (
	PrefixSubscription = "sub"
	PrefixDelivery     = "dlv"
)

// Subscription is a client app's request to receive events at a URL.
type Subscription struct {
	ID          string
	URL         string
	Events      []string
	Book        string // "": every book
	Owner       string // "": every owner
	Description string
	Status      string // "active"
	CreatedAt   time.Time
	// Secret signs the deliveries; the API shows it once, at creation.
	Secret string
}

// Delivery is one event sent (or to send) to one subscription.
type Delivery struct {
	ID             string
	SubscriptionID string
	Book           string
	Position       int64
	EventID        string
	Status         string // pending, succeeded or failed
	Attempts       int
	LastStatusCode int // 0: no HTTP answer yet (or none came)
	LastError      string
	NextAttemptAt  *time.Time // pending only
	CreatedAt      time.Time
	DeliveredAt    *time.Time
}

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// Subscriptions stores subscriptions and their deliveries.
type Subscriptions struct {
	pool  *pgxpool.Pool
	rules URLRules
	now   func() time.Time
}

// NewSubscriptions returns the store; rules check the URLs of new subscriptions.
func NewSubscriptions(pool *pgxpool.Pool, rules URLRules) *Subscriptions {
	return &Subscriptions{pool: pool, rules: rules, now: time.Now}
}

// NewSubscription is what a client asks for.
type NewSubscription struct {
	URL, Book, Owner, Description string
	Events                        []string
}

// Create validates and stores a subscription. Its Secret is set only here.
func (s *Subscriptions) Create(ctx context.Context, n NewSubscription) (Subscription, error) {
	if err := s.rules.Check(n.URL); err != nil {
		return Subscription{}, err
	}
	if err := checkFilters(n.Events); err != nil {
		return Subscription{}, err
	}
	if len(n.Description) > 500 {
		return Subscription{}, ledger.Errorf(ledger.EInvalidRequest, "description may be at most 500 characters").WithField("description")
	}
	if len(n.Owner) > 200 {
		return Subscription{}, ledger.Errorf(ledger.EInvalidRequest, "owner may be at most 200 characters").WithField("owner")
	}
	if n.Book != "" {
		var ok bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM books WHERE name = $1)`, n.Book).Scan(&ok); err != nil {
			return Subscription{}, err
		}
		if !ok {
			return Subscription{}, ledger.Errorf(ledger.EInvalidRequest, "book %q does not exist", n.Book).WithField("book")
		}
	}
	sub := Subscription{
		ID: ledger.NewID(PrefixSubscription), URL: n.URL, Events: n.Events, Book: n.Book, Owner: n.Owner,
		Description: n.Description, Status: "active", CreatedAt: ledger.Truncate(s.now()), Secret: newSecret(),
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO webhook_subscriptions (id, url, events, book, owner, description, secret, created_at)
		VALUES ($1, $2, $3, nullif($4, ''), nullif($5, ''), $6, $7, $8)`,
		sub.ID, sub.URL, sub.Events, sub.Book, sub.Owner, sub.Description, sub.Secret, sub.CreatedAt)
	return sub, err
}

const subscriptionColumns = `id, url, events, coalesce(book, ''), coalesce(owner, ''), description, secret, created_at`

func scanSubscription(row pgx.Row) (Subscription, error) {
	var s Subscription
	err := row.Scan(&s.ID, &s.URL, &s.Events, &s.Book, &s.Owner, &s.Description, &s.Secret, &s.CreatedAt)
	s.Status = "active"
	return s, err
}

// Get returns an active subscription (ENotFound for a deleted or unknown
// one). Its Secret is set: callers that answer clients must drop it.
func (s *Subscriptions) Get(ctx context.Context, id string) (Subscription, error) {
	sub, err := scanSubscription(s.pool.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM webhook_subscriptions WHERE id = $1 AND deleted_at IS NULL`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return sub, ledger.Errorf(ledger.ENotFound, "no subscription %s", id)
	}
	return sub, err
}

// List returns up to limit active subscriptions with ids after after, by id.
func (s *Subscriptions) List(ctx context.Context, after string, period pgjournal.Period, limit int) ([]Subscription, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+subscriptionColumns+` FROM webhook_subscriptions
		WHERE deleted_at IS NULL AND id > $1
		  AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)
		ORDER BY id LIMIT $2`, after, limit, period.From, period.To)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscription, error) { return scanSubscription(r) })
}

// active returns every subscription that is not deleted.
func active(ctx context.Context, q pgjournal.Querier) ([]Subscription, error) {
	rows, err := q.Query(ctx, `SELECT `+subscriptionColumns+` FROM webhook_subscriptions WHERE deleted_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscription, error) { return scanSubscription(r) })
}

// Delete stops a subscription: nothing more is queued or sent to it. Its
// row and deliveries stay, as the record of what was sent (the deliveries
// until the dispatcher prunes them, see DispatcherOptions.Retention).
func (s *Subscriptions) Delete(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_subscriptions SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL`, id, s.now())
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ledger.Errorf(ledger.ENotFound, "no subscription %s", id)
	}
	return nil
}

// Deliveries lists a subscription's deliveries by id (the order they were
// queued), after the id after, optionally of one status and queued within period.
func (s *Subscriptions) Deliveries(ctx context.Context, subscription, status, after string, period pgjournal.Period, limit int) ([]Delivery, error) {
	if _, err := s.Get(ctx, subscription); err != nil {
		return nil, err
	}
	switch status {
	case "", StatusPending, StatusSucceeded, StatusFailed:
	default:
		return nil, ledger.Errorf(ledger.EInvalidRequest, "status must be pending, succeeded or failed").WithField("status")
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, subscription_id, book, position, event_id, status, attempts, coalesce(last_status_code, 0),
		       coalesce(last_error, ''), next_attempt_at, created_at, delivered_at
		FROM webhook_deliveries
		WHERE subscription_id = $1 AND ($2 = '' OR status = $2) AND id > $3
		  AND ($5::timestamptz IS NULL OR created_at >= $5) AND ($6::timestamptz IS NULL OR created_at < $6)
		ORDER BY id LIMIT $4`, subscription, status, after, limit, period.From, period.To)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		var next time.Time
		err := r.Scan(&d.ID, &d.SubscriptionID, &d.Book, &d.Position, &d.EventID, &d.Status, &d.Attempts,
			&d.LastStatusCode, &d.LastError, &next, &d.CreatedAt, &d.DeliveredAt)
		if d.Status == StatusPending {
			d.NextAttemptAt = &next
		}
		return d, err
	})
}

// Counts returns how many of a subscription's deliveries have each status.
func (s *Subscriptions) Counts(ctx context.Context, id string) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT status, count(*) FROM webhook_deliveries WHERE subscription_id = $1 GROUP BY status`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, err
		}
		out[status] = n
	}
	return out, rows.Err()
}

// Replay queues the subscription's matching events of book from position
// from on, to be sent again in order after what is already queued. Events
// the fan-out has not reached yet are left to it. It returns how many
// deliveries it queued, and the book (which defaults to the
// subscription's, else main). Unlike the fan-out, a replay also sends events
// recorded before the subscription was created: it is how a client backfills.
func (s *Subscriptions) Replay(ctx context.Context, id, book string, from int64) (string, int, error) {
	n, book, err := s.replay(ctx, id, book, from)
	return book, n, err
}

func (s *Subscriptions) replay(ctx context.Context, id, book string, from int64) (int, string, error) {
	sub, err := s.Get(ctx, id)
	if err != nil {
		return 0, book, err
	}
	switch {
	case book == "" && sub.Book != "":
		book = sub.Book
	case book == "":
		book = ledger.DefaultBook
	case sub.Book != "" && book != sub.Book:
		return 0, book, ledger.Errorf(ledger.EInvalidRequest, "the subscription receives only book %s", sub.Book).WithField("book")
	}
	if from < 1 {
		return 0, book, ledger.Errorf(ledger.EInvalidRequest, "from_position must be a journal position (an integer ≥ 1)").WithField("from_position")
	}
	if _, err := pgjournal.BookHead(ctx, s.pool, book); err != nil {
		return 0, book, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, book, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	// The fan-out's checkpoint row orders this replay with the fan-out of the
	// same book: their rows get sequence numbers in the order they commit.
	fanned, err := lockFanout(ctx, tx, book)
	if err != nil {
		return 0, book, err
	}
	head, err := pgjournal.BookHead(ctx, tx, book)
	if err != nil {
		return 0, book, err
	}
	// Past the fan-out's checkpoint, the fan-out will queue what was
	// recorded since the subscription was created: the replay takes the rest.
	created := sub.CreatedAt
	sub.CreatedAt = time.Time{} // a replay sends what was recorded before too
	queued, after := 0, from-1
	for after < head.Position {
		events, err := pgjournal.ReadEvents(ctx, tx, book, after, head.Position, 1000)
		if err != nil {
			return 0, book, err
		}
		if len(events) == 0 {
			break
		}
		after = events[len(events)-1].Position
		mine := events[:0]
		for _, e := range events {
			if e.Position <= fanned || e.RecordedAt.Before(created) {
				mine = append(mine, e)
			}
		}
		n, err := queue(ctx, tx, []Subscription{sub}, mine, s.now())
		if err != nil {
			return 0, book, err
		}
		queued += n
	}
	return queued, book, tx.Commit(ctx)
}

// lockFanout locks the webhook fan-out's checkpoint of book and returns it.
func lockFanout(ctx context.Context, tx pgx.Tx, book string) (int64, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (projection, book, position) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING`,
		WebhookSinkName, book); err != nil {
		return 0, err
	}
	var at int64
	err := tx.QueryRow(ctx, `SELECT position FROM projection_checkpoints WHERE projection = $1 AND book = $2 FOR UPDATE`, WebhookSinkName, book).Scan(&at)
	return at, err
}

// WebhookSinkName is the webhook fan-out's checkpoint name.
const WebhookSinkName = "webhooks"

// WebhookSink is the projections.Sink that queues deliveries: for each
// event, one pending delivery per active subscription it matches. It runs
// in the page's transaction, so each event is queued exactly once.
type WebhookSink struct {
	// Now stamps the queued rows (default time.Now).
	Now func() time.Time
}

// Name implements projections.Sink.
func (WebhookSink) Name() string { return WebhookSinkName }

// TakesCommitted implements projections.TakesCommitted: a delivery names
// its event, whose data the dispatcher reads from the journal when it sends.
func (WebhookSink) TakesCommitted() {}

// Send implements projections.Sink.
func (w WebhookSink) Send(ctx context.Context, tx pgx.Tx, events []ledger.Event) error {
	subs, err := active(ctx, tx)
	if err != nil || len(subs) == 0 {
		return err
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	_, err = queue(ctx, tx, subs, events, now())
	return err
}

// queue inserts a pending delivery for every (subscription, event) that
// matches, in event order, and returns how many.
func queue(ctx context.Context, tx pgx.Tx, subs []Subscription, events []ledger.Event, now time.Time) (int, error) {
	owners, err := ownersOf(ctx, tx, subs, events)
	if err != nil {
		return 0, err
	}
	var books, subIDs, ids, eventIDs []string
	var positions []int64
	for _, e := range events {
		for _, s := range subs {
			if !matches(s, e, owners) {
				continue
			}
			books, subIDs, ids = append(books, e.Book), append(subIDs, s.ID), append(ids, ledger.NewID(PrefixDelivery))
			eventIDs, positions = append(eventIDs, e.ID), append(positions, e.Position)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	// unnest yields the rows in array order, so nextval numbers them in event order.
	_, err = tx.Exec(ctx, `
		INSERT INTO webhook_deliveries (book, subscription_id, seq, id, position, event_id, status, created_at, next_attempt_at)
		SELECT b, s, nextval('webhook_delivery_seq'), i, p, e, 'pending', $6, $6
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) AS t(b, s, i, p, e)`,
		books, subIDs, ids, positions, eventIDs, now)
	return len(ids), err
}

// matches reports whether sub receives e. owners maps the accounts of the
// page that belong to a subscription's owner to that owner.
func matches(sub Subscription, e ledger.Event, owners map[string]string) bool {
	if sub.Book != "" && sub.Book != e.Book {
		return false
	}
	if e.RecordedAt.Before(sub.CreatedAt) {
		return false
	}
	if !matchesType(sub.Events, e.Type) {
		return false
	}
	if sub.Owner == "" {
		return true
	}
	for _, a := range accountsOf(e) {
		if owners[a] == sub.Owner {
			return true
		}
	}
	return false
}

// ownersOf looks up, in one query, which accounts the events concern belong
// to the owners the subscriptions are bound to.
func ownersOf(ctx context.Context, q pgjournal.Querier, subs []Subscription, events []ledger.Event) (map[string]string, error) {
	var owners []string
	for _, s := range subs {
		if s.Owner != "" {
			owners = append(owners, s.Owner)
		}
	}
	if len(owners) == 0 {
		return nil, nil
	}
	var accounts, books []string
	for _, e := range events {
		accounts = append(accounts, accountsOf(e)...)
		if !slices.Contains(books, e.Book) {
			books = append(books, e.Book)
		}
	}
	// A page is one book's: the lookup names it (on Citus, its shard).
	rows, err := q.Query(ctx, `SELECT id, owner FROM accounts WHERE book = ANY($3) AND id = ANY($1) AND owner = ANY($2)`, accounts, owners, books)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, owner string
		if err := rows.Scan(&id, &owner); err != nil {
			return nil, err
		}
		out[id] = owner
	}
	return out, rows.Err()
}
