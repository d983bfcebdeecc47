package paystack

import (
	"bytes"
	"testing"

	"github.com/tallyledger/tally/gateways"
)

// Paystack's transfer.* webhooks become payout notifications naming our
// withdrawal, without the body: it carries the recipient's bank details.
func TestTransferWebhooksArePayoutNotifications(t *testing.T) {
	g := newTestGateway(t)
	for _, tc := range []struct {
		file string
		kind gateways.Kind
	}{
		{"transfer.success.json", gateways.PayoutSucceeded},
		{"transfer.failed.json", gateways.PayoutFailed},
		{"transfer.reversed.json", gateways.PayoutReversed},
	} {
		t.Run(tc.file+" is "+string(tc.kind), func(t *testing.T) {
			body := fixture(t, tc.file)
			if !bytes.Contains(body, []byte("0123456789")) {
				t.Fatal("the fixture carries no account number: the check below would prove nothing")
			}
			n, err := g.ParseWebhook(signed(body), body)
			if err != nil {
				t.Fatal(err)
			}
			if n.Kind != tc.kind || n.WithdrawalID != "wd_01jd8t3x0m4q7s2v9c6b5n1k8r" || n.GatewayReference != "TRF_3nq8z1xw5kd0p2ve" ||
				n.Amount.Text('f') != "2000.00" || n.Currency != "NGN" {
				t.Fatalf("got %+v", n)
			}
			if n.Raw != nil {
				t.Fatal("the notification keeps the body with the bank details")
			}
		})
	}
}

func TestTransferStatusesMeanPayoutResults(t *testing.T) {
	for status, want := range map[string]gateways.PayoutStatus{
		"pending": gateways.PayoutStatusPending, "received": gateways.PayoutStatusPending, "success": gateways.PayoutStatusSucceeded,
		"failed": gateways.PayoutStatusFailed, "reversed": gateways.PayoutStatusFailed, "otp": gateways.PayoutStatusFailed,
	} {
		t.Run(status+" is "+string(want), func(t *testing.T) {
			if got := transferResult(transferData{Status: status}, "RCP_x"); got.Status != want || got.RecipientCode != "RCP_x" {
				t.Fatalf("got %+v", got)
			}
		})
	}
}
