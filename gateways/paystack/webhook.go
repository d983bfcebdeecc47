package paystack

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/tallyledger/tally/gateways"
)

// kinds maps the Paystack events Tally consumes. Paystack sends no webhook for a failed or
// abandoned charge (the transaction just stays unpaid), so there is no PaymentFailed here: such
// a deposit stays pending. refund.processing is an intermediate state like refund.pending.
var kinds = map[string]gateways.Kind{
	"charge.success":         gateways.PaymentSucceeded,
	"refund.processed":       gateways.RefundSucceeded,
	"refund.failed":          gateways.RefundFailed,
	"refund.pending":         gateways.RefundPending,
	"refund.processing":      gateways.RefundPending,
	"refund.needs-attention": gateways.RefundPending,
	"transfer.success":       gateways.PayoutSucceeded,
	"transfer.failed":        gateways.PayoutFailed,
	"transfer.reversed":      gateways.PayoutReversed,
}

type event struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

type chargeData struct {
	ID              numberText `json:"id"`
	Reference       string     `json:"reference"`
	Amount          numberText `json:"amount"`
	Currency        string     `json:"currency"`
	GatewayResponse string     `json:"gateway_response"`
	Metadata        metadata   `json:"metadata"`
}

// refundEventData carries transaction_reference / refund_reference rather than reference / id.
// Recent refund events also carry the refund's id (the one the refund API
// answered with) and its merchant_note, which names our refund id.
type refundEventData struct {
	ID                   numberText `json:"id"`
	MerchantNote         string     `json:"merchant_note"`
	TransactionReference string     `json:"transaction_reference"`
	RefundReference      string     `json:"refund_reference"`
	Amount               numberText `json:"amount"`
	Currency             string     `json:"currency"`
	Metadata             metadata   `json:"metadata"`
}

// parse turns a verified body into a notification. Paystack events have no id, so EventID is the
// SHA-256 of the body: a redelivery of the same event has the same bytes and the same id.
func parse(body []byte) (gateways.Notification, error) {
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil {
		return gateways.Notification{}, malformed(err)
	}
	sum := sha256.Sum256(body)
	n := gateways.Notification{
		Gateway:   Name,
		Kind:      gateways.Ignored,
		EventType: ev.Event,
		EventID:   hex.EncodeToString(sum[:]),
		Raw:       json.RawMessage(body),
	}
	kind, ok := kinds[ev.Event]
	if !ok {
		return n, nil
	}
	n.Kind = kind
	switch kind {
	case gateways.PayoutSucceeded, gateways.PayoutFailed, gateways.PayoutReversed:
		return parseTransfer(n, ev.Data)
	}

	var amount numberText
	var currency string
	if kind == gateways.PaymentSucceeded {
		var d chargeData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return gateways.Notification{}, malformed(err)
		}
		n.Reference = d.Reference
		n.GatewayReference = string(d.ID)
		n.Account = d.Metadata.Account
		n.Message = d.GatewayResponse
		amount, currency = d.Amount, d.Currency
	} else {
		var d refundEventData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return gateways.Notification{}, malformed(err)
		}
		n.Reference = d.TransactionReference
		// The refund's id is what the refund API answered, so it is what
		// Tally recorded; the processor's refund_reference is not.
		n.RefundReference = string(d.ID)
		n.RefundID = refundIDIn(d.MerchantNote)
		n.Account = d.Metadata.Account
		amount, currency = d.Amount, d.Currency
	}

	cur, err := gateways.NormalizeCurrency(currency)
	if err != nil {
		return gateways.Notification{}, malformed(err)
	}
	exp, ok := Exponent(cur)
	if !ok {
		return gateways.Notification{}, malformed(fmt.Errorf("currency %s has no known Paystack subunit", cur))
	}
	n.Amount, err = gateways.ParseMinorUnits(string(amount), exp)
	if err != nil {
		return gateways.Notification{}, malformed(err)
	}
	n.Currency = cur
	return n, nil
}

func malformed(err error) error {
	return fmt.Errorf("%s: %w: %v", Name, gateways.ErrMalformed, err)
}

// numberText is a JSON number or a JSON string holding one, kept as its text. Paystack sends
// amounts as numbers in charge events and as strings ("5000") in some refund events, and ids
// that exceed 2^31; keeping the text avoids both float64 and int32 truncation.
type numberText string

func (t *numberText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*t = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = numberText(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("expected a number, got %.20s", b)
	}
	*t = numberText(n)
	return nil
}

// metadata is Paystack's free-form metadata, which arrives as an object, as 0, as "", as null,
// or as a string holding a JSON object. Only the keys Tally wrote matter; any other shape means
// "no metadata" rather than a malformed event.
type metadata struct {
	Account string
}

func (m *metadata) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	var obj struct {
		Account json.RawMessage `json:"tally_account"`
	}
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &obj) != nil {
		*m = metadata{}
		return nil
	}
	var account string
	if json.Unmarshal(obj.Account, &account) == nil {
		m.Account = account
	}
	return nil
}
