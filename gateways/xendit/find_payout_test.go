package xendit

import (
	"context"
	"testing"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
)

// FindPayout lists the disbursements with our withdrawal id as external_id; the answer is an
// array of disbursement objects in Xendit's shape (testdata/disbursement.*.json).
func TestFindPayout(t *testing.T) {
	list := func(files ...string) string {
		out := "["
		for i, f := range files {
			if i > 0 {
				out += ","
			}
			out += string(fixture(t, f))
		}
		return out + "]"
	}
	const wd = "wd_01JD8T3X0M4Q7S2V9C6B5N1K8R"
	for _, tc := range []struct {
		name    string
		answer  gatewaytest.Answer
		found   bool
		status  gateways.PayoutStatus
		message string
		fails   bool
	}{
		{"a pending disbursement is found pending", gatewaytest.Answer{Status: 200, Body: list("disbursement.created.json")}, true, gateways.PayoutStatusPending, "", false},
		{"COMPLETED settles it", gatewaytest.Answer{Status: 200, Body: list("disbursement.completed.json")}, true, gateways.PayoutStatusSucceeded, "", false},
		{"FAILED fails it with its failure code", gatewaytest.Answer{Status: 200, Body: list("disbursement.failed.json")}, true, gateways.PayoutStatusFailed, "INVALID_DESTINATION", false},
		{"Xendit's 404 says no disbursement has the external_id", gatewaytest.Answer{Status: 404,
			Body: `{"error_code":"DIRECT_DISBURSEMENT_NOT_FOUND_ERROR","message":"Direct disbursement not found"}`}, false, "", "", false},
		{"another 404 is an error, never a not-found", gatewaytest.Answer{Status: 404, Body: `{"error_code":"NOT_FOUND","message":"no route"}`}, false, "", "", true},
		{"a 5xx is an error", gatewaytest.Answer{Status: 503, Body: `{"error_code":"SERVER_ERROR","message":"down"}`}, false, "", "", true},
		{"two disbursements for one withdrawal are not guessed between", gatewaytest.Answer{Status: 200,
			Body: list("disbursement.completed.json", "disbursement.failed.json")}, false, "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := gatewaytest.NewServer(t, map[string]gatewaytest.Answer{"GET /disbursements": tc.answer})
			g, err := New(Config{SecretKey: testKey, CallbackToken: testToken, BaseURL: f.URL, HTTPClient: gatewaytest.Client()})
			if err != nil {
				t.Fatal(err)
			}
			got, found, err := g.FindPayout(context.Background(), gateways.PayoutQuery{WithdrawalID: wd, Currency: "IDR"})
			if q := f.Last(t).Query.Get("external_id"); q != wd {
				t.Fatalf("external_id %q", q)
			}
			if tc.fails {
				if err == nil || found {
					t.Fatalf("found %v, err %v: want an error", found, err)
				}
				return
			}
			if err != nil || found != tc.found || got.Status != tc.status || got.Message != tc.message {
				t.Fatalf("got %+v found %v err %v", got, found, err)
			}
			if found && (got.GatewayReference != "67a1c3e9f2b8d40a5c6e7f81" || got.Amount.Text('f') != "150000" || got.Currency != "IDR") {
				t.Fatalf("got %+v", got)
			}
		})
	}
	t.Run("only IDR disbursements exist", func(t *testing.T) {
		g := newTestGateway(t)
		if _, _, err := g.FindPayout(context.Background(), gateways.PayoutQuery{WithdrawalID: wd, Currency: "USD"}); err == nil {
			t.Fatal("a USD payout was looked up")
		}
	})
}
