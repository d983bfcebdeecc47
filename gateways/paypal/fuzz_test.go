package paypal

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tallyledger/tally/gateways/internal/gatewaytest"
)

// FuzzParseWebhook feeds arbitrary bodies, verified by a fake PayPal that says SUCCESS so they
// reach the parser, and checks that parsing never panics and that whatever it accepts is a
// well-formed notification in a currency PayPal takes.
func FuzzParseWebhook(f *testing.F) {
	fake := gatewaytest.NewServer(f, map[string]gatewaytest.Answer{
		"POST /v1/oauth2/token":                           {Status: 200, Body: `{"access_token":"A21AAFfuzz","token_type":"Bearer","expires_in":32400}`},
		"POST /v1/notifications/verify-webhook-signature": {Status: 200, Body: `{"verification_status":"SUCCESS"}`},
	})
	g, err := New(Config{ClientID: testClientID, ClientSecret: testSecret, WebhookID: testWebhookID, BaseURL: fake.URL})
	if err != nil {
		f.Fatal(err)
	}
	gatewaytest.WebhookFuzz{
		Gateway:  g,
		Sign:     func([]byte) http.Header { return delivered() },
		Currency: gatewaytest.ISOCurrency,
		Unverifiable: func(body []byte) bool {
			var obj map[string]json.RawMessage
			return json.Unmarshal(body, &obj) != nil
		},
		Seeds: [][]byte{
			[]byte(`{"id":"WH-1","event_type":"PAYMENT.CAPTURE.REFUNDED","resource":{"id":"R","amount":{"currency_code":"USD","value":"1"},"links":[{"rel":"up","href":"/captures/"}]}}`),
			[]byte(`{"id":"WH-2","event_type":"CHECKOUT.ORDER.APPROVED","resource":{"id":"O","purchase_units":[{"amount":null}]}}`),
		},
	}.Run(f)
}
