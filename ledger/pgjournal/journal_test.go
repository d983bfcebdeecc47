package pgjournal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/schema/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type fixture struct {
	pool    *pgxpool.Pool
	journal *pgjournal.Journal
	store   *pgjournal.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	j := newJournal(pool)
	t.Cleanup(func() { j.Close(); pool.Close() })
	return &fixture{pool: pool, journal: j, store: pgjournal.NewStore(pool)}
}

// newJournal is a journal on pool with every inline projection.
func newJournal(pool *pgxpool.Pool, options ...func(*pgjournal.Options)) *pgjournal.Journal {
	var inline []pgjournal.Projection
	for _, p := range projections.Inline() {
		inline = append(inline, p)
	}
	opt := pgjournal.Options{Inline: inline}
	for _, o := range options {
		o(&opt)
	}
	return pgjournal.New(pool, opt)
}

// outcome renders just the error code (or "ok"), enough to check decisions.
func outcome(o pgjournal.Outcome) pgjournal.Response {
	if o.Err != nil {
		return pgjournal.Response{Status: 422, Body: []byte(o.Err.Code)}
	}
	return pgjournal.Response{Status: 200, Body: []byte("ok")}
}

func (f *fixture) submit(t *testing.T, cmd ledger.Command) (string, error) {
	t.Helper()
	r, err := f.journal.Submit(context.Background(), pgjournal.Request{Command: cmd, Render: outcome})
	return string(r.Body), err
}

func (f *fixture) open(t *testing.T, cur string) string {
	t.Helper()
	id := ledger.NewID(ledger.PrefixAccount)
	if _, err := f.journal.Submit(context.Background(), pgjournal.Request{
		Book:    ledger.DefaultBook,
		Command: ledger.OpenAccount{AccountID: id, Book: ledger.DefaultBook, Owner: "o", Currency: ledger.Currency(cur), Kind: ledger.KindWallet, WalletNumber: ledger.NewWalletNumber()},
		Render:  outcome,
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) credit(t *testing.T, acc, amount, cur string) {
	t.Helper()
	got, err := f.submit(t, ledger.Adjust{AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: acc, Direction: ledger.Credit, Amount: ledger.MustMoney(amount, cur), Reason: "fund"})
	if err != nil || got != "ok" {
		t.Fatalf("credit: %s %v", got, err)
	}
}

// holdBook locks the book's head row from another connection, so that
// commands queue up behind the sequencer's blocked transaction. The returned
// function releases it.
func holdBook(t *testing.T, pool *pgxpool.Pool, book string) func() {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var locked int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM book_heads WHERE book = $1 FOR UPDATE) h`, book).Scan(&locked); err != nil || locked != 1 {
		t.Fatalf("lock the head of book %s: %d rows, %v", book, locked, err)
	}
	return func() { _ = tx.Rollback(ctx) }
}

func TestBatchDecidesEachCommandAlone(t *testing.T) {
	f := newFixture(t)
	a, b := f.open(t, "NGN"), f.open(t, "NGN")
	f.credit(t, a, "10", "NGN")

	release := holdBook(t, f.pool, ledger.DefaultBook)
	const n = 25 // 25 transfers of 1.00 from a wallet holding 10.00
	results := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			results[i], err = f.submit(t, ledger.Transfer{TransferID: ledger.NewID(ledger.PrefixTransfer), From: a, To: b, Amount: ledger.MustMoney("1", "NGN")})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // let every command reach the queue
	before := f.journal.Stats()
	release()
	wg.Wait()

	counts := map[string]int{}
	for _, r := range results {
		counts[r]++
	}
	if counts["ok"] != 10 || counts[string(ledger.EInsufficientFunds)] != 15 {
		t.Fatalf("outcomes %v, want 10 ok and 15 insufficient_funds", counts)
	}
	st := f.journal.Stats()
	if st.Largest < 2 || st.Batches-before.Batches >= n {
		t.Fatalf("no group commit: %+v (before %+v)", st, before)
	}
	bal, err := f.store.BalanceAt(context.Background(), a, 0)
	if err != nil || bal.Balance.String() != "0.00" {
		t.Fatalf("sender balance %v %v", bal.Balance, err)
	}
}

func TestAFailingWriteDoesNotFailItsBatch(t *testing.T) {
	f := newFixture(t)
	a, b := f.open(t, "USD"), f.open(t, "USD")
	f.credit(t, a, "100", "USD")

	release := holdBook(t, f.pool, ledger.DefaultBook)
	var wg sync.WaitGroup
	results := make([]string, 6)
	errs := make([]error, 6)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := ledger.Transfer{TransferID: ledger.NewID(ledger.PrefixTransfer), From: a, To: b, Amount: ledger.MustMoney("1", "USD")}
			if i == 3 {
				// PostgreSQL refuses NUL in jsonb: this one command's write fails.
				cmd.Metadata = map[string]string{"bad": "\x00"}
			}
			results[i], errs[i] = f.submit(t, cmd)
		}()
	}
	time.Sleep(300 * time.Millisecond)
	release()
	wg.Wait()
	for i := range results {
		if i == 3 {
			if errs[i] == nil {
				t.Fatal("the poisoned command succeeded")
			}
			continue
		}
		if errs[i] != nil || results[i] != "ok" {
			t.Fatalf("command %d: %s %v", i, results[i], errs[i])
		}
	}
	bal, _ := f.store.BalanceAt(context.Background(), b, 0)
	if bal.Balance.String() != "5.00" {
		t.Fatalf("recipient holds %s, want 5.00", bal.Balance)
	}
}

func TestIdempotencyRecordIsWrittenWithTheEvent(t *testing.T) {
	f := newFixture(t)
	a, b := f.open(t, "NGN"), f.open(t, "NGN")
	f.credit(t, a, "10", "NGN")
	idem := &pgjournal.Idempotency{Scope: "key:admin", Key: "k", Fingerprint: "fp"}
	submit := func(fp string) (pgjournal.Response, error) {
		idem := *idem
		idem.Fingerprint = fp
		return f.journal.Submit(context.Background(), pgjournal.Request{
			Command:     ledger.Transfer{TransferID: ledger.NewID(ledger.PrefixTransfer), From: a, To: b, Amount: ledger.MustMoney("1", "NGN")},
			Idempotency: &idem,
			Render: func(o pgjournal.Outcome) pgjournal.Response {
				body, _ := json.Marshal(map[string]any{"position": o.Events[0].Position})
				return pgjournal.Response{Status: 201, ContentType: "application/json", Body: body}
			},
		})
	}
	first, err := submit("fp")
	if err != nil {
		t.Fatal(err)
	}
	// Submitted again straight to the sequencer (not through the HTTP fast
	// path), the key is still found inside the append transaction.
	again, err := submit("fp")
	if err != nil || !again.Replayed || string(again.Body) != string(first.Body) {
		t.Fatalf("replay = %+v %v", again, err)
	}
	if _, err := submit("other"); ledger.ErrorCode(err) != ledger.EIdempotencyKeyReused {
		t.Fatalf("reuse with another fingerprint: %v", err)
	}
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM transfers`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d transfers, want 1 (%v)", n, err)
	}
}

