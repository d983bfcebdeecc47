package stripe

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"
	"github.com/tallyledger/tally/gateways"
)

// SignatureHeader carries "t=<unix>,v1=<hex>[,v1=<hex>…]".
const SignatureHeader = "Stripe-Signature"

// ParseWebhook verifies the Stripe-Signature header with stripe-go (HMAC-SHA256 over
// "t.body", constant-time, any matching v1 accepted so secrets can be rotated, timestamps older
// than 300 s rejected), refuses timestamps more than 300 s in the future (stripe-go checks only
// the past, and a signature dated ahead could be replayed for longer), and then parses the event.
//
// The event's api_version is not required to match stripe-go's: Tally reads only fields that
// are stable across versions, and refusing a verified payment over a version string would lose it.
func (g *Gateway) ParseWebhook(header http.Header, body []byte) (gateways.Notification, error) {
	ev, err := webhook.ConstructEventWithOptions(body, header.Get(SignatureHeader), g.webhookSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		if errors.Is(err, webhook.ErrNotSigned) || errors.Is(err, webhook.ErrInvalidHeader) ||
			errors.Is(err, webhook.ErrNoValidSignature) || errors.Is(err, webhook.ErrTooOld) {
			return gateways.Notification{}, fmt.Errorf("%s: %w: %v", Name, gateways.ErrInvalidSignature, err)
		}
		// stripe-go checks the signature before it decodes anything, so this body is verified.
		return gateways.Notification{}, malformed(err)
	}
	if err := checkNotFuture(header.Get(SignatureHeader), time.Now()); err != nil {
		return gateways.Notification{}, err
	}
	n := gateways.Notification{
		Gateway:   Name,
		Kind:      gateways.Ignored,
		EventType: string(ev.Type),
		EventID:   ev.ID,
		Raw:       json.RawMessage(body),
	}
	parse, ok := parsers[string(ev.Type)]
	if !ok {
		return n, nil
	}
	if ev.Data == nil {
		return gateways.Notification{}, malformed(errors.New("event has no data"))
	}
	if err := parse(&n, ev.Data.Raw); err != nil {
		return gateways.Notification{}, malformed(err)
	}
	return n, nil
}

// checkNotFuture refuses a verified header whose timestamp is more than the
// tolerance ahead of now.
func checkNotFuture(header string, now time.Time) error {
	for _, part := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(part, "t="); ok {
			t, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%s: %w: timestamp %q", Name, gateways.ErrInvalidSignature, v)
			}
			if ahead := time.Unix(t, 0).Sub(now); ahead > webhook.DefaultTolerance {
				return fmt.Errorf("%s: %w: timestamp %s ahead of this server's clock", Name, gateways.ErrInvalidSignature, ahead.Round(time.Second))
			}
			return nil
		}
	}
	return fmt.Errorf("%s: %w: no timestamp", Name, gateways.ErrInvalidSignature)
}

func malformed(err error) error {
	return fmt.Errorf("%s: %w: %v", Name, gateways.ErrMalformed, err)
}

// parsers are the event types Tally consumes. Each fills n from the event's data.object, or
// leaves n.Kind Ignored when the object is in a state Tally waits past.
var parsers = map[string]func(n *gateways.Notification, object json.RawMessage) error{
	"checkout.session.completed":               sessionParser(gateways.PaymentSucceeded),
	"checkout.session.async_payment_succeeded": sessionParser(gateways.PaymentSucceeded),
	"checkout.session.async_payment_failed":    sessionParser(gateways.PaymentFailed),
	"checkout.session.expired":                 sessionParser(gateways.PaymentExpired),
	"payment_intent.succeeded":                 paymentIntentParser(gateways.PaymentSucceeded),
	"payment_intent.payment_failed":            paymentIntentParser(gateways.PaymentFailed),
	"refund.created":                           parseRefundEvent,
	"refund.updated":                           parseRefundEvent,
	"refund.failed":                            parseRefundEvent,
	"charge.refunded":                          parseChargeRefunded,
}

// sessionParser reads a Checkout Session. A completed session is a success only once it is
// paid: with delayed payment methods it completes unpaid and a later
// checkout.session.async_payment_succeeded reports the money.
//
// GatewayReference is the session's payment intent, the same id payment_intent.succeeded
// reports, so the ledger sees both success events of one payment as one payment.
func sessionParser(kind gateways.Kind) func(*gateways.Notification, json.RawMessage) error {
	return func(n *gateways.Notification, object json.RawMessage) error {
		var s stripego.CheckoutSession
		if err := json.Unmarshal(object, &s); err != nil {
			return err
		}
		if kind == gateways.PaymentSucceeded && s.PaymentStatus != stripego.CheckoutSessionPaymentStatusPaid {
			return nil
		}
		n.Kind = kind
		n.Reference = reference(s.Metadata, s.ClientReferenceID)
		n.GatewayReference = s.ID
		if s.PaymentIntent != nil && s.PaymentIntent.ID != "" {
			n.GatewayReference = s.PaymentIntent.ID
		}
		n.Account = s.Metadata[metaAccount]
		return setAmount(n, s.AmountTotal, string(s.Currency))
	}
}

