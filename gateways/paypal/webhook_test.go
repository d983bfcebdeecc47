package paypal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
)

// delivered returns the headers PayPal sends with a webhook delivery.
func delivered() http.Header {
	h := http.Header{}
	h.Set("PAYPAL-TRANSMISSION-ID", "69cd13f0-d67a-11e5-baa3-778b53f4ae55")
	h.Set("PAYPAL-TRANSMISSION-TIME", "2024-05-14T09:19:05Z")
	h.Set("PAYPAL-TRANSMISSION-SIG", "lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrhdu2rMyFrmz+Zjh3s3boXB07VXCXUZy/UFzUlnGJn0wDugt7FlSvdKeIJenLRemUxYCPVoEZzg9VFNqOa48gMkvF+XTpxBeUx/kWy6B5cp7GkT2+pOowfRK7OaynuxUoKW3JcMWw272VKjLTtTAShncla7tGF+55rxyt2KNZIIqxNMJ48RDZheGU5w1npu9dZHnPgTXB9iomeVRoD8O/jhRpnKsGrDschyNdkeh81BJJMH4Ctc6lnCCquoP/GzCzz33MMsNdid7vL/NIWaCsekQpW26FpWPi/tfj8nLA==")
	h.Set("PAYPAL-CERT-URL", "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-5a29e601")
	h.Set("PAYPAL-AUTH-ALGO", "SHA256withRSA")
	return h
}

