package paystack

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
)

func startFake(t *testing.T, status int, answer []byte) (*gatewaytest.Server, *Gateway) {
	t.Helper()
	f := gatewaytest.NewServer(t, map[string]gatewaytest.Answer{"*": {Status: status, Body: string(answer)}})
	g, err := New(Config{SecretKey: testSecret, BaseURL: f.URL, HTTPClient: gatewaytest.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return f, g
}

var dec = gatewaytest.Decimal

func checkoutRequest(t testing.TB, amount, currency string) gateways.CheckoutRequest {
	return gateways.CheckoutRequest{
		Reference: "DEP-01HXAMPLE", DepositID: "dep_01HX", Account: "acc_01HX",
		Amount: dec(t, amount), Currency: currency, Email: "payer@example.com",
		CallbackURL: "https://app.example.com/done",
	}
}

func TestOpenCheckout(t *testing.T) {
	f, g := startFake(t, http.StatusOK, fixture(t, "initialize.response.json"))
	co, err := g.OpenCheckout(context.Background(), checkoutRequest(t, "5000.00", "NGN"))
	if err != nil {
		t.Fatal(err)
	}
	if co.URL != "https://checkout.paystack.com/3ni8kdavz62431k" || co.GatewayReference != "3ni8kdavz62431k" {
		t.Errorf("checkout = %+v", co)
	}
	r := f.Last(t)
	if r.Method != http.MethodPost || r.Path != "/transaction/initialize" {
		t.Errorf("request = %s %s", r.Method, r.Path)
	}
	if auth := r.Header.Get("Authorization"); auth != "Bearer "+testSecret {
		t.Errorf("authorization = %q", auth)
	}
	want := map[string]any{
		"amount": "500000", "currency": "NGN", "reference": "DEP-01HXAMPLE",
		"email": "payer@example.com", "callback_url": "https://app.example.com/done",
	}
	for k, v := range want {
		if r.JSON[k] != v {
			t.Errorf("body[%s] = %v, want %v", k, r.JSON[k], v)
		}
	}
	md, _ := r.JSON["metadata"].(map[string]any)
	if md["tally_account"] != "acc_01HX" || md["tally_deposit"] != "dep_01HX" || md["tally_reference"] != "DEP-01HXAMPLE" {
		t.Errorf("metadata = %v", md)
	}
}

func TestOpenCheckoutRefusesWithoutCallingPaystack(t *testing.T) {
	tests := []struct {
		name             string
		amount, currency string
		want             error
	}{
		{"a currency Paystack does not take is unsupported", "5000", "JPY", gateways.ErrUnsupported},
		{"an amount finer than kobo is never rounded", "1.001", "NGN", gateways.ErrInvalidAmount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, g := startFake(t, http.StatusOK, fixture(t, "initialize.response.json"))
			_, err := g.OpenCheckout(context.Background(), checkoutRequest(t, tt.amount, tt.currency))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if f.Calls("*") != 0 {
				t.Error("Paystack was called")
			}
		})
	}
}

func TestAPIFailuresAreGatewayErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		answer  string
		delay   time.Duration
		timeout bool
		message string
	}{
		{name: "a 400 carries Paystack's message", status: 400, answer: `{"status":false,"message":"Duplicate Transaction Reference"}`, message: "Duplicate Transaction Reference"},
		{name: "a 401 is a gateway error", status: 401, answer: `{"status":false,"message":"Invalid key"}`, message: "Invalid key"},
		{name: "a 500 with an HTML body is a gateway error", status: 500, answer: `<html>oops</html>`},
		{name: "a 200 with status false is a gateway error", status: 200, answer: `{"status":false,"message":"Currency not supported by merchant"}`, message: "Currency not supported by merchant"},
		{name: "a 200 that is not JSON is a gateway error", status: 200, answer: `<html>`},
		{name: "a slow gateway times out", status: 200, answer: `{}`, delay: time.Second, timeout: true},
	}
	for _, tt := range tests {
		for _, op := range []string{"open checkout", "refund"} {
			t.Run(op+": "+tt.name, func(t *testing.T) {
				f := gatewaytest.NewServer(t, map[string]gatewaytest.Answer{"*": {Status: tt.status, Body: tt.answer, Delay: tt.delay}})
				g, err := New(Config{SecretKey: testSecret, BaseURL: f.URL, HTTPClient: gatewaytest.Client()})
				if err != nil {
					t.Fatal(err)
				}
				if op == "refund" {
					_, err = g.Refund(context.Background(), gateways.RefundRequest{
						RefundID: "ref_1", DepositReference: "DEP-1", Amount: dec(t, "10"), Currency: "NGN",
					})
				} else {
					_, err = g.OpenCheckout(context.Background(), checkoutRequest(t, "10", "NGN"))
				}
				var ge *gateways.GatewayError
				if !errors.As(err, &ge) {
					t.Fatalf("err = %v, want a *GatewayError", err)
				}
				if ge.Gateway != Name || ge.Op != op || ge.Timeout != tt.timeout {
					t.Errorf("gateway error = %+v", ge)
				}
				if !tt.timeout && ge.StatusCode != tt.status {
					t.Errorf("status = %d, want %d", ge.StatusCode, tt.status)
				}
				if tt.message != "" && ge.Message != tt.message {
					t.Errorf("message = %q, want %q", ge.Message, tt.message)
				}
				if strings.Contains(err.Error(), testSecret) {
					t.Error("the error leaks the secret key")
				}
			})
		}
	}
}

func TestRefund(t *testing.T) {
	f, g := startFake(t, http.StatusOK, fixture(t, "refund.create.response.json"))
	res, err := g.Refund(context.Background(), gateways.RefundRequest{
		RefundID: "ref_01HX", DepositReference: "DEP-01HXAMPLE", GatewayReference: "1004723697",
		Amount: dec(t, "100.00"), Currency: "NGN", Reason: "customer asked",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.GatewayRefundID != "3018284" || res.Status != gateways.RefundStatusPending {
		t.Errorf("result = %+v", res)
	}
	r := f.Last(t)
	if r.Path != "/refund" || r.Header.Get("Authorization") != "Bearer "+testSecret {
		t.Errorf("request = %s with %q", r.Path, r.Header.Get("Authorization"))
	}
	if r.JSON["transaction"] != "DEP-01HXAMPLE" {
		t.Errorf("transaction = %v, want our reference", r.JSON["transaction"])
	}
	if r.JSON["amount"] != json.Number("10000") {
		t.Errorf("amount = %v, want 10000 kobo", r.JSON["amount"])
	}
	if note, _ := r.JSON["merchant_note"].(string); !strings.Contains(note, "ref_01HX") {
		t.Errorf("merchant note = %q, want our refund id", note)
	}
}

func TestNewWithoutSecretIsNotConfigured(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, gateways.ErrNotConfigured) {
		t.Fatalf("err = %v", err)
	}
}
