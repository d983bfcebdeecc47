package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/paypal"
	"github.com/tallyledger/tally/projections"
)

// fakePayPal is PayPal's API over real HTTP: OAuth2 tokens, orders, their
// capture, refunds and the webhook verification API, each counted.
type fakePayPal struct {
	srv *httptest.Server

	mu         sync.Mutex
	orders     map[string]string // order id → our reference (invoice_id)
	requestIDs map[string][]string
	calls      map[string]int
	refunds    []map[string]any

	verify        atomic.Value // "SUCCESS", "FAILURE", "500" or "slow"
	captureStatus atomic.Int64 // 0: 201 COMPLETED; otherwise the HTTP status to answer
}

func newFakePayPal(t *testing.T) *fakePayPal {
	t.Helper()
	f := &fakePayPal{orders: map[string]string{}, requestIDs: map[string][]string{}, calls: map[string]int{}}
	f.verify.Store("SUCCESS")
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req map[string]any
		_ = json.Unmarshal(body, &req)
		route := r.Method + " " + r.URL.Path
		switch {
		case strings.HasSuffix(r.URL.Path, "/capture"):
			route = "capture"
		case strings.HasSuffix(r.URL.Path, "/refund"):
			route = "refund"
		}
		f.mu.Lock()
		f.calls[route]++
		f.requestIDs[route] = append(f.requestIDs[route], r.Header.Get("PayPal-Request-Id"))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch route {
		case "POST /v1/oauth2/token":
			fmt.Fprint(w, `{"scope":"https://uri.paypal.com/services/payments/payment","access_token":"A21AAFakeToken","token_type":"Bearer","app_id":"APP-80W284485P519543T","expires_in":32400}`)
		case "POST /v2/checkout/orders":
			pu := req["purchase_units"].([]any)[0].(map[string]any)
			id := "O" + strings.ToUpper(strings.TrimPrefix(r.Header.Get("PayPal-Request-Id"), "dep_"))[10:]
			f.mu.Lock()
			f.orders[id] = pu["invoice_id"].(string)
			f.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"id":%[1]q,"status":"CREATED","links":[{"href":"https://api.sandbox.paypal.com/v2/checkout/orders/%[1]s","rel":"self","method":"GET"},{"href":"https://www.sandbox.paypal.com/checkoutnow?token=%[1]s","rel":"approve","method":"GET"}]}`, id)
		case "capture":
			time.Sleep(50 * time.Millisecond) // long enough for concurrent deliveries to overlap
			if s := f.captureStatus.Load(); s != 0 {
				w.WriteHeader(int(s))
				fmt.Fprint(w, `{"name":"UNPROCESSABLE_ENTITY","details":[{"issue":"INSTRUMENT_DECLINED","description":"The instrument presented was declined."}],"message":"declined"}`)
				return
			}
			order := strings.Split(r.URL.Path, "/")[4]
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"id":%q,"status":"COMPLETED","purchase_units":[{"reference_id":"default","payments":{"captures":[{"id":"CAP%s","status":"COMPLETED","amount":{"currency_code":"USD","value":"25.00"}}]}}]}`, order, order)
		case "refund":
			f.mu.Lock()
			f.refunds = append(f.refunds, req)
			f.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":"1JU08902781691411","status":"PENDING","links":[]}`)
		case "POST /v1/notifications/verify-webhook-signature":
			switch f.verify.Load() {
			case "500":
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, `{"name":"INTERNAL_SERVER_ERROR","message":"An internal server error occurred."}`)
			case "slow":
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			default:
				fmt.Fprintf(w, `{"verification_status":%q}`, f.verify.Load())
			}
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"name":"RESOURCE_NOT_FOUND"}`)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePayPal) count(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[route]
}

func (f *fakePayPal) lastRequestID(route string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := f.requestIDs[route]
	if len(ids) == 0 {
		return ""
	}
	return ids[len(ids)-1]
}

func withPayPal(t *testing.T, f *fakePayPal) func(*Config) {
	return func(cfg *Config) {
		pp, err := paypal.New(paypal.Config{
			ClientID: "client-id", ClientSecret: "client-secret", WebhookID: "WH-ID-8PT597110X687430LKGECATA",
			BaseURL: f.srv.URL, HTTPClient: &http.Client{Timeout: time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Gateways = gateways.Set{paypal.Name: pp}
	}
}

// paypalEvent is a delivery in the shape of the fixtures in
// gateways/paypal/testdata, with resource fields changed.
func paypalEvent(t *testing.T, fixture, eventID string, changes map[string]any) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "gateways", "paypal", "testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	ev["id"] = eventID
	res := ev["resource"].(map[string]any)
	for k, v := range changes {
		res[k] = v
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// paypalHeaders are the headers of a PayPal delivery; each delivery has its own transmission id.
var paypalTransmissions atomic.Int64

func paypalHeaders() []string {
	return []string{
		"PAYPAL-TRANSMISSION-ID", fmt.Sprintf("69cd13f0-d67a-11e5-baa3-%012d", paypalTransmissions.Add(1)),
		"PAYPAL-TRANSMISSION-TIME", time.Now().UTC().Format(time.RFC3339),
		"PAYPAL-TRANSMISSION-SIG", "lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrhdu2rMyFrmz+Zjh3s3boXB07VXCXUZy/UFzUlnGJn0wDugt7FlSvdKeIJenLRemUxYCPVoEZzg9VFNqOa48gMkvF+XTpxBeUx/kWy6B5cp7GkT2+pOowfRK7OaynuxUoKW3JcMWw272VKjLTtTAShncla7tGF+55rxyt2KNZIIqxNMJ48RDZheGU5w1npu9dZHnPgTXB9iomeVRoD8O/jhRpnKsGrDschyNdkeh81BJJMH4Ctc6lnCCquoP/GzCzz33MMsNdid7vL/NIWaCsekQpW26FpWPi/tfj8nLA==",
		"PAYPAL-CERT-URL", "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-5a29e601",
		"PAYPAL-AUTH-ALGO", "SHA256withRSA",
	}
}

// approval is CHECKOUT.ORDER.APPROVED for the deposit's order.
func approval(t *testing.T, dep map[string]any, eventID string) []byte {
	t.Helper()
	order := dep["gateway_reference"].(string)
	return paypalEvent(t, "checkout.order.approved.json", eventID, map[string]any{
		"id": order,
		"purchase_units": []any{map[string]any{
			"reference_id": "default", "amount": map[string]any{"currency_code": dep["currency"], "value": dep["amount"]},
			"invoice_id": dep["reference"], "custom_id": dep["reference"],
		}},
	})
}

// captureEvent is a PAYMENT.CAPTURE.* delivery for the deposit's capture.
func captureEvent(t *testing.T, fixture string, dep map[string]any, eventID string) []byte {
	t.Helper()
	return paypalEvent(t, fixture, eventID, map[string]any{
		"id": "CAP" + dep["gateway_reference"].(string), "invoice_id": dep["reference"], "custom_id": dep["reference"],
		"amount": map[string]any{"currency_code": dep["currency"], "value": dep["amount"]},
	})
}

func (h *harness) countEvents(typ string) int {
	h.t.Helper()
	return len(h.must(h.do("GET", "/v1/events?type="+typ, nil), 200).json(h.t)["data"].([]any))
}

// deliverConcurrently posts body n times at once and requires 200 for each.
func (h *harness) deliverConcurrently(n int, body []byte) {
	h.t.Helper()
	var wg sync.WaitGroup
	replies := make([]reply, n)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = h.webhook("paypal", body, paypalHeaders()...)
		}()
	}
	wg.Wait()
	for _, r := range replies {
		if r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`"received":true`)) {
			h.t.Fatalf("a delivery was answered %d %s", r.status, r.body)
		}
	}
}

// TestPayPalDeposit follows one PayPal deposit from order to refund: five
// concurrent approvals capture once, ten concurrent capture-completed
// deliveries credit once, and the refund is settled by its webhook.
func TestPayPalDeposit(t *testing.T) {
	fake := newFakePayPal(t)
	h := newHarness(t, withPayPal(t, fake))
	a := h.open("payer", "USD")
	dep := h.deposit(a, "25.00", "USD", "paypal")
	id := dep["id"].(string)
	if !strings.HasPrefix(dep["checkout_url"].(string), "https://www.sandbox.paypal.com/checkoutnow?token=") {
		t.Fatalf("checkout_url = %v, want the order's approve link", dep["checkout_url"])
	}
	if got := fake.lastRequestID("POST /v2/checkout/orders"); got != id {
		t.Errorf("order PayPal-Request-Id = %q, want the deposit id %s", got, id)
	}
	dep = h.must(h.do("GET", "/v1/deposits/"+id, nil), 200).json(t)

	t.Run("five concurrent approvals capture once, and credit nothing", func(t *testing.T) {
		h.deliverConcurrently(5, approval(t, dep, "WH-APPROVED-1"))
		if n := fake.count("capture"); n != 1 {
			t.Fatalf("%d capture calls, want 1", n)
		}
		if got := fake.lastRequestID("capture"); got != id+":capture" {
			t.Errorf("capture PayPal-Request-Id = %q, want %s:capture", got, id)
		}
		if h.countEvents("deposit.approved") != 1 || h.countEvents("deposit.capture_answered") != 1 {
			t.Errorf("approved %d, capture answered %d; want 1 each", h.countEvents("deposit.approved"), h.countEvents("deposit.capture_answered"))
		}
		if got := h.balance(a); got != "0.00" {
			t.Fatalf("balance %s after the approval; only the capture's webhook credits", got)
		}
	})
	t.Run("a later redelivery of the approval does not capture again", func(t *testing.T) {
		h.must(h.webhook("paypal", approval(t, dep, "WH-APPROVED-1"), paypalHeaders()...), 200)
		if n := fake.count("capture"); n != 1 {
			t.Fatalf("%d capture calls, want 1", n)
		}
	})
	t.Run("ten concurrent capture-completed deliveries credit once", func(t *testing.T) {
		h.deliverConcurrently(10, captureEvent(t, "payment.capture.completed.json", dep, "WH-COMPLETED-1"))
		if got := h.balance(a); got != "25.00" {
			t.Fatalf("balance %s, want 25.00", got)
		}
		if n := h.countEvents("deposit.succeeded"); n != 1 {
			t.Fatalf("%d deposit.succeeded, want 1", n)
		}
		got := h.must(h.do("GET", "/v1/deposits/"+id, nil), 200).json(t)
		if got["status"] != "succeeded" || got["gateway_reference"] != "CAP"+dep["gateway_reference"].(string) {
			t.Fatalf("deposit = %v, want succeeded with the capture id", got)
		}
	})
	t.Run("a refund is asked with the refund id as PayPal-Request-Id and settled by its webhook", func(t *testing.T) {
		r := h.must(h.refund(map[string]any{"deposit": id, "amount": "15.00", "reason": "customer asked"}, "refund-paypal-1"), 201).json(t)
		refundID := r["id"].(string)
		if r["status"] != "pending" {
			t.Fatalf("refund = %v", r)
		}
		if got := fake.lastRequestID("refund"); got != refundID {
			t.Errorf("refund PayPal-Request-Id = %q, want %s", got, refundID)
		}
		fake.mu.Lock()
		sent := fake.refunds[len(fake.refunds)-1]
		fake.mu.Unlock()
		if sent["custom_id"] != refundID || sent["amount"].(map[string]any)["value"] != "15.00" {
			t.Errorf("refund request = %v", sent)
		}
		capture := "CAP" + dep["gateway_reference"].(string)
		body := paypalEvent(t, "payment.capture.refunded.json", "WH-REFUNDED-1", map[string]any{
			"custom_id": refundID, "invoice_id": refundID,
			"links": []any{map[string]any{"href": "https://api.sandbox.paypal.com/v2/payments/captures/" + capture, "rel": "up", "method": "GET"}},
		})
		h.must(h.webhook("paypal", body, paypalHeaders()...), 200)
		got := h.must(h.do("GET", "/v1/refunds/"+refundID, nil), 200).json(t)
		if got["status"] != "succeeded" {
			t.Fatalf("refund after its webhook = %v", got)
		}
		if bal := h.balance(a); bal != "10.00" {
			t.Fatalf("balance %s, want 10.00", bal)
		}
	})
	h.checkJournal("main")
	// The deposits table, with the capture id the new events wrote, equals a replay of the journal.
	report, err := h.set.Verify(context.Background(), "main", projections.VerifyOptions{})
	if err != nil || !report.OK {
		t.Fatalf("verify: %+v %v", report, err)
	}
}

// TestPayPalWebhookVerification: a delivery PayPal does not vouch for is
// 401 and appends nothing; one that cannot be verified now is 503, appends
// nothing and is credited when PayPal delivers it again.
func TestPayPalWebhookVerification(t *testing.T) {
	fake := newFakePayPal(t)
	h := newHarness(t, withPayPal(t, fake))
	a := h.open("payer", "USD")
	dep := h.deposit(a, "25.00", "USD", "paypal")
	dep = h.must(h.do("GET", "/v1/deposits/"+dep["id"].(string), nil), 200).json(t)
	completed := captureEvent(t, "payment.capture.completed.json", dep, "WH-COMPLETED-2")

	tests := []struct {
		name    string
		verify  string
		headers []string
		status  int
		code    string
	}{
		{"PayPal's FAILURE is 401 invalid_signature", "FAILURE", paypalHeaders(), 401, "invalid_signature"},
		{"a delivery without PayPal's headers is 401", "SUCCESS", nil, 401, "invalid_signature"},
		{"a verification API that fails is 503, so PayPal retries", "500", paypalHeaders(), 503, "unavailable"},
		{"a verification API that times out is 503", "slow", paypalHeaders(), 503, "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake.verify.Store(tt.verify)
			before := h.eventCount()
			r := h.webhook("paypal", completed, tt.headers...)
			if r.status != tt.status || r.str(t, "code") != tt.code {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if h.eventCount() != before {
				t.Error("an unverified delivery appended events")
			}
			if got := h.balance(a); got != "0.00" {
				t.Fatalf("balance %s: an unverified delivery credited", got)
			}
		})
	}
	t.Run("the same delivery, verified later, credits", func(t *testing.T) {
		fake.verify.Store("SUCCESS")
		h.must(h.webhook("paypal", completed, paypalHeaders()...), 200)
		if got := h.balance(a); got != "25.00" {
			t.Fatalf("balance %s", got)
		}
	})
	h.checkJournal("main")
}

// TestPayPalCaptureOutcomes: a capture whose outcome is unknown is retried
// when PayPal delivers the approval again; one PayPal declines is recorded
// and leaves the deposit pending; a denied capture fails the deposit.
func TestPayPalCaptureOutcomes(t *testing.T) {
	fake := newFakePayPal(t)
	h := newHarness(t, withPayPal(t, fake))
	a := h.open("payer", "USD")
	deposit := func(amount string) map[string]any {
		dep := h.deposit(a, amount, "USD", "paypal")
		return h.must(h.do("GET", "/v1/deposits/"+dep["id"].(string), nil), 200).json(t)
	}

	t.Run("a capture that fails is 503, and the redelivered approval captures", func(t *testing.T) {
		dep := deposit("30.00")
		fake.captureStatus.Store(http.StatusInternalServerError)
		body := approval(t, dep, "WH-APPROVED-RETRY")
		if r := h.webhook("paypal", body, paypalHeaders()...); r.status != 503 {
			t.Fatalf("approval with a failing capture: %d %s", r.status, r.body)
		}
		fake.captureStatus.Store(0)
		calls := fake.count("capture")
		h.must(h.webhook("paypal", body, paypalHeaders()...), 200)
		if fake.count("capture") != calls+1 || fake.lastRequestID("capture") != dep["id"].(string)+":capture" {
			t.Fatalf("the redelivery did not capture with the same request id")
		}
		got := h.must(h.do("GET", "/v1/deposits/"+dep["id"].(string), nil), 200).json(t)
		if got["gateway_reference"] != "CAP"+dep["gateway_reference"].(string) {
			t.Fatalf("deposit = %v, want the capture id recorded", got)
		}
	})
	t.Run("a declined capture is recorded and the deposit stays pending", func(t *testing.T) {
		dep := deposit("31.00")
		fake.captureStatus.Store(http.StatusUnprocessableEntity)
		defer fake.captureStatus.Store(0)
		answered := h.countEvents("deposit.capture_answered")
		h.must(h.webhook("paypal", approval(t, dep, "WH-APPROVED-DECLINED"), paypalHeaders()...), 200)
		if h.countEvents("deposit.capture_answered") != answered+1 {
			t.Fatal("the decline was not recorded")
		}
		got := h.must(h.do("GET", "/v1/deposits/"+dep["id"].(string), nil), 200).json(t)
		if got["status"] != "pending" {
			t.Fatalf("deposit = %v", got)
		}
	})
	t.Run("a denied capture fails the deposit", func(t *testing.T) {
		dep := deposit("32.00")
		h.must(h.webhook("paypal", captureEvent(t, "payment.capture.denied.json", dep, "WH-DENIED-1"), paypalHeaders()...), 200)
		got := h.must(h.do("GET", "/v1/deposits/"+dep["id"].(string), nil), 200).json(t)
		if got["status"] != "failed" {
			t.Fatalf("deposit = %v", got)
		}
		if got := h.balance(a); got != "0.00" {
			t.Fatalf("balance %s", got)
		}
	})
	t.Run("an approval of an order no deposit knows is recorded, and nothing is captured", func(t *testing.T) {
		calls := fake.count("capture")
		unknown := map[string]any{"gateway_reference": "8XX00000000000000", "reference": "DEP-01HXUNKNOWN0000000000000000", "amount": "5.00", "currency": "USD"}
		h.must(h.webhook("paypal", approval(t, unknown, "WH-APPROVED-UNKNOWN"), paypalHeaders()...), 200)
		if fake.count("capture") != calls {
			t.Fatal("an unknown order was captured")
		}
		if h.countEvents("gateway.unmatched") != 1 {
			t.Fatal("the approval was not recorded as unmatched")
		}
	})
	h.checkJournal("main")
}
