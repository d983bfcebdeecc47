// Package xendit owns Tally's adapter for Xendit: opening invoices (Xendit's hosted checkout),
// refunding invoice payments through the Refunds API, and authenticating and parsing Xendit's
// invoice and refund callbacks into gateways.Notification.
package xendit

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/cockroachdb/apd/v3"
	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/apicall"
)

// Name is the gateway's name in Tally's API and journal.
const Name = "xendit"

// DefaultBaseURL is Xendit's API.
const DefaultBaseURL = "https://api.xendit.co"

// CallbackTokenHeader carries the static verification token Xendit shows in its dashboard.
const CallbackTokenHeader = "X-Callback-Token"

// exponents is how many fraction digits Xendit accepts per invoice currency. Xendit amounts are
// in major units, so this table only checks that an amount is payable: rupiah and dong
// invoices take whole amounts only, even though ISO 4217 gives IDR two digits.
var exponents = map[string]int{
	"IDR": 0, "VND": 0, "PHP": 2, "THB": 2, "MYR": 2, "SGD": 2, "USD": 2,
}

// Exponent returns the number of fraction digits Xendit accepts for currency, and false when
// Tally does not take that currency through Xendit.
func Exponent(currency string) (int, bool) {
	e, ok := exponents[currency]
	return e, ok
}

// Config configures the Xendit adapter (TALLY_XENDIT_SECRET_KEY, TALLY_XENDIT_CALLBACK_TOKEN,
// TALLY_XENDIT_BASE_URL).
type Config struct {
	SecretKey     string       // xnd_production_… or xnd_development_…
	CallbackToken string       // the callback verification token from Xendit's dashboard
	BaseURL       string       // default DefaultBaseURL; tests point it at a fake
	HTTPClient    *http.Client // default: a client with a 10 s timeout
}

// Gateway is the Xendit adapter. It is safe for concurrent use.
type Gateway struct {
	tokenSum [sha256.Size]byte
	api      apicall.Client
}

var _ gateways.Gateway = (*Gateway)(nil)

