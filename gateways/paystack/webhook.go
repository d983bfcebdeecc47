package paystack

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"unicode/utf8"

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

// event is a webhook, read in one pass: its data holds the fields of the
// charge, refund and transfer events Tally consumes, which never give one
// name two meanings. (Decoding the data again once the type is known read
// every body twice; it was a tenth of the server's CPU on the webhook path.)
type event struct {
	Event string    `json:"event"`
	Data  eventData `json:"data"`
}

type eventData struct {
	ID        numberText `json:"id"`
	Amount    numberText `json:"amount"`
	Currency  string     `json:"currency"`
	Metadata  metadata   `json:"metadata"`
	Reference string     `json:"reference"` // a charge's, or a transfer's (our withdrawal id)
	// charge.success
	GatewayResponse string `json:"gateway_response"`
	// refund.*: transaction_reference / refund_reference rather than
	// reference / id. Recent refund events also carry the refund's id (the
	// one the refund API answered with) and its merchant_note, which names
	// our refund id.
	MerchantNote         string `json:"merchant_note"`
	TransactionReference string `json:"transaction_reference"`
	RefundReference      string `json:"refund_reference"`
	// transfer.*; their recipient carries the full account number, which
	// Tally never keeps.
	TransferCode string `json:"transfer_code"`
	Status       string `json:"status"`
}

// parse turns a verified body into a notification. Paystack events have no id, so EventID is the
// SHA-256 of the body: a redelivery of the same event has the same bytes and the same id.
func parse(body []byte) (gateways.Notification, error) {
	var ev event
	decodeErr := json.Unmarshal(body, &ev)
	if decodeErr != nil {
		// Only an event Tally consumes must have the data it reads; any
		// other type is ignored whatever its data holds.
		var head struct {
			Event string `json:"event"`
		}
		if json.Unmarshal(body, &head) != nil {
			return gateways.Notification{}, malformed(decodeErr)
		}
		ev = event{Event: head.Event}
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
	if decodeErr != nil {
		return gateways.Notification{}, malformed(decodeErr)
	}
	n.Kind = kind
	d := ev.Data
	switch kind {
	case gateways.PaymentSucceeded:
		n.Reference = d.Reference
		n.GatewayReference = string(d.ID)
		n.Account = d.Metadata.Account
		n.Message = d.GatewayResponse
	case gateways.PayoutSucceeded, gateways.PayoutFailed, gateways.PayoutReversed:
		n.Raw = nil // it holds the recipient's bank details
		n.WithdrawalID = d.Reference
		n.GatewayReference = d.TransferCode
		if kind != gateways.PayoutSucceeded {
			n.Message = "the transfer is " + d.Status
		}
	default: // refunds
		n.Reference = d.TransactionReference
		// The refund's id is what the refund API answered, so it is what
		// Tally recorded; the processor's refund_reference is not.
		n.RefundReference = string(d.ID)
		n.RefundID = refundIDIn(d.MerchantNote)
		n.Account = d.Metadata.Account
	}

	cur, err := gateways.NormalizeCurrency(d.Currency)
	if err != nil {
		return gateways.Notification{}, malformed(err)
	}
	exp, ok := Exponent(cur)
	if !ok {
		return gateways.Notification{}, malformed(fmt.Errorf("currency %s has no known Paystack subunit", cur))
	}
	n.Amount, err = gateways.ParseMinorUnits(string(d.Amount), exp)
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

// UnmarshalJSON is handed exactly one JSON value that the decoder has already
// checked, so it reads the value's text without decoding it again: these run
// for every webhook Paystack sends (issue 17).
func (t *numberText) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		*t = ""
		return nil
	case b[0] == '"':
		s, err := jsonString(b)
		*t = numberText(s)
		return err
	case b[0] == '-' || ('0' <= b[0] && b[0] <= '9'):
		*t = numberText(b)
		return nil
	}
	return fmt.Errorf("expected a number, got %.20s", b)
}

// jsonString is the string a checked JSON string literal holds. Most hold
// no escapes and only valid UTF-8, and are their text between the quotes;
// the rest go through encoding/json, which also replaces invalid UTF-8.
func jsonString(b []byte) (string, error) {
	inner := b[1 : len(b)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}

// metadata is Paystack's free-form metadata, which arrives as an object, as 0, as "", as null,
// or as a string holding a JSON object. Only the keys Tally wrote matter; any other shape means
// "no metadata" rather than a malformed event.
type metadata struct {
	Account string
}

func (m *metadata) UnmarshalJSON(b []byte) error {
	*m = metadata{}
	if b[0] == '"' {
		s, err := jsonString(b)
		if err != nil {
			return err
		}
		b = []byte(s)
	}
	var obj struct {
		Account lenientString `json:"tally_account"`
	}
	if len(b) > 0 && b[0] == '{' && json.Unmarshal(b, &obj) == nil {
		m.Account = string(obj.Account)
	}
	return nil
}

// lenientString is a string, or empty when the value is any other JSON value.
type lenientString string

func (l *lenientString) UnmarshalJSON(b []byte) error {
	*l = ""
	if b[0] == '"' {
		s, err := jsonString(b)
		*l = lenientString(s)
		return err
	}
	return nil
}
