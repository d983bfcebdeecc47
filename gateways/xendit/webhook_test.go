package xendit

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
)

const (
	testKey   = "xnd_development_P4qDfOss0OCpl8RtKrROHjaQYNCk9dN5lSfk"
	testToken = "cb_token_MTIzNDU2Nzg5MA"
)

func authed() http.Header {
	h := http.Header{}
	h.Set("x-callback-token", testToken)
	return h
}

var fixture = gatewaytest.Fixture

// with rewrites top-level fields of a callback (nil deletes one), keeping every number's exact text.
func with(t testing.TB, body []byte, changes map[string]any) []byte {
	t.Helper()
	return gatewaytest.Rewrite(t, body, func(cb map[string]any) { gatewaytest.Set(cb, changes) })
}

func newTestGateway(t testing.TB) *Gateway {
	t.Helper()
	g, err := New(Config{SecretKey: testKey, CallbackToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestParseWebhook(t *testing.T) {
	g := newTestGateway(t)
	paid := fixture(t, "invoice.paid.json")
	refund := fixture(t, "refund.succeeded.json")
	tests := []struct {
		name             string
		body             []byte
		kind             gateways.Kind
		eventID          string
		amount, currency string
		reference        string
		gatewayRef       string
		refundRef        string
		refundID         string
		account          string
	}{
		{
			name: "PAID invoice credits the deposit named by external_id",
			body: paid, kind: gateways.PaymentSucceeded, eventID: "593f4ed1c3d3bb7f39733d83:PAID",
			amount: "2000000", currency: "IDR", reference: "testing-invoice", gatewayRef: "593f4ed1c3d3bb7f39733d83",
		},
		{
			name: "SETTLED invoice is the same payment with another event id",
			body: with(t, paid, map[string]any{"status": "SETTLED"}), kind: gateways.PaymentSucceeded,
			eventID: "593f4ed1c3d3bb7f39733d83:SETTLED", amount: "2000000", currency: "IDR",
			reference: "testing-invoice", gatewayRef: "593f4ed1c3d3bb7f39733d83",
		},
		{
			name: "a fractional JSON number stays exact: 150000.5 is not 150000.49999",
			body: with(t, paid, map[string]any{"amount": json.Number("150000.5"), "paid_amount": json.Number("150000.5"), "currency": "PHP"}),
			kind: gateways.PaymentSucceeded, eventID: "593f4ed1c3d3bb7f39733d83:PAID", amount: "150000.5", currency: "PHP",
			reference: "testing-invoice", gatewayRef: "593f4ed1c3d3bb7f39733d83",
		},
		{
			name: "a number beyond float64 precision keeps every digit",
			body: with(t, paid, map[string]any{"paid_amount": json.Number("90071992547409930.01")}),
			kind: gateways.PaymentSucceeded, eventID: "593f4ed1c3d3bb7f39733d83:PAID", amount: "90071992547409930.01", currency: "IDR",
			reference: "testing-invoice", gatewayRef: "593f4ed1c3d3bb7f39733d83",
		},
		{
			name: "paid_amount, what arrived, wins over the invoice amount",
			body: with(t, paid, map[string]any{"paid_amount": json.Number("1999000")}),
			kind: gateways.PaymentSucceeded, eventID: "593f4ed1c3d3bb7f39733d83:PAID", amount: "1999000", currency: "IDR",
			reference: "testing-invoice", gatewayRef: "593f4ed1c3d3bb7f39733d83",
		},
		{
			name: "metadata tally_account is read for unsolicited deposits",
			body: with(t, paid, map[string]any{"metadata": map[string]any{"tally_account": "acc_5"}}),
			kind: gateways.PaymentSucceeded, eventID: "593f4ed1c3d3bb7f39733d83:PAID", amount: "2000000", currency: "IDR",
			reference: "testing-invoice", gatewayRef: "593f4ed1c3d3bb7f39733d83", account: "acc_5",
		},
		{
			name: "EXPIRED invoice expires the deposit",
			body: with(t, paid, map[string]any{"status": "EXPIRED", "paid_amount": nil, "currency": "idr"}),
			kind: gateways.PaymentExpired, eventID: "593f4ed1c3d3bb7f39733d83:EXPIRED", amount: "2000000", currency: "IDR",
			reference: "testing-invoice", gatewayRef: "593f4ed1c3d3bb7f39733d83",
		},
		{
			name: "refund.succeeded settles our refund named by reference_id",
			body: refund, kind: gateways.RefundSucceeded, eventID: "rfd-6f4a377d-a201-437f-9119-f8b00cbbe857:SUCCEEDED",
			amount: "10000", currency: "IDR", reference: "testing-invoice", gatewayRef: "593f4ed1c3d3bb7f39733d83",
			refundRef: "rfd-6f4a377d-a201-437f-9119-f8b00cbbe857", refundID: "ref_01HXREFUND",
		},
		{
			name: "refund.failed returns the money to the wallet",
			body: bytes.Replace(bytes.Replace(refund, []byte(`"refund.succeeded"`), []byte(`"refund.failed"`), 1), []byte(`"SUCCEEDED"`), []byte(`"FAILED"`), 1),
			kind: gateways.RefundFailed, eventID: "rfd-6f4a377d-a201-437f-9119-f8b00cbbe857:FAILED",
			amount: "10000", currency: "IDR", reference: "testing-invoice", gatewayRef: "593f4ed1c3d3bb7f39733d83",
			refundRef: "rfd-6f4a377d-a201-437f-9119-f8b00cbbe857", refundID: "ref_01HXREFUND",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := g.ParseWebhook(authed(), tt.body)
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if n.Gateway != Name || n.Kind != tt.kind || n.EventID != tt.eventID {
				t.Errorf("gateway, kind, event = %s, %s, %s; want %s, %s, %s", n.Gateway, n.Kind, n.EventID, Name, tt.kind, tt.eventID)
			}
			if got := n.Amount.Text('f'); got != tt.amount || n.Currency != tt.currency {
				t.Errorf("amount = %s %s, want %s %s", got, n.Currency, tt.amount, tt.currency)
			}
			if n.Reference != tt.reference || n.GatewayReference != tt.gatewayRef || n.RefundReference != tt.refundRef || n.RefundID != tt.refundID {
				t.Errorf("references = %q %q %q %q; want %q %q %q %q", n.Reference, n.GatewayReference, n.RefundReference, n.RefundID,
					tt.reference, tt.gatewayRef, tt.refundRef, tt.refundID)
			}
			if n.Account != tt.account {
				t.Errorf("account = %q, want %q", n.Account, tt.account)
			}
		})
	}
}

func TestParseWebhookIgnores(t *testing.T) {
	g := newTestGateway(t)
	paid := fixture(t, "invoice.paid.json")
	tests := []struct {
		name string
		body []byte
	}{
		{"a PENDING invoice is ignored", with(t, paid, map[string]any{"status": "PENDING"})},
		{"a callback of another product is ignored", []byte(`{"event":"payment.succeeded","data":{"id":"py-1","amount":"x"}}`)},
		{"a virtual account callback without external invoice fields is ignored", []byte(`{"id":"57fb4e076fa3fa296b7f5a97","amount":50000,"callback_virtual_account_id":"57f"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := g.ParseWebhook(authed(), tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if n.Kind != gateways.Ignored || n.EventID == "" {
				t.Fatalf("got %+v", n)
			}
		})
	}
}

func TestParseWebhookRejects(t *testing.T) {
	g := newTestGateway(t)
	paid := fixture(t, "invoice.paid.json")
	token := func(tok string) http.Header {
		h := http.Header{}
		if tok != "" {
			h.Set("x-callback-token", tok)
		}
		return h
	}
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		want   error
	}{
		{"missing x-callback-token is rejected", token(""), paid, gateways.ErrInvalidSignature},
		{"wrong token is rejected", token("cb_token_other"), paid, gateways.ErrInvalidSignature},
		{"a prefix of the token is rejected", token(testToken[:10]), paid, gateways.ErrInvalidSignature},
		{"the token with a suffix is rejected", token(testToken + "x"), paid, gateways.ErrInvalidSignature},
		{"authenticated body that is not JSON is malformed", authed(), []byte("{"), gateways.ErrMalformed},
		{"an amount given as a non-number is malformed", authed(), with(t, paid, map[string]any{"paid_amount": true}), gateways.ErrMalformed},
		{"a negative amount is malformed", authed(), with(t, paid, map[string]any{"paid_amount": json.Number("-1")}), gateways.ErrMalformed},
		{"a paid invoice without currency is malformed", authed(), with(t, paid, map[string]any{"currency": nil}), gateways.ErrMalformed},
		{"a paid invoice without id is malformed", authed(), with(t, paid, map[string]any{"id": nil}), gateways.ErrMalformed},
		{"a huge exponent is malformed, not a huge computation", authed(), with(t, paid, map[string]any{"paid_amount": json.Number("1e999999999")}), gateways.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := g.ParseWebhook(tt.header, tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
