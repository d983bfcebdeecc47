package stripe

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
)

type answer = gatewaytest.Answer

func startFake(t *testing.T, answers map[string]answer) (*gatewaytest.Server, *Gateway) {
	t.Helper()
	f := gatewaytest.NewServer(t, answers)
	g, err := New(Config{
		SecretKey: testKey, WebhookSecret: testSecret, BaseURL: f.URL,
		HTTPClient:        gatewaytest.Client(),
		ReturnURL:         "https://tally.example/return",
		MaxNetworkRetries: -1, // a test must see each failure once, not after stripe-go's backoff
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, g
}

var dec = gatewaytest.Decimal

const sessionAnswer = `{"id":"cs_test_1","object":"checkout.session","url":"https://checkout.stripe.com/c/pay/cs_test_1"}`

func TestOpenCheckout(t *testing.T) {
	tests := []struct {
		name, amount, currency, unitAmount string
	}{
		{"5000.00 NGN is sent as 500000 minor units", "5000.00", "NGN", "500000"},
		{"5000 JPY is sent as 5000 because yen is zero-decimal", "5000", "JPY", "5000"},
		{"1.250 KWD is sent as 1250 because dinar is three-decimal", "1.250", "KWD", "1250"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, g := startFake(t, map[string]answer{"POST /v1/checkout/sessions": {Status: 200, Body: sessionAnswer}})
			co, err := g.OpenCheckout(context.Background(), gateways.CheckoutRequest{
				Reference: "DEP-01HX", DepositID: "dep_01HX", Account: "acc_01HX",
				Amount: dec(t, tt.amount), Currency: tt.currency, Email: "payer@example.com",
			})
			if err != nil {
				t.Fatal(err)
			}
			if co.URL != "https://checkout.stripe.com/c/pay/cs_test_1" || co.GatewayReference != "cs_test_1" {
				t.Errorf("checkout = %+v", co)
			}
			r := f.Last(t)
			if r.Header.Get("Authorization") != "Bearer "+testKey || r.Header.Get("Idempotency-Key") != "tally-checkout-dep_01HX" {
				t.Errorf("auth %q, idempotency key %q", r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"))
			}
			want := map[string]string{
				"mode":                                           "payment",
				"client_reference_id":                            "DEP-01HX",
				"customer_email":                                 "payer@example.com",
				"success_url":                                    "https://tally.example/return",
				"line_items[0][quantity]":                        "1",
				"line_items[0][price_data][currency]":            strings.ToLower(tt.currency),
				"line_items[0][price_data][unit_amount]":         tt.unitAmount,
				"metadata[tally_reference]":                      "DEP-01HX",
				"metadata[tally_account]":                        "acc_01HX",
				"payment_intent_data[metadata][tally_reference]": "DEP-01HX",
				"payment_intent_data[metadata][tally_account]":   "acc_01HX",
			}
			for k, v := range want {
				if got := r.Form.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestOpenCheckoutNeverRoundsAnAmount(t *testing.T) {
	f, g := startFake(t, map[string]answer{"POST /v1/checkout/sessions": {Status: 200, Body: sessionAnswer}})
	_, err := g.OpenCheckout(context.Background(), gateways.CheckoutRequest{Reference: "DEP-1", Amount: dec(t, "10.5"), Currency: "JPY"})
	if !errors.Is(err, gateways.ErrInvalidAmount) {
		t.Fatalf("err = %v", err)
	}
	if f.Calls("*") != 0 {
		t.Error("Stripe was called")
	}
}

func TestRefund(t *testing.T) {
	f, g := startFake(t, map[string]answer{
		"POST /v1/refunds": {Status: 200, Body: `{"id":"re_9","object":"refund","status":"pending","amount":500,"currency":"usd"}`},
	})
	res, err := g.Refund(context.Background(), gateways.RefundRequest{
		RefundID: "ref_01", DepositReference: "DEP-1", GatewayReference: "pi_1",
		Amount: dec(t, "5.00"), Currency: "USD", Reason: "duplicate order",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.GatewayRefundID != "re_9" || res.Status != gateways.RefundStatusPending {
		t.Errorf("result = %+v", res)
	}
	r := f.Last(t)
	if r.Path != "/v1/refunds" || r.Header.Get("Idempotency-Key") != "tally-refund-ref_01" {
		t.Errorf("path %s, idempotency key %q", r.Path, r.Header.Get("Idempotency-Key"))
	}
	for k, v := range map[string]string{
		"payment_intent": "pi_1", "amount": "500", "metadata[tally_refund]": "ref_01",
		"metadata[tally_reference]": "DEP-1", "metadata[tally_reason]": "duplicate order",
	} {
		if got := r.Form.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestRefundResolvesACheckoutSessionToItsPaymentIntent(t *testing.T) {
	f, g := startFake(t, map[string]answer{
		"GET /v1/checkout/sessions/cs_test_1": {Status: 200, Body: `{"id":"cs_test_1","object":"checkout.session","payment_intent":"pi_77"}`},
		"POST /v1/refunds":                    {Status: 200, Body: `{"id":"re_1","object":"refund","status":"succeeded"}`},
	})
	res, err := g.Refund(context.Background(), gateways.RefundRequest{
		RefundID: "ref_02", GatewayReference: "cs_test_1", Amount: dec(t, "1"), Currency: "USD",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != gateways.RefundStatusSucceeded {
		t.Errorf("status = %s", res.Status)
	}
	if got := f.Last(t).Form.Get("payment_intent"); got != "pi_77" {
		t.Errorf("payment_intent = %q", got)
	}
}

func TestRefundWithoutPaymentIntentIsUnsupported(t *testing.T) {
	_, g := startFake(t, map[string]answer{
		"GET /v1/checkout/sessions/cs_test_1": {Status: 200, Body: `{"id":"cs_test_1","object":"checkout.session","payment_intent":null}`},
	})
	_, err := g.Refund(context.Background(), gateways.RefundRequest{RefundID: "r", GatewayReference: "cs_test_1", Amount: dec(t, "1"), Currency: "USD"})
	if !errors.Is(err, gateways.ErrUnsupported) {
		t.Fatalf("err = %v", err)
	}
}

func TestAPIFailuresAreGatewayErrors(t *testing.T) {
	tests := []struct {
		name    string
		answer  answer
		status  int
		code    string
		timeout bool
	}{
		{"a 400 carries Stripe's code and message", answer{Status: 400, Body: `{"error":{"type":"invalid_request_error","code":"amount_too_small","message":"Amount must be at least 50 cents"}}`}, 400, "amount_too_small", false},
		{"a 401 is a gateway error", answer{Status: 401, Body: `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}`}, 401, "", false},
		{"a 500 is a gateway error", answer{Status: 500, Body: `{"error":{"type":"api_error","message":"boom"}}`}, 500, "", false},
		{"a slow gateway times out", answer{Status: 200, Body: sessionAnswer, Delay: time.Second}, 0, "", true},
	}
	for _, tt := range tests {
		for _, op := range []string{"open checkout", "refund"} {
			t.Run(op+": "+tt.name, func(t *testing.T) {
				_, g := startFake(t, map[string]answer{"POST /v1/checkout/sessions": tt.answer, "POST /v1/refunds": tt.answer})
				var err error
				if op == "refund" {
					_, err = g.Refund(context.Background(), gateways.RefundRequest{RefundID: "r", GatewayReference: "pi_1", Amount: dec(t, "1"), Currency: "USD"})
				} else {
					_, err = g.OpenCheckout(context.Background(), gateways.CheckoutRequest{Reference: "DEP-1", Amount: dec(t, "1"), Currency: "USD"})
				}
				var ge *gateways.GatewayError
				if !errors.As(err, &ge) {
					t.Fatalf("err = %v, want a *GatewayError", err)
				}
				if ge.Gateway != Name || ge.Op != op || ge.StatusCode != tt.status || ge.Code != tt.code || ge.Timeout != tt.timeout {
					t.Errorf("gateway error = %+v", ge)
				}
				if strings.Contains(err.Error(), testKey) {
					t.Error("the error leaks the secret key")
				}
			})
		}
	}
}

func TestNewWithoutSecretsIsNotConfigured(t *testing.T) {
	for _, cfg := range []Config{{}, {SecretKey: testKey}, {WebhookSecret: testSecret}} {
		if _, err := New(cfg); !errors.Is(err, gateways.ErrNotConfigured) {
			t.Errorf("New(%+v) err = %v", cfg, err)
		}
	}
}
