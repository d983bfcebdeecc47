// Package paystack owns Tally's adapter for Paystack: opening a transaction checkout, asking for
// refunds, and verifying and parsing Paystack's webhooks into gateways.Notification.
package paystack

import (
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/internal/apicall"
)

// Name is the gateway's name in Tally's API and journal.
const Name = "paystack"

// DefaultBaseURL is Paystack's API.
const DefaultBaseURL = "https://api.paystack.co"

// SignatureHeader carries the hex HMAC-SHA512 of the raw body, keyed with the secret key.
const SignatureHeader = "X-Paystack-Signature"

// exponents is how many minor-unit digits Paystack uses per currency: every amount Paystack
// takes or sends is in the currency's hundredth (kobo, pesewa, cent, piastre).
// Currencies not listed are refused rather than guessed: for XOF and RWF, whose ISO 4217
// exponent is 0, a wrong guess would move 100 times the money.
var exponents = map[string]int{
	"NGN": 2, "GHS": 2, "ZAR": 2, "KES": 2, "USD": 2, "EGP": 2,
}

// Exponent returns the number of minor-unit digits Paystack uses for currency, and false when
// Tally does not take that currency through Paystack.
func Exponent(currency string) (int, bool) {
	e, ok := exponents[currency]
	return e, ok
}

// Config configures the Paystack adapter (TALLY_PAYSTACK_SECRET_KEY, TALLY_PAYSTACK_BASE_URL).
type Config struct {
	SecretKey  string       // sk_live_… or sk_test_…; also the webhook signing key
	BaseURL    string       // default DefaultBaseURL; tests point it at a fake
	HTTPClient *http.Client // default: a client with a 10 s timeout
}

// Gateway is the Paystack adapter. It is safe for concurrent use.
type Gateway struct {
	secret string
	api    apicall.Client
}

var _ gateways.Gateway = (*Gateway)(nil)

// New returns the adapter, or an error wrapping gateways.ErrNotConfigured without a secret key.
func New(cfg Config) (*Gateway, error) {
	if cfg.SecretKey == "" {
		return nil, fmt.Errorf("%s: secret key missing: %w", Name, gateways.ErrNotConfigured)
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	g := &Gateway{secret: cfg.SecretKey}
	g.api = apicall.Client{
		Gateway: Name,
		BaseURL: strings.TrimRight(base, "/"),
		HTTP:    apicall.NewHTTPClient(cfg.HTTPClient),
		Authorize: func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+g.secret)
		},
		Explain: explain,
	}
	return g, nil
}

// Name returns "paystack".
func (g *Gateway) Name() string { return Name }

// apiResponse is Paystack's envelope around every answer.
type apiResponse[T any] struct {
	Status  bool   `json:"status"`
	Message string `json:"message"`
	Data    T      `json:"data"`
}

// explain pulls Paystack's error code (when it gives one, such as
// duplicate_transfer_reference) and message out of a failed answer.
func explain(body []byte) (code, message string) {
	var r struct {
		apiResponse[struct{}]
		Code string `json:"code"`
	}
	if json.Unmarshal(body, &r) != nil {
		return "", ""
	}
	return r.Code, r.Message
}

type initializeRequest struct {
	Email       string            `json:"email"`
	Amount      string            `json:"amount"` // minor units; Paystack documents it as a string
	Currency    string            `json:"currency"`
	Reference   string            `json:"reference"`
	CallbackURL string            `json:"callback_url,omitempty"`
	Metadata    map[string]string `json:"metadata"`
}

type initializeData struct {
	AuthorizationURL string `json:"authorization_url"`
	AccessCode       string `json:"access_code"`
	Reference        string `json:"reference"`
}

// OpenCheckout initializes a Paystack transaction whose reference is ours, so every webhook
// about it names our deposit. The checkout's gateway reference is Paystack's access code:
// Paystack assigns the transaction id only when the payer pays, and reports it in charge.success.
func (g *Gateway) OpenCheckout(ctx context.Context, req gateways.CheckoutRequest) (gateways.Checkout, error) {
	exp, ok := Exponent(req.Currency)
	if !ok {
		return gateways.Checkout{}, fmt.Errorf("%s: currency %s: %w", Name, req.Currency, gateways.ErrUnsupported)
	}
	minor, err := gateways.MinorUnits(&req.Amount, exp)
	if err != nil {
		return gateways.Checkout{}, fmt.Errorf("%s: %w", Name, err)
	}
	body := initializeRequest{
		Email:       req.Email,
		Amount:      strconv.FormatInt(minor, 10),
		Currency:    req.Currency,
		Reference:   req.Reference,
		CallbackURL: req.CallbackURL,
		Metadata: map[string]string{
			"tally_reference": req.Reference,
			"tally_deposit":   req.DepositID,
			"tally_account":   req.Account,
		},
	}
	var resp apiResponse[initializeData]
	if err := g.api.Post(ctx, "open checkout", "/transaction/initialize", nil, body, &resp); err != nil {
		return gateways.Checkout{}, err
	}
	if !resp.Status {
		return gateways.Checkout{}, &gateways.GatewayError{Gateway: Name, Op: "open checkout", StatusCode: http.StatusOK, Message: resp.Message}
	}
	if resp.Data.AuthorizationURL == "" {
		return gateways.Checkout{}, &gateways.GatewayError{Gateway: Name, Op: "open checkout", StatusCode: http.StatusOK,
			Message: "the answer has no authorization_url"}
	}
	return gateways.Checkout{URL: resp.Data.AuthorizationURL, GatewayReference: resp.Data.AccessCode}, nil
}

type refundRequest struct {
	Transaction  string `json:"transaction"`
	Amount       int64  `json:"amount"`
	Currency     string `json:"currency,omitempty"`
	MerchantNote string `json:"merchant_note,omitempty"`
}

