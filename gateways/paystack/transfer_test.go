package paystack

import (
	"bytes"
	"context"
	"testing"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
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

// A payout whose outcome Tally cannot know stays pending (OutcomeUnknown); only an answer that
// says no, or a failure before POST /transfer, fails it with the money back.
func TestPayoutOutcomes(t *testing.T) {
	recipient := gatewaytest.Answer{Status: 200, Body: string(gatewaytest.Fixture(t, "transferrecipient.created.json"))}
	duplicate := gatewaytest.Answer{Status: 400, Body: string(gatewaytest.Fixture(t, "transfer.duplicate_reference.json"))}
	for _, tc := range []struct {
		name    string
		answers map[string]gatewaytest.Answer
		unknown bool
	}{
		{"a reused reference whose transfer cannot be read back is unknown", map[string]gatewaytest.Answer{
			"POST /transferrecipient": recipient, "POST /transfer": duplicate,
			"GET /transfer/verify/wd_01": {Status: 404, Body: `{"status":false,"message":"Transfer not found"}`},
		}, true},
		{"a transfer answered 200 but unreadable is unknown", map[string]gatewaytest.Answer{
			"POST /transferrecipient": recipient, "POST /transfer": {Status: 200, Body: `{"status":true,"data":`},
		}, true},
		{"a transfer answered 200 with status false is unknown", map[string]gatewaytest.Answer{
			"POST /transferrecipient": recipient, "POST /transfer": {Status: 200, Body: `{"status":false,"message":"try again"}`},
		}, true},
		{"a transfer refused with a 4xx is a refusal", map[string]gatewaytest.Answer{
			"POST /transferrecipient": recipient, "POST /transfer": {Status: 400, Body: string(gatewaytest.Fixture(t, "transfer.insufficient_balance.json"))},
		}, false},
		{"a recipient that cannot be set up is a refusal: no transfer was sent", map[string]gatewaytest.Answer{
			"POST /transferrecipient": {Status: 500, Body: `{"status":false,"message":"upstream"}`},
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := gatewaytest.NewServer(t, tc.answers)
			g, err := New(Config{SecretKey: testSecret, BaseURL: f.URL, HTTPClient: gatewaytest.Client()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = g.Payout(context.Background(), gateways.PayoutRequest{WithdrawalID: "wd_01", Amount: dec(t, "2000.00"), Currency: "NGN",
				BankCode: "058", AccountNumber: "0123456789", AccountName: "Ada Obi"})
			if err == nil {
				t.Fatal("the payout succeeded")
			}
			if got := gateways.OutcomeUnknown(err); got != tc.unknown {
				t.Fatalf("OutcomeUnknown(%v) = %v, want %v", err, got, tc.unknown)
			}
			if _, answers := tc.answers["POST /transfer"]; !answers && f.Calls("POST /transfer") > 0 {
				t.Fatal("a transfer was sent after its recipient failed")
			}
		})
	}
}
