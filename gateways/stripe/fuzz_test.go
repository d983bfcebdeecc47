package stripe

import (
	"testing"

	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
)

// FuzzParseWebhook feeds arbitrary bodies, correctly signed so they reach the parser, and checks
// that parsing never panics and that whatever it accepts is a well-formed notification.
func FuzzParseWebhook(f *testing.F) {
	gatewaytest.WebhookFuzz{
		Gateway:  newTestGateway(f),
		Sign:     signed,
		Currency: gatewaytest.ISOCurrency,
		Seeds: [][]byte{
			event(f, "evt_cs", "checkout.session.completed", session("paid", "pi_1")),
			event(f, "evt_ch", "charge.refunded", map[string]any{"id": "ch_1", "object": "charge",
				"refunds": map[string]any{"data": []any{nil, map[string]any{"id": "re_1", "amount": 1, "currency": "usd"}}}}),
		},
	}.Run(f)
}
