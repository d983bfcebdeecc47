package stripe

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tallyledger/tally/gateways"
)

// FuzzSignatureHeader feeds arbitrary Stripe-Signature headers to the
// webhook receiver. Without a valid v1 signature the event is refused as an
// invalid signature - never accepted, and never mistaken for a verified body
// Tally could not read (which would be recorded). With one, extra parts
// (other schemes, more v1 candidates during a secret rotation) do not stop it
// verifying.
func FuzzSignatureHeader(f *testing.F) {
	body := []byte(`{"id":"evt_1","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","object":"payment_intent","amount":2000,"amount_received":2000,"currency":"usd","metadata":{"tally_reference":"DEP-1"}}}}`)
	for _, h := range []string{"", "t=1", "v1=00", "t=1,v1=zz", "t=99999999999999999999,v1=00", "t=1700000000,v1=" + strings.Repeat("ab", 32), "t=,v1=", ",,,", "t=1=2,v1=3"} {
		f.Add(body, h, "v0=abc")
	}
	f.Add(body, "", "v1=deadbeef")
	g := newTestGateway(f)
	f.Fuzz(func(t *testing.T, body []byte, header, extra string) {
		h := http.Header{}
		h.Set(SignatureHeader, header)
		if _, err := g.ParseWebhook(h, body); !errors.Is(err, gateways.ErrInvalidSignature) {
			t.Fatalf("arbitrary header %q: err = %v, want an invalid signature", header, err)
		}
		// A valid signature with another part beside it still verifies.
		// Parts are "key=value" with no ',' or '='; "t" would replace the
		// signed timestamp, so another key stands in for it.
		key, value, _ := strings.Cut(strings.ReplaceAll(extra, ",", ""), "=")
		value = strings.ReplaceAll(value, "=", "")
		if key == "t" || key == "" {
			key = "v0"
		}
		valid := signedAt(body, testSecret, time.Now()).Get(SignatureHeader)
		h.Set(SignatureHeader, key+"="+value+","+valid)
		if _, err := g.ParseWebhook(h, body); errors.Is(err, gateways.ErrInvalidSignature) {
			t.Fatalf("valid signature beside %q refused: %v", key+"="+value, err)
		}
	})
}
