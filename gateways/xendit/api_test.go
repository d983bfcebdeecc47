package xendit

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
)

func startFake(t *testing.T, status int, answer string) (*gatewaytest.Server, *Gateway) {
	t.Helper()
	return startFakeAnswer(t, gatewaytest.Answer{Status: status, Body: answer})
}

func startFakeAnswer(t *testing.T, a gatewaytest.Answer) (*gatewaytest.Server, *Gateway) {
	t.Helper()
	f := gatewaytest.NewServer(t, map[string]gatewaytest.Answer{"*": a})
	g, err := New(Config{SecretKey: testKey, CallbackToken: testToken, BaseURL: f.URL, HTTPClient: gatewaytest.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return f, g
}

var dec = gatewaytest.Decimal

const invoiceAnswer = `{"id":"579c8d61f23fa4ca35e52da4","external_id":"DEP-01HX","status":"PENDING","amount":50000,"invoice_url":"https://checkout.xendit.co/web/579c8d61f23fa4ca35e52da4"}`

func TestOpenCheckout(t *testing.T) {
	tests := []struct {
		name, amount, currency, sent string
	}{
		{"rupiah is sent as a whole major-unit number", "50000.00", "IDR", "50000"},
		{"pesos keep their centavos as an exact number", "150000.50", "PHP", "150000.50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, g := startFake(t, 200, invoiceAnswer)
			co, err := g.OpenCheckout(context.Background(), gateways.CheckoutRequest{
				Reference: "DEP-01HX", DepositID: "dep_01HX", Account: "acc_01HX", Amount: dec(t, tt.amount),
				Currency: tt.currency, Email: "payer@example.com", CallbackURL: "https://app.example/done",
			})
			if err != nil {
				t.Fatal(err)
			}
			if co.URL != "https://checkout.xendit.co/web/579c8d61f23fa4ca35e52da4" || co.GatewayReference != "579c8d61f23fa4ca35e52da4" {
				t.Errorf("checkout = %+v", co)
			}
			r := f.Last(t)
			user, pass, basic := r.BasicAuth()
			if r.Path != "/v2/invoices" || !basic || user != testKey || pass != "" {
				t.Errorf("request %s with basic auth %v %q:%q", r.Path, basic, user, pass)
			}
			if r.JSON["amount"] != json.Number(tt.sent) {
				t.Errorf("amount = %v, want the JSON number %s", r.JSON["amount"], tt.sent)
			}
			for k, v := range map[string]string{
				"external_id": "DEP-01HX", "currency": tt.currency, "payer_email": "payer@example.com",
				"success_redirect_url": "https://app.example/done",
			} {
				if r.JSON[k] != v {
					t.Errorf("%s = %v, want %v", k, r.JSON[k], v)
				}
			}
			if md, _ := r.JSON["metadata"].(map[string]any); md["tally_account"] != "acc_01HX" {
				t.Errorf("metadata = %v", r.JSON["metadata"])
			}
		})
	}
}

func TestOpenCheckoutRefusesWithoutCallingXendit(t *testing.T) {
	tests := []struct {
		name, amount, currency string
		want                   error
	}{
		{"rupiah cents are not payable and never rounded", "50000.50", "IDR", gateways.ErrInvalidAmount},
		{"a currency Xendit does not take is unsupported", "10", "NGN", gateways.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, g := startFake(t, 200, invoiceAnswer)
			_, err := g.OpenCheckout(context.Background(), gateways.CheckoutRequest{Reference: "DEP-1", Amount: dec(t, tt.amount), Currency: tt.currency})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if f.Calls("*") != 0 {
				t.Error("Xendit was called")
			}
		})
	}
}