// paymentIntentParser reads a payment intent. A success reports amount_received, what actually
// arrived, so a short payment flags the deposit instead of crediting the requested amount.
func paymentIntentParser(kind gateways.Kind) func(*gateways.Notification, json.RawMessage) error {
	return func(n *gateways.Notification, object json.RawMessage) error {
		var pi stripego.PaymentIntent
		if err := json.Unmarshal(object, &pi); err != nil {
			return err
		}
		n.Kind = kind
		n.Reference = reference(pi.Metadata, "")
		n.GatewayReference = pi.ID
		n.Account = pi.Metadata[metaAccount]
		if pi.LastPaymentError != nil {
			n.Message = pi.LastPaymentError.Msg
		}
		amount := pi.Amount
		if kind == gateways.PaymentSucceeded {
			amount = pi.AmountReceived
		}
		return setAmount(n, amount, string(pi.Currency))
	}
}

func parseRefundEvent(n *gateways.Notification, object json.RawMessage) error {
	var r stripego.Refund
	if err := json.Unmarshal(object, &r); err != nil {
		return err
	}
	if n.EventType == "refund.failed" {
		r.Status = stripego.RefundStatusFailed
	}
	return setRefund(n, &r)
}

// parseChargeRefunded reads the newest refund in the charge's refunds list. Since API version
// 2022-11-15 Stripe no longer includes that list in charge events; the event is then Ignored,
// which loses nothing because the same refund also arrives as refund.created / refund.updated,
// with its own id.
func parseChargeRefunded(n *gateways.Notification, object json.RawMessage) error {
	var c stripego.Charge
	if err := json.Unmarshal(object, &c); err != nil {
		return err
	}
	if c.Refunds == nil || len(c.Refunds.Data) == 0 {
		return nil
	}
	var latest *stripego.Refund
	for _, r := range c.Refunds.Data {
		if r != nil && (latest == nil || r.Created > latest.Created) {
			latest = r
		}
	}
	if latest == nil {
		return nil
	}
	if latest.PaymentIntent == nil {
		latest.PaymentIntent = c.PaymentIntent
	}
	if latest.Currency == "" {
		latest.Currency = c.Currency
	}
	return setRefund(n, latest)
}

// setRefund fills a refund notification. Reference is set only when Tally asked for the refund
// (metadata); a refund made in Stripe's dashboard is matched by its payment intent.
func setRefund(n *gateways.Notification, r *stripego.Refund) error {
	switch r.Status {
	case stripego.RefundStatusSucceeded:
		n.Kind = gateways.RefundSucceeded
	case stripego.RefundStatusFailed, stripego.RefundStatusCanceled:
		n.Kind = gateways.RefundFailed
		n.Message = string(r.FailureReason)
	default:
		n.Kind = gateways.RefundPending
	}
	n.RefundReference = r.ID
	n.RefundID = r.Metadata[metaRefund]
	n.Reference = r.Metadata[metaReference]
	if r.PaymentIntent != nil {
		n.GatewayReference = r.PaymentIntent.ID
	}
	return setAmount(n, r.Amount, string(r.Currency))
}

// reference finds our deposit reference: metadata.tally_reference as Tally writes it, then the
// session's client_reference_id, then metadata.tally_deposit, where payments created outside
// Tally's checkout (and the shared fixtures) put the "DEP-…" reference.
func reference(metadata map[string]string, clientReferenceID string) string {
	if r := metadata[metaReference]; r != "" {
		return r
	}
	if clientReferenceID != "" {
		return clientReferenceID
	}
	return metadata[metaDeposit]
}

// setAmount converts Stripe's minor units with Stripe's exponent for the currency.
func setAmount(n *gateways.Notification, minor int64, currency string) error {
	cur, err := gateways.NormalizeCurrency(currency)
	if err != nil {
		return err
	}
	if minor < 0 {
		return fmt.Errorf("negative amount %d", minor)
	}
	n.Currency = cur
	n.Amount = gateways.MajorUnits(minor, Exponent(cur))
	return nil
}
