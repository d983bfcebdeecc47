// Package stripe owns Tally's adapter for Stripe, built on the official stripe-go client:
// opening Checkout Sessions, refunding payment intents, and verifying and parsing Stripe's
// webhooks into gateways.Notification.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	stripego "github.com/stripe/stripe-go/v85"
	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/apicall"
)

// Name is the gateway's name in Tally's API and journal.
const Name = "stripe"

// DefaultBaseURL is Stripe's API.
const DefaultBaseURL = stripego.APIURL

// Stripe's own minor-unit table, which differs from ISO 4217: ISK, HUF and TWD are two-decimal
// in Stripe's API (ISO says ISK has none), UGX is zero-decimal (ISO says two).
// Every currency not listed here is two-decimal. See https://docs.stripe.com/currencies.
var (
	zeroDecimal = map[string]bool{
		"BIF": true, "CLP": true, "DJF": true, "GNF": true, "JPY": true, "KMF": true, "KRW": true, "MGA": true,
		"PYG": true, "RWF": true, "UGX": true, "VND": true, "VUV": true, "XAF": true, "XOF": true, "XPF": true,
	}
	threeDecimal = map[string]bool{"BHD": true, "JOD": true, "KWD": true, "OMR": true, "TND": true}
)

// Exponent returns the number of minor-unit digits Stripe's API uses for an upper-case currency.
func Exponent(currency string) int {
	switch {
	case zeroDecimal[currency]:
		return 0
	case threeDecimal[currency]:
		return 3
	}
	return 2
}

// Config configures the Stripe adapter (TALLY_STRIPE_SECRET_KEY, TALLY_STRIPE_WEBHOOK_SECRET,
// TALLY_STRIPE_BASE_URL).
type Config struct {
	SecretKey     string       // sk_live_… or sk_test_…
	WebhookSecret string       // whsec_…, the webhook endpoint's signing secret
	BaseURL       string       // default DefaultBaseURL; tests point it at a fake
	HTTPClient    *http.Client // default: a client with a 10 s timeout
	// ReturnURL is where Checkout sends the payer when the deposit has no callback_url.
	ReturnURL string
	// MaxNetworkRetries is how often stripe-go retries a failed call with the same idempotency
	// key; 0 keeps stripe-go's default, a negative number disables retries.
	MaxNetworkRetries int
}

// Gateway is the Stripe adapter. It is safe for concurrent use.
type Gateway struct {
	client        *stripego.Client
	webhookSecret string
	returnURL     string
}

var _ gateways.Gateway = (*Gateway)(nil)

// New returns the adapter, or an error wrapping gateways.ErrNotConfigured when either secret is
// missing: without the webhook secret no payment could ever be confirmed.
func New(cfg Config) (*Gateway, error) {
	if cfg.SecretKey == "" || cfg.WebhookSecret == "" {
		return nil, fmt.Errorf("%s: secret key or webhook secret missing: %w", Name, gateways.ErrNotConfigured)
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	backend := &stripego.BackendConfig{
		URL:        stripego.String(strings.TrimRight(base, "/")),
		HTTPClient: apicall.NewHTTPClient(cfg.HTTPClient),
		// Failures are returned to the caller, which logs them with context; stripe-go's own
		// logging would print them a second time.
		LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull},
	}
	switch {
	case cfg.MaxNetworkRetries > 0:
		backend.MaxNetworkRetries = stripego.Int64(int64(cfg.MaxNetworkRetries))
	case cfg.MaxNetworkRetries < 0:
		backend.MaxNetworkRetries = stripego.Int64(0)
	}
	client := stripego.NewClient(cfg.SecretKey, stripego.WithBackends(stripego.NewBackendsWithConfig(backend)))
	return &Gateway{client: client, webhookSecret: cfg.WebhookSecret, returnURL: cfg.ReturnURL}, nil
}

// EchoesRefundID implements gateways.RefundIDEchoer: every refund Tally asks
// for carries our refund id back in metadata.tally_refund.
func (g *Gateway) EchoesRefundID() bool { return true }

// Name returns "stripe".
func (g *Gateway) Name() string { return Name }

// Metadata keys Tally writes on sessions, payment intents and refunds.
const (
	metaReference = "tally_reference"
	metaDeposit   = "tally_deposit"
	metaAccount   = "tally_account"
	metaRefund    = "tally_refund"
	metaReason    = "tally_reason"
)

