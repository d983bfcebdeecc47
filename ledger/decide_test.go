package ledger

import (
	"fmt"
	"testing"
	"time"
)

func testEnv() Env {
	n := 0
	return Env{
		Now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
		NewID: func(prefix string) string {
			n++
			return fmt.Sprintf("%s_%d", prefix, n)
		},
		NewWalletNumber: NewWalletNumber,
	}
}

func wallet(id, cur, balance string, status AccountStatus) Account {
	return Account{ID: id, Book: "main", WalletNumber: "", Currency: Currency(cur), Kind: KindWallet, Status: status, Balance: MustMoney(balance, cur)}
}

func TestDecideTransfer(t *testing.T) {
	accounts := []Account{
		wallet("acc_a", "NGN", "100.00", StatusActive),
		wallet("acc_b", "NGN", "0.00", StatusActive),
		wallet("acc_usd", "USD", "50.00", StatusActive),
		wallet("acc_frozen", "NGN", "100.00", StatusFrozen),
		wallet("acc_closed", "NGN", "0.00", StatusClosed),
		{ID: "acc_sys", Book: "main", Name: SystemAdjustments, Currency: "NGN", Kind: KindSystem, Status: StatusActive, Balance: MustMoney("-100", "NGN")},
		{ID: "acc_other_book", Book: "b2", Currency: "NGN", Kind: KindWallet, Status: StatusActive, Balance: MustMoney("100", "NGN")},
	}
	tests := []struct {
		name     string
		from, to string
		amount   Money
		code     Code
	}{
		{"a covered transfer completes", "acc_a", "acc_b", MustMoney("100.00", "NGN"), ""},
		{"more than the balance is insufficient funds", "acc_a", "acc_b", MustMoney("100.01", "NGN"), EInsufficientFunds},
		{"unknown sender is not found", "acc_x", "acc_b", MustMoney("1", "NGN"), ENotFound},
		{"unknown recipient is not found", "acc_a", "acc_x", MustMoney("1", "NGN"), ENotFound},
		{"to itself is refused", "acc_a", "acc_a", MustMoney("1", "NGN"), ESameAccount},
		{"request currency must match the accounts", "acc_a", "acc_b", MustMoney("1", "USD"), ECurrencyMismatch},
		{"account currencies must match", "acc_a", "acc_usd", MustMoney("1", "NGN"), ECurrencyMismatch},
		{"a frozen sender is refused", "acc_frozen", "acc_b", MustMoney("1", "NGN"), EAccountFrozen},
		{"a frozen recipient is refused", "acc_a", "acc_frozen", MustMoney("1", "NGN"), EAccountFrozen},
		{"a closed recipient is refused", "acc_a", "acc_closed", MustMoney("1", "NGN"), EAccountClosed},
		{"system accounts are not transfer parties", "acc_sys", "acc_b", MustMoney("1", "NGN"), ESystemAccount},
		{"money stays within its book", "acc_a", "acc_other_book", MustMoney("1", "NGN"), ECurrencyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState(accounts)
			events, err := s.Decide(Transfer{TransferID: "tr_1", From: tt.from, To: tt.to, Amount: tt.amount}, testEnv())
			if tt.code != "" {
				if ErrorCode(err) != tt.code {
					t.Fatalf("got %v, want %s", err, tt.code)
				}
				if len(events) != 0 {
					t.Fatal("a refused command produced events")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].Type != TransferCompleted {
				t.Fatalf("events = %+v", events)
			}
			if err := s.Apply(&events[0]); err != nil {
				t.Fatal(err)
			}
			a, _ := s.Account("acc_a")
			b, _ := s.Account("acc_b")
			if a.Balance.String() != "0.00" || b.Balance.String() != "100.00" {
				t.Fatalf("balances after: a=%s b=%s", a.Balance, b.Balance)
			}
			if got := events[0].Postings[0].BalanceAfter.String(); got != "0.00" {
				t.Fatalf("sender's balance_after = %s", got)
			}
		})
	}
}

func TestDecideDoesNotChangeState(t *testing.T) {
	s := NewState([]Account{wallet("acc_a", "NGN", "10", StatusActive), wallet("acc_b", "NGN", "0", StatusActive)})
	if _, err := s.Decide(Transfer{TransferID: "tr", From: "acc_a", To: "acc_b", Amount: MustMoney("10", "NGN")}, testEnv()); err != nil {
		t.Fatal(err)
	}
	a, _ := s.Account("acc_a")
	if a.Balance.String() != "10.00" {
		t.Fatalf("Decide moved money: balance %s", a.Balance)
	}
}

