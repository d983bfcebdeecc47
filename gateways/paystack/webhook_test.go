package paystack

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
)

const testSecret = "sk_test_4f1e8d0c2b"

// sign computes the x-paystack-signature header the way Paystack documents it, independently of
// VerifySignature: lowercase hex HMAC-SHA512 of the raw body keyed with the secret key.
func sign(secret string, body []byte) string { return gatewaytest.HMACHex(sha512.New, secret, body) }

func signed(body []byte) http.Header {
	h := http.Header{}
	h.Set("x-paystack-signature", sign(testSecret, body))
	return h
}

var fixture = gatewaytest.Fixture

// withData rewrites fields of a fixture's "data" object, keeping every number's exact text.
func withData(t testing.TB, body []byte, changes map[string]any) []byte {
	t.Helper()
	return gatewaytest.Rewrite(t, body, func(ev map[string]any) {
		data := ev["data"].(map[string]any)
		for k, v := range changes {
			data[k] = v
		}
	})
}

func newTestGateway(t testing.TB) *Gateway {
	t.Helper()
	g, err := New(Config{SecretKey: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestParseWebhook(t *testing.T) {
	g := newTestGateway(t)
	charge := fixture(t, "charge.success.json")
	processed := fixture(t, "refund.processed.json")

	tests := []struct {
		name             string
		body             []byte
		kind             gateways.Kind
		amount, currency string
		reference        string
		gatewayRef       string
		refundRef        string
		refundID         string
		account          string
	}{
		{
			name: "charge.success credits the kobo amount in naira and reports the transaction id",
			body: charge, kind: gateways.PaymentSucceeded, amount: "100.00", currency: "NGN",
			reference: "qTPrJoy9Bx", gatewayRef: "302961",
		},
		{
			name: "500000 kobo is exactly 5000.00 naira",
			body: withData(t, charge, map[string]any{"amount": json.Number("500000")}),
			kind: gateways.PaymentSucceeded, amount: "5000.00", currency: "NGN",
			reference: "qTPrJoy9Bx", gatewayRef: "302961",
		},
		{
			name: "an amount sent as a string is read like a number",
			body: withData(t, charge, map[string]any{"amount": "500000"}),
			kind: gateways.PaymentSucceeded, amount: "5000.00", currency: "NGN",
			reference: "qTPrJoy9Bx", gatewayRef: "302961",
		},
		{
			name: "metadata 0 means no account",
			body: charge, kind: gateways.PaymentSucceeded, amount: "100.00", currency: "NGN",
			reference: "qTPrJoy9Bx", gatewayRef: "302961", account: "",
		},
		{
			name: "metadata empty string means no account",
			body: withData(t, charge, map[string]any{"metadata": ""}),
			kind: gateways.PaymentSucceeded, amount: "100.00", currency: "NGN",
			reference: "qTPrJoy9Bx", gatewayRef: "302961",
		},
		{
			name: "metadata object carries tally_account for unsolicited deposits",
			body: withData(t, charge, map[string]any{"metadata": map[string]any{"tally_account": "acc_01HX", "custom_fields": []any{}}}),
			kind: gateways.PaymentSucceeded, amount: "100.00", currency: "NGN",
			reference: "qTPrJoy9Bx", gatewayRef: "302961", account: "acc_01HX",
		},
		{
			name: "metadata stringified as JSON is still read",
			body: withData(t, charge, map[string]any{"metadata": `{"tally_account":"acc_02HX"}`}),
			kind: gateways.PaymentSucceeded, amount: "100.00", currency: "NGN",
			reference: "qTPrJoy9Bx", gatewayRef: "302961", account: "acc_02HX",
		},
		{
			name: "metadata of another shape is ignored, not an error",
			body: withData(t, charge, map[string]any{"metadata": []any{1, 2}}),
			kind: gateways.PaymentSucceeded, amount: "100.00", currency: "NGN",
			reference: "qTPrJoy9Bx", gatewayRef: "302961",
		},
		{
			name: "ids beyond 2^31 and 2^53 keep every digit",
			body: withData(t, charge, map[string]any{"id": json.Number("9007199254740993")}),
			kind: gateways.PaymentSucceeded, amount: "100.00", currency: "NGN",
			reference: "qTPrJoy9Bx", gatewayRef: "9007199254740993",
		},
		{
			name: "refund.processed with a string amount settles the refund",
			body: processed, kind: gateways.RefundSucceeded, amount: "50.00", currency: "NGN",
			reference: "T2154954_412829_3be32076_6lcg3",
		},
		{
			name: "refund.processed with a number amount settles the refund",
			body: withData(t, processed, map[string]any{"amount": json.Number("5000")}),
			kind: gateways.RefundSucceeded, amount: "50.00", currency: "NGN",
			reference: "T2154954_412829_3be32076_6lcg3",
		},
		{
			name: "refund.failed returns the money to the wallet",
			body: fixture(t, "refund.failed.json"), kind: gateways.RefundFailed, amount: "200.00", currency: "NGN",
			reference: "T9171231_412325_3be2736c_n6tml",
		},
		{
			name: "refund.pending keeps the refund pending",
			body: bytes.Replace(processed, []byte(`"refund.processed"`), []byte(`"refund.pending"`), 1),
			kind: gateways.RefundPending, amount: "50.00", currency: "NGN",
			reference: "T2154954_412829_3be32076_6lcg3",
		},
		{
			name: "a refund event names the refund by the id the refund API answered, not the processor's reference",
			body: fixture(t, "refund.needs-attention.json"), kind: gateways.RefundPending, amount: "53.06", currency: "NGN",
			reference: "88bfa94509eb96aa9785641c26cc57cc", refundRef: "123456",
		},
		{
			name: "our refund id comes back in the merchant note",
			body: withData(t, processed, map[string]any{"id": json.Number("3018284"), "merchant_note": "tally refund ref_01J0000000000000000000000A: customer asked"}),
			kind: gateways.RefundSucceeded, amount: "50.00", currency: "NGN",
			reference: "T2154954_412829_3be32076_6lcg3", refundRef: "3018284", refundID: "ref_01J0000000000000000000000A",
		},
		{
			name: "escaped strings are decoded, and invalid UTF-8 becomes U+FFFD, as encoding/json does",
			body: bytes.Replace(withData(t, charge, map[string]any{"reference": "caf\u00e9-\"x\"", "metadata": map[string]any{"tally_account": "acc_X"}}),
				[]byte(`acc_X`), []byte("acc_\xff"), 1), // a raw byte no encoder writes
			kind: gateways.PaymentSucceeded, amount: "100.00", currency: "NGN",
			reference: "café-\"x\"", gatewayRef: "302961", account: "acc_\uFFFD",
		},
		{
			name: "lower-case currency is normalized",
			body: withData(t, charge, map[string]any{"currency": "ghs"}),
			kind: gateways.PaymentSucceeded, amount: "100.00", currency: "GHS",
			reference: "qTPrJoy9Bx", gatewayRef: "302961",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := g.ParseWebhook(signed(tt.body), tt.body)
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if n.Gateway != Name || n.Kind != tt.kind {
				t.Errorf("gateway, kind = %s, %s; want %s, %s", n.Gateway, n.Kind, Name, tt.kind)
			}
			if got := n.Amount.Text('f'); got != tt.amount {
				t.Errorf("amount = %s, want %s", got, tt.amount)
			}
			if n.Currency != tt.currency {
				t.Errorf("currency = %s, want %s", n.Currency, tt.currency)
			}
			if n.Reference != tt.reference || n.GatewayReference != tt.gatewayRef || n.RefundReference != tt.refundRef {
				t.Errorf("references = %q, %q, %q; want %q, %q, %q",
					n.Reference, n.GatewayReference, n.RefundReference, tt.reference, tt.gatewayRef, tt.refundRef)
			}
			if n.RefundID != tt.refundID {
				t.Errorf("refund id = %q, want %q", n.RefundID, tt.refundID)
			}
			if n.Account != tt.account {
				t.Errorf("account = %q, want %q", n.Account, tt.account)
			}
			sum := sha256Hex(tt.body)
			if n.EventID != sum {
				t.Errorf("event id = %s, want sha256 of the body %s", n.EventID, sum)
			}
			if !bytes.Equal(n.Raw, tt.body) {
				t.Error("raw body not kept")
			}
		})
	}
}

func TestParseWebhookRejects(t *testing.T) {
	g := newTestGateway(t)
	body := fixture(t, "charge.success.json")
	header := func(sig string) http.Header {
		h := http.Header{}
		if sig != "" {
			h.Set("x-paystack-signature", sig)
		}
		return h
	}
	tampered := bytes.Replace(body, []byte(`"amount":10000`), []byte(`"amount":99910000`), 1)

	tests := []struct {
		name   string
		header http.Header
		body   []byte
		want   error
	}{
		{"missing signature is rejected", header(""), body, gateways.ErrInvalidSignature},
		{"signature with another key is rejected", header(sign("sk_test_other", body)), body, gateways.ErrInvalidSignature},
		{"signature that is not hex is rejected", header("zz" + sign(testSecret, body)[2:]), body, gateways.ErrInvalidSignature},
		{"truncated signature is rejected", header(sign(testSecret, body)[:64]), body, gateways.ErrInvalidSignature},
		{"body changed after signing is rejected", header(sign(testSecret, body)), tampered, gateways.ErrInvalidSignature},
		{"signed body that is not JSON is malformed", signed([]byte("not json")), []byte("not json"), gateways.ErrMalformed},
		{"fractional minor units are malformed", nil, withData(t, body, map[string]any{"amount": json.Number("100.5")}), gateways.ErrMalformed},
		{"negative amount is malformed", nil, withData(t, body, map[string]any{"amount": json.Number("-100")}), gateways.ErrMalformed},
		{"currency without a known Paystack subunit is malformed", nil, withData(t, body, map[string]any{"currency": "XOF"}), gateways.ErrMalformed},
		{"missing currency is malformed", nil, withData(t, body, map[string]any{"currency": nil}), gateways.ErrMalformed},
		{"amount of the wrong type is malformed", nil, withData(t, body, map[string]any{"amount": true}), gateways.ErrMalformed},
		{"a reference of the wrong type is malformed", nil, withData(t, body, map[string]any{"reference": 12}), gateways.ErrMalformed},
		{"a bad amount is malformed even when data comes before the event's type", nil,
			[]byte(`{"data":{"id":1,"reference":"r","amount":{},"currency":"NGN"},"event":"charge.success"}`), gateways.ErrMalformed},
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

func TestParseWebhookIgnoresEventsTallyDoesNotConsume(t *testing.T) {
	g := newTestGateway(t)
	for _, event := range []string{"paymentrequest.success", "subscription.create", "charge.dispute.create", "charge.failed"} {
		t.Run(event+" is ignored once verified", func(t *testing.T) {
			body := []byte(`{"event":"` + event + `","data":{"id":{},"amount":"garbage","reference":7}}`)
			n, err := g.ParseWebhook(signed(body), body)
			if err != nil {
				t.Fatal(err)
			}
			if n.Kind != gateways.Ignored || n.EventType != event || n.EventID == "" {
				t.Fatalf("got %+v", n)
			}
		})
	}
}

func TestEventIDIsStableAcrossRedeliveries(t *testing.T) {
	g := newTestGateway(t)
	body := fixture(t, "charge.success.json")
	a, _ := g.ParseWebhook(signed(body), body)
	b, _ := g.ParseWebhook(signed(body), append([]byte(nil), body...))
	other := withData(t, body, map[string]any{"reference": "DEP-OTHER"})
	c, _ := g.ParseWebhook(signed(other), other)
	if a.EventID != b.EventID {
		t.Error("the same body gave two event ids")
	}
	if a.EventID == c.EventID {
		t.Error("different bodies gave one event id")
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
