package paystack

import (
	"context"
	"testing"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
)

// FindPayout verifies our transfer by its reference, in Paystack's answer shape
// (testdata/transfer.verify.response.json); only conclusive statuses settle it.
func TestFindPayout(t *testing.T) {
	verify := gatewaytest.Fixture(t, "transfer.verify.response.json")
	withStatus := func(status string) string {
		return string(gatewaytest.Rewrite(t, verify, func(obj map[string]any) {
			obj["data"].(map[string]any)["status"] = status
		}))
	}
	const route = "GET /transfer/verify/wd_01jd8t3x0m4q7s2v9c6b5n1k8r"
	for _, tc := range []struct {
		name   string
		answer gatewaytest.Answer
		found  bool
		status gateways.PayoutStatus
		fails  bool
	}{
		{"a pending transfer is found pending", gatewaytest.Answer{Status: 200, Body: string(verify)}, true, gateways.PayoutStatusPending, false},
		{"success settles it", gatewaytest.Answer{Status: 200, Body: withStatus("success")}, true, gateways.PayoutStatusSucceeded, false},
		{"failed fails it", gatewaytest.Answer{Status: 200, Body: withStatus("failed")}, true, gateways.PayoutStatusFailed, false},
		{"abandoned fails it", gatewaytest.Answer{Status: 200, Body: withStatus("abandoned")}, true, gateways.PayoutStatusFailed, false},
		{"reversed is a reversal", gatewaytest.Answer{Status: 200, Body: withStatus("reversed")}, true, gateways.PayoutStatusReversed, false},
		{"otp is not conclusive: still pending", gatewaytest.Answer{Status: 200, Body: withStatus("otp")}, true, gateways.PayoutStatusPending, false},
		{"Paystack's 404 says no transfer has the reference", gatewaytest.Answer{Status: 404, Body: `{"status":false,"message":"Transfer not found"}`}, false, "", false},
		{"a 5xx is an error, never a not-found", gatewaytest.Answer{Status: 502, Body: `{"status":false,"message":"upstream"}`}, false, "", true},
		{"status false in a 200 is an error", gatewaytest.Answer{Status: 200, Body: `{"status":false,"message":"try again"}`}, false, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := gatewaytest.NewServer(t, map[string]gatewaytest.Answer{route: tc.answer})
			g, err := New(Config{SecretKey: testSecret, BaseURL: f.URL, HTTPClient: gatewaytest.Client()})
			if err != nil {
				t.Fatal(err)
			}
			got, found, err := g.FindPayout(context.Background(), gateways.PayoutQuery{WithdrawalID: "wd_01JD8T3X0M4Q7S2V9C6B5N1K8R", Currency: "NGN"})
			if tc.fails {
				if err == nil || found {
					t.Fatalf("found %v, err %v: want an error", found, err)
				}
				return
			}
			if err != nil || found != tc.found || got.Status != tc.status {
				t.Fatalf("got %+v found %v err %v", got, found, err)
			}
			if f.Calls(route) != 1 {
				t.Fatalf("requests %+v", f.Requests())
			}
			if found && (got.GatewayReference != "TRF_3nq8z1xw5kd0p2ve" || got.Amount.Text('f') != "2000.00" || got.Currency != "NGN") {
				t.Fatalf("got %+v", got)
			}
		})
	}
}
