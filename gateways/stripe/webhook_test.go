package stripe

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"
	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
)

const (
	testKey    = "sk_test_51Hx9"
	testSecret = "whsec_test_3c1d"
)

// signedAt signs body with stripe-go's own test signer, independent of the adapter.
func signedAt(body []byte, secret string, at time.Time) http.Header {
	p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
	h := http.Header{}
	h.Set("Stripe-Signature", p.Header)
	return h
}

func signed(body []byte) http.Header { return signedAt(body, testSecret, time.Now()) }

var fixture = gatewaytest.Fixture

// event builds a Stripe event around a data.object, in the fixtures' shape.
func event(t testing.TB, id, typ string, object map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": "2025-03-31.basil", "created": 1767225600,
		"livemode": false, "pending_webhooks": 1, "type": typ, "data": map[string]any{"object": object},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func paymentIntent(amount int64, currency string, metadata map[string]any) map[string]any {
	return map[string]any{
		"id": "pi_3", "object": "payment_intent", "amount": amount, "amount_received": amount,
		"currency": currency, "status": "succeeded", "metadata": metadata,
	}
}

func session(paymentStatus string, paymentIntent any) map[string]any {
	return map[string]any{
		"id": "cs_test_1", "object": "checkout.session", "amount_total": 500000, "currency": "ngn",
		"payment_status": paymentStatus, "status": "complete", "client_reference_id": "DEP-CS",
		"payment_intent": paymentIntent, "metadata": map[string]any{"tally_account": "acc_9"},
	}
}

func refund(status string, metadata map[string]any) map[string]any {
	return map[string]any{
		"id": "re_2", "object": "refund", "amount": 500, "charge": "ch_1", "payment_intent": "pi_1",
		"currency": "usd", "status": status, "metadata": metadata, "created": 1767225700,
	}
}

func newTestGateway(t testing.TB) *Gateway {
	t.Helper()
	g, err := New(Config{SecretKey: testKey, WebhookSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestParseWebhook(t *testing.T) {
	g := newTestGateway(t)
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
		message          string
	}{
		{
			name: "payment_intent.succeeded credits amount_received in dollars",
			body: fixture(t, "payment_intent.succeeded.json"), kind: gateways.PaymentSucceeded, eventID: "evt_test_1",
			amount: "20.00", currency: "USD", reference: "DEP-EXAMPLE", gatewayRef: "pi_1",
		},
		{
			name: "payment_intent.payment_failed fails the deposit with Stripe's reason",
			body: fixture(t, "payment_intent.payment_failed.json"), kind: gateways.PaymentFailed, eventID: "evt_test_2",
			amount: "20.00", currency: "USD", reference: "DEP-EXAMPLE", gatewayRef: "pi_2",
			message: "Your card has insufficient funds.",
		},
		{
			name: "refund.created with status succeeded settles the refund",
			body: fixture(t, "refund.created.json"), kind: gateways.RefundSucceeded, eventID: "evt_test_3",
			amount: "5.00", currency: "USD", gatewayRef: "pi_1", refundRef: "re_1",
		},
		{
			name: "JPY is zero-decimal: 5000 is 5000 yen",
			body: event(t, "evt_jpy", "payment_intent.succeeded", paymentIntent(5000, "jpy", map[string]any{"tally_reference": "DEP-JPY"})),
			kind: gateways.PaymentSucceeded, eventID: "evt_jpy", amount: "5000", currency: "JPY", reference: "DEP-JPY", gatewayRef: "pi_3",
		},
		{
			name: "KWD is three-decimal: 5125 is 5.125 dinar",
			body: event(t, "evt_kwd", "payment_intent.succeeded", paymentIntent(5125, "kwd", map[string]any{"tally_reference": "DEP-KWD"})),
			kind: gateways.PaymentSucceeded, eventID: "evt_kwd", amount: "5.125", currency: "KWD", reference: "DEP-KWD", gatewayRef: "pi_3",
		},
		{
			name: "ISK is two-decimal in Stripe's API although ISO says zero",
			body: event(t, "evt_isk", "payment_intent.succeeded", paymentIntent(50000, "isk", map[string]any{"tally_reference": "DEP-ISK"})),
			kind: gateways.PaymentSucceeded, eventID: "evt_isk", amount: "500.00", currency: "ISK", reference: "DEP-ISK", gatewayRef: "pi_3",
		},
		{
			name: "UGX is zero-decimal in Stripe's API although ISO says two",
			body: event(t, "evt_ugx", "payment_intent.succeeded", paymentIntent(5000, "ugx", map[string]any{"tally_reference": "DEP-UGX"})),
			kind: gateways.PaymentSucceeded, eventID: "evt_ugx", amount: "5000", currency: "UGX", reference: "DEP-UGX", gatewayRef: "pi_3",
		},
		{
			name: "a short payment reports amount_received, not the amount asked",
			body: event(t, "evt_short", "payment_intent.succeeded", func() map[string]any {
				pi := paymentIntent(2000, "usd", map[string]any{"tally_reference": "DEP-SHORT"})
				pi["amount_received"] = 1500
				return pi
			}()),
			kind: gateways.PaymentSucceeded, eventID: "evt_short", amount: "15.00", currency: "USD", reference: "DEP-SHORT", gatewayRef: "pi_3",
		},
		{
			name: "tally_reference wins over tally_deposit and tally_account is read",
			body: event(t, "evt_md", "payment_intent.succeeded", paymentIntent(100, "usd", map[string]any{
				"tally_reference": "DEP-REAL", "tally_deposit": "dep_01", "tally_account": "acc_7"})),
			kind: gateways.PaymentSucceeded, eventID: "evt_md", amount: "1.00", currency: "USD",
			reference: "DEP-REAL", gatewayRef: "pi_3", account: "acc_7",
		},
		{
			name: "checkout.session.completed and paid reports the payment intent as gateway reference",
			body: event(t, "evt_cs", "checkout.session.completed", session("paid", "pi_cs_1")),
			kind: gateways.PaymentSucceeded, eventID: "evt_cs", amount: "5000.00", currency: "NGN",
			reference: "DEP-CS", gatewayRef: "pi_cs_1", account: "acc_9",
		},
		{
			name: "checkout.session.completed but unpaid waits for the async payment",
			body: event(t, "evt_cs_unpaid", "checkout.session.completed", session("unpaid", "pi_cs_1")),
			kind: gateways.Ignored, eventID: "evt_cs_unpaid",
		},
		{
			name: "checkout.session.async_payment_succeeded credits the deposit",
			body: event(t, "evt_cs_async", "checkout.session.async_payment_succeeded", session("paid", "pi_cs_1")),
			kind: gateways.PaymentSucceeded, eventID: "evt_cs_async", amount: "5000.00", currency: "NGN",
			reference: "DEP-CS", gatewayRef: "pi_cs_1", account: "acc_9",
		},
		{
			name: "checkout.session.expired expires the deposit and falls back to the session id",
			body: event(t, "evt_cs_exp", "checkout.session.expired", session("unpaid", nil)),
			kind: gateways.PaymentExpired, eventID: "evt_cs_exp", amount: "5000.00", currency: "NGN",
			reference: "DEP-CS", gatewayRef: "cs_test_1", account: "acc_9",
		},
		{
			name: "refund.updated to failed returns the money, with our refund id",
			body: event(t, "evt_rf", "refund.updated", refund("failed", map[string]any{"tally_refund": "ref_01", "tally_reference": "DEP-1"})),
			kind: gateways.RefundFailed, eventID: "evt_rf", amount: "5.00", currency: "USD",
			reference: "DEP-1", gatewayRef: "pi_1", refundRef: "re_2", refundID: "ref_01",
		},
		{
			name: "refund.failed is a failure whatever the status field says",
			body: event(t, "evt_rf2", "refund.failed", refund("pending", nil)),
			kind: gateways.RefundFailed, eventID: "evt_rf2", amount: "5.00", currency: "USD", gatewayRef: "pi_1", refundRef: "re_2",
		},
		{
			name: "refund.created still pending keeps the refund pending",
			body: event(t, "evt_rf3", "refund.created", refund("pending", nil)),
			kind: gateways.RefundPending, eventID: "evt_rf3", amount: "5.00", currency: "USD", gatewayRef: "pi_1", refundRef: "re_2",
		},
		{
			name: "charge.refunded reports the newest refund in the list",
			body: event(t, "evt_ch", "charge.refunded", map[string]any{
				"id": "ch_1", "object": "charge", "amount": 2000, "currency": "usd", "payment_intent": "pi_1",
				"refunds": map[string]any{"object": "list", "data": []any{
					map[string]any{"id": "re_old", "object": "refund", "amount": 300, "currency": "usd", "status": "succeeded", "created": 100},
					map[string]any{"id": "re_new", "object": "refund", "amount": 700, "currency": "usd", "status": "succeeded", "created": 200},
				}},
			}),
			kind: gateways.RefundSucceeded, eventID: "evt_ch", amount: "7.00", currency: "USD", gatewayRef: "pi_1", refundRef: "re_new",
		},
		{
			name: "charge.refunded without a refunds list is ignored (refund.* events carry it)",
			body: event(t, "evt_ch2", "charge.refunded", map[string]any{
				"id": "ch_1", "object": "charge", "amount": 2000, "currency": "usd", "payment_intent": "pi_1", "amount_refunded": 700,
			}),
			kind: gateways.Ignored, eventID: "evt_ch2",
		},
		{
			name: "an event type Tally does not consume is ignored",
			body: event(t, "evt_cus", "customer.created", map[string]any{"id": "cus_1", "object": "customer"}),
			kind: gateways.Ignored, eventID: "evt_cus",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := g.ParseWebhook(signed(tt.body), tt.body)
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if n.Gateway != Name || n.Kind != tt.kind || n.EventID != tt.eventID {
				t.Errorf("gateway, kind, event = %s, %s, %s; want %s, %s, %s", n.Gateway, n.Kind, n.EventID, Name, tt.kind, tt.eventID)
			}
			if tt.kind == gateways.Ignored {
				return
			}
			if got := n.Amount.Text('f'); got != tt.amount || n.Currency != tt.currency {
				t.Errorf("amount = %s %s, want %s %s", got, n.Currency, tt.amount, tt.currency)
			}
			if n.Reference != tt.reference || n.GatewayReference != tt.gatewayRef || n.RefundReference != tt.refundRef || n.RefundID != tt.refundID {
				t.Errorf("references = %q %q %q %q; want %q %q %q %q", n.Reference, n.GatewayReference, n.RefundReference, n.RefundID,
					tt.reference, tt.gatewayRef, tt.refundRef, tt.refundID)
			}
			if n.Account != tt.account || n.Message != tt.message {
				t.Errorf("account, message = %q, %q; want %q, %q", n.Account, n.Message, tt.account, tt.message)
			}
		})
	}
}

func TestBothSuccessEventsOfOnePaymentNameTheSamePayment(t *testing.T) {
	g := newTestGateway(t)
	pi := paymentIntent(500000, "ngn", map[string]any{"tally_reference": "DEP-CS"})
	pi["id"] = "pi_cs_1"
	a := event(t, "evt_a", "payment_intent.succeeded", pi)
	b := event(t, "evt_b", "checkout.session.completed", session("paid", "pi_cs_1"))
	na, err := g.ParseWebhook(signed(a), a)
	if err != nil {
		t.Fatal(err)
	}
	nb, err := g.ParseWebhook(signed(b), b)
	if err != nil {
		t.Fatal(err)
	}
	if na.GatewayReference != nb.GatewayReference || na.Reference != nb.Reference || na.Amount.Cmp(&nb.Amount) != 0 {
		t.Fatalf("payment intent event %+v and session event %+v differ", na, nb)
	}
}

func TestParseWebhookRejects(t *testing.T) {
	g := newTestGateway(t)
	body := fixture(t, "payment_intent.succeeded.json")
	good := signed(body)

	tests := []struct {
		name   string
		header http.Header
		body   []byte
		want   error
	}{
		{"missing Stripe-Signature is rejected", http.Header{}, body, gateways.ErrInvalidSignature},
		{"signature with another secret is rejected", signedAt(body, "whsec_other", time.Now()), body, gateways.ErrInvalidSignature},
		{"timestamp older than 300 s is rejected", signedAt(body, testSecret, time.Now().Add(-301*time.Second)), body, gateways.ErrInvalidSignature},
		{"timestamp more than 300 s in the future is rejected", signedAt(body, testSecret, time.Now().Add(310*time.Second)), body, gateways.ErrInvalidSignature},
		{"body changed after signing is rejected", good, bytes.Replace(body, []byte("2000"), []byte("9000"), 2), gateways.ErrInvalidSignature},
		{"garbage header is rejected", header("t=abc,v1=zz"), body, gateways.ErrInvalidSignature},
		{"signed body that is not JSON is malformed", signed([]byte("{not json")), []byte("{not json"), gateways.ErrMalformed},
		{"signed thin event notification is malformed", signed([]byte(`{"object":"v2.core.event"}`)), []byte(`{"object":"v2.core.event"}`), gateways.ErrMalformed},
		{"signed object of the wrong shape is malformed", nil, event(t, "evt_x", "payment_intent.succeeded", map[string]any{"id": 5}), gateways.ErrMalformed},
		{"signed event without currency is malformed", nil, event(t, "evt_y", "payment_intent.succeeded", paymentIntent(5, "", nil)), gateways.ErrMalformed},
		{"signed negative amount is malformed", nil, event(t, "evt_z", "payment_intent.succeeded", paymentIntent(-5, "usd", nil)), gateways.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = signed(tt.body)
			}
			_, err := g.ParseWebhook(h, tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestTimestampsWithinToleranceEitherWayAreAccepted(t *testing.T) {
	g := newTestGateway(t)
	body := fixture(t, "payment_intent.succeeded.json")
	for _, skew := range []time.Duration{-290 * time.Second, 0, 290 * time.Second} {
		t.Run(fmt.Sprintf("a timestamp %s from now is accepted", skew), func(t *testing.T) {
			if _, err := g.ParseWebhook(signedAt(body, testSecret, time.Now().Add(skew)), body); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAnyMatchingV1SignatureIsAccepted(t *testing.T) {
	// During a secret rotation Stripe signs with both secrets; the adapter must accept the
	// header when any v1 matches its secret.
	g := newTestGateway(t)
	body := fixture(t, "payment_intent.succeeded.json")
	now := time.Now()
	old := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: "whsec_old", Timestamp: now})
	cur := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: testSecret, Timestamp: now})
	h := header(old.Header + ",v1=" + hex.EncodeToString(cur.Signature))
	if _, err := g.ParseWebhook(h, body); err != nil {
		t.Fatal(err)
	}
}

func header(sig string) http.Header {
	h := http.Header{}
	h.Set("Stripe-Signature", sig)
	return h
}
