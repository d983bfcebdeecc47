package ledger

import (
	"testing"
	"time"
)

// decideAll decides cmd and applies its events, failing the test on a refusal.
func decideAll(t *testing.T, s *State, cmd Command, env Env) []Event {
	t.Helper()
	events, err := s.Decide(cmd, env)
	if err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
	for i := range events {
		if err := s.Apply(&events[i]); err != nil {
			t.Fatal(err)
		}
	}
	return events
}

func holdState(t *testing.T) (*State, Env) {
	s := NewState([]Account{wallet("acc_a", "NGN", "100.00", StatusActive), wallet("acc_b", "NGN", "0", StatusActive)})
	env := testEnv()
	decideAll(t, s, CreateHold{HoldID: "hold_1", From: "acc_a", To: "acc_b", Amount: MustMoney("40", "NGN"), ExpiresIn: time.Hour}, env)
	return s, env
}

func balances(s *State, ids ...string) []string {
	var out []string
	for _, id := range ids {
		a, _ := s.Account(id)
		out = append(out, a.Balance.String()+"/"+a.HeldOrZero().String())
	}
	return out
}

func TestHoldLifeCycle(t *testing.T) {
	t.Run("creating a hold moves the money out of the sender's balance into held", func(t *testing.T) {
		s, _ := holdState(t)
		if got := balances(s, "acc_a", "acc_b"); got[0] != "60.00/40.00" || got[1] != "0.00/0.00" {
			t.Fatalf("balance/held = %v", got)
		}
		pending := s.system[SystemRef{"main", "NGN", SystemHoldsPending}]
		if pending == nil || pending.Balance.String() != "40.00" {
			t.Fatalf("holds:pending = %+v", pending)
		}
	})
	t.Run("a partial capture pays the recipient and releases the rest in one event", func(t *testing.T) {
		s, env := holdState(t)
		events := decideAll(t, s, CaptureHold{HoldID: "hold_1", Amount: "25"}, env)
		if len(events) != 1 || events[0].Type != HoldCaptured || len(events[0].Postings) != 3 {
			t.Fatalf("events = %+v", events)
		}
		if got := balances(s, "acc_a", "acc_b"); got[0] != "75.00/0.00" || got[1] != "25.00/0.00" {
			t.Fatalf("balance/held = %v", got)
		}
	})
	t.Run("a void returns everything", func(t *testing.T) {
		s, env := holdState(t)
		decideAll(t, s, VoidHold{HoldID: "hold_1"}, env)
		if got := balances(s, "acc_a", "acc_b"); got[0] != "100.00/0.00" || got[1] != "0.00/0.00" {
			t.Fatalf("balance/held = %v", got)
		}
	})
	t.Run("a hold changes once: capture, void and expiry after one another are refused or no-ops", func(t *testing.T) {
		s, env := holdState(t)
		decideAll(t, s, VoidHold{HoldID: "hold_1"}, env)
		if _, err := s.Decide(CaptureHold{HoldID: "hold_1"}, env); ErrorCode(err) != EHoldNotPending {
			t.Fatalf("capture after void: %v", err)
		}
		if _, err := s.Decide(VoidHold{HoldID: "hold_1"}, env); ErrorCode(err) != EHoldNotPending {
			t.Fatalf("void after void: %v", err)
		}
		late := env
		late.Now = env.Now.Add(2 * time.Hour)
		if events, err := s.Decide(ExpireHold{HoldID: "hold_1"}, late); err != nil || len(events) != 0 {
			t.Fatalf("expiry after void: %v %v", events, err)
		}
	})
	t.Run("expiry before expires_at changes nothing; after, it returns the money", func(t *testing.T) {
		s, env := holdState(t)
		if events, err := s.Decide(ExpireHold{HoldID: "hold_1"}, env); err != nil || len(events) != 0 {
			t.Fatalf("early expiry: %v %v", events, err)
		}
		late := env
		late.Now = env.Now.Add(time.Hour)
		events := decideAll(t, s, ExpireHold{HoldID: "hold_1"}, late)
		if len(events) != 1 || events[0].Type != HoldExpired {
			t.Fatalf("events = %+v", events)
		}
		if _, err := s.Decide(CaptureHold{HoldID: "hold_1"}, late); ErrorCode(err) != EHoldExpired {
			t.Fatalf("capture after expiry: %v", err)
		}
	})
	t.Run("a capture after expires_at is hold_expired even before the expirer ran", func(t *testing.T) {
		s, env := holdState(t)
		late := env
		late.Now = env.Now.Add(time.Hour)
		if _, err := s.Decide(CaptureHold{HoldID: "hold_1"}, late); ErrorCode(err) != EHoldExpired {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("capturing more than the hold is refused", func(t *testing.T) {
		s, env := holdState(t)
		if _, err := s.Decide(CaptureHold{HoldID: "hold_1", Amount: "40.01"}, env); ErrorCode(err) != ECaptureExceedsHold {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a pending hold keeps its sender from closing", func(t *testing.T) {
		s, env := holdState(t)
		decideAll(t, s, Transfer{TransferID: "tr", From: "acc_a", To: "acc_b", Amount: MustMoney("60", "NGN")}, env)
		if _, err := s.Decide(ChangeStatus{Account: "acc_a", Action: Close}, env); ErrorCode(err) != EBalanceNotZero {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a captured hold is refundable up to what was captured", func(t *testing.T) {
		s, env := holdState(t)
		decideAll(t, s, CaptureHold{HoldID: "hold_1", Amount: "30"}, env)
		decideAll(t, s, RefundHold{RefundID: "ref_1", HoldID: "hold_1", Amount: "20"}, env)
		if _, err := s.Decide(RefundHold{RefundID: "ref_2", HoldID: "hold_1", Amount: "10.01"}, env); ErrorCode(err) != ERefundExceedsOriginal {
			t.Fatalf("got %v", err)
		}
		if got := balances(s, "acc_a", "acc_b"); got[0] != "90.00/0.00" || got[1] != "10.00/0.00" {
			t.Fatalf("balance/held = %v", got)
		}
	})
	t.Run("a voided hold is not refundable", func(t *testing.T) {
		s, env := holdState(t)
		decideAll(t, s, VoidHold{HoldID: "hold_1"}, env)
		if _, err := s.Decide(RefundHold{RefundID: "ref_1", HoldID: "hold_1"}, env); ErrorCode(err) != ENotRefundable {
			t.Fatalf("got %v", err)
		}
	})
}

func TestHoldsRefuseWhatTransfersRefuse(t *testing.T) {
	accounts := []Account{
		wallet("acc_a", "NGN", "100.00", StatusActive),
		wallet("acc_b", "NGN", "0.00", StatusActive),
		wallet("acc_usd", "USD", "50.00", StatusActive),
		wallet("acc_frozen", "NGN", "100.00", StatusFrozen),
		wallet("acc_closed", "NGN", "0.00", StatusClosed),
	}
	tests := []struct {
		name     string
		from, to string
		amount   Money
		code     Code
	}{
		{"more than the balance is insufficient funds", "acc_a", "acc_b", MustMoney("100.01", "NGN"), EInsufficientFunds},
		{"unknown sender is not found", "acc_x", "acc_b", MustMoney("1", "NGN"), ENotFound},
		{"to itself is refused", "acc_a", "acc_a", MustMoney("1", "NGN"), ESameAccount},
		{"account currencies must match", "acc_a", "acc_usd", MustMoney("1", "NGN"), ECurrencyMismatch},
		{"a frozen sender is refused", "acc_frozen", "acc_b", MustMoney("1", "NGN"), EAccountFrozen},
		{"a closed recipient is refused", "acc_a", "acc_closed", MustMoney("1", "NGN"), EAccountClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmds := []Command{
				Transfer{TransferID: "tr", From: tt.from, To: tt.to, Amount: tt.amount},
				CreateHold{HoldID: "hold", From: tt.from, To: tt.to, Amount: tt.amount},
				PostTransaction{TransactionID: "txn", Legs: []Leg{{From: tt.from, To: tt.to, Amount: tt.amount}}},
			}
			for _, cmd := range cmds {
				events, err := NewState(accounts).Decide(cmd, testEnv())
				if ErrorCode(err) != tt.code || len(events) != 0 {
					t.Fatalf("%T: got %v (%d events), want %s", cmd, err, len(events), tt.code)
				}
			}
		})
	}
}

func TestOverdraftLimit(t *testing.T) {
	limited := wallet("acc_a", "NGN", "10.00", StatusActive)
	limited.OverdraftLimit = MustMoney("50", "NGN")
	accounts := []Account{limited, wallet("acc_b", "NGN", "0", StatusActive)}
	t.Run("a wallet may go down to minus its limit", func(t *testing.T) {
		s := NewState(accounts)
		decideAll(t, s, Transfer{TransferID: "tr", From: "acc_a", To: "acc_b", Amount: MustMoney("60", "NGN")}, testEnv())
		if a, _ := s.Account("acc_a"); a.Balance.String() != "-50.00" {
			t.Fatalf("balance %s", a.Balance)
		}
	})
	t.Run("one minor unit past the limit is insufficient funds", func(t *testing.T) {
		_, err := NewState(accounts).Decide(Transfer{TransferID: "tr", From: "acc_a", To: "acc_b", Amount: MustMoney("60.01", "NGN")}, testEnv())
		if ErrorCode(err) != EInsufficientFunds {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("changing the limit appends account.limit_changed", func(t *testing.T) {
		s := NewState(accounts)
		events := decideAll(t, s, ChangeLimit{Account: "acc_a", Limit: MustMoney("0", "NGN")}, testEnv())
		if len(events) != 1 || events[0].Type != AccountLimitChanged {
			t.Fatalf("events = %+v", events)
		}
		if _, err := s.Decide(Transfer{TransferID: "tr", From: "acc_a", To: "acc_b", Amount: MustMoney("10.01", "NGN")}, testEnv()); ErrorCode(err) != EInsufficientFunds {
			t.Fatalf("after lowering the limit: %v", err)
		}
	})
	t.Run("the same limit again appends nothing", func(t *testing.T) {
		events, err := NewState(accounts).Decide(ChangeLimit{Account: "acc_a", Limit: MustMoney("50", "NGN")}, testEnv())
		if err != nil || len(events) != 0 {
			t.Fatalf("%v %v", events, err)
		}
	})
	t.Run("system accounts have no limit", func(t *testing.T) {
		sys := Account{ID: "acc_sys", Book: "main", Name: SystemAdjustments, Currency: "NGN", Kind: KindSystem, Status: StatusActive, Balance: MustMoney("0", "NGN")}
		if _, err := NewState([]Account{sys}).Decide(ChangeLimit{Account: "acc_sys", Limit: MustMoney("1", "NGN")}, testEnv()); ErrorCode(err) != ESystemAccount {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ParseLimit takes zero but not more digits than the currency has", func(t *testing.T) {
		if m, err := ParseLimit("0.00", "USD"); err != nil || !m.IsZero() {
			t.Fatalf("0.00: %v %v", m, err)
		}
		if _, err := ParseLimit("0.001", "USD"); ErrorCode(err) != EInvalidAmount {
			t.Fatalf("0.001 USD: %v", err)
		}
		if _, err := ParseLimit("-1", "USD"); ErrorCode(err) != EInvalidAmount {
			t.Fatalf("-1: %v", err)
		}
	})
}
