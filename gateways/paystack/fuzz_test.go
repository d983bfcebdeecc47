package paystack

import (
	"testing"

	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
)

// FuzzParseWebhook feeds arbitrary bodies, correctly signed so they reach the parser, and checks
// that parsing never panics and that whatever it accepts is a well-formed notification.
func FuzzParseWebhook(f *testing.F) {
	gatewaytest.WebhookFuzz{
		Gateway:      newTestGateway(f),
		Sign:         signed,
		Currency:     func(c string) bool { _, ok := Exponent(c); return ok },
		NeedsEventID: true,
		Seeds:        [][]byte{[]byte(`{"event":"charge.success","data":{"amount":"1","currency":"NGN","metadata":"{\"tally_account\":1}"}}`)},
	}.Run(f)
}
