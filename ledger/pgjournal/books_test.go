package pgjournal_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

func TestABookStartsWithItsFirstAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	open := func(book string) string {
		id := ledger.NewID(ledger.PrefixAccount)
		got, err := f.journal.Submit(ctx, pgjournal.Request{
			Book:    book,
			Command: ledger.OpenAccount{AccountID: id, Book: book, Owner: "o", Currency: "EUR", Kind: ledger.KindWallet, WalletNumber: ledger.NewWalletNumber()},
			Render:  outcome,
		})
		if err != nil || string(got.Body) != "ok" {
			t.Fatalf("open in %s: %s %v", book, got.Body, err)
		}
		return id
	}
	a, b := open("eu"), open("eu")
	f.credit(t, a, "10", "EUR")
	if got, err := f.submit(t, ledger.Transfer{TransferID: ledger.NewID(ledger.PrefixTransfer), From: a, To: b, Amount: ledger.MustMoney("4", "EUR")}); err != nil || got != "ok" {
		t.Fatalf("transfer in book eu: %s %v", got, err)
	}
	open(ledger.DefaultBook)

	// Each book has its own positions and chain.
	for book, want := range map[string]int{"eu": 5, ledger.DefaultBook: 1} {
		events, err := f.store.Events(ctx, pgjournal.EventFilter{Book: book, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != want {
			t.Fatalf("book %s has %d events, want %d", book, len(events), want)
		}
		prev, hash := int64(0), ledger.GenesisHash
		for _, e := range events {
			if err := ledger.CheckLink(prev, hash, e); err != nil {
				t.Fatalf("book %s: %v", book, err)
			}
			prev, hash = e.Position, e.Hash
		}
	}
	if bal, err := f.store.BalanceAt(ctx, b, 0); err != nil || bal.Balance.String() != "4.00" {
		t.Fatalf("balance in book eu: %v %v", bal.Balance, err)
	}
}

// A SoleBook request is decided in its book only while that book is the
// database's only one, checked in the append's transaction: once another
// process has opened a second book, the request is refused with
// ErrOtherBooks and nothing is appended, and later ones are refused at once.
func TestASoleBookRequestIsRefusedOnceAnotherBookExists(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	acc := f.open(t, "EUR")
	adjust := func() (pgjournal.Response, error) {
		return f.journal.Submit(ctx, pgjournal.Request{Book: ledger.DefaultBook, SoleBook: true, Render: outcome,
			Command: ledger.Adjust{AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: acc, Direction: ledger.Credit, Amount: ledger.MustMoney("1", "EUR"), Reason: "fund"}})
	}
	if got, err := adjust(); err != nil || string(got.Body) != "ok" {
		t.Fatalf("with one book: %s %v", got.Body, err)
	}

	other := newJournal(f.pool) // another process
	defer other.Close()
	if got, err := other.Submit(ctx, pgjournal.Request{Book: "shop", Render: outcome,
		Command: ledger.OpenAccount{AccountID: ledger.NewID(ledger.PrefixAccount), Book: "shop", Owner: "o", Currency: "EUR", Kind: ledger.KindWallet, WalletNumber: ledger.NewWalletNumber()}}); err != nil || string(got.Body) != "ok" {
		t.Fatalf("open in shop: %s %v", got.Body, err)
	}
	before, err := f.store.Events(ctx, pgjournal.EventFilter{Book: ledger.DefaultBook, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := adjust(); !errors.Is(err, pgjournal.ErrOtherBooks) {
			t.Fatalf("attempt %d with two books: %v, want ErrOtherBooks", i, err)
		}
	}
	after, err := f.store.Events(ctx, pgjournal.EventFilter{Book: ledger.DefaultBook, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("%d events appended by refused requests", len(after)-len(before))
	}
	if got, err := f.journal.Submit(ctx, pgjournal.Request{Book: ledger.DefaultBook, Render: outcome,
		Command: ledger.Adjust{AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: acc, Direction: ledger.Credit, Amount: ledger.MustMoney("1", "EUR"), Reason: "fund"}}); err != nil || string(got.Body) != "ok" {
		t.Fatalf("a request routed to its book is decided: %s %v", got.Body, err)
	}
}
