package xendit

import (
	"net/http"
	"testing"

	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
)

// FuzzParseWebhook feeds arbitrary bodies with the right callback token and checks that parsing
// never panics and that whatever it accepts is a well-formed notification.
func FuzzParseWebhook(f *testing.F) {
	gatewaytest.WebhookFuzz{
		Gateway:      newTestGateway(f),
		Sign:         func([]byte) http.Header { return authed() },
		Currency:     gatewaytest.ISOCurrency,
		NeedsEventID: true,
		Seeds:        [][]byte{[]byte(`{"id":"x","external_id":"DEP-1","status":"PAID","paid_amount":1e400,"currency":"IDR"}`)},
	}.Run(f)
}
