// Package gateways owns the gateway interface: the one contract through which Tally opens hosted
// checkouts, asks for refunds and turns a gateway's signed webhook into a normalized Notification.
//
// Each payment gateway lives in its own subpackage (paystack, stripe, xendit, paypal, sandbox); nothing
// outside this tree knows a gateway's wire format. Amounts cross this boundary as exact apd
// decimals in major units ("5000.00"), never as floats or minor units.
package gateways

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/cockroachdb/apd/v3"
)

// Gateway is one payment gateway as the ledger sees it.
type Gateway interface {
	// Name is the gateway's stable name: "paystack", "stripe", "xendit", "paypal" or "sandbox".
	Name() string

	// OpenCheckout asks the gateway for a hosted checkout for one deposit.
	// Returns a *GatewayError when the gateway fails, refuses or times out, and an error wrapping
	// ErrUnsupported when the gateway cannot take the currency.
	OpenCheckout(ctx context.Context, req CheckoutRequest) (Checkout, error)

	// Refund asks the gateway to refund (part of) a payment. The outcome usually arrives later as
	// a refund notification; RefundResult.Status says what the gateway answered right away.
	// Returns a *GatewayError when the gateway fails, refuses or times out, and an error wrapping
	// ErrUnsupported when the gateway cannot refund through its API.
	Refund(ctx context.Context, req RefundRequest) (RefundResult, error)

	// ParseWebhook verifies the signature over the raw body (in constant time) and only then
	// parses it. Returns an error wrapping ErrInvalidSignature when the signature is bad, missing
	// or stale, and one wrapping ErrMalformed when a correctly signed body cannot be understood.
	// Event types Tally does not consume parse to Kind Ignored with a nil error.
	ParseWebhook(header http.Header, body []byte) (Notification, error)
}

// CheckoutRequest is what a gateway needs to open a hosted checkout for one deposit.
type CheckoutRequest struct {
	Reference   string      // ours, "DEP-…"; the gateway echoes it back in webhooks
	DepositID   string      // "dep_…"
	Account     string      // the wallet to credit, "acc_…"
	Amount      apd.Decimal // major units, exact
	Currency    string      // ISO 4217, upper case
	Email       string      // payer's email; some gateways require it
	CallbackURL string      // where the gateway sends the payer afterwards; may be empty
}

// Checkout is a gateway's answer to OpenCheckout.
type Checkout struct {
	URL              string // the hosted page the payer opens
	GatewayReference string // the gateway's id for this checkout
}

// RefundRequest asks for (part of) a deposit back to the payer.
type RefundRequest struct {
	RefundID string // ours, "ref_…"
	// IdempotencyKey is sent with the call where the gateway takes one
	// (Stripe's and Xendit's Idempotency-Key, PayPal's PayPal-Request-Id),
	// so that asking again for one refund never refunds twice. It is derived
	// from RefundID (RefundIdempotencyKey).
	IdempotencyKey   string
	DepositReference string      // ours, "DEP-…"
	GatewayReference string      // the gateway's payment id, as last reported by a notification
	Amount           apd.Decimal // major units, exact
	Currency         string      // ISO 4217, upper case
	Reason           string      // free text, may be empty
}

// RefundIdempotencyKey is the idempotency key of every gateway call for our refund refundID.
func RefundIdempotencyKey(refundID string) string { return "tally-refund-" + refundID }

// RefundQuery names a refund Tally asked for, to look it up at the gateway.
type RefundQuery struct {
	RefundID         string // ours, "ref_…"
	GatewayRefundID  string // the gateway's, when its refund API answered
	DepositReference string // ours, "DEP-…"
	GatewayReference string // the gateway's payment id
	Currency         string
}

// RefundFinder is implemented by gateways that can say where a refund stands, so that Tally can
// check before asking again for a refund whose first call may have reached the gateway, and
// settle a refund whose outcome it does not know (a timed-out call, a lost webhook).
type RefundFinder interface {
	// FindRefund looks the refund up: by GatewayRefundID when known, otherwise by our RefundID
	// among the payment's refunds. found false means the gateway has no such refund. Returns a
	// *GatewayError when the gateway cannot be asked, and an error wrapping ErrUnsupported when
	// the gateway cannot look this refund up (then nothing is known).
	FindRefund(ctx context.Context, q RefundQuery) (result RefundResult, found bool, err error)
}

// OutcomeUnknown reports whether a failed gateway call may still have been carried out. Only a
// definite refusal means it was not: the gateway answered the call with a 4xx, or the call that
// moves money was never sent (NothingSent). No answer (a timeout, a lost connection), a 5xx, and
// a 2xx that Tally could not read or that carried an error (Paystack's "status": false) are
// unknown: the gateway may have acted on the request.
func OutcomeUnknown(err error) bool {
	var ge *GatewayError
	if !errors.As(err, &ge) || ge.NothingSent {
		return false
	}
	return ge.StatusCode < 400 || ge.StatusCode >= 500
}

// RefundStatus is a gateway's immediate answer to a refund request.
type RefundStatus string

