package paypal

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
)

const (
	testClientID  = "AYSq3RDGsmBLJE-otTkBtM-jBRd1TCQwFf9RGfwddNXWz0uFU9ztymylOhRS"
	testSecret    = "EGnHDxD_qRPdaLdZz8iCr8N7_MzF-YHPTkjs6NKYQvQSBngp4PTTVWkPZRbL"
	testWebhookID = "8PT597110X687430LKGECATA"
	orderID       = "3X019354NL0553513"
	captureID     = "42311647XV020574X"
	testToken     = "A21AAGfakeAccessTokenForTestsOnly_x9QpE2mK7vR4tW1yZ3bN5cD8fH0jL6sU"
)

var (
	dec     = gatewaytest.Decimal
	fixture = gatewaytest.Fixture
)

// clock is a settable clock for the token's expiry.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakePayPal answers PayPal's routes with the real-format answers in testdata.
func fakePayPal(t *testing.T) *gatewaytest.Server {
	t.Helper()
	return gatewaytest.NewServer(t, map[string]gatewaytest.Answer{
		"POST /v1/oauth2/token":                               {Status: 200, Body: string(fixture(t, "oauth2.token.response.json"))},
		"POST /v2/checkout/orders":                            {Status: 201, Body: string(fixture(t, "orders.create.response.json"))},
		"POST /v2/checkout/orders/" + orderID + "/capture":    {Status: 201, Body: string(fixture(t, "orders.capture.response.json"))},
		"POST /v2/payments/captures/" + captureID + "/refund": {Status: 201, Body: string(fixture(t, "captures.refund.response.json"))},
		"POST /v1/notifications/verify-webhook-signature":     {Status: 200, Body: string(fixture(t, "verify-webhook-signature.success.json"))},
	})
}

func newGateway(t *testing.T, f *gatewaytest.Server, c *clock) *Gateway {
	t.Helper()
	cfg := Config{ClientID: testClientID, ClientSecret: testSecret, WebhookID: testWebhookID, BaseURL: f.URL, HTTPClient: gatewaytest.Client()}
	if c != nil {
		cfg.Now = c.Now
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func checkout(t testing.TB, amount, currency string) gateways.CheckoutRequest {
	return gateways.CheckoutRequest{
		Reference: "DEP-01HXA6F3Q4M1ZB9W2K7RT5YV8C", DepositID: "dep_01HXA6F3Q4M1ZB9W2K7RT5YV8C", Account: "acc_01HX",
		Amount: dec(t, amount), Currency: currency, CallbackURL: "https://app.example.com/done",
	}
}

func TestOpenCheckout(t *testing.T) {
	tests := []struct {
		name, amount, currency, sent string
	}{
		{"25 USD is sent as 25.00", "25", "USD", "25.00"},
		{"5000 JPY is sent without decimals", "5000", "JPY", "5000"},
		{"1500 HUF is sent without decimals, as PayPal takes forints", "1500.00", "HUF", "1500"},
		{"300 TWD is sent without decimals, as PayPal takes dollars of Taiwan", "300", "TWD", "300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakePayPal(t)
			co, err := newGateway(t, f, nil).OpenCheckout(context.Background(), checkout(t, tt.amount, tt.currency))
			if err != nil {
				t.Fatal(err)
			}
			if co.URL != "https://www.sandbox.paypal.com/checkoutnow?token="+orderID || co.GatewayReference != orderID {
				t.Errorf("checkout = %+v, want the approve link and the order id", co)
			}
			r := f.Last(t)
			if r.Path != "/v2/checkout/orders" || r.Header.Get("Authorization") != "Bearer "+testToken {
				t.Errorf("request %s with %q", r.Path, r.Header.Get("Authorization"))
			}
			if got := r.Header.Get("PayPal-Request-Id"); got != "dep_01HXA6F3Q4M1ZB9W2K7RT5YV8C" {
				t.Errorf("PayPal-Request-Id = %q, want the deposit id", got)
			}
			if r.JSON["intent"] != "CAPTURE" {
				t.Errorf("intent = %v", r.JSON["intent"])
			}
			pu := r.JSON["purchase_units"].([]any)[0].(map[string]any)
			if pu["invoice_id"] != "DEP-01HXA6F3Q4M1ZB9W2K7RT5YV8C" || pu["custom_id"] != "DEP-01HXA6F3Q4M1ZB9W2K7RT5YV8C" {
				t.Errorf("purchase unit = %v, want our reference as invoice_id and custom_id", pu)
			}
			amount := pu["amount"].(map[string]any)
			if amount["value"] != tt.sent || amount["currency_code"] != tt.currency {
				t.Errorf("amount = %v, want %s %s", amount, tt.sent, tt.currency)
			}
		})
	}
}

func TestOpenCheckoutRefusesWithoutCallingPayPal(t *testing.T) {
	tests := []struct {
		name, amount, currency string
		want                   error
	}{
		{"a currency PayPal does not take is unsupported", "5000", "NGN", gateways.ErrUnsupported},
		{"forint fillér are never rounded away", "1500.50", "HUF", gateways.ErrInvalidAmount},
		{"yen fractions are never rounded away", "10.5", "JPY", gateways.ErrInvalidAmount},
		{"a tenth of a cent is never rounded away", "1.001", "USD", gateways.ErrInvalidAmount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakePayPal(t)
			_, err := newGateway(t, f, nil).OpenCheckout(context.Background(), checkout(t, tt.amount, tt.currency))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if n := f.Calls("*"); n != 0 {
				t.Errorf("PayPal was called %d times", n)
			}
		})
	}
}

