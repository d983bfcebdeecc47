package paypal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/tallyledger/tally/gateways"
)

// The headers PayPal sends with every webhook delivery, which its verification API checks.
const (
	HeaderTransmissionID   = "Paypal-Transmission-Id"
	HeaderTransmissionTime = "Paypal-Transmission-Time"
	HeaderTransmissionSig  = "Paypal-Transmission-Sig"
	HeaderCertURL          = "Paypal-Cert-Url"
	HeaderAuthAlgo         = "Paypal-Auth-Algo"
)

// VerifyTimeout bounds a verification call when the caller's context does not.
const VerifyTimeout = 10 * time.Second

type verifyRequest struct {
	AuthAlgo         string          `json:"auth_algo"`
	CertURL          string          `json:"cert_url"`
	TransmissionID   string          `json:"transmission_id"`
	TransmissionSig  string          `json:"transmission_sig"`
	TransmissionTime string          `json:"transmission_time"`
	WebhookID        string          `json:"webhook_id"`
	WebhookEvent     json.RawMessage `json:"webhook_event"`
}

type verifyResponse struct {
	VerificationStatus string `json:"verification_status"`
}

// ParseWebhook is ParseWebhookContext with VerifyTimeout.
func (g *Gateway) ParseWebhook(header http.Header, body []byte) (gateways.Notification, error) {
	ctx, cancel := context.WithTimeout(context.Background(), VerifyTimeout)
	defer cancel()
	return g.ParseWebhookContext(ctx, header, body)
}

// ParseWebhookContext asks PayPal whether the delivery is genuine (POST
// /v1/notifications/verify-webhook-signature with our webhook id and the delivered event) and
// only then parses it. PayPal signs with a certificate Tally would otherwise have to fetch and
// trust; its API does that, and says SUCCESS or FAILURE. A FAILURE, missing headers or a body
// that is not a JSON object wrap gateways.ErrInvalidSignature; a verification call that fails or
// times out wraps gateways.ErrVerificationUnavailable (never a credit: PayPal delivers again).
func (g *Gateway) ParseWebhookContext(ctx context.Context, header http.Header, body []byte) (gateways.Notification, error) {
	if err := g.verify(ctx, header, body); err != nil {
		return gateways.Notification{}, err
	}
	return parse(body)
}

func (g *Gateway) verify(ctx context.Context, header http.Header, body []byte) error {
	req := verifyRequest{
		AuthAlgo: header.Get(HeaderAuthAlgo), CertURL: header.Get(HeaderCertURL),
		TransmissionID: header.Get(HeaderTransmissionID), TransmissionSig: header.Get(HeaderTransmissionSig),
		TransmissionTime: header.Get(HeaderTransmissionTime), WebhookID: g.webhookID,
	}
	if req.AuthAlgo == "" || req.CertURL == "" || req.TransmissionID == "" || req.TransmissionSig == "" || req.TransmissionTime == "" {
		return fmt.Errorf("%s: the PAYPAL-TRANSMISSION-* and PAYPAL-CERT-URL/AUTH-ALGO headers are required: %w", Name, gateways.ErrInvalidSignature)
	}
	// webhook_event is the delivered event itself, as a JSON object (encoding/json sends it
	// compacted; PayPal compares the event, not its white space).
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return fmt.Errorf("%s: the body is not a JSON object, so it cannot be verified: %w", Name, gateways.ErrInvalidSignature)
	}
	req.WebhookEvent = body
	var resp verifyResponse
	err := g.post(ctx, "verify webhook", "/v1/notifications/verify-webhook-signature", nil, req, &resp)
	var ge *gateways.GatewayError
	switch {
	case errors.As(err, &ge) && (ge.StatusCode == http.StatusBadRequest || ge.StatusCode == http.StatusUnprocessableEntity):
		// PayPal refused the headers themselves (a cert_url not of PayPal's, a malformed
		// transmission id): no genuine delivery carries them.
		return fmt.Errorf("%s: PayPal refused the delivery's headers: %v: %w", Name, err, gateways.ErrInvalidSignature)
	case err != nil:
		return fmt.Errorf("%s: %v: %w", Name, err, gateways.ErrVerificationUnavailable)
	case resp.VerificationStatus == "SUCCESS":
		return nil
	case resp.VerificationStatus == "FAILURE":
		return fmt.Errorf("%s: PayPal says the signature does not verify: %w", Name, gateways.ErrInvalidSignature)
	}
	return fmt.Errorf("%s: verification status %q: %w", Name, resp.VerificationStatus, gateways.ErrVerificationUnavailable)
}

// decimalString is the form of PayPal's amounts: digits, and a decimal point with digits.
var decimalString = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// event is a PayPal webhook delivery; resource's shape depends on resource_type.
type event struct {
	ID           string          `json:"id"`
	EventType    string          `json:"event_type"`
	ResourceType string          `json:"resource_type"`
	Resource     json.RawMessage `json:"resource"`
}

