package xendit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tallyledger/tally/gateways"
)

// ParseWebhook authenticates the callback by its x-callback-token and then parses it. Xendit
// signs nothing: the token proves the sender knows the shared secret, and because it is the
// same on every callback, the ledger's deduplication is what makes a replay harmless.
func (g *Gateway) ParseWebhook(header http.Header, body []byte) (gateways.Notification, error) {
	if err := g.VerifyCallbackToken(header.Get(CallbackTokenHeader)); err != nil {
		return gateways.Notification{}, err
	}
	return parse(body)
}

// callback has the fields of both callback shapes Tally consumes: an invoice callback is the
// invoice itself at the top level; a refund callback wraps the refund in {"event", "data"}.
type callback struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`

	ID         string          `json:"id"`
	ExternalID string          `json:"external_id"`
	Status     string          `json:"status"`
	Amount     json.Number     `json:"amount"`
	PaidAmount json.Number     `json:"paid_amount"`
	Currency   string          `json:"currency"`
	Metadata   json.RawMessage `json:"metadata"`
}

type refundCallback struct {
	ID          string          `json:"id"`
	InvoiceID   string          `json:"invoice_id"`
	PaymentID   string          `json:"payment_id"`
	ReferenceID string          `json:"reference_id"`
	Status      string          `json:"status"`
	Amount      json.Number     `json:"amount"`
	Currency    string          `json:"currency"`
	FailureCode string          `json:"failure_code"`
	Metadata    json.RawMessage `json:"metadata"`
}

// metadata holds the keys Tally writes; other shapes of metadata are ignored.
type metadata struct {
	Reference string `json:"tally_reference"`
	Account   string `json:"tally_account"`
	Refund    string `json:"tally_refund"`
}

func readMetadata(raw json.RawMessage) metadata {
	var m metadata
	if len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &m)
	}
	return m
}

// decode reads JSON with every number kept as its text (json.Number), never as a float64:
// Xendit sends amounts as JSON numbers in major units, such as 150000.5.
func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// parse turns an authenticated callback into a notification. Xendit callbacks carry no event
// id, so EventID is the object's id and status ("579c…:PAID"): a redelivery has the same id,
// while PAID and a later SETTLED of one invoice are two events of one payment, which the
// ledger credits once because their GatewayReference is the same invoice id.
func parse(body []byte) (gateways.Notification, error) {
	var cb callback
	if err := decode(body, &cb); err != nil {
		return gateways.Notification{}, malformed(err)
	}
	n := gateways.Notification{Gateway: Name, Kind: gateways.Ignored, Raw: json.RawMessage(body)}
	switch {
	case cb.Event == "" && isDisbursement(body):
		return parseDisbursement(n, body)
	case cb.Event == "refund.succeeded" || cb.Event == "refund.failed":
		return parseRefund(n, cb)
	case cb.Event != "" || cb.ExternalID == "":
		// Callbacks of other products (virtual accounts, payment requests, payouts) are not
		// how Tally takes money.
		n.EventType = cb.Event
		n.EventID = cb.ID
		if n.EventID == "" {
			sum := sha256.Sum256(body)
			n.EventID = hex.EncodeToString(sum[:])
		}
		return n, nil
	}

	n.EventType = "invoice." + cb.Status
	n.EventID = cb.ID + ":" + cb.Status
	switch cb.Status {
	case "PAID", "SETTLED":
		n.Kind = gateways.PaymentSucceeded
	case "EXPIRED":
		n.Kind = gateways.PaymentExpired
	default:
		return n, nil
	}
	if cb.ID == "" {
		return gateways.Notification{}, malformed(errors.New("invoice callback without an id"))
	}
	md := readMetadata(cb.Metadata)
	n.Reference = cb.ExternalID
	n.GatewayReference = cb.ID
	n.Account = md.Account
	// paid_amount is what the payer actually paid; the invoice amount is what was asked.
	amount := cb.PaidAmount
	if amount == "" || n.Kind == gateways.PaymentExpired {
		amount = cb.Amount
	}
	if err := setAmount(&n, amount, cb.Currency); err != nil {
		return gateways.Notification{}, malformed(err)
	}
	return n, nil
}

func parseRefund(n gateways.Notification, cb callback) (gateways.Notification, error) {
	var r refundCallback
	if err := decode(cb.Data, &r); err != nil {
		return gateways.Notification{}, malformed(err)
	}
	if r.ID == "" {
		return gateways.Notification{}, malformed(errors.New("refund callback without an id"))
	}
	n.EventType = cb.Event
	n.EventID = r.ID + ":" + r.Status
	switch {
	case cb.Event == "refund.failed" || r.Status == "FAILED" || r.Status == "CANCELLED":
		n.Kind = gateways.RefundFailed
		n.Message = r.FailureCode
	case r.Status == "SUCCEEDED":
		n.Kind = gateways.RefundSucceeded
	default:
		n.Kind = gateways.RefundPending
	}
	md := readMetadata(r.Metadata)
	n.Reference = md.Reference
	n.RefundReference = r.ID
	n.RefundID = r.ReferenceID
	if md.Refund != "" {
		n.RefundID = md.Refund
	}
	n.GatewayReference = r.InvoiceID
	if n.GatewayReference == "" {
		n.GatewayReference = r.PaymentID
	}
	if err := setAmount(&n, r.Amount, r.Currency); err != nil {
		return gateways.Notification{}, malformed(err)
	}
	return n, nil
}

// setAmount keeps Xendit's major-unit amount exactly as written.
func setAmount(n *gateways.Notification, amount json.Number, currency string) error {
	cur, err := gateways.NormalizeCurrency(currency)
	if err != nil {
		return err
	}
	d, err := gateways.ParseAmount(amount.String())
	if err != nil {
		return err
	}
	n.Amount, n.Currency = d, cur
	return nil
}

func malformed(err error) error {
	return fmt.Errorf("%s: %w: %v", Name, gateways.ErrMalformed, err)
}