func TestAccessTokenIsCachedUntilItExpires(t *testing.T) {
	f := fakePayPal(t)
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	g := newGateway(t, f, c)
	ctx := context.Background()
	for range 3 {
		if _, err := g.OpenCheckout(ctx, checkout(t, "25", "USD")); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.Calls("POST /v1/oauth2/token"); n != 1 {
		t.Fatalf("%d token requests for three calls, want 1", n)
	}
	tok := f.Requests()[0]
	if user, pass, ok := tok.BasicAuth(); !ok || user != testClientID || pass != testSecret {
		t.Errorf("token request authenticated as %q:%q", user, pass)
	}
	if tok.Form.Get("grant_type") != "client_credentials" {
		t.Errorf("grant_type = %q", tok.Form.Get("grant_type"))
	}
	// expires_in is 32400 s; the token is renewed a minute early.
	c.advance(32400*time.Second - 2*time.Minute)
	if _, err := g.OpenCheckout(ctx, checkout(t, "25", "USD")); err != nil {
		t.Fatal(err)
	}
	if n := f.Calls("POST /v1/oauth2/token"); n != 1 {
		t.Fatalf("%d token requests before expiry, want 1", n)
	}
	c.advance(90 * time.Second)
	if _, err := g.OpenCheckout(ctx, checkout(t, "25", "USD")); err != nil {
		t.Fatal(err)
	}
	if n := f.Calls("POST /v1/oauth2/token"); n != 2 {
		t.Fatalf("%d token requests after expiry, want 2", n)
	}
}

func TestARefusedTokenIsReplacedOnce(t *testing.T) {
	f := fakePayPal(t)
	g := newGateway(t, f, nil)
	// PayPal stops taking the cached token: the call is made again with a new one.
	calls := 0
	f.SetAnswer("POST /v2/checkout/orders", gatewaytest.Answer{Respond: func(gatewaytest.Request) (int, string) {
		calls++
		if calls == 1 {
			return 401, `{"error":"invalid_token","error_description":"Token signature verification failed"}`
		}
		return 201, string(fixture(t, "orders.create.response.json"))
	}})
	if _, err := g.OpenCheckout(context.Background(), checkout(t, "25", "USD")); err != nil {
		t.Fatal(err)
	}
	if n := f.Calls("POST /v1/oauth2/token"); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
	// A token PayPal keeps refusing is not retried forever.
	f.SetAnswer("POST /v2/checkout/orders", gatewaytest.Answer{Status: 401, Body: `{"error":"invalid_token"}`})
	var ge *gateways.GatewayError
	if _, err := g.OpenCheckout(context.Background(), checkout(t, "25", "USD")); !errors.As(err, &ge) || ge.StatusCode != 401 {
		t.Fatalf("err = %v", err)
	}
}

func TestCapture(t *testing.T) {
	req := gateways.CaptureRequest{DepositID: "dep_01HX", GatewayReference: orderID}
	t.Run("an approved order is captured with the deposit's capture request id", func(t *testing.T) {
		f := fakePayPal(t)
		res, err := newGateway(t, f, nil).Capture(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if res.CaptureID != captureID || res.Status != gateways.CaptureCompleted {
			t.Errorf("result = %+v", res)
		}
		r := f.Last(t)
		if r.Path != "/v2/checkout/orders/"+orderID+"/capture" || r.Header.Get("PayPal-Request-Id") != "dep_01HX:capture" {
			t.Errorf("request %s with PayPal-Request-Id %q", r.Path, r.Header.Get("PayPal-Request-Id"))
		}
	})
	t.Run("an order captured before answers already captured", func(t *testing.T) {
		f := fakePayPal(t)
		f.SetAnswer("POST /v2/checkout/orders/"+orderID+"/capture", gatewaytest.Answer{Status: 422, Body: string(fixture(t, "orders.capture.already_captured.json"))})
		res, err := newGateway(t, f, nil).Capture(context.Background(), req)
		if err != nil || res.Status != gateways.CaptureAlready {
			t.Fatalf("result %+v, err %v", res, err)
		}
	})
	t.Run("a declined instrument is PayPal's refusal, with its issue", func(t *testing.T) {
		f := fakePayPal(t)
		f.SetAnswer("POST /v2/checkout/orders/"+orderID+"/capture", gatewaytest.Answer{Status: 422, Body: string(fixture(t, "orders.capture.instrument_declined.json"))})
		_, err := newGateway(t, f, nil).Capture(context.Background(), req)
		var ge *gateways.GatewayError
		if !errors.As(err, &ge) || ge.StatusCode != 422 || ge.Code != "INSTRUMENT_DECLINED" {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestRefund(t *testing.T) {
	f := fakePayPal(t)
	res, err := newGateway(t, f, nil).Refund(context.Background(), gateways.RefundRequest{
		RefundID: "ref_01HXC2N8J5V0Q3R7T9W4Y6Z1AB", DepositReference: "DEP-01HX", GatewayReference: captureID,
		Amount: dec(t, "15"), Currency: "USD", Reason: "Refund of a wallet top-up",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.GatewayRefundID != "1JU08902781691411" || res.Status != gateways.RefundStatusSucceeded {
		t.Errorf("result = %+v", res)
	}
	r := f.Last(t)
	if r.Path != "/v2/payments/captures/"+captureID+"/refund" || r.Header.Get("PayPal-Request-Id") != "ref_01HXC2N8J5V0Q3R7T9W4Y6Z1AB" {
		t.Errorf("request %s with PayPal-Request-Id %q, want the refund id", r.Path, r.Header.Get("PayPal-Request-Id"))
	}
	if r.JSON["custom_id"] != "ref_01HXC2N8J5V0Q3R7T9W4Y6Z1AB" || r.JSON["invoice_id"] != "ref_01HXC2N8J5V0Q3R7T9W4Y6Z1AB" {
		t.Errorf("body = %v, want our refund id as custom_id and invoice_id", r.JSON)
	}
	if amount := r.JSON["amount"].(map[string]any); amount["value"] != "15.00" || amount["currency_code"] != "USD" {
		t.Errorf("amount = %v", amount)
	}
}

func TestAPIFailuresAreGatewayErrors(t *testing.T) {
	tests := []struct {
		name    string
		answer  gatewaytest.Answer
		status  int
		code    string
		timeout bool
	}{
		{"a 400 carries PayPal's issue", gatewaytest.Answer{Status: 400, Body: `{"name":"INVALID_REQUEST","message":"Request is not well-formed","details":[{"issue":"INVALID_PARAMETER_VALUE","description":"bad"}]}`}, 400, "INVALID_PARAMETER_VALUE", false},
		{"a 500 is a gateway error", gatewaytest.Answer{Status: 500, Body: `{"name":"INTERNAL_SERVER_ERROR","message":"An internal server error occurred."}`}, 500, "INTERNAL_SERVER_ERROR", false},
		{"an HTML answer is a gateway error", gatewaytest.Answer{Status: 503, Body: `<html>down</html>`}, 503, "", false},
		{"a slow PayPal times out", gatewaytest.Answer{Status: 201, Body: `{}`, Delay: time.Second}, 0, "", true},
	}
	routes := map[string]string{
		"open checkout": "POST /v2/checkout/orders", "capture": "POST /v2/checkout/orders/" + orderID + "/capture",
		"refund": "POST /v2/payments/captures/" + captureID + "/refund",
	}
	for _, tt := range tests {
		for op, route := range routes {
			t.Run(op+": "+tt.name, func(t *testing.T) {
				f := fakePayPal(t)
				f.SetAnswer(route, tt.answer)
				g := newGateway(t, f, nil)
				var err error
				switch op {
				case "open checkout":
					_, err = g.OpenCheckout(context.Background(), checkout(t, "25", "USD"))
				case "capture":
					_, err = g.Capture(context.Background(), gateways.CaptureRequest{DepositID: "dep_1", GatewayReference: orderID})
				case "refund":
					_, err = g.Refund(context.Background(), gateways.RefundRequest{RefundID: "ref_1", GatewayReference: captureID, Amount: dec(t, "1"), Currency: "USD"})
				}
				var ge *gateways.GatewayError
				if !errors.As(err, &ge) {
					t.Fatalf("err = %v, want a *GatewayError", err)
				}
				if ge.Gateway != Name || ge.Op != op || ge.StatusCode != tt.status || ge.Code != tt.code || ge.Timeout != tt.timeout {
					t.Errorf("gateway error = %+v", ge)
				}
				if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), testToken) {
					t.Error("the error leaks a credential")
				}
			})
		}
	}
	t.Run("credentials PayPal refuses are a gateway error that names no secret", func(t *testing.T) {
		f := fakePayPal(t)
		f.SetAnswer("POST /v1/oauth2/token", gatewaytest.Answer{Status: 401, Body: string(fixture(t, "oauth2.token.invalid_client.json"))})
		_, err := newGateway(t, f, nil).OpenCheckout(context.Background(), checkout(t, "25", "USD"))
		var ge *gateways.GatewayError
		if !errors.As(err, &ge) || ge.StatusCode != 401 || ge.Code != "invalid_client" {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), testSecret) {
			t.Error("the error leaks the client secret")
		}
		if n := f.Calls("POST /v2/checkout/orders"); n != 0 {
			t.Errorf("the order was requested %d times without a token", n)
		}
	})
}

func TestNewWithoutCredentialsIsNotConfigured(t *testing.T) {
	for _, cfg := range []Config{{}, {ClientID: "a", ClientSecret: "b"}, {ClientID: "a", WebhookID: "c"}, {ClientSecret: "b", WebhookID: "c"}} {
		if _, err := New(cfg); !errors.Is(err, gateways.ErrNotConfigured) {
			t.Errorf("New(%+v) err = %v", cfg, err)
		}
	}
}
