package ledger

import (
	"encoding/json"
	"testing"
)

// A refund notification settles the refund it names, by our id or the
// gateway's, never one that merely has its amount.
func TestRefundNotificationsMatchByIDNeverAmount(t *testing.T) {
	state := func() *State {
		s := NewState([]Account{wallet("acc_w", "NGN", "30.00", StatusActive)})
		s.AddDeposit(Deposit{ID: "dep_1", Book: "main", Account: "acc_w", Reference: "DEP-1", Gateway: "paystack",
			Amount: MustMoney("50", "NGN"), Status: DepositSucceeded, RefundedAmount: MustMoney("20", "NGN")})
		s.AddRefund(Refund{ID: "ref_known", Book: "main", DepositID: "dep_1", Account: "acc_w", Amount: MustMoney("10", "NGN"),
			Status: RefundStatusPending, Gateway: "paystack", GatewayRefundID: "3018284"})
		s.AddRefund(Refund{ID: "ref_unknown", Book: "main", DepositID: "dep_1", Account: "acc_w", Amount: MustMoney("10", "NGN"),
			Status: RefundStatusPending, Gateway: "paystack"}) // its call had no answer
		return s
	}
	for _, tc := range []struct {
		name                 string
		refundID, gatewayRef string
		echoed               bool
		want                 EventType
		refund               string // the refund the event is about; "" for a new one
	}{
		{"our id settles that refund", "ref_unknown", "", false, RefundSucceededEvent, "ref_unknown"},
		{"the gateway's id settles that refund", "", "3018284", false, RefundSucceededEvent, "ref_known"},
		{"no id, with a refund whose gateway id is unknown pending, is not guessed", "", "", false, GatewayUnmatched, ""},
		{"an unknown gateway id could be the refund whose id Tally never got", "", "999", false, GatewayUnmatched, ""},
		{"where the gateway echoes our id, a refund without it is a dashboard refund", "", "999", true, RefundSucceededEvent, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, err := state().Decide(GatewayNotification{Gateway: "paystack", Kind: NotifyRefundSucceeded, EventID: "e1",
				Reference: "DEP-1", Amount: "10", Currency: "NGN", RefundID: tc.refundID, RefundReference: tc.gatewayRef,
				RefundIDsEchoed: tc.echoed}, testEnv())
			if err != nil {
				t.Fatal(err)
			}
			last := events[len(events)-1]
			if last.Type != tc.want {
				t.Fatalf("event %s, want %s", last.Type, tc.want)
			}
			if last.Type != RefundSucceededEvent {
				return
			}
			var d RefundData
			if err := json.Unmarshal(last.Data, &d); err != nil {
				t.Fatal(err)
			}
			if tc.refund != "" && d.RefundID != tc.refund || tc.refund == "" && !d.GatewayInitiated {
				t.Fatalf("settled %s (gateway initiated %v), want %q", d.RefundID, d.GatewayInitiated, tc.refund)
			}
		})
	}
}

// Closing a wallet needs no pending deposit refund: if the gateway refused
// it, the money would come back to a closed wallet.
func TestCloseNeedsNoPendingRefund(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status RefundStatus
		code   Code
	}{
		{"a pending refund keeps the wallet open", RefundStatusPending, EBalanceNotZero},
		{"a settled refund does not", RefundStatusSucceeded, ""},
		{"a failed refund does not", RefundStatusFailed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewState([]Account{wallet("acc_w", "NGN", "0.00", StatusActive)})
			s.AddRefund(Refund{ID: "ref_1", Book: "main", DepositID: "dep_1", Account: "acc_w", Amount: MustMoney("10", "NGN"), Status: tc.status})
			_, err := s.Decide(ChangeStatus{Account: "acc_w", Action: Close}, testEnv())
			if (tc.code == "" && err != nil) || (tc.code != "" && ErrorCode(err) != tc.code) {
				t.Fatalf("got %v, want %q", err, tc.code)
			}
		})
	}
}
