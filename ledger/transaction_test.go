package ledger

import (
	"fmt"
	"testing"
)

func TestDecideTransaction(t *testing.T) {
	accounts := []Account{
		wallet("acc_a", "NGN", "100.00", StatusActive),
		wallet("acc_b", "NGN", "0.00", StatusActive),
		wallet("acc_c", "NGN", "0.00", StatusActive),
		wallet("acc_ua", "USD", "10.00", StatusActive),
		wallet("acc_ub", "USD", "0.00", StatusActive),
		wallet("acc_frozen", "NGN", "0.00", StatusFrozen),
	}
	ngn := func(s string) Money { return MustMoney(s, "NGN") }
	tests := []struct {
		name  string
		legs  []Leg
		code  Code
		field string
	}{
		{"a marketplace sale: buyer pays seller and fees", []Leg{{"acc_a", "acc_b", ngn("95")}, {"acc_a", "acc_c", ngn("5")}}, "", ""},
		{"funds are checked on the net change, not leg by leg",
			[]Leg{{"acc_a", "acc_b", ngn("150")}, {"acc_b", "acc_a", ngn("60")}}, "", ""},
		{"legs in several currencies, each in its own",
			[]Leg{{"acc_a", "acc_b", ngn("1")}, {"acc_ua", "acc_ub", MustMoney("10", "USD")}}, "", ""},
		{"the leg named is the first where the running total passes the limit",
			[]Leg{{"acc_a", "acc_b", ngn("60")}, {"acc_a", "acc_c", ngn("41")}, {"acc_a", "acc_b", ngn("1")}}, EInsufficientFunds, "legs[1].amount"},
		{"a frozen party in any leg fails the transaction with that leg's field",
			[]Leg{{"acc_a", "acc_b", ngn("1")}, {"acc_a", "acc_frozen", ngn("1")}}, EAccountFrozen, "legs[1].to"},
		{"a leg's currency must match its accounts",
			[]Leg{{"acc_a", "acc_ub", ngn("1")}}, ECurrencyMismatch, "legs[0].currency"},
		{"an unknown account names its leg", []Leg{{"acc_a", "acc_b", ngn("1")}, {"acc_x", "acc_b", ngn("1")}}, ENotFound, "legs[1].from"},
		{"a leg to itself is refused", []Leg{{"acc_a", "acc_a", ngn("1")}}, ESameAccount, "legs[0].to"},
		{"no legs is invalid", nil, EInvalidRequest, "legs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState(accounts)
			events, err := s.Decide(PostTransaction{TransactionID: "txn_1", Legs: tt.legs}, testEnv())
			if tt.code != "" {
				var le *Error
				if ErrorCode(err) != tt.code || len(events) != 0 {
					t.Fatalf("got %v, want %s", err, tt.code)
				}
				le = err.(*Error)
				if len(le.Fields) == 0 || le.Fields[0].Field != tt.field {
					t.Fatalf("fields %+v, want %s", le.Fields, tt.field)
				}
				return
			}
			if err != nil || len(events) != 1 || events[0].Type != TransactionPosted || len(events[0].Postings) != 2*len(tt.legs) {
				t.Fatalf("%v %+v", err, events)
			}
			if err := s.Apply(&events[0]); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("over 64 legs is invalid", func(t *testing.T) {
		legs := make([]Leg, MaxLegs+1)
		for i := range legs {
			legs[i] = Leg{"acc_a", "acc_b", ngn("0.01")}
		}
		if _, err := NewState(accounts).Decide(PostTransaction{TransactionID: "txn", Legs: legs}, testEnv()); ErrorCode(err) != EInvalidRequest {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a transaction is reversed once", func(t *testing.T) {
		s := NewState(accounts)
		decideAll(t, s, PostTransaction{TransactionID: "txn_1", Legs: []Leg{{"acc_a", "acc_b", ngn("30")}, {"acc_a", "acc_c", ngn("20")}}}, testEnv())
		events := decideAll(t, s, ReverseTransaction{TransactionID: "txn_2", Original: "txn_1"}, testEnv())
		if got := balances(s, "acc_a", "acc_b", "acc_c"); fmt.Sprint(got) != "[100.00/0.00 0.00/0.00 0.00/0.00]" {
			t.Fatalf("after reversal %v (%+v)", got, events)
		}
		if _, err := s.Decide(ReverseTransaction{TransactionID: "txn_3", Original: "txn_1"}, testEnv()); ErrorCode(err) != ENotRefundable {
			t.Fatalf("second reversal: %v", err)
		}
	})
}

func TestCloneIsIndependent(t *testing.T) {
	s := NewState([]Account{wallet("acc_a", "NGN", "10", StatusActive), wallet("acc_b", "NGN", "0", StatusActive)})
	c := s.Clone()
	decideAll(t, c, Transfer{TransferID: "tr", From: "acc_a", To: "acc_b", Amount: MustMoney("10", "NGN")}, testEnv())
	if got := balances(s, "acc_a"); got[0] != "10.00/0.00" {
		t.Fatalf("the original moved: %v", got)
	}
}