// New returns the adapter, or an error wrapping gateways.ErrNotConfigured when the secret key or
// the callback token is missing.
func New(cfg Config) (*Gateway, error) {
	if cfg.SecretKey == "" || cfg.CallbackToken == "" {
		return nil, fmt.Errorf("%s: secret key or callback token missing: %w", Name, gateways.ErrNotConfigured)
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	key := cfg.SecretKey
	return &Gateway{
		tokenSum: sha256.Sum256([]byte(cfg.CallbackToken)),
		api: apicall.Client{
			Gateway: Name,
			BaseURL: strings.TrimRight(base, "/"),
			HTTP:    apicall.NewHTTPClient(cfg.HTTPClient),
			// Xendit authenticates with the secret key as the basic-auth user and no password.
			Authorize: func(r *http.Request) { r.SetBasicAuth(key, "") },
			Explain:   explain,
		},
	}, nil
}

// EchoesRefundID implements gateways.RefundIDEchoer: every refund Tally asks
// for carries our refund id back in reference_id (our refund id).
func (g *Gateway) EchoesRefundID() bool { return true }

// Name returns "xendit".
func (g *Gateway) Name() string { return Name }

func explain(body []byte) (code, message string) {
	var e struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	return e.ErrorCode, e.Message
}

// payable checks that a major-unit amount is payable in currency through Xendit and writes it
// as the exact JSON number Xendit expects ("5000" for IDR, "12.50" for PHP).
func payable(a *apd.Decimal, currency string) (json.Number, error) {
	exp, ok := Exponent(currency)
	if !ok {
		return "", fmt.Errorf("%s: currency %s: %w", Name, currency, gateways.ErrUnsupported)
	}
	minor, err := gateways.MinorUnits(a, exp)
	if err != nil {
		return "", fmt.Errorf("%s: %w", Name, err)
	}
	major := gateways.MajorUnits(minor, exp)
	return json.Number(gateways.FormatAmount(&major)), nil
}

type invoiceRequest struct {
	ExternalID         string            `json:"external_id"`
	Amount             json.Number       `json:"amount"`
	Currency           string            `json:"currency"`
	PayerEmail         string            `json:"payer_email,omitempty"`
	Description        string            `json:"description"`
	SuccessRedirectURL string            `json:"success_redirect_url,omitempty"`
	FailureRedirectURL string            `json:"failure_redirect_url,omitempty"`
	Metadata           map[string]string `json:"metadata"`
}

type invoiceResponse struct {
	ID         string `json:"id"`
	InvoiceURL string `json:"invoice_url"`
}

// OpenCheckout creates a Xendit invoice whose external_id is our reference, so the paid
// callback names our deposit.
func (g *Gateway) OpenCheckout(ctx context.Context, req gateways.CheckoutRequest) (gateways.Checkout, error) {
	amt, err := payable(&req.Amount, req.Currency)
	if err != nil {
		return gateways.Checkout{}, err
	}
	body := invoiceRequest{
		ExternalID:         req.Reference,
		Amount:             amt,
		Currency:           req.Currency,
		PayerEmail:         req.Email,
		Description:        "Wallet top-up " + req.Reference,
		SuccessRedirectURL: req.CallbackURL,
		FailureRedirectURL: req.CallbackURL,
		Metadata: map[string]string{
			"tally_reference": req.Reference,
			"tally_deposit":   req.DepositID,
			"tally_account":   req.Account,
		},
	}
	var resp invoiceResponse
	if err := g.api.Post(ctx, "open checkout", "/v2/invoices", nil, body, &resp); err != nil {
		return gateways.Checkout{}, err
	}
	if resp.InvoiceURL == "" || resp.ID == "" {
		return gateways.Checkout{}, &gateways.GatewayError{Gateway: Name, Op: "open checkout", StatusCode: http.StatusOK,
			Message: "the answer has no invoice_url or id"}
	}
	return gateways.Checkout{URL: resp.InvoiceURL, GatewayReference: resp.ID}, nil
}

// refundReasons are the reasons Xendit's Refunds API accepts; free text goes to metadata.
var refundReasons = map[string]bool{
	"FRAUDULENT": true, "DUPLICATE": true, "REQUESTED_BY_CUSTOMER": true, "CANCELLATION": true, "OTHERS": true,
}

type refundRequest struct {
	InvoiceID   string            `json:"invoice_id"`
	ReferenceID string            `json:"reference_id"`
	Amount      json.Number       `json:"amount"`
	Currency    string            `json:"currency"`
	Reason      string            `json:"reason"`
	Metadata    map[string]string `json:"metadata"`
}

type refundResponse struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// Refund refunds (part of) an invoice payment through Xendit's Refunds API (POST /refunds with
// invoice_id), which covers invoices paid by card, e-wallet and other refundable channels.
// Channels Xendit cannot refund (such as retail outlets or virtual accounts) are refused by
// Xendit with a 4xx, which surfaces as a *gateways.GatewayError. Our refund id is both
// reference_id, echoed in the refund callback, and the idempotency key.
func (g *Gateway) Refund(ctx context.Context, req gateways.RefundRequest) (gateways.RefundResult, error) {
	if req.GatewayReference == "" {
		return gateways.RefundResult{}, fmt.Errorf("%s: deposit %s has no invoice id: %w",
			Name, req.DepositReference, gateways.ErrUnsupported)
	}
	amt, err := payable(&req.Amount, req.Currency)
	if err != nil {
		return gateways.RefundResult{}, err
	}
	reason := strings.ToUpper(req.Reason)
	metadata := map[string]string{"tally_refund": req.RefundID, "tally_reference": req.DepositReference}
	if !refundReasons[reason] {
		reason = "OTHERS"
		if req.Reason != "" {
			metadata["tally_reason"] = req.Reason
		}
	}
	body := refundRequest{
		InvoiceID:   req.GatewayReference,
		ReferenceID: req.RefundID,
		Amount:      amt,
		Currency:    req.Currency,
		Reason:      reason,
		Metadata:    metadata,
	}
	key := req.IdempotencyKey
	if key == "" {
		key = gateways.RefundIdempotencyKey(req.RefundID)
	}
	header := http.Header{"Idempotency-key": {key}}
	var resp refundResponse
	if err := g.api.Post(ctx, "refund", "/refunds", header, body, &resp); err != nil {
		return gateways.RefundResult{}, err
	}
	return gateways.RefundResult{GatewayRefundID: resp.ID, Status: refundStatus(resp.Status)}, nil
}

func refundStatus(s string) gateways.RefundStatus {
	switch s {
	case "SUCCEEDED":
		return gateways.RefundStatusSucceeded
	case "FAILED", "CANCELLED":
		return gateways.RefundStatusFailed
	}
	return gateways.RefundStatusPending
}

// VerifyCallbackToken compares the x-callback-token header with the configured token in
// constant time. Both sides are hashed first so that not even the token's length leaks.
func (g *Gateway) VerifyCallbackToken(token string) error {
	if token == "" {
		return fmt.Errorf("%s: no %s header: %w", Name, CallbackTokenHeader, gateways.ErrInvalidSignature)
	}
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], g.tokenSum[:]) != 1 {
		return fmt.Errorf("%s: callback token mismatch: %w", Name, gateways.ErrInvalidSignature)
	}
	return nil
}