// resource has the fields Tally reads of an order (CHECKOUT.ORDER.*), a capture
// (PAYMENT.CAPTURE.*) and a refund (PAYMENT.CAPTURE.REFUNDED).
type resource struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	Amount        *money `json:"amount"`
	InvoiceID     string `json:"invoice_id"`
	CustomID      string `json:"custom_id"`
	Links         []link `json:"links"`
	PurchaseUnits []struct {
		InvoiceID string `json:"invoice_id"`
		CustomID  string `json:"custom_id"`
		Amount    *money `json:"amount"`
	} `json:"purchase_units"`
	StatusDetails struct {
		Reason string `json:"reason"`
	} `json:"status_details"`
}

// parse turns a verified delivery into a notification. The event id ("WH-…") is the same on
// every delivery of one event, so redeliveries are recognised.
func parse(body []byte) (gateways.Notification, error) {
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil {
		return gateways.Notification{}, malformed(err)
	}
	n := gateways.Notification{Gateway: Name, Kind: gateways.Ignored, EventType: ev.EventType, EventID: ev.ID, Raw: json.RawMessage(body)}
	var kind gateways.Kind
	switch ev.EventType {
	case "CHECKOUT.ORDER.APPROVED":
		kind = gateways.PaymentApproved
	case "PAYMENT.CAPTURE.COMPLETED":
		kind = gateways.PaymentSucceeded
	case "PAYMENT.CAPTURE.DENIED":
		kind = gateways.PaymentFailed
	case "PAYMENT.CAPTURE.REFUNDED":
		kind = gateways.RefundSucceeded
	default:
		// PAYMENT.CAPTURE.PENDING and the rest: nothing to do until a final event.
		return n, nil
	}
	if ev.ID == "" {
		return gateways.Notification{}, malformed(errors.New("event without an id"))
	}
	var r resource
	if err := json.Unmarshal(ev.Resource, &r); err != nil || r.ID == "" {
		return gateways.Notification{}, malformed(fmt.Errorf("%s without a resource id", ev.EventType))
	}
	n.Kind = kind
	amount := r.Amount
	switch kind {
	case gateways.PaymentApproved:
		// The order: our reference is on its (single) purchase unit.
		if len(r.PurchaseUnits) == 0 {
			return gateways.Notification{}, malformed(errors.New("order without purchase units"))
		}
		pu := r.PurchaseUnits[0]
		n.Reference = firstOf(pu.InvoiceID, pu.CustomID)
		n.GatewayReference = r.ID
		amount = pu.Amount
	case gateways.PaymentSucceeded, gateways.PaymentFailed:
		// The capture: its id is what a refund needs.
		n.Reference = firstOf(r.InvoiceID, r.CustomID)
		n.GatewayReference = r.ID
		if kind == gateways.PaymentFailed {
			n.Message = strings.TrimSpace(r.Status + " " + r.StatusDetails.Reason)
		}
	case gateways.RefundSucceeded:
		// The refund: it names the capture by its "up" link; our refund id is its custom_id.
		n.RefundReference = r.ID
		n.GatewayReference = captureOf(r.Links)
		if n.GatewayReference == "" {
			return gateways.Notification{}, malformed(errors.New("refund without the capture it refunds"))
		}
		if id := firstOf(r.CustomID, r.InvoiceID); strings.HasPrefix(id, "ref_") {
			n.RefundID = id
		}
		switch r.Status {
		case "COMPLETED":
		case "CANCELLED", "FAILED":
			n.Kind = gateways.RefundFailed
		default:
			n.Kind = gateways.RefundPending
		}
	}
	if amount == nil {
		return gateways.Notification{}, malformed(fmt.Errorf("%s without an amount", ev.EventType))
	}
	cur, err := gateways.NormalizeCurrency(amount.CurrencyCode)
	if err != nil {
		return gateways.Notification{}, malformed(err)
	}
	if !decimalString.MatchString(amount.Value) {
		return gateways.Notification{}, malformed(fmt.Errorf("amount %q is not one of PayPal's decimal strings", amount.Value))
	}
	d, err := gateways.ParseAmount(amount.Value)
	if err != nil {
		return gateways.Notification{}, malformed(err)
	}
	n.Amount, n.Currency = d, cur
	return n, nil
}

// captureOf returns the capture id from a refund's links: rel "up" is
// …/v2/payments/captures/{id}.
func captureOf(links []link) string {
	href := linkOf(links, "up")
	i := strings.LastIndex(href, "/captures/")
	if i < 0 {
		return ""
	}
	return strings.Trim(href[i+len("/captures/"):], "/")
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func malformed(err error) error {
	return fmt.Errorf("%s: %w: %v", Name, gateways.ErrMalformed, err)
}