func TestSystemAccountIsOpenedOncePerBookAndCurrency(t *testing.T) {
	f := newFixture(t)
	var accounts []string
	for range 3 {
		accounts = append(accounts, f.open(t, "KWD"))
	}
	var wg sync.WaitGroup
	for i, acc := range accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.credit(t, acc, fmt.Sprintf("%d.125", i+1), "KWD")
		}()
	}
	wg.Wait()
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM accounts WHERE kind = 'system' AND currency = 'KWD'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d adjustments accounts, want 1 (%v)", n, err)
	}
	var sum string
	if err := f.pool.QueryRow(context.Background(), `SELECT sum(balance)::text FROM balances WHERE currency = 'KWD'`).Scan(&sum); err != nil || sum != "0.000" {
		t.Fatalf("KWD balances sum to %s, want 0.000 (%v)", sum, err)
	}
}

// Two journals on one database stand for two processes appending to one
// book: each one's optimistic appends must notice the other's and decide
// again, so money is never created or lost and the chain stays whole.
func TestTwoWritersOnOneBook(t *testing.T) {
	f := newFixture(t)
	var inline []pgjournal.Projection
	for _, p := range projections.Inline() {
		inline = append(inline, p)
	}
	other := pgjournal.New(f.pool, pgjournal.Options{Inline: inline})
	t.Cleanup(other.Close)
	var wallets []string
	for range 4 {
		w := f.open(t, "USD")
		f.credit(t, w, "10", "USD")
		wallets = append(wallets, w)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for c := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := f.journal
			if c%2 == 1 {
				j = other
			}
			for i := range 20 {
				from, to := wallets[(c+i)%4], wallets[(c+i+1)%4]
				r, err := j.Submit(context.Background(), pgjournal.Request{
					Command: ledger.Transfer{TransferID: ledger.NewID(ledger.PrefixTransfer), From: from, To: to, Amount: ledger.MustMoney("3", "USD")},
					Render:  outcome,
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				outcomes[string(r.Body)]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if outcomes["ok"] == 0 {
		t.Fatalf("no transfer went through: %v", outcomes)
	}
	var total, negative int
	var sum string
	if err := f.pool.QueryRow(context.Background(), `
		SELECT count(*), count(*) FILTER (WHERE balance < 0), sum(balance)::text FROM balances WHERE account_id = ANY($1)`, wallets).Scan(&total, &negative, &sum); err != nil {
		t.Fatal(err)
	}
	if negative != 0 || sum != "40.00" {
		t.Fatalf("wallets sum to %s with %d below zero, want 40.00 and none", sum, negative)
	}
	// Every balance is the replay of its postings, and the chain links up.
	var wrong int
	if err := f.pool.QueryRow(context.Background(), `
		SELECT count(*) FROM balances b
		WHERE b.balance <> coalesce((SELECT sum(amount) FROM postings p WHERE p.account_id = b.account_id), 0)`).Scan(&wrong); err != nil || wrong != 0 {
		t.Fatalf("%d balances differ from their postings (%v)", wrong, err)
	}
	checkChain(t, f, ledger.DefaultBook)
	s1, s2 := f.journal.Stats(), other.Stats()
	if s1.Optimistic+s2.Optimistic == 0 {
		t.Errorf("no append was optimistic: %+v %+v", s1, s2)
	}
	t.Logf("outcomes %v; stats %+v / %+v", outcomes, s1, s2)
}

// checkChain re-checks the book's hash chain and gap-free positions.
func checkChain(t *testing.T, f *fixture, book string) {
	t.Helper()
	var prev int64
	prevHash := ledger.GenesisHash
	for {
		events, err := f.store.Events(context.Background(), pgjournal.EventFilter{Book: book, After: prev, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 {
			return
		}
		for _, e := range events {
			if err := ledger.CheckLink(prev, prevHash, e); err != nil {
				t.Fatal(err)
			}
			prev, prevHash = e.Position, e.Hash
		}
	}
}
