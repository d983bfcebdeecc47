package ledger

import "testing"

// TestRefundsUseTheTransferFundsRule shows that every kind of refund debits
// the wallet it takes money from under the one rule a transfer obeys: the
// balance (held money already excluded) plus the overdraft limit must cover
// it, and a refusal is insufficient_funds on amount.
func TestRefundsUseTheTransferFundsRule(t *testing.T) {
	refunds := []struct {
		kind string
		cmd  Command
	}{
		{"transfer refund", RefundTransfer{RefundID: "ref_1", TransferID: "tr_1"}},
		{"hold refund", RefundHold{RefundID: "ref_1", HoldID: "hold_1"}},
		{"deposit refund", RequestDepositRefund{RefundID: "ref_1", DepositID: "dep_1"}},
	}
	tests := []struct {
		name                 string
		balance, held, limit string
		amount               string
		refused              bool
	}{
		{"a balance that covers the refund pays it", "30.00", "0", "0", "30.00", false},
		{"one minor unit past a zero balance is insufficient funds", "30.00", "0", "0", "30.01", true},
		{"an overdraft limit lets a refund take the wallet below zero, as it lets a transfer", "10.00", "0", "50.00", "60.00", false},
		{"one minor unit past the overdraft limit is insufficient funds", "10.00", "0", "50.00", "60.01", true},
		{"held money cannot pay a refund: the balance already excludes it", "10.00", "40.00", "0", "20.00", true},
		{"held money and the limit together: the limit still applies to the balance", "10.00", "40.00", "15.00", "25.00", false},
	}
	for _, r := range refunds {
		for _, tt := range tests {
			t.Run(r.kind+": "+tt.name, func(t *testing.T) {
				s := refundFundsState(tt.balance, tt.held, tt.limit)
				cmd := withRefundAmount(r.cmd, tt.amount)
				events, err := s.Decide(cmd, testEnv())
				_, transferErr := s.Decide(Transfer{TransferID: "tr_2", From: "acc_b", To: "acc_a", Amount: MustMoney(tt.amount, "NGN")}, testEnv())
				if (transferErr != nil) != tt.refused {
					t.Fatalf("the comparison transfer: %v, want refused=%v", transferErr, tt.refused)
				}
				if !tt.refused {
					if err != nil || len(events) == 0 {
						t.Fatalf("refused: %v", err)
					}
					for i := range events {
						if err := s.Apply(&events[i]); err != nil {
							t.Fatal(err)
						}
					}
					if b, _ := s.Account("acc_b"); b.Balance.Cmp(b.Limit().Neg()) < 0 {
						t.Fatalf("balance %s is below minus the limit %s", b.Balance, b.Limit())
					}
					return
				}
				if ErrorCode(err) != EInsufficientFunds || len(events) != 0 {
					t.Fatalf("got %v %+v, want insufficient_funds", err, events)
				}
				le, te := err.(*Error), transferErr.(*Error)
				if len(le.Fields) != 1 || le.Fields[0].Field != "amount" || le.Code != te.Code || le.Fields[0].Field != te.Fields[0].Field {
					t.Fatalf("refund fields %+v, transfer's %+v: want the same code and field amount", le.Fields, te.Fields)
				}
			})
		}
	}
}

// refundFundsState has acc_b, the wallet every refund debits, with the given
// balance, held money and overdraft limit, and one refundable record of each
// kind that paid it 100.00 NGN.
func refundFundsState(balance, held, limit string) *State {
	b := wallet("acc_b", "NGN", balance, StatusActive)
	b.Held, b.OverdraftLimit = MustMoney(held, "NGN"), MustMoney(limit, "NGN")
	s := NewState([]Account{wallet("acc_a", "NGN", "0", StatusActive), b})
	hundred, zero := MustMoney("100.00", "NGN"), Zero("NGN")
	s.AddTransfer(TransferRecord{ID: "tr_1", Book: "main", From: "acc_a", To: "acc_b", Amount: hundred, RefundedAmount: zero})
	s.AddHold(Hold{ID: "hold_1", Book: "main", From: "acc_a", To: "acc_b", Amount: hundred, CapturedAmount: hundred,
		RefundedAmount: zero, Status: HoldStatusCaptured})
	s.AddDeposit(Deposit{ID: "dep_1", Book: "main", Account: "acc_b", Reference: "DEP-1", Gateway: "paystack",
		Amount: hundred, Status: DepositSucceeded, RefundedAmount: zero})
	return s
}

func withRefundAmount(cmd Command, amount string) Command {
	switch c := cmd.(type) {
	case RefundTransfer:
		c.Amount = amount
		return c
	case RefundHold:
		c.Amount = amount
		return c
	case RequestDepositRefund:
		c.Amount = amount
		return c
	}
	panic("not a refund")
}
