package gateways

import (
	"context"
	"errors"
	"net/http"
)

// PaymentApproved is a payer's approval of a payment that the gateway takes only once Tally
// captures it (PayPal's CHECKOUT.ORDER.APPROVED). It credits nothing: the capture's own
// success notification does.
const PaymentApproved Kind = "payment.approved"

// ErrVerificationUnavailable means a webhook could not be verified because the gateway's
// verification API failed or timed out (HTTP 503, so that the gateway delivers it again).
var ErrVerificationUnavailable = errors.New("webhook verification unavailable")

// ContextParser is implemented by gateways whose webhooks are verified by calling the gateway
// (PayPal's verify-webhook-signature). ParseWebhookContext is ParseWebhook bounded by ctx; besides
// ParseWebhook's errors it returns one wrapping ErrVerificationUnavailable when the gateway could
// not be asked.
type ContextParser interface {
	ParseWebhookContext(ctx context.Context, header http.Header, body []byte) (Notification, error)
}

// Capturer is implemented by gateways where a payer's approval must be followed by a capture
// (PayPal orders with intent CAPTURE).
type Capturer interface {
	// Capture takes the approved payment. It is idempotent: repeating it for one deposit never
	// captures twice. Returns a *GatewayError when the gateway fails, refuses or times out.
	Capture(ctx context.Context, req CaptureRequest) (CaptureResult, error)
}

// CaptureRequest names the approved payment to capture.
type CaptureRequest struct {
	DepositID        string // ours, "dep_…"; the idempotency key is derived from it
	GatewayReference string // the gateway's id for the approved payment (a PayPal order id)
}

// CaptureStatus is the gateway's answer to a capture.
type CaptureStatus string

// Capture statuses.
const (
	CaptureCompleted CaptureStatus = "completed" // money taken; the success notification follows
	CapturePending   CaptureStatus = "pending"   // taken but held by the gateway (review, eCheck)
	CaptureDeclined  CaptureStatus = "declined"  // the payer's funding source refused it
	// CaptureAlready means the payment had been captured before (by an earlier attempt).
	CaptureAlready CaptureStatus = "already_captured"
)

// CaptureResult is a gateway's answer to Capture.
type CaptureResult struct {
	CaptureID string // the gateway's id for the captured payment; empty when it gives none
	Status    CaptureStatus
	Reason    string // the gateway's reason on a decline
}
