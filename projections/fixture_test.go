package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/schema/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// fixture is a journal on a fresh database with the standard projections.
type fixture struct {
	t       *testing.T
	pool    *pgxpool.Pool
	journal *pgjournal.Journal
	store   *pgjournal.Store
	set     *projections.Set
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	set := projections.Default(pool)
	var inline []pgjournal.Projection
	for _, p := range set.Inline() {
		inline = append(inline, p)
	}
	j := pgjournal.New(pool, pgjournal.Options{Inline: inline})
	t.Cleanup(func() { j.Close(); pool.Close() })
	return &fixture{t: t, pool: pool, journal: j, store: pgjournal.NewStore(pool), set: set}
}

func outcome(o pgjournal.Outcome) pgjournal.Response {
	if o.Err != nil {
		return pgjournal.Response{Status: 422, Body: []byte(o.Err.Code)}
	}
	return pgjournal.Response{Status: 200, Body: []byte("ok")}
}

func (f *fixture) submit(book string, cmd ledger.Command) string {
	f.t.Helper()
	r, err := f.journal.Submit(context.Background(), pgjournal.Request{Book: book, Command: cmd, Render: outcome})
	if err != nil {
		f.t.Fatal(err)
	}
	return string(r.Body)
}

func (f *fixture) open(book, owner, cur string) string {
	f.t.Helper()
	id := ledger.NewID(ledger.PrefixAccount)
	if got := f.submit(book, ledger.OpenAccount{AccountID: id, Book: book, Owner: owner, Currency: ledger.Currency(cur), Kind: ledger.KindWallet, WalletNumber: ledger.NewWalletNumber()}); got != "ok" {
		f.t.Fatalf("open: %s", got)
	}
	return id
}

func (f *fixture) adjust(book, account string, dir ledger.Direction, amount, cur string) string {
	f.t.Helper()
	return f.submit(book, ledger.Adjust{AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: account, Direction: dir, Amount: ledger.MustMoney(amount, cur), Reason: "test"})
}

func (f *fixture) transfer(book, from, to, amount, cur string) string {
	f.t.Helper()
	return f.submit(book, ledger.Transfer{TransferID: ledger.NewID(ledger.PrefixTransfer), From: from, To: to, Amount: ledger.MustMoney(amount, cur), Description: "t"})
}

// workload runs a mixed, seeded workload over two books and four currencies
// of different exponents: account openings, credits and debits, transfers
// (some refused), freezes, unfreezes and a close.
func (f *fixture) workload(seed uint64, steps int) {
	f.t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	type wallet struct{ book, id, cur string }
	var wallets []wallet
	for _, spec := range []struct{ book, cur string }{
		{"main", "NGN"}, {"main", "NGN"}, {"main", "NGN"}, {"main", "USD"}, {"main", "USD"},
		{"main", "JPY"}, {"main", "JPY"}, {"eu", "EUR"}, {"eu", "EUR"}, {"eu", "KWD"}, {"eu", "KWD"},
	} {
		w := wallet{spec.book, f.open(spec.book, fmt.Sprint("owner-", len(wallets)%4), spec.cur), spec.cur}
		wallets = append(wallets, w)
		f.adjust(w.book, w.id, ledger.Credit, amountFor(rng, w.cur, 500), w.cur)
	}
	for range steps {
		a := wallets[rng.IntN(len(wallets))]
		switch k := rng.IntN(20); {
		case k < 13: // a transfer to a wallet of the same book and currency, maybe refused
			var peers []wallet
			for _, b := range wallets {
				if b.book == a.book && b.cur == a.cur && b.id != a.id {
					peers = append(peers, b)
				}
			}
			b := peers[rng.IntN(len(peers))]
			f.transfer(a.book, a.id, b.id, amountFor(rng, a.cur, 120), a.cur)
		case k < 15:
			f.adjust(a.book, a.id, ledger.Credit, amountFor(rng, a.cur, 50), a.cur)
		case k < 16: // a hold, then maybe a capture (some partial) or a void
			var peers []wallet
			for _, b := range wallets {
				if b.book == a.book && b.cur == a.cur && b.id != a.id {
					peers = append(peers, b)
				}
			}
			b := peers[rng.IntN(len(peers))]
			h := ledger.NewID(ledger.PrefixHold)
			if f.submit(a.book, ledger.CreateHold{HoldID: h, From: a.id, To: b.id, Amount: ledger.MustMoney(amountFor(rng, a.cur, 40), a.cur)}) != "ok" {
				break
			}
			switch rng.IntN(3) {
			case 0:
				f.submit(a.book, ledger.CaptureHold{HoldID: h})
			case 1:
				f.submit(a.book, ledger.VoidHold{HoldID: h})
			}
		case k < 18:
			f.adjust(a.book, a.id, ledger.Debit, amountFor(rng, a.cur, 30), a.cur)
		default:
			f.submit(a.book, ledger.ChangeStatus{Account: a.id, Action: ledger.Freeze, Reason: "check"})
			f.submit(a.book, ledger.ChangeStatus{Account: a.id, Action: ledger.Unfreeze})
		}
	}
	// A wallet that ends closed: funded, emptied, closed.
	c, d := f.open("main", "closer", "USD"), wallets[3]
	f.adjust("main", c, ledger.Credit, "10.00", "USD")
	f.transfer("main", c, d.id, "10.00", "USD")
	if got := f.submit("main", ledger.ChangeStatus{Account: c, Action: ledger.Close}); got != "ok" {
		f.t.Fatalf("close: %s", got)
	}
	f.gatewayWork("main", wallets[0].id, wallets[1].id, "NGN")
	f.withdrawalWork("main", wallets[0].id, "NGN")
	f.fourEyes("eu", wallets[7].id, "EUR")
	f.holdWork("main", wallets[0].id, wallets[1].id, wallets[2].id, "NGN")
}