// Refund statuses. Most gateways answer pending and settle the refund by webhook.
const (
	RefundStatusPending   RefundStatus = "pending"
	RefundStatusSucceeded RefundStatus = "succeeded"
	RefundStatusFailed    RefundStatus = "failed"
)

// RefundResult is a gateway's answer to Refund.
type RefundResult struct {
	GatewayRefundID string
	Status          RefundStatus
}

// Kind says what a notification means for the ledger.
type Kind string

// Notification kinds. Every gateway event maps to exactly one.
const (
	PaymentSucceeded Kind = "payment.succeeded"
	PaymentFailed    Kind = "payment.failed"
	PaymentExpired   Kind = "payment.expired"
	RefundSucceeded  Kind = "refund.succeeded"
	RefundFailed     Kind = "refund.failed"
	RefundPending    Kind = "refund.pending"
	// Ignored is a verified event Tally does not act on (an event type it does not consume, or a
	// state it waits past). It is still answered 200 so the gateway stops retrying.
	Ignored Kind = "ignored"
)

// Notification is a verified webhook in the shape the ledger understands, whatever the gateway.
type Notification struct {
	Gateway string
	Kind    Kind
	// EventType is the gateway's own name for the event ("charge.success", "PAID", …), for the record.
	EventType string
	// EventID is the gateway's event id or, where the gateway has none, a deterministic id
	// derived from the payload, so a redelivered webhook carries the same id.
	EventID string
	// Reference is our deposit reference ("DEP-…") as the gateway echoes it back; empty when the
	// gateway does not carry it (for example a refund made in the gateway's dashboard).
	Reference string
	// GatewayReference is the gateway's own id for the payment. Every success event of one
	// payment carries the same value, so the ledger can recognise them as one payment.
	GatewayReference string
	// RefundReference is the gateway's id for the refund, on refund kinds.
	RefundReference string
	// RefundID is our refund id ("ref_…") when the gateway echoes it back (metadata.tally_refund).
	RefundID string
	Amount   apd.Decimal // major units, exact
	Currency string      // ISO 4217, upper case
	// Account is metadata.tally_account when present, which lets the ledger credit an
	// unsolicited deposit to the wallet it names.
	Account string
	// Message is the gateway's human-readable reason on failures, if it gives one.
	Message string
	// WithdrawalID is our withdrawal id ("wd_…") on payout kinds, as the gateway echoes it back.
	WithdrawalID string
	// Raw is the verified body, kept so the ledger can record what was received.
	Raw json.RawMessage
}

// Errors every gateway returns, wrapped with detail. Match them with errors.Is.
var (
	// ErrInvalidSignature means a webhook's signature was bad, missing or stale (HTTP 401).
	ErrInvalidSignature = errors.New("invalid webhook signature")
	// ErrMalformed means a correctly signed webhook body could not be understood.
	ErrMalformed = errors.New("malformed webhook payload")
	// ErrNotConfigured means the gateway is disabled because its secrets are missing.
	ErrNotConfigured = errors.New("gateway not configured")
	// ErrUnsupported means the gateway cannot do what was asked (a currency, a refund through its API).
	ErrUnsupported = errors.New("not supported by the gateway")
)

// RefundIDEchoer is implemented by gateways that echo Tally's refund id
// (metadata.tally_refund or their reference field) on every notification of
// a refund Tally asked for. For them a refund notification without our id is
// one made elsewhere (the gateway's dashboard); for the others (Paystack) the
// ledger has to match refunds by deposit and amount.
type RefundIDEchoer interface {
	EchoesRefundID() bool
}

// GatewayError is a failed, refused or timed-out call to a gateway's API. It never carries
// the request's credentials; Message is the gateway's own explanation.
type GatewayError struct {
	Gateway    string // "paystack", …
	Op         string // "open checkout", "refund"
	StatusCode int    // HTTP status the gateway answered; 0 when it did not answer
	Code       string // the gateway's error code, if it gives one
	Message    string // the gateway's message, if it gives one
	Timeout    bool   // the call timed out
	Err        error  // the transport or decoding error, if any
	// NothingSent marks a failure before the call that moves money was made (a payout's
	// recipient could not be set up): nothing can have been carried out, whatever the status.
	NothingSent bool
}

// Error reports the gateway, the operation and what went wrong.
func (e *GatewayError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Gateway, e.Op)
	switch {
	case e.Timeout:
		msg += ": timed out"
	case e.StatusCode != 0:
		msg += fmt.Sprintf(": HTTP %d", e.StatusCode)
	}
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying transport or decoding error.
func (e *GatewayError) Unwrap() error { return e.Err }

// Set holds the enabled gateways by name.
type Set map[string]Gateway

// Get returns the named gateway, or an error wrapping ErrNotConfigured when it is not enabled.
func (s Set) Get(name string) (Gateway, error) {
	if g, ok := s[name]; ok {
		return g, nil
	}
	return nil, fmt.Errorf("%s: %w", name, ErrNotConfigured)
}
