// Package paypal owns Tally's adapter for PayPal: an OAuth2 client-credentials token, orders
// (PayPal's hosted checkout) with intent CAPTURE, their capture once the payer approves,
// refunds of captures, and webhooks verified through PayPal's verify-webhook-signature API and
// parsed into gateways.Notification. PayPal has no official Go SDK; the calls are plain JSON
// through gateways/internal/apicall.
package paypal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/apicall"
)

// Name is the gateway's name in Tally's API and journal.
const Name = "paypal"

// DefaultBaseURL is PayPal's live API; the sandbox is https://api-m.sandbox.paypal.com.
const DefaultBaseURL = "https://api-m.paypal.com"

// RequestIDHeader makes a PayPal POST idempotent: a repeat with the same id returns the first
// answer instead of acting again.
const RequestIDHeader = "PayPal-Request-Id"

// CaptureRequestID is the PayPal-Request-Id of a deposit's capture.
func CaptureRequestID(depositID string) string { return depositID + ":capture" }

// exponents is how many fraction digits PayPal takes per currency. PayPal's table differs from
// ISO 4217 in places: HUF and TWD have two digits in ISO but none at PayPal.
var exponents = map[string]int{
	"AUD": 2, "BRL": 2, "CAD": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2, "HKD": 2, "HUF": 0,
	"ILS": 2, "JPY": 0, "MYR": 2, "MXN": 2, "TWD": 0, "NZD": 2, "NOK": 2, "PHP": 2, "PLN": 2,
	"GBP": 2, "SGD": 2, "SEK": 2, "CHF": 2, "THB": 2, "USD": 2,
}

// Exponent returns the number of fraction digits PayPal takes for currency, and false when
// PayPal does not take the currency.
func Exponent(currency string) (int, bool) {
	e, ok := exponents[currency]
	return e, ok
}

// tokenMargin renews the access token this long before PayPal says it expires, so a token is
// never sent in its last seconds.
const tokenMargin = time.Minute

// Config configures the PayPal adapter (TALLY_PAYPAL_CLIENT_ID, TALLY_PAYPAL_CLIENT_SECRET,
// TALLY_PAYPAL_WEBHOOK_ID, TALLY_PAYPAL_BASE_URL).
type Config struct {
	ClientID     string
	ClientSecret string
	WebhookID    string       // the id PayPal gave the webhook endpoint in the dashboard
	BaseURL      string       // default DefaultBaseURL; tests point it at a fake
	HTTPClient   *http.Client // default: a client with a 10 s timeout
	// Now is the clock for the token's expiry; default time.Now.
	Now func() time.Time
}