// OpenCheckout creates a Checkout Session in payment mode with one line item for the amount.
// The reference and account go into the session's and the payment intent's metadata, so
// payment_intent.succeeded (which carries no session) still names the deposit. The deposit id
// is the idempotency key: a retried call returns the same session instead of a second one.
func (g *Gateway) OpenCheckout(ctx context.Context, req gateways.CheckoutRequest) (gateways.Checkout, error) {
	minor, err := gateways.MinorUnits(&req.Amount, Exponent(req.Currency))
	if err != nil {
		return gateways.Checkout{}, fmt.Errorf("%s: %w", Name, err)
	}
	metadata := map[string]string{metaReference: req.Reference, metaDeposit: req.DepositID, metaAccount: req.Account}
	params := &stripego.CheckoutSessionCreateParams{
		Mode:              stripego.String(string(stripego.CheckoutSessionModePayment)),
		ClientReferenceID: stripego.String(req.Reference),
		LineItems: []*stripego.CheckoutSessionCreateLineItemParams{{
			PriceData: &stripego.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripego.String(strings.ToLower(req.Currency)),
				UnitAmount:  stripego.Int64(minor),
				ProductData: &stripego.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripego.String("Wallet top-up")},
			},
			Quantity: stripego.Int64(1),
		}},
		Metadata:          metadata,
		PaymentIntentData: &stripego.CheckoutSessionCreatePaymentIntentDataParams{Metadata: metadata},
	}
	if url := firstNonEmpty(req.CallbackURL, g.returnURL); url != "" {
		params.SuccessURL = stripego.String(url)
		params.CancelURL = stripego.String(url)
	}
	if req.Email != "" {
		params.CustomerEmail = stripego.String(req.Email)
	}
	params.SetIdempotencyKey("tally-checkout-" + firstNonEmpty(req.DepositID, req.Reference))

	s, err := g.client.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		return gateways.Checkout{}, gatewayError("open checkout", err)
	}
	return gateways.Checkout{URL: s.URL, GatewayReference: s.ID}, nil
}

// Refund refunds (part of) the deposit's payment intent, keyed by our refund id so a retry never
// refunds twice. A deposit whose gateway reference is still the Checkout Session id (no success
// webhook recorded the payment intent yet) is resolved through the session first.
func (g *Gateway) Refund(ctx context.Context, req gateways.RefundRequest) (gateways.RefundResult, error) {
	minor, err := gateways.MinorUnits(&req.Amount, Exponent(req.Currency))
	if err != nil {
		return gateways.RefundResult{}, fmt.Errorf("%s: %w", Name, err)
	}
	pi := req.GatewayReference
	if strings.HasPrefix(pi, "cs_") {
		s, err := g.client.V1CheckoutSessions.Retrieve(ctx, pi, nil)
		if err != nil {
			return gateways.RefundResult{}, gatewayError("refund", err)
		}
		pi = ""
		if s.PaymentIntent != nil {
			pi = s.PaymentIntent.ID
		}
	}
	if pi == "" {
		return gateways.RefundResult{}, fmt.Errorf("%s: deposit %s has no payment intent to refund: %w",
			Name, req.DepositReference, gateways.ErrUnsupported)
	}
	params := &stripego.RefundCreateParams{
		PaymentIntent: stripego.String(pi),
		Amount:        stripego.Int64(minor),
		Metadata:      map[string]string{metaRefund: req.RefundID, metaReference: req.DepositReference},
	}
	if req.Reason != "" {
		params.Metadata[metaReason] = truncate(req.Reason, 500) // Stripe's limit for a metadata value
	}
	params.SetIdempotencyKey(firstNonEmpty(req.IdempotencyKey, gateways.RefundIdempotencyKey(req.RefundID)))

	r, err := g.client.V1Refunds.Create(ctx, params)
	if err != nil {
		return gateways.RefundResult{}, gatewayError("refund", err)
	}
	return gateways.RefundResult{GatewayRefundID: r.ID, Status: refundStatus(r.Status)}, nil
}

func refundStatus(s stripego.RefundStatus) gateways.RefundStatus {
	switch s {
	case stripego.RefundStatusSucceeded:
		return gateways.RefundStatusSucceeded
	case stripego.RefundStatusFailed, stripego.RefundStatusCanceled:
		return gateways.RefundStatusFailed
	}
	return gateways.RefundStatusPending
}

// gatewayError classifies a stripe-go failure. Stripe's structured error gives the status and
// code; anything else is a transport failure, possibly a timeout.
func gatewayError(op string, err error) error {
	ge := &gateways.GatewayError{Gateway: Name, Op: op}
	var se *stripego.Error
	if errors.As(err, &se) {
		ge.StatusCode = se.HTTPStatusCode
		ge.Code = string(se.Code)
		ge.Message = se.Msg
		return ge
	}
	ge.Err = err
	ge.Timeout = apicall.IsTimeout(err)
	return ge
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// FindRefund retrieves a refund by its Stripe id. Without one (the create call's answer was
// lost) it cannot tell: asking again with the same idempotency key is Stripe's safe retry, so
// Tally does not search Stripe's refunds.
func (g *Gateway) FindRefund(ctx context.Context, q gateways.RefundQuery) (gateways.RefundResult, bool, error) {
	if q.GatewayRefundID == "" {
		return gateways.RefundResult{}, false, fmt.Errorf("%s: refund %s has no Stripe id to look up: %w", Name, q.RefundID, gateways.ErrUnsupported)
	}
	r, err := g.client.V1Refunds.Retrieve(ctx, q.GatewayRefundID, nil)
	var se *stripego.Error
	if errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound {
		return gateways.RefundResult{}, false, nil
	}
	if err != nil {
		return gateways.RefundResult{}, false, gatewayError("find refund", err)
	}
	return gateways.RefundResult{GatewayRefundID: r.ID, Status: refundStatus(r.Status)}, true, nil
}
