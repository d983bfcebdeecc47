package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tallyledger/tally/gateways"
)

// Event types the sandbox sends.
const (
	typePaymentSucceeded = "payment.succeeded"
	typePaymentDeclined  = "payment.declined"
	typeRefundSucceeded  = "refund.succeeded"
	typeRefundFailed     = "refund.failed"
	typePayoutSucceeded  = "payout.succeeded"
	typePayoutFailed     = "payout.failed"
)

var kinds = map[string]gateways.Kind{
	typePaymentSucceeded: gateways.PaymentSucceeded,
	typePaymentDeclined:  gateways.PaymentFailed,
	typeRefundSucceeded:  gateways.RefundSucceeded,
	typeRefundFailed:     gateways.RefundFailed,
	typePayoutSucceeded:  gateways.PayoutSucceeded,
	typePayoutFailed:     gateways.PayoutFailed,
}

// payload is the sandbox's webhook body. Amounts are decimal strings in major units, the same
// form as Tally's own API, so the sandbox exercises no conversion that could hide a bug.
type payload struct {
	ID      string      `json:"id"`
	Type    string      `json:"type"`
	Created int64       `json:"created"`
	Data    payloadData `json:"data"`
}

type payloadData struct {
	Reference        string            `json:"reference"`
	GatewayReference string            `json:"gateway_reference"`
	RefundReference  string            `json:"refund_reference,omitempty"`
	Amount           string            `json:"amount"`
	Currency         string            `json:"currency"`
	Message          string            `json:"message,omitempty"`
	Metadata         map[string]string `json:"metadata,omitempty"`
}

// ParseWebhook verifies the Tally-Sandbox-Signature header and then parses the event.
func (g *Gateway) ParseWebhook(header http.Header, body []byte) (gateways.Notification, error) {
	if err := VerifySignature(g.secret, header.Get(SignatureHeader), body, g.now()); err != nil {
		return gateways.Notification{}, err
	}
	return parse(body)
}

func parse(body []byte) (gateways.Notification, error) {
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return gateways.Notification{}, malformed(err)
	}
	if p.ID == "" {
		return gateways.Notification{}, malformed(errors.New("event without an id"))
	}
	n := gateways.Notification{
		Gateway:   Name,
		Kind:      gateways.Ignored,
		EventType: p.Type,
		EventID:   p.ID,
		Raw:       json.RawMessage(body),
	}
	kind, ok := kinds[p.Type]
	if !ok {
		return n, nil
	}
	cur, err := gateways.NormalizeCurrency(p.Data.Currency)
	if err != nil {
		return gateways.Notification{}, malformed(err)
	}
	amount, err := gateways.ParseAmount(p.Data.Amount)
	if err != nil {
		return gateways.Notification{}, malformed(err)
	}
	n.Kind = kind
	n.Reference = p.Data.Reference
	n.GatewayReference = p.Data.GatewayReference
	n.RefundReference = p.Data.RefundReference
	n.RefundID = p.Data.Metadata["tally_refund"]
	n.Account = p.Data.Metadata["tally_account"]
	n.Message = p.Data.Message
	n.Amount = amount
	n.Currency = cur
	if kind == gateways.PayoutSucceeded || kind == gateways.PayoutFailed {
		n.WithdrawalID, n.Reference = p.Data.Reference, ""
	}
	return n, nil
}

func malformed(err error) error {
	return fmt.Errorf("%s: %w: %v", Name, gateways.ErrMalformed, err)
}