type refundData struct {
	ID           numberText `json:"id"`
	Status       string     `json:"status"`
	MerchantNote string     `json:"merchant_note"`
}

// result is what Paystack's refund status means: processed is paid, failed
// is refused, and pending, processing and needs-attention still wait.
func (d refundData) result() gateways.RefundResult {
	status := gateways.RefundStatusPending
	switch d.Status {
	case "processed":
		status = gateways.RefundStatusSucceeded
	case "failed":
		status = gateways.RefundStatusFailed
	}
	return gateways.RefundResult{GatewayRefundID: string(d.ID), Status: status}
}

// refundNote is the merchant_note of our refund refundID. Paystack takes no
// idempotency key and no metadata on a refund, but keeps this note and
// shows it in its refund list and refund webhooks: it is how Tally finds
// its refund there.
func refundNote(refundID, reason string) string {
	note := "tally refund " + refundID
	if reason != "" {
		note += ": " + reason
	}
	return note
}

// refundIDIn returns our refund id from a merchant_note refundNote wrote.
func refundIDIn(note string) string {
	rest, ok := strings.CutPrefix(note, "tally refund ")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, ":")
	return id
}

// Refund asks Paystack to refund part or all of a transaction. The transaction is named by our
// reference, which Paystack accepts like its own id and which the ledger always knows.
// Paystack answers "pending" and settles the refund with refund.processed or refund.failed.
func (g *Gateway) Refund(ctx context.Context, req gateways.RefundRequest) (gateways.RefundResult, error) {
	exp, ok := Exponent(req.Currency)
	if !ok {
		return gateways.RefundResult{}, fmt.Errorf("%s: currency %s: %w", Name, req.Currency, gateways.ErrUnsupported)
	}
	minor, err := gateways.MinorUnits(&req.Amount, exp)
	if err != nil {
		return gateways.RefundResult{}, fmt.Errorf("%s: %w", Name, err)
	}
	transaction := req.DepositReference
	if transaction == "" {
		transaction = req.GatewayReference
	}
	body := refundRequest{Transaction: transaction, Amount: minor, Currency: req.Currency, MerchantNote: refundNote(req.RefundID, req.Reason)}
	var resp apiResponse[refundData]
	if err := g.api.Post(ctx, "refund", "/refund", nil, body, &resp); err != nil {
		return gateways.RefundResult{}, err
	}
	if !resp.Status {
		return gateways.RefundResult{}, &gateways.GatewayError{Gateway: Name, Op: "refund", StatusCode: http.StatusOK, Message: resp.Message}
	}
	return resp.Data.result(), nil
}

// FindRefund asks Paystack where our refund stands: GET /refund/{id} when
// Paystack's id is known, otherwise the transaction's refunds
// (GET /refund?transaction=…), among which ours is the one whose
// merchant_note names our refund id. Paystack takes no idempotency key, so
// this is how a retry makes sure it does not refund twice.
func (g *Gateway) FindRefund(ctx context.Context, q gateways.RefundQuery) (gateways.RefundResult, bool, error) {
	if q.GatewayRefundID != "" {
		var resp apiResponse[refundData]
		err := g.api.Get(ctx, "find refund", "/refund/"+url.PathEscape(q.GatewayRefundID), &resp)
		var ge *gateways.GatewayError
		if errors.As(err, &ge) && ge.StatusCode == http.StatusNotFound {
			return gateways.RefundResult{}, false, nil
		}
		if err != nil {
			return gateways.RefundResult{}, false, err
		}
		return resp.Data.result(), true, nil
	}
	// The list takes the transaction's id, which charge.success reported
	// (the deposit's gateway reference once paid), or its reference.
	transaction := q.DepositReference
	if _, err := strconv.ParseInt(q.GatewayReference, 10, 64); err == nil {
		transaction = q.GatewayReference
	}
	query := url.Values{"transaction": {transaction}, "perPage": {"100"}}
	if q.Currency != "" {
		query.Set("currency", q.Currency)
	}
	var resp apiResponse[[]refundData]
	if err := g.api.Get(ctx, "find refund", "/refund?"+query.Encode(), &resp); err != nil {
		return gateways.RefundResult{}, false, err
	}
	if !resp.Status {
		return gateways.RefundResult{}, false, &gateways.GatewayError{Gateway: Name, Op: "find refund", StatusCode: http.StatusOK, Message: resp.Message}
	}
	for _, d := range resp.Data {
		if refundIDIn(d.MerchantNote) == q.RefundID {
			return d.result(), true, nil
		}
	}
	return gateways.RefundResult{}, false, nil
}

// VerifySignature checks signature (the x-paystack-signature header) against the HMAC-SHA512
// of the raw body keyed with the secret key, in constant time.
func VerifySignature(secretKey, signature string, body []byte) error {
	if signature == "" {
		return fmt.Errorf("%s: no %s header: %w", Name, SignatureHeader, gateways.ErrInvalidSignature)
	}
	got, err := hex.DecodeString(signature)
	if err != nil {
		return fmt.Errorf("%s: signature is not hex: %w", Name, gateways.ErrInvalidSignature)
	}
	mac := hmac.New(sha512.New, []byte(secretKey))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%s: signature mismatch: %w", Name, gateways.ErrInvalidSignature)
	}
	return nil
}

// ParseWebhook verifies the signature and then parses the event. Paystack signs no timestamp,
// so a replayed webhook verifies; the ledger's deduplication (EventID, then the deposit) makes
// replays harmless.
func (g *Gateway) ParseWebhook(header http.Header, body []byte) (gateways.Notification, error) {
	if err := VerifySignature(g.secret, header.Get(SignatureHeader), body); err != nil {
		return gateways.Notification{}, err
	}
	return parse(body)
}