func TestDecideAdjustment(t *testing.T) {
	t.Run("the first credit opens the book's adjustments account", func(t *testing.T) {
		s := NewState([]Account{wallet("acc_a", "NGN", "0", StatusActive)})
		events, err := s.Decide(Adjust{AdjustmentID: "adj_1", Account: "acc_a", Direction: Credit, Amount: MustMoney("5", "NGN"), Reason: "float"}, testEnv())
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 || events[0].Type != AccountOpened || events[1].Type != AdjustmentPosted {
			t.Fatalf("events = %v", events)
		}
		for i := range events {
			if err := s.Apply(&events[i]); err != nil {
				t.Fatal(err)
			}
		}
		sys := s.system[SystemRef{"main", "NGN", SystemAdjustments}]
		if sys == nil || sys.Balance.String() != "-5.00" {
			t.Fatalf("adjustments account = %+v", sys)
		}
		// The second adjustment reuses it.
		events, err = s.Decide(Adjust{AdjustmentID: "adj_2", Account: "acc_a", Direction: Debit, Amount: MustMoney("5", "NGN"), Reason: "undo"}, testEnv())
		if err != nil || len(events) != 1 {
			t.Fatalf("second adjustment: %v %v", events, err)
		}
	})
	rules := []struct {
		name string
		acc  Account
		dir  Direction
		amt  Money
		code Code
	}{
		{"a debit below zero is refused", wallet("acc_a", "NGN", "4.99", StatusActive), Debit, MustMoney("5", "NGN"), EInsufficientFunds},
		{"a closed wallet cannot be adjusted", wallet("acc_a", "NGN", "0", StatusClosed), Credit, MustMoney("5", "NGN"), EAccountClosed},
		{"a frozen wallet can be corrected", wallet("acc_a", "NGN", "0", StatusFrozen), Credit, MustMoney("5", "NGN"), ""},
		{"currency must match", wallet("acc_a", "NGN", "0", StatusActive), Credit, MustMoney("5", "USD"), ECurrencyMismatch},
	}
	for _, tt := range rules {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState([]Account{tt.acc})
			_, err := s.Decide(Adjust{AdjustmentID: "adj", Account: "acc_a", Direction: tt.dir, Amount: tt.amt, Reason: "r"}, testEnv())
			if ErrorCode(err) != tt.code && !(tt.code == "" && err == nil) {
				t.Fatalf("got %v, want %q", err, tt.code)
			}
		})
	}
}

func TestDecideStatus(t *testing.T) {
	tests := []struct {
		name   string
		acc    Account
		action StatusAction
		want   EventType // empty: no event
		code   Code
	}{
		{"freezing an active wallet freezes it", wallet("acc_a", "NGN", "1", StatusActive), Freeze, AccountFrozen, ""},
		{"freezing a frozen wallet changes nothing", wallet("acc_a", "NGN", "1", StatusFrozen), Freeze, "", ""},
		{"unfreezing a frozen wallet", wallet("acc_a", "NGN", "1", StatusFrozen), Unfreeze, AccountUnfrozen, ""},
		{"closing an empty wallet", wallet("acc_a", "NGN", "0", StatusActive), Close, AccountClosed, ""},
		{"closing a wallet holding money is refused", wallet("acc_a", "NGN", "0.01", StatusActive), Close, "", EBalanceNotZero},
		{"a closed wallet stays closed", wallet("acc_a", "NGN", "0", StatusClosed), Unfreeze, "", EAccountClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState([]Account{tt.acc})
			events, err := s.Decide(ChangeStatus{Account: "acc_a", Action: tt.action}, testEnv())
			if ErrorCode(err) != tt.code && !(tt.code == "" && err == nil) {
				t.Fatalf("got %v, want %q", err, tt.code)
			}
			if tt.want == "" && len(events) != 0 || tt.want != "" && (len(events) != 1 || events[0].Type != tt.want) {
				t.Fatalf("events = %v, want %q", events, tt.want)
			}
		})
	}
}

func TestApplyRefusesUnbalancedPostings(t *testing.T) {
	s := NewState([]Account{wallet("acc_a", "NGN", "10", StatusActive)})
	e := Event{Type: TransferCompleted, Postings: []Posting{{Account: "acc_a", Amount: MustMoney("-1", "NGN")}}}
	if err := s.Apply(&e); err == nil {
		t.Fatal("an unbalanced event was applied")
	}
}