func TestRefund(t *testing.T) {
	f, g := startFake(t, 200, `{"id":"rfd-1","invoice_id":"579c8d61f23fa4ca35e52da4","status":"PENDING","amount":10000,"currency":"IDR"}`)
	res, err := g.Refund(context.Background(), gateways.RefundRequest{
		RefundID: "ref_01", DepositReference: "DEP-01HX", GatewayReference: "579c8d61f23fa4ca35e52da4",
		Amount: dec(t, "10000.00"), Currency: "IDR", Reason: "customer changed their mind",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.GatewayRefundID != "rfd-1" || res.Status != gateways.RefundStatusPending {
		t.Errorf("result = %+v", res)
	}
	r := f.Last(t)
	user, _, _ := r.BasicAuth()
	if r.Path != "/refunds" || user != testKey || r.Header.Get("Idempotency-Key") != "tally-refund-ref_01" {
		t.Errorf("request %s, user %q, idempotency %q", r.Path, user, r.Header.Get("Idempotency-Key"))
	}
	want := map[string]any{
		"invoice_id": "579c8d61f23fa4ca35e52da4", "reference_id": "ref_01", "amount": json.Number("10000"),
		"currency": "IDR", "reason": "OTHERS",
	}
	for k, v := range want {
		if r.JSON[k] != v {
			t.Errorf("%s = %v, want %v", k, r.JSON[k], v)
		}
	}
	if md, _ := r.JSON["metadata"].(map[string]any); md["tally_reason"] != "customer changed their mind" || md["tally_refund"] != "ref_01" {
		t.Errorf("metadata = %v", r.JSON["metadata"])
	}
}

func TestRefundWithoutInvoiceIsUnsupported(t *testing.T) {
	f, g := startFake(t, 200, `{}`)
	_, err := g.Refund(context.Background(), gateways.RefundRequest{RefundID: "ref_1", Amount: dec(t, "1"), Currency: "IDR"})
	if !errors.Is(err, gateways.ErrUnsupported) || f.Calls("*") != 0 {
		t.Fatalf("err = %v, calls = %d", err, f.Calls("*"))
	}
}

func TestAPIFailuresAreGatewayErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		answer  string
		delay   time.Duration
		code    string
		timeout bool
	}{
		{name: "a 400 carries Xendit's error code", status: 400, answer: `{"error_code":"API_VALIDATION_ERROR","message":"amount must be a number"}`, code: "API_VALIDATION_ERROR"},
		{name: "a refused refund channel is a gateway error", status: 400, answer: `{"error_code":"REFUND_NOT_SUPPORTED","message":"not supported for this channel"}`, code: "REFUND_NOT_SUPPORTED"},
		{name: "a 503 is a gateway error", status: 503, answer: `{"error_code":"SERVER_ERROR","message":"down"}`, code: "SERVER_ERROR"},
		{name: "a slow gateway times out", status: 200, answer: invoiceAnswer, delay: time.Second, timeout: true},
	}
	for _, tt := range tests {
		for _, op := range []string{"open checkout", "refund"} {
			t.Run(op+": "+tt.name, func(t *testing.T) {
				_, g := startFakeAnswer(t, gatewaytest.Answer{Status: tt.status, Body: tt.answer, Delay: tt.delay})
				var err error
				if op == "refund" {
					_, err = g.Refund(context.Background(), gateways.RefundRequest{RefundID: "r", GatewayReference: "inv_1", Amount: dec(t, "1"), Currency: "IDR"})
				} else {
					_, err = g.OpenCheckout(context.Background(), gateways.CheckoutRequest{Reference: "DEP-1", Amount: dec(t, "1"), Currency: "IDR"})
				}
				var ge *gateways.GatewayError
				if !errors.As(err, &ge) {
					t.Fatalf("err = %v, want a *GatewayError", err)
				}
				if ge.Gateway != Name || ge.Op != op || ge.Code != tt.code || ge.Timeout != tt.timeout {
					t.Errorf("gateway error = %+v", ge)
				}
				if !tt.timeout && ge.StatusCode != tt.status {
					t.Errorf("status = %d, want %d", ge.StatusCode, tt.status)
				}
				if strings.Contains(err.Error(), testKey) {
					t.Error("the error leaks the secret key")
				}
			})
		}
	}
}

func TestNewWithoutSecretsIsNotConfigured(t *testing.T) {
	for _, cfg := range []Config{{}, {SecretKey: testKey}, {CallbackToken: testToken}} {
		if _, err := New(cfg); !errors.Is(err, gateways.ErrNotConfigured) {
			t.Errorf("New(%+v) err = %v", cfg, err)
		}
	}
}
