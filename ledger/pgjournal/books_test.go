package pgjournal_test

import (
	"context"
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