// fourEyes proposes three adjustments: one approved (it posts), one
// rejected and one left pending.
func (f *fixture) fourEyes(book, wallet, cur string) {
	f.t.Helper()
	var ids []string
	for range 3 {
		id := ledger.NewID(ledger.PrefixAdjustment)
		ids = append(ids, id)
		if got := f.submit(book, ledger.ProposeAdjustment{AdjustmentID: id, Account: wallet, Direction: ledger.Credit,
			Amount: ledger.MustMoney("3.00", cur), Reason: "four eyes", ProposedBy: "key_alice"}); got != "ok" {
			f.t.Fatalf("propose: %s", got)
		}
	}
	if got := f.submit(book, ledger.ApproveAdjustment{AdjustmentID: ids[0], ApprovedBy: "key_bob"}); got != "ok" {
		f.t.Fatalf("approve: %s", got)
	}
	if got := f.submit(book, ledger.RejectAdjustment{AdjustmentID: ids[1], RejectedBy: "key_bob", Reason: "no"}); got != "ok" {
		f.t.Fatalf("reject: %s", got)
	}
}

// holdWork runs the hold and transaction life cycles the workload leaves to
// chance: a partial capture refunded, a pending hold, a limit raised, a
// three-leg transaction and its reversal.
func (f *fixture) holdWork(book, a, b, c, cur string) {
	f.t.Helper()
	must := func(what string, cmd ledger.Command) {
		f.t.Helper()
		if got := f.submit(book, cmd); got != "ok" {
			f.t.Fatalf("%s: %s", what, got)
		}
	}
	must("credit", ledger.Adjust{AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: a, Direction: ledger.Credit, Amount: ledger.MustMoney("100", cur), Reason: "float"})
	h1, h2 := ledger.NewID(ledger.PrefixHold), ledger.NewID(ledger.PrefixHold)
	must("hold", ledger.CreateHold{HoldID: h1, From: a, To: b, Amount: ledger.MustMoney("30", cur), Description: "order 1"})
	must("capture", ledger.CaptureHold{HoldID: h1, Amount: "20.00"})
	must("refund hold", ledger.RefundHold{RefundID: ledger.NewID(ledger.PrefixRefund), HoldID: h1, Amount: "5.00"})
	must("pending hold", ledger.CreateHold{HoldID: h2, From: a, To: c, Amount: ledger.MustMoney("10", cur)})
	must("limit", ledger.ChangeLimit{Account: c, Limit: ledger.MustMoney("50", cur)})
	txn := ledger.NewID(ledger.PrefixTxn)
	must("transaction", ledger.PostTransaction{TransactionID: txn, Legs: []ledger.Leg{
		{From: a, To: b, Amount: ledger.MustMoney("9.50", cur)}, {From: a, To: c, Amount: ledger.MustMoney("0.50", cur)}, {From: b, To: c, Amount: ledger.MustMoney("1", cur)},
	}})
	must("reverse", ledger.ReverseTransaction{TransactionID: ledger.NewID(ledger.PrefixTxn), Original: txn})
}

