package ledger

import (
	"strings"
	"testing"
)

// decideAndApply decides and applies cmd against s, as the journal does.
func decideAndApply(t *testing.T, s *State, env Env, cmd Command) []Event {
	t.Helper()
	events, err := s.Decide(cmd, env)
	if err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
	for i := range events {
		events[i].Book = "main"
		if err := s.Apply(&events[i]); err != nil {
			t.Fatal(err)
		}
	}
	return events
}

func TestWithdrawalSettlesOnceAndReturnsMoneyOnFailureOrReversal(t *testing.T) {
	notify := func(kind NotificationKind, id, event string) GatewayNotification {
		return GatewayNotification{Gateway: "paystack", Kind: kind, EventID: event, WithdrawalID: id, Amount: "40.00", Currency: "NGN", Payload: "acct 0123456789"}
	}
	tests := []struct {
		name    string
		events  []NotificationKind
		status  WithdrawalStatus
		wallet  string
		appends int // events appended by the notifications
	}{
		{"a success pays the clearing account, a duplicate changes nothing", []NotificationKind{NotifyPayoutSucceeded, NotifyPayoutSucceeded}, WithdrawalSucceeded, "60.00", 1},
		{"a failure returns the money, a late failure of it changes nothing", []NotificationKind{NotifyPayoutFailed, NotifyPayoutFailed}, WithdrawalFailed, "100.00", 1},
		{"a late failure never undoes a success", []NotificationKind{NotifyPayoutSucceeded, NotifyPayoutFailed}, WithdrawalSucceeded, "60.00", 1},
		{"a reversal after a success returns the money", []NotificationKind{NotifyPayoutSucceeded, NotifyPayoutReversed, NotifyPayoutReversed}, WithdrawalReversed, "100.00", 2},
		{"a success after a recorded failure is a fact: the money leaves again", []NotificationKind{NotifyPayoutFailed, NotifyPayoutSucceeded}, WithdrawalSucceeded, "60.00", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState([]Account{wallet("acc_a", "NGN", "100.00", StatusActive)})
			env := testEnv()
			env.Book = "main"
			decideAndApply(t, s, env, RequestWithdrawal{WithdrawalID: "wd_1", Account: "acc_a", Amount: MustMoney("40.00", "NGN"), Gateway: "paystack",
				DestinationID: "dst_1", BankCode: "058", MaskedNumber: MaskAccountNumber("0123456789")})
			appended := 0
			for i, k := range tt.events {
				for _, e := range decideAndApply(t, s, env, notify(k, "wd_1", string(rune('a'+i)))) {
					if e.Type != AccountOpened {
						appended++
					}
				}
			}
			w, _ := s.Withdrawal("wd_1")
			a, _ := s.Account("acc_a")
			if w.Status != tt.status || a.Balance.String() != tt.wallet || appended != tt.appends {
				t.Fatalf("status %s, wallet %s, %d events; want %s, %s, %d", w.Status, a.Balance, appended, tt.status, tt.wallet, tt.appends)
			}
		})
	}
}

func TestWithdrawalRefusalsAndNotifications(t *testing.T) {
	s := NewState([]Account{wallet("acc_a", "NGN", "100.00", StatusActive), wallet("acc_f", "NGN", "100.00", StatusFrozen)})
	env := testEnv()
	env.Book = "main"
	for name, tc := range map[string]struct {
		cmd  RequestWithdrawal
		code Code
	}{
		"more than the balance": {RequestWithdrawal{WithdrawalID: "wd_x", Account: "acc_a", Amount: MustMoney("100.01", "NGN")}, EInsufficientFunds},
		"a frozen wallet":       {RequestWithdrawal{WithdrawalID: "wd_x", Account: "acc_f", Amount: MustMoney("1", "NGN")}, EAccountFrozen},
		"another currency":      {RequestWithdrawal{WithdrawalID: "wd_x", Account: "acc_a", Amount: MustMoney("1", "USD")}, ECurrencyMismatch},
		"an unknown wallet":     {RequestWithdrawal{WithdrawalID: "wd_x", Account: "acc_z", Amount: MustMoney("1", "NGN")}, ENotFound},
	} {
		t.Run(name+" is "+string(tc.code), func(t *testing.T) {
			if _, err := s.Decide(tc.cmd, env); ErrorCode(err) != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}
	decideAndApply(t, s, env, RequestWithdrawal{WithdrawalID: "wd_1", Account: "acc_a", Amount: MustMoney("100.00", "NGN"), Gateway: "paystack"})
	t.Run("a wallet with a pending withdrawal cannot be closed", func(t *testing.T) {
		if _, err := s.Decide(ChangeStatus{Account: "acc_a", Action: Close}, env); ErrorCode(err) != EBalanceNotZero {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a mismatched amount is unmatched, without the payload", func(t *testing.T) {
		events := decideAndApply(t, s, env, GatewayNotification{Gateway: "paystack", Kind: NotifyPayoutSucceeded, EventID: "e", WithdrawalID: "wd_1",
			Amount: "99.00", Currency: "NGN", Payload: "acct 0123456789"})
		if len(events) != 1 || events[0].Type != GatewayUnmatched || len(events[0].Postings) != 0 || string(events[0].Data) == "" ||
			strings.Contains(string(events[0].Data), "0123456789") {
			t.Fatalf("events = %+v", events)
		}
	})
	t.Run("another gateway's notification is unmatched", func(t *testing.T) {
		events := decideAndApply(t, s, env, GatewayNotification{Gateway: "xendit", Kind: NotifyPayoutFailed, EventID: "e2", WithdrawalID: "wd_1", Amount: "100.00", Currency: "NGN"})
		if len(events) != 1 || events[0].Type != GatewayUnmatched {
			t.Fatalf("events = %+v", events)
		}
		if w, _ := s.Withdrawal("wd_1"); w.Status != WithdrawalPending {
			t.Fatalf("status %s", w.Status)
		}
	})
}

func TestMaskAccountNumber(t *testing.T) {
	for in, want := range map[string]string{"0123456789": "******6789", "12345": "*2345", "1234": "****", "": ""} {
		if got := MaskAccountNumber(in); got != want {
			t.Errorf("MaskAccountNumber(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"wd_01jd8t3x0m4q7s2v9c6b5n1k8r": "wd_01JD8T3X0M4Q7S2V9C6B5N1K8R", "WD_01JD8T3X0M4Q7S2V9C6B5N1K8R": "wd_01JD8T3X0M4Q7S2V9C6B5N1K8R", "DEP-1": "", "wd_short": ""} {
		if got := NormalizeWithdrawalID(in); got != want {
			t.Errorf("NormalizeWithdrawalID(%q) = %q, want %q", in, got, want)
		}
	}
}
