package stripe

import (
	"context"
	"errors"
	"testing"

	"github.com/tallyledger/tally/gateways"
)

func TestFindRefund(t *testing.T) {
	ctx := context.Background()
	_, g := startFake(t, map[string]answer{
		"GET /v1/refunds/re_done":    {Status: 200, Body: `{"id":"re_done","object":"refund","status":"succeeded","amount":1000,"currency":"usd"}`},
		"GET /v1/refunds/re_refused": {Status: 200, Body: `{"id":"re_refused","object":"refund","status":"failed","amount":1000,"currency":"usd"}`},
		"GET /v1/refunds/re_gone":    {Status: 404, Body: `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such refund"}}`},
		"GET /v1/refunds/re_flaky":   {Status: 500, Body: `{"error":{"type":"api_error","message":"internal"}}`},
	})
	for _, tc := range []struct {
		name        string
		id          string
		want        gateways.RefundResult
		found, fail bool
	}{
		{"a settled refund is found succeeded", "re_done", gateways.RefundResult{GatewayRefundID: "re_done", Status: gateways.RefundStatusSucceeded}, true, false},
		{"a failed refund is found failed", "re_refused", gateways.RefundResult{GatewayRefundID: "re_refused", Status: gateways.RefundStatusFailed}, true, false},
		{"a 404 means Stripe has no such refund", "re_gone", gateways.RefundResult{}, false, false},
		{"a 5xx tells nothing", "re_flaky", gateways.RefundResult{}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, found, err := g.FindRefund(ctx, gateways.RefundQuery{RefundID: "ref_01", GatewayRefundID: tc.id})
			if got != tc.want || found != tc.found || (err != nil) != tc.fail {
				t.Fatalf("FindRefund = %+v, %v, %v", got, found, err)
			}
		})
	}
	t.Run("without Stripe's id it cannot tell", func(t *testing.T) {
		if _, found, err := g.FindRefund(ctx, gateways.RefundQuery{RefundID: "ref_01"}); found || !errors.Is(err, gateways.ErrUnsupported) {
			t.Fatalf("found %v, err %v", found, err)
		}
	})
}

// The idempotency key the caller gives is the one Stripe receives.
func TestRefundSendsTheRequestsIdempotencyKey(t *testing.T) {
	f, g := startFake(t, map[string]answer{
		"POST /v1/refunds": {Status: 200, Body: `{"id":"re_1","object":"refund","status":"pending","amount":1000,"currency":"usd"}`},
	})
	req := gateways.RefundRequest{RefundID: "ref_01", IdempotencyKey: gateways.RefundIdempotencyKey("ref_01"), DepositReference: "DEP-1",
		GatewayReference: "pi_1", Amount: dec(t, "10.00"), Currency: "USD"}
	if _, err := g.Refund(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := f.Last(t).Header.Get("Idempotency-Key"); got != "tally-refund-ref_01" {
		t.Fatalf("Idempotency-Key %q", got)
	}
}