// gatewayWork runs deposits and refunds through the sequencer as the HTTP
// API and the webhooks would: a paid deposit, a flagged and an unsolicited
// one, an unmatched payment, a refund settled by its webhook, a failed one,
// a dashboard refund and a transfer refund.
func (f *fixture) gatewayWork(book, wallet, other, cur string) {
	f.t.Helper()
	must := func(what string, cmd ledger.Command) {
		f.t.Helper()
		if got := f.submit(book, cmd); got != "ok" {
			f.t.Fatalf("%s: %s", what, got)
		}
	}
	deposit := func(amount, paid string) (id, ref string) {
		id = ledger.NewID(ledger.PrefixDeposit)
		ref = ledger.NewDepositReference(id)
		must("initiate", ledger.InitiateDeposit{DepositID: id, Reference: ref, Account: wallet, Amount: ledger.MustMoney(amount, cur), Gateway: "paystack"})
		must("checkout", ledger.RecordCheckout{DepositID: id, CheckoutURL: "https://checkout.example/" + ref, GatewayReference: "ac_" + ref})
		must("pay", ledger.GatewayNotification{Gateway: "paystack", Kind: ledger.NotifyPaymentSucceeded, EventID: "ev-" + ref,
			Reference: ref, GatewayReference: "tx-" + ref, Amount: paid, Currency: cur})
		return id, ref
	}
	paid, ref := deposit("40.00", "40.00")
	deposit("25.00", "24.00") // flagged
	must("unsolicited", ledger.GatewayNotification{Gateway: "paystack", Kind: ledger.NotifyPaymentSucceeded, EventID: "ev-bank",
		Reference: "bank-77", GatewayReference: "tx-bank", Amount: "7.50", Currency: cur, Account: wallet})
	must("unmatched", ledger.GatewayNotification{Gateway: "paystack", Kind: ledger.NotifyPaymentSucceeded, EventID: "ev-x",
		Reference: "nobody", GatewayReference: "tx-x", Amount: "1.00", Currency: cur})

	settled, failed := ledger.NewID(ledger.PrefixRefund), ledger.NewID(ledger.PrefixRefund)
	must("refund", ledger.RequestDepositRefund{RefundID: settled, DepositID: paid, Amount: "10.00"})
	must("submitted", ledger.RecordRefundSubmission{RefundID: settled, DepositID: paid, GatewayRefundID: "rf-1"})
	must("refund webhook", ledger.GatewayNotification{Gateway: "paystack", Kind: ledger.NotifyRefundSucceeded, EventID: "ev-r1",
		Reference: ref, RefundReference: "rr-1", Amount: "10.00", Currency: cur})
	must("refund 2", ledger.RequestDepositRefund{RefundID: failed, DepositID: paid, Amount: "5.00"})
	must("refund 2 refused", ledger.FailRefund{RefundID: failed, DepositID: paid, Reason: "refused"})
	must("dashboard refund", ledger.GatewayNotification{Gateway: "paystack", Kind: ledger.NotifyRefundSucceeded, EventID: "ev-dash",
		Reference: ref, RefundReference: "dash-1", Amount: "3.00", Currency: cur})

	tr := ledger.NewID(ledger.PrefixTransfer)
	must("transfer", ledger.Transfer{TransferID: tr, From: wallet, To: other, Amount: ledger.MustMoney("2.00", cur)})
	must("transfer refund", ledger.RefundTransfer{RefundID: ledger.NewID(ledger.PrefixRefund), TransferID: tr, Amount: "1.50"})
}

// amountFor draws a positive amount below max major units with the
// currency's digits.
func amountFor(rng *rand.Rand, cur string, max int) string {
	exp := ledger.Currency(cur).Exponent()
	scale := 1
	for range exp {
		scale *= 10
	}
	minor := 1 + rng.IntN(max*scale-1)
	if exp == 0 {
		return fmt.Sprint(minor)
	}
	return fmt.Sprintf("%d.%0*d", minor/scale, exp, minor%scale)
}

// tables renders every projection table as sorted JSON rows, to compare
// live contents before and after a rebuild.
func (f *fixture) tables() map[string][]string {
	f.t.Helper()
	out := map[string][]string{}
	for _, name := range f.set.Names() {
		p, _, _ := f.set.Lookup(name)
		for _, t := range p.Tables() {
			rows, err := f.pool.Query(context.Background(), `SELECT to_jsonb(x)::text FROM `+t.Name+` x`)
			if err != nil {
				f.t.Fatal(err)
			}
			var all []string
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					f.t.Fatal(err)
				}
				all = append(all, s)
			}
			rows.Close()
			sort.Strings(all)
			out[t.Name] = all
		}
	}
	return out
}

