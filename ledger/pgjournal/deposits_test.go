package pgjournal_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// Payment notifications are appended optimistically, deciding on the
// deposits the sequencer's cache holds and on the others read without the
// book's lock. Across processes a payment still credits once: another
// process's append moves the book's head, so a decision on a stale view is
// refused by PostgreSQL and made again carefully.
func TestPaymentNotificationsCreditOnceAcrossProcesses(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	wallet := f.open(t, "NGN")
	other := newJournal(f.pool) // another process
	defer other.Close()
	submit := func(j *pgjournal.Journal, event, reference, gatewayRef string) (pgjournal.Response, error) {
		return j.Submit(ctx, pgjournal.Request{Book: ledger.DefaultBook, SoleBook: true, Render: outcome,
			Idempotency: &pgjournal.Idempotency{Scope: "webhook:paystack", Key: event, Fingerprint: event},
			Command: ledger.GatewayNotification{Gateway: "paystack", Kind: ledger.NotifyPaymentSucceeded, EventID: event, Reference: reference,
				GatewayReference: gatewayRef, Account: wallet, Amount: "5.00", Currency: "NGN", Payload: "{}"}})
	}
	notify := func(j *pgjournal.Journal, event, reference, gatewayRef string) string {
		t.Helper()
		got, err := submit(j, event, reference, gatewayRef)
		if err != nil {
			t.Fatal(err)
		}
		return string(got.Body)
	}
	balance := func() string {
		t.Helper()
		a, err := f.store.Account(ctx, wallet)
		if err != nil {
			t.Fatal(err)
		}
		return a.Balance.String()
	}

	t.Run("a deposit this process started, paid through the other", func(t *testing.T) {
		id, ref := ledger.NewID(ledger.PrefixDeposit), "DEP-CROSS-1"
		if got, err := f.submit(t, ledger.InitiateDeposit{DepositID: id, Reference: ref, Account: wallet, Amount: ledger.MustMoney("5", "NGN"), Gateway: "paystack"}); err != nil || got != "ok" {
			t.Fatalf("initiate: %s %v", got, err)
		}
		before := balance()
		if got := notify(other, "evt-1a", ref, "7001"); got != "ok" {
			t.Fatalf("first success, other process: %s", got)
		}
		// A second success event of the same payment, to this process,
		// whose cache still has the deposit pending: decided on it, refused
		// by PostgreSQL, decided again carefully.
		refused := f.journal.Stats().Refused
		if got := notify(f.journal, "evt-1b", ref, "7001"); got != "ok" {
			t.Fatalf("second success: %s", got)
		}
		if f.journal.Stats().Refused != refused+1 {
			t.Fatalf("the decision on the stale cache was not the one refused: %+v", f.journal.Stats())
		}
		if got := balance(); got != add(t, before, "5") {
			t.Fatalf("balance %s after two success events of one 5.00 payment (was %s)", got, before)
		}
	})

	t.Run("a deposit the other process started, read without the lock", func(t *testing.T) {
		id, ref := ledger.NewID(ledger.PrefixDeposit), "DEP-CROSS-3"
		if got, err := other.Submit(ctx, pgjournal.Request{Book: ledger.DefaultBook, Render: outcome,
			Command: ledger.InitiateDeposit{DepositID: id, Reference: ref, Account: wallet, Amount: ledger.MustMoney("5", "NGN"), Gateway: "paystack"}}); err != nil || string(got.Body) != "ok" {
			t.Fatalf("initiate: %s %v", got.Body, err)
		}
		// This process learns the new head (its optimistic attempt is
		// refused, the careful one reads the book)...
		if got := notify(f.journal, "evt-3a", "PAY-OTHER-3", "7003"); got != "ok" {
			t.Fatalf("unrelated payment: %s", got)
		}
		before, optimistic := balance(), f.journal.Stats().Optimistic
		// ...and then decides on the deposit, which its cache never held.
		if got := notify(f.journal, "evt-3b", ref, "7004"); got != "ok" {
			t.Fatalf("success: %s", got)
		}
		if f.journal.Stats().Optimistic != optimistic+1 {
			t.Fatalf("not appended optimistically: %+v", f.journal.Stats())
		}
		if got := balance(); got != add(t, before, "5") {
			t.Fatalf("balance %s, want %s + 5", got, before)
		}
		if d, err := f.store.Deposit(ctx, id); err != nil || d.Status != ledger.DepositSucceeded {
			t.Fatalf("deposit %+v %v", d, err)
		}
	})

	t.Run("one unsolicited payment notified to both processes at once", func(t *testing.T) {
		before := balance()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for i, j := range []*pgjournal.Journal{f.journal, other, f.journal, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got, err := submit(j, "evt-2-"+string(rune('a'+i)), "PAY-UNSOLICITED-2", "7002"); err != nil || string(got.Body) != "ok" {
					errs <- fmt.Errorf("event %d: %s %v", i, got.Body, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := balance(); got != add(t, before, "5") {
			t.Fatalf("balance %s after four events of one 5.00 payment (was %s)", got, before)
		}
	})
	if stats := f.journal.Stats(); stats.Optimistic == 0 {
		t.Fatalf("no notification was appended optimistically: %+v", stats)
	}
}

func add(t *testing.T, a, b string) string {
	t.Helper()
	return ledger.MustMoney(a, "NGN").Add(ledger.MustMoney(b, "NGN")).String()
}
