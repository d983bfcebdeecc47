package xendit

import (
	"testing"

	"github.com/tallyledger/tally/gateways"
)

// Xendit's disbursement callbacks become payout notifications naming our
// withdrawal; an invoice callback is still an invoice.
func TestDisbursementCallbacksArePayoutNotifications(t *testing.T) {
	g := newTestGateway(t)
	for _, tc := range []struct {
		file    string
		kind    gateways.Kind
		message string
	}{
		{"disbursement.completed.json", gateways.PayoutSucceeded, ""},
		{"disbursement.failed.json", gateways.PayoutFailed, "INVALID_DESTINATION"},
	} {
		t.Run(tc.file+" is "+string(tc.kind), func(t *testing.T) {
			body := fixture(t, tc.file)
			n, err := g.ParseWebhook(authed(), body)
			if err != nil {
				t.Fatal(err)
			}
			if n.Kind != tc.kind || n.WithdrawalID != "wd_01JD8T3X0M4Q7S2V9C6B5N1K8R" || n.GatewayReference != "67a1c3e9f2b8d40a5c6e7f81" ||
				n.Amount.Text('f') != "150000" || n.Message != tc.message || n.Raw != nil {
				t.Fatalf("got %+v", n)
			}
		})
	}
	t.Run("an invoice callback is not a disbursement", func(t *testing.T) {
		body := fixture(t, "invoice.paid.json")
		n, err := g.ParseWebhook(authed(), body)
		if err != nil || n.Kind != gateways.PaymentSucceeded || n.WithdrawalID != "" {
			t.Fatalf("got %+v, %v", n, err)
		}
	})
}