// wipe empties every projection table and the async checkpoints, as the
// superuser the test database belongs to, so only a rebuild can refill them.
func (f *fixture) wipe() {
	f.t.Helper()
	var names []string
	for _, n := range f.set.Names() {
		p, _, _ := f.set.Lookup(n)
		for _, t := range p.Tables() {
			names = append(names, t.Name)
		}
	}
	if _, err := f.pool.Exec(context.Background(), `TRUNCATE projection_checkpoints, `+strings.Join(names, ", ")); err != nil {
		f.t.Fatal(err)
	}
}

// tamper runs statements around the journal's append-only triggers.
func (f *fixture) tamper(stmts ...string) {
	f.t.Helper()
	ctx := context.Background()
	all := append([]string{`ALTER TABLE postings DISABLE TRIGGER USER`, `ALTER TABLE events DISABLE TRIGGER USER`}, stmts...)
	all = append(all, `ALTER TABLE postings ENABLE TRIGGER USER`, `ALTER TABLE events ENABLE TRIGGER USER`)
	for _, s := range all {
		if _, err := f.pool.Exec(ctx, s); err != nil {
			f.t.Fatalf("%s: %v", s, err)
		}
	}
}

func (f *fixture) verify(book string) *projections.Report {
	f.t.Helper()
	rep, err := f.set.Verify(context.Background(), book, projections.VerifyOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return rep
}

func (f *fixture) catchUp() {
	f.t.Helper()
	if err := f.set.Runner(projections.RunnerOptions{}).CatchUp(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// forge appends an event the way the sequencer would (next position, chained
// hash, running balances, inline projections) but without a decision, for
// facts no command can produce yet.
func (f *fixture) forge(book string, typ ledger.EventType, data any, postings ...ledger.Posting) {
	f.t.Helper()
	ctx := context.Background()
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	// The book's head row is its append lock (book_heads).
	if _, err := tx.Exec(ctx, `SELECT 1 FROM book_heads WHERE book = $1 FOR UPDATE`, book); err != nil {
		f.t.Fatal(err)
	}
	head, err := pgjournal.BookHead(ctx, tx, book)
	if err != nil {
		f.t.Fatal(err)
	}
	raw, _ := json.Marshal(data)
	now := ledger.Truncate(time.Now())
	e := ledger.Event{Book: book, Position: head.Position + 1, ID: ledger.NewID(ledger.PrefixEvent), Type: typ,
		OccurredAt: now, RecordedAt: now, Data: raw, Postings: postings, PrevHash: head.Hash}
	for i := range e.Postings {
		p := &e.Postings[i]
		var bal string
		if err := tx.QueryRow(ctx, `SELECT balance::text FROM balances WHERE account_id = $1`, p.Account).Scan(&bal); err != nil {
			f.t.Fatal(err)
		}
		p.BalanceAfter = ledger.MustMoney(bal, string(p.Amount.Currency())).Add(p.Amount)
	}
	if e.Hash, err = ledger.HashEvent(e); err != nil {
		f.t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO events (book, position, id, type, occurred_at, recorded_at, data, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		e.Book, e.Position, e.ID, e.Type, e.OccurredAt, e.RecordedAt, string(e.Data), e.PrevHash, e.Hash); err != nil {
		f.t.Fatal(err)
	}
	for i, p := range e.Postings {
		if _, err := tx.Exec(ctx, `INSERT INTO postings (book, position, seq, account_id, currency, amount, balance_after) VALUES ($1, $2, $3, $4, $5, $6::numeric, $7::numeric)`,
			e.Book, e.Position, i, p.Account, p.Amount.Currency(), p.Amount.String(), p.BalanceAfter.String()); err != nil {
			f.t.Fatal(err)
		}
	}
	for _, p := range f.set.Inline() {
		if err := p.Apply(ctx, tx, []ledger.Event{e}); err != nil {
			f.t.Fatal(err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE book_heads SET position = $2, hash = $3, recorded_at = $4 WHERE book = $1`,
		e.Book, e.Position, e.Hash, e.RecordedAt); err != nil {
		f.t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		f.t.Fatal(err)
	}
}
