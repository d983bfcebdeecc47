package sandbox

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/tallyledger/tally/gateways"
)

var testSecret = []byte("sandbox-secret-for-tests")

// independentSign computes the header without the package's code: HMAC-SHA256 of "t.body".
func independentSign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "." + string(body)))
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

func dec(t testing.TB, s string) apd.Decimal {
	t.Helper()
	d, _, err := apd.NewFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return *d
}

// webhookSink is a stand-in for Tally's webhook endpoint.
type webhookSink struct {
	mu       sync.Mutex
	bodies   [][]byte
	headers  []http.Header
	failures int // answer 500 this many times first
}

func (s *webhookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures > 0 {
		s.failures--
		http.Error(w, "not now", http.StatusInternalServerError)
		return
	}
	s.bodies = append(s.bodies, body)
	s.headers = append(s.headers, r.Header.Clone())
	io.WriteString(w, `{"received":true}`)
}

func (s *webhookSink) received() ([][]byte, []http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies, s.headers
}

// deposits is a Lookup over a fixed set of deposits.
func deposits(t testing.TB, infos ...CheckoutInfo) func(context.Context, string) (CheckoutInfo, error) {
	return func(_ context.Context, ref string) (CheckoutInfo, error) {
		for _, info := range infos {
			if info.Reference == ref {
				return info, nil
			}
		}
		if ref == "DEP-BROKEN" {
			return CheckoutInfo{}, errors.New("database unreachable")
		}
		return CheckoutInfo{}, fmt.Errorf("deposit %s: %w", ref, ErrNotFound)
	}
}

