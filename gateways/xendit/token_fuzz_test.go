package xendit

import (
	"errors"
	"net/http"
	"testing"

	"github.com/tallyledger/tally/gateways"
)

// FuzzCallbackToken feeds arbitrary x-callback-token headers: only the
// configured token is accepted; anything else, however close, is an invalid
// signature, and the body is never read.
func FuzzCallbackToken(f *testing.F) {
	for _, tok := range []string{"", testToken, testToken + " ", " " + testToken, testToken[:len(testToken)-1], testToken + "\x00"} {
		f.Add(tok)
	}
	g := newTestGateway(f)
	body := []byte(`{"id":"inv_1","external_id":"DEP-1","status":"PAID","amount":150000,"paid_amount":150000,"currency":"IDR"}`)
	f.Fuzz(func(t *testing.T, token string) {
		h := http.Header{}
		h.Set(CallbackTokenHeader, token)
		_, err := g.ParseWebhook(h, body)
		if token == testToken {
			if err != nil {
				t.Fatalf("the configured token was refused: %v", err)
			}
			return
		}
		if !errors.Is(err, gateways.ErrInvalidSignature) {
			t.Fatalf("token %q: err = %v, want an invalid signature", token, err)
		}
	})
}
