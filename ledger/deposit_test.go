package ledger

import "testing"

func TestDecideNotification(t *testing.T) {
	pending := Deposit{ID: "dep_1", Book: "main", Account: "acc_a", Reference: "DEP-1", Gateway: "paystack", Amount: MustMoney("50.00", "NGN"), Status: DepositPending}
	tests := []struct {
		name    string
		deposit Deposit
		wallet  AccountStatus
		n       GatewayNotification
		want    []EventType
	}{
		{"a matching success credits the wallet", pending, StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentSucceeded, Reference: "DEP-1", Amount: "50.00", Currency: "NGN"},
			[]EventType{AccountOpened, DepositSucceededEvent}},
		{"a frozen wallet is still credited", pending, StatusFrozen,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentSucceeded, Reference: "DEP-1", Amount: "50", Currency: "NGN"},
			[]EventType{AccountOpened, DepositSucceededEvent}},
		{"a second success of a settled deposit changes nothing", func() Deposit { d := pending; d.Status = DepositSucceeded; return d }(), StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentSucceeded, Reference: "DEP-1", Amount: "50.00", Currency: "NGN"}, nil},
		{"a success found by the gateway's payment id credits", func() Deposit { d := pending; d.GatewayReference = "pi_1"; return d }(), StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentSucceeded, GatewayReference: "pi_1", Amount: "50.00", Currency: "NGN"},
			[]EventType{AccountOpened, DepositSucceededEvent}},
		{"another amount flags the deposit", pending, StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentSucceeded, Reference: "DEP-1", Amount: "49.99", Currency: "NGN"},
			[]EventType{DepositFlaggedEvent}},
		{"another currency flags the deposit", pending, StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentSucceeded, Reference: "DEP-1", Amount: "50.00", Currency: "GHS"},
			[]EventType{DepositFlaggedEvent}},
		{"an amount finer than the currency flags the deposit", pending, StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentSucceeded, Reference: "DEP-1", Amount: "50.001", Currency: "NGN"},
			[]EventType{DepositFlaggedEvent}},
		{"trailing zeros beyond the currency's digits still match (Stripe's ISK)", pending, StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentSucceeded, Reference: "DEP-1", Amount: "50.000", Currency: "NGN"},
			[]EventType{AccountOpened, DepositSucceededEvent}},
		{"a closed wallet flags the deposit", pending, StatusClosed,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentSucceeded, Reference: "DEP-1", Amount: "50.00", Currency: "NGN"},
			[]EventType{DepositFlaggedEvent}},
		{"a reference of another gateway's deposit is unmatched", pending, StatusActive,
			GatewayNotification{Gateway: "stripe", Kind: NotifyPaymentSucceeded, Reference: "DEP-1", Amount: "50.00", Currency: "NGN"},
			[]EventType{GatewayUnmatched}},
		{"a failure fails a pending deposit", pending, StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentFailed, Reference: "DEP-1"},
			[]EventType{DepositFailedEvent}},
		{"expiry expires a pending deposit", pending, StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentExpired, Reference: "DEP-1"},
			[]EventType{DepositExpiredEvent}},
		{"a late failure never undoes a success", func() Deposit { d := pending; d.Status = DepositSucceeded; return d }(), StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentFailed, Reference: "DEP-1"}, nil},
		{"a success after a failure still credits: the money arrived", func() Deposit { d := pending; d.Status = DepositFailed; return d }(), StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentSucceeded, Reference: "DEP-1", Amount: "50.00", Currency: "NGN"},
			[]EventType{AccountOpened, DepositSucceededEvent}},
		{"an unknown reference without a wallet is unmatched", pending, StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentSucceeded, Reference: "DEP-X", Amount: "5.00", Currency: "NGN"},
			[]EventType{GatewayUnmatched}},
		{"an unknown reference naming a wallet is credited as unsolicited", pending, StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentSucceeded, Reference: "DEP-X", Amount: "5.00", Currency: "NGN", Account: "acc_a"},
			[]EventType{AccountOpened, DepositSucceededEvent}},
		{"an unsolicited payment in another currency is unmatched", pending, StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyPaymentSucceeded, Reference: "DEP-X", Amount: "5.00", Currency: "USD", Account: "acc_a"},
			[]EventType{GatewayUnmatched}},
		{"an unreadable payload is unmatched", pending, StatusActive,
			GatewayNotification{Gateway: "paystack", Kind: NotifyUnreadable, EventID: "x"},
			[]EventType{GatewayUnmatched}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState([]Account{wallet("acc_a", "NGN", "0", tt.wallet)})
			s.AddDeposit(tt.deposit)
			env := testEnv()
			env.Book = "main"
			events, err := s.Decide(tt.n, env)
			if err != nil {
				t.Fatal(err)
			}
			var got []EventType
			for i := range events {
				got = append(got, events[i].Type)
				if err := s.Apply(&events[i]); err != nil {
					t.Fatal(err)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("events %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("events %v, want %v", got, tt.want)
				}
			}
			if len(got) > 0 && got[len(got)-1] == DepositSucceededEvent {
				a, _ := s.Account("acc_a")
				if a.Balance.Sign() <= 0 {
					t.Fatal("a credit left the wallet empty")
				}
			}
		})
	}
}