func newSandbox(t *testing.T, sink *webhookSink, infos ...CheckoutInfo) (*Gateway, http.Handler) {
	t.Helper()
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	g, err := New(Config{
		BaseURL: "http://tally.test/", Secret: testSecret, WebhookURL: srv.URL + "/v1/webhooks/sandbox",
		Lookup: deposits(t, infos...), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g, g.Handler()
}

func pendingDeposit(t testing.TB) CheckoutInfo {
	return CheckoutInfo{
		Reference: "DEP-01HX", GatewayReference: "sbx_abc", Amount: dec(t, "5000.00"), Currency: "NGN",
		Account: "acc_01HX", Status: "pending", CallbackURL: "https://app.example/done",
	}
}

func do(h http.Handler, method, path string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://tally.test"+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestSignatureRoundTrip(t *testing.T) {
	body := []byte(`{"id":"sbxevt_1"}`)
	now := time.Unix(1767225600, 0)
	tests := []struct {
		name   string
		header string
		body   []byte
		ok     bool
	}{
		{"a signature made now verifies", Sign(testSecret, body, now), body, true},
		{"Sign matches an independent HMAC-SHA256 of t.body", independentSign(testSecret, body, now), body, true},
		{"a signature 299 s old verifies", Sign(testSecret, body, now.Add(-299*time.Second)), body, true},
		{"a signature 301 s old is stale", Sign(testSecret, body, now.Add(-301*time.Second)), body, false},
		{"a signature 301 s in the future is rejected", Sign(testSecret, body, now.Add(301*time.Second)), body, false},
		{"a signature with another secret is rejected", Sign([]byte("other"), body, now), body, false},
		{"a changed body is rejected", Sign(testSecret, body, now), []byte(`{"id":"sbxevt_2"}`), false},
		{"a changed timestamp is rejected", strings.Replace(Sign(testSecret, body, now), "t=1767225600", "t=1767225601", 1), body, false},
		{"any matching v1 verifies, for secret rotation", Sign([]byte("old"), body, now) + ",v1=" + strings.Split(Sign(testSecret, body, now), "v1=")[1], body, true},
		{"a missing header is rejected", "", body, false},
		{"a header without v1 is rejected", "t=1767225600", body, false},
		{"a header without t is rejected", "v1=" + strings.Split(Sign(testSecret, body, now), "v1=")[1], body, false},
		{"garbage is rejected", "t=abc,v1=xyz", body, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(testSecret, tt.header, tt.body, now)
			if tt.ok && err != nil {
				t.Fatalf("err = %v", err)
			}
			if !tt.ok && !errors.Is(err, gateways.ErrInvalidSignature) {
				t.Fatalf("err = %v, want ErrInvalidSignature", err)
			}
		})
	}
}

func TestParseWebhook(t *testing.T) {
	g, _ := newSandbox(t, &webhookSink{})
	tests := []struct {
		name string
		body string
		kind gateways.Kind
		want error
	}{
		{"payment.succeeded credits the deposit", `{"id":"sbxevt_1","type":"payment.succeeded","data":{"reference":"DEP-1","gateway_reference":"sbx_1","amount":"5000.00","currency":"NGN","metadata":{"tally_account":"acc_1"}}}`, gateways.PaymentSucceeded, nil},
		{"payment.declined fails the deposit", `{"id":"sbxevt_2","type":"payment.declined","data":{"reference":"DEP-1","amount":"5000.00","currency":"NGN"}}`, gateways.PaymentFailed, nil},
		{"refund.succeeded settles the refund", `{"id":"sbxevt_3","type":"refund.succeeded","data":{"reference":"DEP-1","refund_reference":"sbxre_1","amount":"10.50","currency":"NGN","metadata":{"tally_refund":"ref_1"}}}`, gateways.RefundSucceeded, nil},
		{"refund.failed returns the money", `{"id":"sbxevt_4","type":"refund.failed","data":{"reference":"DEP-1","amount":"10.50","currency":"NGN"}}`, gateways.RefundFailed, nil},
		{"an unknown type is ignored", `{"id":"sbxevt_5","type":"payout.paid","data":{}}`, gateways.Ignored, nil},
		{"an amount as a JSON number is malformed", `{"id":"sbxevt_6","type":"payment.succeeded","data":{"amount":5000.5,"currency":"NGN"}}`, "", gateways.ErrMalformed},
		{"an event without id is malformed", `{"type":"payment.succeeded","data":{"amount":"1","currency":"NGN"}}`, "", gateways.ErrMalformed},
		{"a body that is not JSON is malformed", `nope`, "", gateways.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set(SignatureHeader, independentSign(testSecret, []byte(tt.body), time.Now()))
			n, err := g.ParseWebhook(h, []byte(tt.body))
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.Kind != tt.kind || n.Gateway != Name {
				t.Fatalf("notification = %+v", n)
			}
		})
	}
	t.Run("a stale signature is rejected", func(t *testing.T) {
		body := []byte(tests[0].body)
		h := http.Header{}
		h.Set(SignatureHeader, independentSign(testSecret, body, time.Now().Add(-10*time.Minute)))
		if _, err := g.ParseWebhook(h, body); !errors.Is(err, gateways.ErrInvalidSignature) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestOpenCheckoutPointsAtTheSandboxPage(t *testing.T) {
	g, _ := newSandbox(t, &webhookSink{})
	co, err := g.OpenCheckout(context.Background(), gateways.CheckoutRequest{Reference: "DEP-01 HX/1", Amount: dec(t, "1"), Currency: "NGN"})
	if err != nil {
		t.Fatal(err)
	}
	if co.URL != "http://tally.test/sandbox/checkout/DEP-01%20HX%2F1" {
		t.Errorf("url = %s", co.URL)
	}
	other, _ := g.OpenCheckout(context.Background(), gateways.CheckoutRequest{Reference: "DEP-2"})
	if !strings.HasPrefix(co.GatewayReference, "sbx_") || co.GatewayReference == other.GatewayReference {
		t.Errorf("gateway references %q, %q", co.GatewayReference, other.GatewayReference)
	}
}

func TestCheckoutPage(t *testing.T) {
	hostile := CheckoutInfo{
		Reference: `DEP-<script>alert(1)</script>`, Amount: dec(t, "12.50"), Currency: `"><b>`, Status: "pending",
	}
	paid := pendingDeposit(t)
	paid.Reference, paid.Status = "DEP-PAID", "succeeded"
	_, h := newSandbox(t, &webhookSink{}, pendingDeposit(t), hostile, paid)

	t.Run("a pending deposit shows amount, currency, reference and both buttons", func(t *testing.T) {
		rec := do(h, "GET", "/sandbox/checkout/DEP-01HX", nil)
		body := rec.Body.String()
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		for _, want := range []string{"5000.00", "NGN", "DEP-01HX", `action="/sandbox/checkout/DEP-01HX/pay"`, `action="/sandbox/checkout/DEP-01HX/decline"`, ">Pay<", ">Decline<"} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
	})
	t.Run("every value is escaped", func(t *testing.T) {
		rec := do(h, "GET", "/sandbox/checkout/"+url.PathEscape(hostile.Reference), nil)
		body := rec.Body.String()
		if rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, `"><b>`) {
			t.Error("a value reached the page unescaped")
		}
		if !strings.Contains(body, "DEP-&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(body, "&#34;&gt;&lt;b&gt;") {
			t.Error("escaped values missing")
		}
	})
	t.Run("a deposit that is no longer pending has no buttons", func(t *testing.T) {
		body := do(h, "GET", "/sandbox/checkout/DEP-PAID", nil).Body.String()
		if strings.Contains(body, ">Pay<") || !strings.Contains(body, "succeeded") {
			t.Error("a settled deposit can be paid again")
		}
	})
	t.Run("an unknown reference is 404", func(t *testing.T) {
		if rec := do(h, "GET", "/sandbox/checkout/DEP-NOPE", nil); rec.Code != 404 {
			t.Fatalf("status %d", rec.Code)
		}
	})
	t.Run("a failing lookup is 500 without detail", func(t *testing.T) {
		rec := do(h, "GET", "/sandbox/checkout/DEP-BROKEN", nil)
		if rec.Code != 500 || strings.Contains(rec.Body.String(), "database") {
			t.Fatalf("status %d, body %s", rec.Code, rec.Body.String())
		}
	})
}

func TestPayAndDeclineSendSignedWebhooks(t *testing.T) {
	tests := []struct {
		action string
		kind   gateways.Kind
	}{
		{"pay", gateways.PaymentSucceeded},
		{"decline", gateways.PaymentFailed},
	}
	for _, tt := range tests {
		t.Run(tt.action+" posts a webhook Tally can verify", func(t *testing.T) {
			sink := &webhookSink{}
			g, h := newSandbox(t, sink, pendingDeposit(t))
			rec := do(h, "POST", "/sandbox/checkout/DEP-01HX/"+tt.action, nil)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
			if !strings.Contains(rec.Body.String(), `href="https://app.example/done"`) {
				t.Error("result page does not link back to the callback URL")
			}
			bodies, headers := sink.received()
			if len(bodies) != 1 {
				t.Fatalf("%d webhooks sent", len(bodies))
			}
			sig := headers[0].Get(SignatureHeader)
			ts := strings.TrimPrefix(strings.Split(sig, ",")[0], "t=")
			unix, _ := strconv.ParseInt(ts, 10, 64)
			if sig != independentSign(testSecret, bodies[0], time.Unix(unix, 0)) {
				t.Fatalf("signature %q is not HMAC-SHA256 of t.body", sig)
			}
			n, err := g.ParseWebhook(headers[0], bodies[0])
			if err != nil {
				t.Fatal(err)
			}
			if n.Kind != tt.kind || n.Reference != "DEP-01HX" || n.GatewayReference != "sbx_abc" ||
				n.Amount.Text('f') != "5000.00" || n.Currency != "NGN" || n.Account != "acc_01HX" || !strings.HasPrefix(n.EventID, "sbxevt_") {
				t.Fatalf("notification = %+v", n)
			}
		})
	}
}

func TestPayRefusals(t *testing.T) {
	paid := pendingDeposit(t)
	paid.Reference, paid.Status = "DEP-PAID", "succeeded"

	t.Run("a deposit that is no longer pending cannot be paid again", func(t *testing.T) {
		sink := &webhookSink{}
		_, h := newSandbox(t, sink, paid)
		if rec := do(h, "POST", "/sandbox/checkout/DEP-PAID/pay", nil); rec.Code != http.StatusConflict {
			t.Fatalf("status %d", rec.Code)
		}
		if b, _ := sink.received(); len(b) != 0 {
			t.Error("a webhook was sent")
		}
	})
	t.Run("a cross-site form post is refused", func(t *testing.T) {
		sink := &webhookSink{}
		_, h := newSandbox(t, sink, pendingDeposit(t))
		rec := do(h, "POST", "/sandbox/checkout/DEP-01HX/pay", http.Header{"Sec-Fetch-Site": {"cross-site"}})
		if rec.Code != http.StatusForbidden {
			t.Fatalf("status %d", rec.Code)
		}
		if b, _ := sink.received(); len(b) != 0 {
			t.Error("a webhook was sent")
		}
	})
	t.Run("a webhook Tally refuses shows a 502 page", func(t *testing.T) {
		_, h := newSandbox(t, &webhookSink{failures: 1}, pendingDeposit(t))
		if rec := do(h, "POST", "/sandbox/checkout/DEP-01HX/pay", nil); rec.Code != http.StatusBadGateway {
			t.Fatalf("status %d", rec.Code)
		}
	})
	t.Run("GET cannot pay", func(t *testing.T) {
		sink := &webhookSink{}
		_, h := newSandbox(t, sink, pendingDeposit(t))
		if rec := do(h, "GET", "/sandbox/checkout/DEP-01HX/pay", nil); rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("status %d", rec.Code)
		}
	})
}

func TestRefundSendsRefundSucceededInTheBackground(t *testing.T) {
	sink := &webhookSink{failures: 1} // the first delivery fails and is retried
	g, _ := newSandbox(t, sink)
	res, err := g.Refund(context.Background(), gateways.RefundRequest{
		RefundID: "ref_01", DepositReference: "DEP-01HX", GatewayReference: "sbx_abc", Amount: dec(t, "10.50"), Currency: "NGN",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.GatewayRefundID, "sbxre_") || res.Status != gateways.RefundStatusPending {
		t.Fatalf("result = %+v", res)
	}
	g.Close()
	bodies, headers := sink.received()
	if len(bodies) != 1 {
		t.Fatalf("%d webhooks delivered", len(bodies))
	}
	n, err := g.ParseWebhook(headers[0], bodies[0])
	if err != nil {
		t.Fatal(err)
	}
	if n.Kind != gateways.RefundSucceeded || n.RefundID != "ref_01" || n.RefundReference != res.GatewayRefundID ||
		n.Reference != "DEP-01HX" || n.Amount.Text('f') != "10.50" {
		t.Fatalf("notification = %+v", n)
	}
	if _, err := g.Refund(context.Background(), gateways.RefundRequest{RefundID: "ref_02"}); err == nil {
		t.Error("a closed sandbox accepted a refund")
	}
}

func TestNewWithoutSecretIsNotConfigured(t *testing.T) {
	lookup := deposits(t)
	for _, cfg := range []Config{{}, {BaseURL: "http://x", Lookup: lookup}, {Secret: testSecret, Lookup: lookup}, {Secret: testSecret, BaseURL: "http://x"}} {
		if _, err := New(cfg); !errors.Is(err, gateways.ErrNotConfigured) {
			t.Errorf("err = %v", err)
		}
	}
}
