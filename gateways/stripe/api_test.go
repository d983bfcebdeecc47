package stripe

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/tallyledger/tally/gateways"
)

// request is what the fake Stripe received.
type request struct {
	method, path, auth, idempotencyKey string
	form                               url.Values
}

// fakeStripe answers each path with a canned status and JSON body and records the requests.
type fakeStripe struct {
	mu       sync.Mutex
	requests []request
	answers  map[string]answer
}

type answer struct {
	status int
	body   string
	delay  time.Duration
}

func (f *fakeStripe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	f.requests = append(f.requests, request{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), r.PostForm})
	a, ok := f.answers[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if !ok {
		a = answer{status: 404, body: `{"error":{"type":"invalid_request_error","message":"no such route"}}`}
	}
	if a.delay > 0 {
		select {
		case <-time.After(a.delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	w.Write([]byte(a.body))
}

func (f *fakeStripe) last(t *testing.T) request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("Stripe was not called")
	}
	return f.requests[len(f.requests)-1]
}

func startFake(t *testing.T, answers map[string]answer) (*fakeStripe, *Gateway) {
	t.Helper()
	f := &fakeStripe{answers: answers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	g, err := New(Config{
		SecretKey: testKey, WebhookSecret: testSecret, BaseURL: srv.URL,
		HTTPClient:        &http.Client{Timeout: 100 * time.Millisecond},
		ReturnURL:         "https://tally.example/return",
		MaxNetworkRetries: -1, // a test must see each failure once, not after stripe-go's backoff
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, g
}

func dec(t testing.TB, s string) apd.Decimal {
	t.Helper()
	d, _, err := apd.NewFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return *d
}

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
			f, g := startFake(t, map[string]answer{"POST /v1/checkout/sessions": {200, sessionAnswer, 0}})
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
			r := f.last(t)
			if r.auth != "Bearer "+testKey || r.idempotencyKey != "tally-checkout-dep_01HX" {
				t.Errorf("auth %q, idempotency key %q", r.auth, r.idempotencyKey)
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
				if got := r.form.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestOpenCheckoutNeverRoundsAnAmount(t *testing.T) {
	f, g := startFake(t, map[string]answer{"POST /v1/checkout/sessions": {200, sessionAnswer, 0}})
	_, err := g.OpenCheckout(context.Background(), gateways.CheckoutRequest{Reference: "DEP-1", Amount: dec(t, "10.5"), Currency: "JPY"})
	if !errors.Is(err, gateways.ErrInvalidAmount) {
		t.Fatalf("err = %v", err)
	}
	if len(f.requests) != 0 {
		t.Error("Stripe was called")
	}
}

func TestRefund(t *testing.T) {
	f, g := startFake(t, map[string]answer{
		"POST /v1/refunds": {200, `{"id":"re_9","object":"refund","status":"pending","amount":500,"currency":"usd"}`, 0},
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
	r := f.last(t)
	if r.path != "/v1/refunds" || r.idempotencyKey != "tally-refund-ref_01" {
		t.Errorf("path %s, idempotency key %q", r.path, r.idempotencyKey)
	}
	for k, v := range map[string]string{
		"payment_intent": "pi_1", "amount": "500", "metadata[tally_refund]": "ref_01",
		"metadata[tally_reference]": "DEP-1", "metadata[tally_reason]": "duplicate order",
	} {
		if got := r.form.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestRefundResolvesACheckoutSessionToItsPaymentIntent(t *testing.T) {
	f, g := startFake(t, map[string]answer{
		"GET /v1/checkout/sessions/cs_test_1": {200, `{"id":"cs_test_1","object":"checkout.session","payment_intent":"pi_77"}`, 0},
		"POST /v1/refunds":                    {200, `{"id":"re_1","object":"refund","status":"succeeded"}`, 0},
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
	if got := f.last(t).form.Get("payment_intent"); got != "pi_77" {
		t.Errorf("payment_intent = %q", got)
	}
}

func TestRefundWithoutPaymentIntentIsUnsupported(t *testing.T) {
	_, g := startFake(t, map[string]answer{
		"GET /v1/checkout/sessions/cs_test_1": {200, `{"id":"cs_test_1","object":"checkout.session","payment_intent":null}`, 0},
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
		{"a 400 carries Stripe's code and message", answer{400, `{"error":{"type":"invalid_request_error","code":"amount_too_small","message":"Amount must be at least 50 cents"}}`, 0}, 400, "amount_too_small", false},
		{"a 401 is a gateway error", answer{401, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}`, 0}, 401, "", false},
		{"a 500 is a gateway error", answer{500, `{"error":{"type":"api_error","message":"boom"}}`, 0}, 500, "", false},
		{"a slow gateway times out", answer{200, sessionAnswer, time.Second}, 0, "", true},
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