func TestWebhookVerification(t *testing.T) {
	body := fixture(t, "payment.capture.completed.json")
	t.Run("the delivery's headers, our webhook id and the event itself are sent to PayPal", func(t *testing.T) {
		f := fakePayPal(t)
		n, err := newGateway(t, f, nil).ParseWebhookContext(context.Background(), delivered(), body)
		if err != nil {
			t.Fatal(err)
		}
		if n.Kind != gateways.PaymentSucceeded {
			t.Errorf("kind = %s", n.Kind)
		}
		r := f.Last(t)
		if r.Path != "/v1/notifications/verify-webhook-signature" || r.Header.Get("Authorization") != "Bearer "+testToken {
			t.Fatalf("request %s with %q", r.Path, r.Header.Get("Authorization"))
		}
		want := map[string]string{
			"webhook_id": testWebhookID, "auth_algo": "SHA256withRSA", "transmission_id": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
			"transmission_time": "2024-05-14T09:19:05Z", "cert_url": delivered().Get("PAYPAL-CERT-URL"),
			"transmission_sig": delivered().Get("PAYPAL-TRANSMISSION-SIG"),
		}
		for k, v := range want {
			if r.JSON[k] != v {
				t.Errorf("%s = %v, want %v", k, r.JSON[k], v)
			}
		}
		event, ok := r.JSON["webhook_event"].(map[string]any)
		if !ok || event["id"] != "WH-2WR32451HC0233532-67976317FL4543714" {
			t.Errorf("webhook_event = %v, want the delivered event as an object", r.JSON["webhook_event"])
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, body); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(r.Body, compact.Bytes()) {
			t.Error("webhook_event is not the delivered event")
		}
	})

	tests := []struct {
		name   string
		answer *gatewaytest.Answer
		header http.Header
		body   []byte
		want   error
		calls  int
	}{
		{"PayPal's FAILURE is an invalid signature", &gatewaytest.Answer{Status: 200, Body: string(fixture(t, "verify-webhook-signature.failure.json"))}, delivered(), body, gateways.ErrInvalidSignature, 1},
		{"headers PayPal refuses (400) are an invalid signature", &gatewaytest.Answer{Status: 400, Body: `{"name":"VALIDATION_ERROR","message":"Invalid request - see details","details":[{"field":"cert_url","issue":"Invalid cert_url"}]}`}, delivered(), body, gateways.ErrInvalidSignature, 1},
		{"a delivery without PayPal's headers is refused without asking PayPal", nil, http.Header{}, body, gateways.ErrInvalidSignature, 0},
		{"a body that is not a JSON object is refused without asking PayPal", nil, delivered(), []byte(`[1,2]`), gateways.ErrInvalidSignature, 0},
		{"a verification API that fails is unavailable, not a verdict", &gatewaytest.Answer{Status: 500, Body: `{"name":"INTERNAL_SERVER_ERROR"}`}, delivered(), body, gateways.ErrVerificationUnavailable, 1},
		{"a verification API that times out is unavailable", &gatewaytest.Answer{Status: 200, Body: `{"verification_status":"SUCCESS"}`, Delay: time.Second}, delivered(), body, gateways.ErrVerificationUnavailable, 1},
		{"an answer that is neither SUCCESS nor FAILURE is unavailable", &gatewaytest.Answer{Status: 200, Body: `{}`}, delivered(), body, gateways.ErrVerificationUnavailable, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakePayPal(t)
			if tt.answer != nil {
				f.SetAnswer("POST /v1/notifications/verify-webhook-signature", *tt.answer)
			}
			_, err := newGateway(t, f, nil).ParseWebhookContext(context.Background(), tt.header, tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if n := f.Calls("POST /v1/notifications/verify-webhook-signature"); n != tt.calls {
				t.Errorf("%d verification calls, want %d", n, tt.calls)
			}
		})
	}
	t.Run("token failures make verification unavailable", func(t *testing.T) {
		f := fakePayPal(t)
		f.SetAnswer("POST /v1/oauth2/token", gatewaytest.Answer{Status: 503, Body: `<html>`})
		if _, err := newGateway(t, f, nil).ParseWebhook(delivered(), body); !errors.Is(err, gateways.ErrVerificationUnavailable) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestParseWebhook(t *testing.T) {
	tests := []struct {
		name                                       string
		body                                       []byte
		kind                                       gateways.Kind
		reference, gatewayRef, refundID, refundRef string
		amount, currency                           string
	}{
		{"an approved order asks for a capture of our reference's order", fixture(t, "checkout.order.approved.json"),
			gateways.PaymentApproved, "DEP-01HXA6F3Q4M1ZB9W2K7RT5YV8C", orderID, "", "", "25.00", "USD"},
		{"a completed capture is a success, named by the capture id", fixture(t, "payment.capture.completed.json"),
			gateways.PaymentSucceeded, "DEP-01HXA6F3Q4M1ZB9W2K7RT5YV8C", captureID, "", "", "25.00", "USD"},
		{"a denied capture is a failure", fixture(t, "payment.capture.denied.json"),
			gateways.PaymentFailed, "DEP-01HXA6F3Q4M1ZB9W2K7RT5YV8C", "7NW873794T343360M", "", "", "25.00", "USD"},
		{"a refund names the capture it refunds and echoes our refund id", fixture(t, "payment.capture.refunded.json"),
			gateways.RefundSucceeded, "", captureID, "ref_01HXC2N8J5V0Q3R7T9W4Y6Z1AB", "1JU08902781691411", "15.00", "USD"},
		{"a refund made in PayPal's dashboard carries no refund id of ours", withResource(t, fixture(t, "payment.capture.refunded.json"), map[string]any{"custom_id": nil, "invoice_id": nil}),
			gateways.RefundSucceeded, "", captureID, "", "1JU08902781691411", "15.00", "USD"},
		{"a yen capture is whole yen", withResource(t, fixture(t, "payment.capture.completed.json"), map[string]any{"amount": map[string]any{"currency_code": "JPY", "value": "5000"}}),
			gateways.PaymentSucceeded, "DEP-01HXA6F3Q4M1ZB9W2K7RT5YV8C", captureID, "", "", "5000", "JPY"},
		{"a capture with only custom_id still names our reference", withResource(t, fixture(t, "payment.capture.completed.json"), map[string]any{"invoice_id": nil}),
			gateways.PaymentSucceeded, "DEP-01HXA6F3Q4M1ZB9W2K7RT5YV8C", captureID, "", "", "25.00", "USD"},
	}
	f := fakePayPal(t)
	g := newGateway(t, f, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := g.ParseWebhook(delivered(), tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if n.Gateway != Name || n.Kind != tt.kind || n.Reference != tt.reference || n.GatewayReference != tt.gatewayRef ||
				n.RefundID != tt.refundID || n.RefundReference != tt.refundRef || n.EventID == "" {
				t.Errorf("notification = %+v", n)
			}
			if n.Amount.String() != tt.amount || n.Currency != tt.currency {
				t.Errorf("amount = %s %s, want %s %s", n.Amount.String(), n.Currency, tt.amount, tt.currency)
			}
		})
	}
}

func TestParseWebhookIgnoresAndRejects(t *testing.T) {
	completed := fixture(t, "payment.capture.completed.json")
	tests := []struct {
		name string
		body []byte
		want error // nil: ignored
	}{
		{"a pending capture is waited past", withEvent(t, completed, map[string]any{"event_type": "PAYMENT.CAPTURE.PENDING"}), nil},
		{"an event type Tally does not consume is ignored", withEvent(t, completed, map[string]any{"event_type": "CUSTOMER.DISPUTE.CREATED"}), nil},
		{"an event without an id is malformed", withEvent(t, completed, map[string]any{"id": nil}), gateways.ErrMalformed},
		{"a capture without an amount is malformed", withResource(t, completed, map[string]any{"amount": nil}), gateways.ErrMalformed},
		{"a negative amount is malformed", withResource(t, completed, map[string]any{"amount": map[string]any{"currency_code": "USD", "value": "-25.00"}}), gateways.ErrMalformed},
		{"an amount in exponent form is malformed", withResource(t, completed, map[string]any{"amount": map[string]any{"currency_code": "USD", "value": "2.5e1"}}), gateways.ErrMalformed},
		{"an amount that is a JSON number is malformed", withResource(t, completed, map[string]any{"amount": map[string]any{"currency_code": "USD", "value": 25}}), gateways.ErrMalformed},
		{"a refund that names no capture is malformed", withResource(t, fixture(t, "payment.capture.refunded.json"), map[string]any{"links": []any{}}), gateways.ErrMalformed},
		{"an order without purchase units is malformed", withResource(t, fixture(t, "checkout.order.approved.json"), map[string]any{"purchase_units": []any{}}), gateways.ErrMalformed},
	}
	f := fakePayPal(t)
	g := newGateway(t, f, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := g.ParseWebhook(delivered(), tt.body)
			if tt.want == nil {
				if err != nil || n.Kind != gateways.Ignored {
					t.Fatalf("notification %+v, err %v; want ignored", n, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// withEvent rewrites top-level fields of a delivery (nil deletes one).
func withEvent(t testing.TB, body []byte, changes map[string]any) []byte {
	t.Helper()
	return gatewaytest.Rewrite(t, body, func(ev map[string]any) { gatewaytest.Set(ev, changes) })
}

// withResource rewrites fields of a delivery's resource (nil deletes one).
func withResource(t testing.TB, body []byte, changes map[string]any) []byte {
	t.Helper()
	return gatewaytest.Rewrite(t, body, func(ev map[string]any) { gatewaytest.Set(ev["resource"].(map[string]any), changes) })
}
