package ledger

import (
	"encoding/json"
	"testing"
	"time"
)

// Benchmarks of the ledger's share of a transfer's hot path: parsing the
// amount at the edge, deciding and applying in the sequencer, and hashing
// the event into its chain (the last two run while the book is locked).

func BenchmarkParseMoney(b *testing.B) {
	for b.Loop() {
		if _, err := ParseMoney("1234.56", "USD"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMoneyString(b *testing.B) {
	m := MustMoney("1234.56", "USD")
	for b.Loop() {
		_ = m.String()
	}
}

func benchState() (*State, Env) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := NewState([]Account{
		{ID: "acc_a", Book: DefaultBook, Currency: "USD", Kind: KindWallet, Status: StatusActive, Balance: MustMoney("1000000000.00", "USD")},
		{ID: "acc_b", Book: DefaultBook, Currency: "USD", Kind: KindWallet, Status: StatusActive, Balance: MustMoney("0.00", "USD")},
	})
	return s, Env{Book: DefaultBook, Now: at, NewID: NewID, NewWalletNumber: NewWalletNumber}
}

func BenchmarkDecideAndApplyTransfer(b *testing.B) {
	s, env := benchState()
	cmd := Transfer{TransferID: "tr_1", From: "acc_a", To: "acc_b", Amount: MustMoney("1.00", "USD")}
	for b.Loop() {
		events, err := s.Decide(cmd, env)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Apply(&events[0]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchEvent(b *testing.B) Event {
	s, env := benchState()
	events, err := s.Decide(Transfer{TransferID: NewID(PrefixTransfer), From: "acc_a", To: "acc_b", Amount: MustMoney("1.00", "USD"),
		Description: "rent", Metadata: map[string]string{"invoice": "INV-1"}}, env)
	if err != nil {
		b.Fatal(err)
	}
	e := events[0]
	if err := s.Apply(&e); err != nil {
		b.Fatal(err)
	}
	e.Position, e.PrevHash, e.RecordedAt = 42, GenesisHash, env.Now
	return e
}

func BenchmarkHashEvent(b *testing.B) {
	e := benchEvent(b)
	for b.Loop() {
		if _, err := HashEvent(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashEventReference is the same work done by definition (decode
// into Go values, re-encode), for comparison.
func BenchmarkHashEventReference(b *testing.B) {
	e := benchEvent(b)
	for b.Loop() {
		if _, err := referenceHashEvent(e); err != nil {
			b.Fatal(err)
		}
	}
}

var transferBody = []byte(`{"from":"acc_01KAX5Z1Q5J2M9XWZ7V3C8B4N6","to":"acc_01KAX5Z1Q5J2M9XWZ7V3C8B4N7","amount":"1.00","currency":"USD","description":"rent"}`)

func BenchmarkCanonicalize(b *testing.B) {
	for b.Loop() {
		if _, err := Canonicalize(transferBody); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonicalizeReference(b *testing.B) {
	for b.Loop() {
		if _, err := referenceCanonicalize(transferBody); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEventMarshalJSON(b *testing.B) {
	e := benchEvent(b)
	for b.Loop() {
		if _, err := json.Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}
