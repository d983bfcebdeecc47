package httpapi

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"
	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/paystack"
	"github.com/tallyledger/tally/gateways/stripe"
	"github.com/tallyledger/tally/gateways/xendit"
)

const (
	paystackSecret = "sk_test_paystack_secret"
	stripeKey      = "sk_test_stripe"
	stripeWebhook  = "whsec_test_stripe"
	xenditKey      = "xnd_development_key"
	xenditToken    = "xendit-callback-token"
)

// fakeGateways is an httptest stand-in for the gateways' APIs: it opens
// checkouts as Paystack, Stripe and Xendit answer them, and can be told to
// stall so that a call times out.
type fakeGateways struct {
	srv           *httptest.Server
	stall         atomic.Bool
	refuseRefunds atomic.Bool // answer refund requests 400
	// refundServerError answers refund requests 502: an unknown outcome.
	refundServerError atomic.Bool
	refundStatus      atomic.Value // Stripe's immediate refund status; default "pending"
	calls             atomic.Int64
}

func newFakeGateways(t *testing.T) *fakeGateways {
	f := &fakeGateways{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		if f.stall.Load() {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		refund := r.URL.Path == "/refund" || r.URL.Path == "/v1/refunds"
		if refund && r.Method == http.MethodPost && f.refundServerError.Load() {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, `{"status":false,"message":"upstream unavailable","error":{"message":"upstream unavailable","type":"api_error"}}`)
			return
		}
		if refund && f.refuseRefunds.Load() {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":false,"message":"Transaction has been fully reversed","error":{"message":"cannot refund","type":"invalid_request_error"}}`)
			return
		}
		switch r.URL.Path {
		case "/transaction/initialize":
			var req map[string]any
			_ = json.Unmarshal(body, &req)
			fmt.Fprintf(w, `{"status":true,"message":"Authorization URL created","data":{"authorization_url":"https://checkout.paystack.com/ac_%[1]s","access_code":"ac_%[1]s","reference":%[2]q}}`,
				strings.ToLower(fmt.Sprint(req["reference"])), req["reference"])
		case "/v1/checkout/sessions":
			fmt.Fprint(w, `{"id":"cs_test_fake","object":"checkout.session","url":"https://checkout.stripe.com/c/pay/cs_test_fake","payment_status":"unpaid","status":"open"}`)
		case "/refund":
			var req map[string]any
			_ = json.Unmarshal(body, &req)
			fmt.Fprintf(w, `{"status":true,"message":"Refund has been queued for processing","data":{"transaction":{"id":1004723697,"reference":%q},"status":"pending","amount":%v,"currency":"NGN","id":%d}}`,
				req["transaction"], req["amount"], 3018284+f.calls.Load())
		case "/v1/refunds":
			status, _ := f.refundStatus.Load().(string)
			if status == "" {
				status = "pending"
			}
			fmt.Fprintf(w, `{"id":"re_fake_%d","object":"refund","status":%q,"amount":1000,"currency":"usd","payment_intent":"pi_fake"}`, f.calls.Load(), status)
		case "/v2/invoices":
			fmt.Fprint(w, `{"id":"inv_fake","invoice_url":"https://checkout.xendit.co/web/inv_fake","status":"PENDING"}`)
		default:
			http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// withGateways enables Paystack, Stripe and Xendit against the fake, with a
// short client timeout so the stall test is quick.
func withGateways(t *testing.T, f *fakeGateways) func(*Config) {
	return func(cfg *Config) {
		client := &http.Client{Timeout: 500 * time.Millisecond}
		ps, err := paystack.New(paystack.Config{SecretKey: paystackSecret, BaseURL: f.srv.URL, HTTPClient: client})
		if err != nil {
			t.Fatal(err)
		}
		st, err := stripe.New(stripe.Config{SecretKey: stripeKey, WebhookSecret: stripeWebhook, BaseURL: f.srv.URL, HTTPClient: client, ReturnURL: "https://example.com/", MaxNetworkRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		xe, err := xendit.New(xendit.Config{SecretKey: xenditKey, CallbackToken: xenditToken, BaseURL: f.srv.URL, HTTPClient: client})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Gateways = gateways.Set{"paystack": ps, "stripe": st, "xendit": xe}
	}
}

func (h *harness) deposit(account, amount, currency, gateway string) map[string]any {
	h.t.Helper()
	return h.must(h.do("POST", "/v1/deposits", map[string]any{"account": account, "amount": amount, "currency": currency, "gateway": gateway, "email": "payer@example.com"},
		"Idempotency-Key", "dep-"+account+"-"+amount+"-"+gateway), 201).json(h.t)
}

// webhook posts a raw body to a gateway's webhook with the given headers,
// without the API key (webhooks are authenticated by signature).
func (h *harness) webhook(gateway string, body []byte, headers ...string) reply {
	h.t.Helper()
	return h.do("POST", "/v1/webhooks/"+gateway, body, append([]string{"Authorization", ""}, headers...)...)
}

// paystackIDs numbers the fake transactions: Paystack's ids are unique per payment.
var paystackIDs atomic.Int64

func paystackCharge(t *testing.T, reference string, kobo int64, currency string, metadata any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"event": "charge.success", "data": map[string]any{
		"id": 3029610000 + paystackIDs.Add(1), "domain": "test", "status": "success", "reference": reference, "amount": kobo,
		"currency": currency, "metadata": metadata, "paid_at": "2026-11-22T10:00:00.000Z", "channel": "card",
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// paystackSign computes Paystack's signature independently of the adapter.
func paystackSign(body []byte) []string {
	m := hmac.New(sha512.New, []byte(paystackSecret))
	m.Write(body)
	return []string{"x-paystack-signature", hex.EncodeToString(m.Sum(nil))}
}

func stripeEvent(t *testing.T, id, typ string, object map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": "2025-03-31.basil", "created": time.Now().Unix(),
		"livemode": false, "pending_webhooks": 1, "type": typ, "data": map[string]any{"object": object}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stripeSign signs with stripe-go's own test signer.
func stripeSign(body []byte, at time.Time) []string {
	p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: stripeWebhook, Timestamp: at})
	return []string{"Stripe-Signature", p.Header}
}

func TestDepositCreditsOnceUnderConcurrentDeliveries(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a := h.open("payer", "NGN")
	dep := h.deposit(a, "5000.00", "NGN", "paystack")
	if dep["status"] != "pending" || !strings.HasPrefix(dep["checkout_url"].(string), "https://checkout.paystack.com/") {
		t.Fatalf("deposit = %v", dep)
	}
	// Reading a deposit never credits.
	for range 3 {
		h.must(h.do("GET", "/v1/deposits/"+dep["id"].(string), nil), 200)
	}
	if got := h.balance(a); got != "0.00" {
		t.Fatalf("balance before the webhook: %s", got)
	}

	body := paystackCharge(t, dep["reference"].(string), 500000, "NGN", "")
	var wg sync.WaitGroup
	replies := make([]reply, 10)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = h.webhook("paystack", body, paystackSign(body)...)
		}()
	}
	wg.Wait()
	for _, r := range replies {
		if r.status != 200 || !strings.Contains(string(r.body), `"received":true`) {
			t.Fatalf("delivery answered %d %s", r.status, r.body)
		}
	}
	if got := h.balance(a); got != "5000.00" {
		t.Fatalf("balance after 10 deliveries: %s, want 5000.00", got)
	}
	got := h.must(h.do("GET", "/v1/deposits/"+dep["id"].(string), nil), 200).json(t)
	if got["status"] != "succeeded" {
		t.Fatalf("deposit after the webhook: %v", got)
	}
	events := h.checkJournal("main")
	credits := 0
	for _, e := range events {
		if e.Type == "deposit.succeeded" {
			credits++
		}
	}
	if credits != 1 {
		t.Fatalf("%d deposit.succeeded events, want 1", credits)
	}
}

func TestTwoSuccessEventsOfOnePaymentCreditOnce(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a := h.open("payer", "USD")
	dep := h.deposit(a, "20.00", "USD", "stripe")
	ref := dep["reference"].(string)
	session := stripeEvent(t, "evt_session", "checkout.session.completed", map[string]any{
		"id": "cs_test_fake", "object": "checkout.session", "amount_total": 2000, "currency": "usd", "payment_status": "paid",
		"status": "complete", "client_reference_id": ref, "payment_intent": "pi_fake", "metadata": map[string]any{"tally_reference": ref},
	})
	intent := stripeEvent(t, "evt_intent", "payment_intent.succeeded", map[string]any{
		"id": "pi_fake", "object": "payment_intent", "amount": 2000, "amount_received": 2000, "currency": "usd",
		"status": "succeeded", "metadata": map[string]any{"tally_reference": ref},
	})
	h.must(h.webhook("stripe", intent, stripeSign(intent, time.Now())...), 200)
	h.must(h.webhook("stripe", session, stripeSign(session, time.Now())...), 200)
	h.must(h.webhook("stripe", intent, stripeSign(intent, time.Now())...), 200)
	if got := h.balance(a); got != "20.00" {
		t.Fatalf("balance %s, want 20.00", got)
	}

	t.Run("a Stripe signature older than 300 s is refused", func(t *testing.T) {
		before := h.eventCount()
		r := h.webhook("stripe", intent, stripeSign(intent, time.Now().Add(-301*time.Second))...)
		if r.status != 401 || r.str(t, "code") != "invalid_signature" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if h.eventCount() != before {
			t.Fatal("a stale webhook appended events")
		}
	})
	h.checkJournal("main")
}

func TestWebhookSignatures(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a := h.open("payer", "NGN")
	dep := h.deposit(a, "100.00", "NGN", "paystack")
	body := paystackCharge(t, dep["reference"].(string), 10000, "NGN", nil)
	good := paystackSign(body)
	tampered := append([]byte{}, body...)
	tampered[len(tampered)-3] = '9'
	before := h.eventCount()
	for _, tc := range []struct {
		name    string
		gateway string
		body    []byte
		headers []string
		status  int
		code    string
	}{
		{"a missing Paystack signature is refused", "paystack", body, nil, 401, "invalid_signature"},
		{"a wrong Paystack signature is refused", "paystack", body, []string{"x-paystack-signature", strings.Repeat("ab", 64)}, 401, "invalid_signature"},
		{"a signature of another body is refused", "paystack", tampered, good, 401, "invalid_signature"},
		{"a wrong Xendit token is refused", "xendit", []byte(`{"id":"x","external_id":"DEP-1","status":"PAID","amount":1,"currency":"IDR"}`), []string{"x-callback-token", "nope"}, 401, "invalid_signature"},
		{"an unsigned Stripe event is refused", "stripe", []byte(`{"id":"evt_1","type":"payment_intent.succeeded"}`), nil, 401, "invalid_signature"},
		{"a gateway that is not enabled is not found", "sandbox", body, nil, 404, "not_found"},
		{"an unknown gateway is not found", "paypal", body, nil, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.webhook(tc.gateway, tc.body, tc.headers...)
			if r.status != tc.status || r.str(t, "code") != tc.code {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	if h.eventCount() != before || h.balance(a) != "0.00" {
		t.Fatal("a refused webhook changed the journal")
	}
}

func TestMismatchedPaymentsAreFlagged(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a := h.open("payer", "NGN")
	for _, tc := range []struct {
		name     string
		kobo     int64
		currency string
	}{
		{"a smaller amount flags the deposit", 499999, "NGN"},
		{"another currency flags the deposit", 500000, "GHS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dep := h.must(h.do("POST", "/v1/deposits", map[string]any{"account": a, "amount": "5000.00", "currency": "NGN", "gateway": "paystack", "email": "p@example.com"},
				"Idempotency-Key", tc.name), 201).json(t)
			body := paystackCharge(t, dep["reference"].(string), tc.kobo, tc.currency, nil)
			h.must(h.webhook("paystack", body, paystackSign(body)...), 200)
			got := h.must(h.do("GET", "/v1/deposits/"+dep["id"].(string), nil), 200).json(t)
			if got["status"] != "flagged" || got["received_currency"] != tc.currency || got["reason"] == "" {
				t.Fatalf("deposit = %v", got)
			}
			// A later, correct success event does not credit a flagged deposit:
			// finance resolves it.
			right := paystackCharge(t, dep["reference"].(string), 500000, "NGN", map[string]any{"retry": "1"})
			h.must(h.webhook("paystack", right, paystackSign(right)...), 200)
			if got := h.balance(a); got != "0.00" {
				t.Fatalf("a flagged deposit credited %s", got)
			}
		})
	}
	h.checkJournal("main")
}

func TestGatewayTimeoutFailsTheDeposit(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a := h.open("payer", "NGN")
	fake.stall.Store(true)
	body := map[string]any{"account": a, "amount": "50.00", "currency": "NGN", "gateway": "paystack", "email": "p@example.com"}
	r := h.must(h.do("POST", "/v1/deposits", body, "Idempotency-Key", "slow"), 502)
	if r.str(t, "code") != "gateway_error" {
		t.Fatalf("%s", r.body)
	}
	list := h.must(h.do("GET", "/v1/deposits?account="+a, nil), 200).json(t)["data"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["status"] != "failed" {
		t.Fatalf("deposits = %v", list)
	}
	// The failure is the request's answer for good, even once the gateway is back.
	fake.stall.Store(false)
	again := h.must(h.do("POST", "/v1/deposits", body, "Idempotency-Key", "slow"), 502)
	if string(again.body) != string(r.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry = %d %s", again.status, again.body)
	}
	var types []string
	for _, e := range h.checkJournal("main") {
		types = append(types, string(e.Type))
	}
	if got := strings.Join(types, " "); got != "account.opened deposit.initiated deposit.failed" {
		t.Fatalf("journal: %s", got)
	}
}

func TestUnsolicitedAndUnmatchedPayments(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a := h.open("payer", "NGN")

	t.Run("a payment naming a wallet is credited as unsolicited, once", func(t *testing.T) {
		body := paystackCharge(t, "bank-transfer-77", 250000, "NGN", map[string]any{"tally_account": a})
		h.must(h.webhook("paystack", body, paystackSign(body)...), 200)
		h.must(h.webhook("paystack", body, paystackSign(body)...), 200)
		if got := h.balance(a); got != "2500.00" {
			t.Fatalf("balance %s", got)
		}
		list := h.must(h.do("GET", "/v1/deposits?account="+a, nil), 200).json(t)["data"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["unsolicited"] != true {
			t.Fatalf("deposits = %v", list)
		}
	})
	t.Run("anything else verified is recorded as unmatched and answered 200", func(t *testing.T) {
		body := paystackCharge(t, "nobody-knows", 100, "NGN", 0)
		h.must(h.webhook("paystack", body, paystackSign(body)...), 200)
		events := h.must(h.do("GET", "/v1/events?type=gateway.unmatched", nil), 200).json(t)["data"].([]any)
		if len(events) != 1 {
			t.Fatalf("unmatched events = %v", events)
		}
		data := events[0].(map[string]any)["data"].(map[string]any)
		if data["reference"] != "nobody-knows" || data["payload"] == "" {
			t.Fatalf("unmatched data = %v", data)
		}
	})
	t.Run("a correctly signed body Tally cannot read is kept, not dropped", func(t *testing.T) {
		body := []byte(`{"event":"charge.success","data":{"reference":"x","amount":"not-a-number"}}`)
		h.must(h.webhook("paystack", body, paystackSign(body)...), 200)
		events := h.must(h.do("GET", "/v1/events?type=gateway.unmatched", nil), 200).json(t)["data"].([]any)
		if len(events) != 2 {
			t.Fatalf("unmatched events = %d, want 2", len(events))
		}
	})
	h.checkJournal("main")
}

func TestXenditInvoicePaid(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a := h.open("payer", "IDR")
	dep := h.deposit(a, "150000", "IDR", "xendit")
	body := []byte(fmt.Sprintf(`{"id":"inv_fake","external_id":%q,"status":"PAID","amount":150000,"paid_amount":150000,"currency":"IDR","paid_at":"2026-11-22T10:00:00.000Z"}`, dep["reference"]))
	h.must(h.webhook("xendit", body, "x-callback-token", xenditToken), 200)
	h.must(h.webhook("xendit", body, "x-callback-token", xenditToken), 200)
	if got := h.balance(a); got != "150000.00" {
		t.Fatalf("balance %s", got)
	}
	h.checkJournal("main")
}

func TestWebhookEdgeCases(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a := h.open("payer", "NGN")
	unmatched := func() int {
		return len(h.must(h.do("GET", "/v1/events?type=gateway.unmatched", nil), 200).json(t)["data"].([]any))
	}

	t.Run("a verified payload carrying NUL is recorded, not refused forever", func(t *testing.T) {
		body := []byte(`{"event":"charge.success","data":{"id":77,"reference":"DEP-\u0000x","amount":100,"currency":"NGN","status":"success","metadata":0}}`)
		r := h.webhook("paystack", body, paystackSign(body)...)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if unmatched() != 1 {
			t.Fatal("the payload was not recorded")
		}
	})

	t.Run("a second payment for a settled deposit is kept for finance", func(t *testing.T) {
		dep := h.deposit(a, "10.00", "NGN", "paystack")
		first := paystackCharge(t, dep["reference"].(string), 1000, "NGN", nil)
		second := paystackCharge(t, dep["reference"].(string), 1000, "NGN", nil) // another Paystack transaction id
		h.must(h.webhook("paystack", first, paystackSign(first)...), 200)
		h.must(h.webhook("paystack", second, paystackSign(second)...), 200)
		if got := h.balance(a); got != "10.00" {
			t.Fatalf("balance %s: the second payment must not credit", got)
		}
		if unmatched() != 2 {
			t.Fatal("the second payment was not recorded as unmatched")
		}
	})
	h.checkJournal("main")
}