// Gateway is the PayPal adapter. It is safe for concurrent use.
type Gateway struct {
	webhookID string
	auth      apicall.Client // the token endpoint, with basic auth
	api       apicall.Client // everything else, with the bearer token in the header
	now       func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

var (
	_ gateways.Gateway       = (*Gateway)(nil)
	_ gateways.Capturer      = (*Gateway)(nil)
	_ gateways.ContextParser = (*Gateway)(nil)
)

// New returns the adapter, or an error wrapping gateways.ErrNotConfigured when the client id,
// the secret or the webhook id is missing.
func New(cfg Config) (*Gateway, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.WebhookID == "" {
		return nil, fmt.Errorf("%s: client id, client secret or webhook id missing: %w", Name, gateways.ErrNotConfigured)
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := apicall.NewHTTPClient(cfg.HTTPClient)
	id, secret := cfg.ClientID, cfg.ClientSecret
	return &Gateway{
		webhookID: cfg.WebhookID,
		now:       cfg.Now,
		auth: apicall.Client{
			Gateway: Name, BaseURL: base, HTTP: client,
			Authorize: func(r *http.Request) { r.SetBasicAuth(id, secret) },
			Explain:   explainOAuth,
		},
		api: apicall.Client{Gateway: Name, BaseURL: base, HTTP: client, Explain: explain},
	}, nil
}

// Name returns "paypal".
func (g *Gateway) Name() string { return Name }

// EchoesRefundID implements gateways.RefundIDEchoer: every refund Tally asks for carries our
// refund id as its custom_id, which PAYMENT.CAPTURE.REFUNDED echoes.
func (g *Gateway) EchoesRefundID() bool { return true }

// explain reads PayPal's error answer: {"name", "message", "details": [{"issue", "description"}]}.
// The first detail's issue is the most specific code (ORDER_ALREADY_CAPTURED, …).
func explain(body []byte) (code, message string) {
	var e struct {
		Name    string `json:"name"`
		Message string `json:"message"`
		Details []struct {
			Issue       string `json:"issue"`
			Description string `json:"description"`
		} `json:"details"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	code, message = e.Name, e.Message
	if len(e.Details) > 0 && e.Details[0].Issue != "" {
		code = e.Details[0].Issue
		if e.Details[0].Description != "" {
			message = e.Details[0].Description
		}
	}
	return code, message
}

// explainOAuth reads the token endpoint's error answer: {"error", "error_description"}.
func explainOAuth(body []byte) (code, message string) {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	return e.Error, e.Description
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// accessToken returns the cached token, fetching a new one when there is none or it is about to
// expire. Concurrent callers wait for one fetch.
func (g *Gateway) accessToken(ctx context.Context, op string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.token != "" && g.now().Before(g.expires) {
		return g.token, nil
	}
	var resp tokenResponse
	form := url.Values{"grant_type": {"client_credentials"}}
	if err := g.auth.PostForm(ctx, op, "/v1/oauth2/token", nil, form, &resp); err != nil {
		return "", err
	}
	if resp.AccessToken == "" || resp.ExpiresIn <= 0 {
		return "", &gateways.GatewayError{Gateway: Name, Op: op, StatusCode: http.StatusOK, Message: "the token answer has no access_token or expires_in"}
	}
	g.token = resp.AccessToken
	g.expires = g.now().Add(time.Duration(resp.ExpiresIn)*time.Second - tokenMargin)
	return g.token, nil
}

// forget drops a token PayPal refused, so the next call fetches a new one.
func (g *Gateway) forget(token string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.token == token {
		g.token = ""
	}
}

// post calls PayPal's API with the access token. A 401 means PayPal no longer takes the cached
// token (revoked or expired early): it is dropped and the call is made once more with a new one,
// which is safe because every call Tally repeats carries a PayPal-Request-Id or changes nothing.
func (g *Gateway) post(ctx context.Context, op, path string, header http.Header, body, out any) error {
	for attempt := 0; ; attempt++ {
		token, err := g.accessToken(ctx, op)
		if err != nil {
			return err
		}
		h := http.Header{"Authorization": {"Bearer " + token}}
		for k, v := range header {
			h[k] = v
		}
		err = g.api.Post(ctx, op, path, h, body, out)
		var ge *gateways.GatewayError
		if attempt == 0 && errors.As(err, &ge) && ge.StatusCode == http.StatusUnauthorized {
			g.forget(token)
			continue
		}
		return err
	}
}

type money struct {
	CurrencyCode string `json:"currency_code"`
	Value        string `json:"value"`
}

// payable writes a major-unit amount as PayPal's decimal string with PayPal's digits for the
// currency ("25.00", "5000" for JPY), refusing one it would have to round.
func payable(a *apd.Decimal, currency string) (money, error) {
	exp, ok := Exponent(currency)
	if !ok {
		return money{}, fmt.Errorf("%s: currency %s: %w", Name, currency, gateways.ErrUnsupported)
	}
	minor, err := gateways.MinorUnits(a, exp)
	if err != nil {
		return money{}, fmt.Errorf("%s: %w", Name, err)
	}
	major := gateways.MajorUnits(minor, exp)
	return money{CurrencyCode: currency, Value: gateways.FormatAmount(&major)}, nil
}

type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

func linkOf(links []link, rels ...string) string {
	for _, rel := range rels {
		for _, l := range links {
			if l.Rel == rel {
				return l.Href
			}
		}
	}
	return ""
}

type purchaseUnit struct {
	ReferenceID string `json:"reference_id"`
	Description string `json:"description"`
	InvoiceID   string `json:"invoice_id"`
	CustomID    string `json:"custom_id"`
	Amount      money  `json:"amount"`
}

type applicationContext struct {
	ReturnURL          string `json:"return_url,omitempty"`
	CancelURL          string `json:"cancel_url,omitempty"`
	UserAction         string `json:"user_action"`
	ShippingPreference string `json:"shipping_preference"`
}

type orderRequest struct {
	Intent             string             `json:"intent"`
	PurchaseUnits      []purchaseUnit     `json:"purchase_units"`
	ApplicationContext applicationContext `json:"application_context"`
}

type orderResponse struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Links  []link `json:"links"`
}

// OpenCheckout creates an order with intent CAPTURE whose invoice_id and custom_id are our
// reference (PayPal echoes both on the capture), keyed by the deposit id so a retried request
// finds the same order. The checkout URL is the order's approve link.
func (g *Gateway) OpenCheckout(ctx context.Context, req gateways.CheckoutRequest) (gateways.Checkout, error) {
	amount, err := payable(&req.Amount, req.Currency)
	if err != nil {
		return gateways.Checkout{}, err
	}
	body := orderRequest{
		Intent: "CAPTURE",
		PurchaseUnits: []purchaseUnit{{
			ReferenceID: req.DepositID, Description: "Wallet top-up " + req.Reference,
			InvoiceID: req.Reference, CustomID: req.Reference, Amount: amount,
		}},
		// PAY_NOW: the payer pays on PayPal's page; there is no review step on our side.
		ApplicationContext: applicationContext{
			ReturnURL: req.CallbackURL, CancelURL: req.CallbackURL, UserAction: "PAY_NOW", ShippingPreference: "NO_SHIPPING",
		},
	}
	var resp orderResponse
	header := http.Header{RequestIDHeader: {req.DepositID}}
	if err := g.post(ctx, "open checkout", "/v2/checkout/orders", header, body, &resp); err != nil {
		return gateways.Checkout{}, err
	}
	approve := linkOf(resp.Links, "approve", "payer-action")
	if resp.ID == "" || approve == "" {
		return gateways.Checkout{}, &gateways.GatewayError{Gateway: Name, Op: "open checkout", StatusCode: http.StatusOK,
			Message: "the order has no id or approve link"}
	}
	return gateways.Checkout{URL: approve, GatewayReference: resp.ID}, nil
}

type captureResponse struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	PurchaseUnits []struct {
		Payments struct {
			Captures []struct {
				ID            string `json:"id"`
				Status        string `json:"status"`
				StatusDetails struct {
					Reason string `json:"reason"`
				} `json:"status_details"`
			} `json:"captures"`
		} `json:"payments"`
	} `json:"purchase_units"`
}

// Capture captures an approved order, keyed by CaptureRequestID(deposit id): repeating it, from
// any process, returns PayPal's first answer and never captures twice.
func (g *Gateway) Capture(ctx context.Context, req gateways.CaptureRequest) (gateways.CaptureResult, error) {
	if req.GatewayReference == "" {
		return gateways.CaptureResult{}, fmt.Errorf("%s: deposit %s has no order id: %w", Name, req.DepositID, gateways.ErrUnsupported)
	}
	var resp captureResponse
	header := http.Header{RequestIDHeader: {CaptureRequestID(req.DepositID)}}
	err := g.post(ctx, "capture", "/v2/checkout/orders/"+url.PathEscape(req.GatewayReference)+"/capture", header, struct{}{}, &resp)
	var ge *gateways.GatewayError
	if errors.As(err, &ge) && ge.StatusCode == http.StatusUnprocessableEntity && ge.Code == "ORDER_ALREADY_CAPTURED" {
		return gateways.CaptureResult{Status: gateways.CaptureAlready}, nil
	}
	if err != nil {
		return gateways.CaptureResult{}, err
	}
	if len(resp.PurchaseUnits) == 0 || len(resp.PurchaseUnits[0].Payments.Captures) == 0 {
		return gateways.CaptureResult{}, &gateways.GatewayError{Gateway: Name, Op: "capture", StatusCode: http.StatusOK,
			Message: "the answer has no capture"}
	}
	c := resp.PurchaseUnits[0].Payments.Captures[0]
	res := gateways.CaptureResult{CaptureID: c.ID, Reason: c.StatusDetails.Reason}
	switch c.Status {
	case "COMPLETED":
		res.Status = gateways.CaptureCompleted
	case "DECLINED", "FAILED":
		res.Status = gateways.CaptureDeclined
	default: // PENDING: PayPal holds it; PAYMENT.CAPTURE.COMPLETED or DENIED follows
		res.Status = gateways.CapturePending
	}
	return res, nil
}

type refundRequest struct {
	Amount      money  `json:"amount"`
	InvoiceID   string `json:"invoice_id"`
	CustomID    string `json:"custom_id"`
	NoteToPayer string `json:"note_to_payer,omitempty"`
}

type refundResponse struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// Refund refunds (part of) a capture. Our refund id is the PayPal-Request-Id, so one refund is
// never made twice, and its custom_id and invoice_id, which PAYMENT.CAPTURE.REFUNDED echoes.
func (g *Gateway) Refund(ctx context.Context, req gateways.RefundRequest) (gateways.RefundResult, error) {
	if req.GatewayReference == "" {
		return gateways.RefundResult{}, fmt.Errorf("%s: deposit %s has no capture id: %w", Name, req.DepositReference, gateways.ErrUnsupported)
	}
	amount, err := payable(&req.Amount, req.Currency)
	if err != nil {
		return gateways.RefundResult{}, err
	}
	body := refundRequest{Amount: amount, InvoiceID: req.RefundID, CustomID: req.RefundID, NoteToPayer: truncate(req.Reason, 255)}
	var resp refundResponse
	header := http.Header{RequestIDHeader: {req.RefundID}}
	path := "/v2/payments/captures/" + url.PathEscape(req.GatewayReference) + "/refund"
	if err := g.post(ctx, "refund", path, header, body, &resp); err != nil {
		return gateways.RefundResult{}, err
	}
	return gateways.RefundResult{GatewayRefundID: resp.ID, Status: refundStatus(resp.Status)}, nil
}

func refundStatus(s string) gateways.RefundStatus {
	switch s {
	case "COMPLETED":
		return gateways.RefundStatusSucceeded
	case "CANCELLED", "FAILED":
		return gateways.RefundStatusFailed
	}
	return gateways.RefundStatusPending
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
