package ledger

import "testing"

func TestDecideApprovalAndCapture(t *testing.T) {
	pending := Deposit{ID: "dep_1", Book: "main", Account: "acc_a", Reference: "DEP-1", Gateway: "paypal",
		Amount: MustMoney("25.00", "USD"), Status: DepositPending, GatewayReference: "ORDER-1"}
	succeeded := pending
	succeeded.Status = DepositSucceeded
	captured := pending
	captured.GatewayReference = "CAP-1"
	approve := GatewayNotification{Gateway: "paypal", Kind: NotifyPaymentApproved, EventID: "WH-1", Reference: "DEP-1",
		GatewayReference: "ORDER-1", Amount: "25.00", Currency: "USD"}
	tests := []struct {
		name    string
		deposit Deposit
		cmd     Command
		want    []EventType
		ref     string // the deposit's gateway reference afterwards
	}{
		{"an approval of a pending deposit is recorded and moves no money", pending, approve, []EventType{DepositApprovedEvent}, "ORDER-1"},
		{"an approval of a settled deposit records nothing", succeeded, approve, nil, "ORDER-1"},
		{"an approval no deposit knows is unmatched", pending, func() GatewayNotification {
			n := approve
			n.Reference = "DEP-X"
			n.GatewayReference = "ORDER-X"
			return n
		}(),
			[]EventType{GatewayUnmatched}, "ORDER-1"},
		{"the capture's answer is recorded and its id replaces the order's", pending, RecordCapture{DepositID: "dep_1", CaptureID: "CAP-1", Status: "completed"},
			[]EventType{DepositCaptureAnsweredEvent}, "CAP-1"},
		{"the same capture answered again records nothing", captured, RecordCapture{DepositID: "dep_1", CaptureID: "CAP-1", Status: "completed"}, nil, "CAP-1"},
		{"a capture answered after the deposit settled records nothing", succeeded, RecordCapture{DepositID: "dep_1", CaptureID: "CAP-1", Status: "completed"}, nil, "ORDER-1"},
		{"a declined capture is recorded and keeps the order id", pending, RecordCapture{DepositID: "dep_1", Status: "declined", Reason: "INSTRUMENT_DECLINED"},
			[]EventType{DepositCaptureAnsweredEvent}, "ORDER-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState([]Account{wallet("acc_a", "USD", "0", StatusActive)})
			s.AddDeposit(tt.deposit)
			env := testEnv()
			env.Book = "main"
			events, err := s.Decide(tt.cmd, env)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != len(tt.want) {
				t.Fatalf("%d events, want %v", len(events), tt.want)
			}
			for i := range events {
				if events[i].Type != tt.want[i] || len(events[i].Postings) != 0 {
					t.Fatalf("event %s with %d postings, want %s and none", events[i].Type, len(events[i].Postings), tt.want[i])
				}
				if err := s.Apply(&events[i]); err != nil {
					t.Fatal(err)
				}
			}
			d, _ := s.Deposit("dep_1")
			if d.Status != tt.deposit.Status || d.GatewayReference != tt.ref {
				t.Errorf("deposit after: status %s, gateway reference %s; want %s, %s", d.Status, d.GatewayReference, tt.deposit.Status, tt.ref)
			}
			if a, _ := s.Account("acc_a"); a.Balance.Sign() != 0 {
				t.Error("an approval or a capture answer moved money")
			}
		})
	}
}
